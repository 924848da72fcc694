package config

import "time"

// InfluxDB is the readings store.
type InfluxDB struct {
	URL    string `yaml:"url" required:"true" doc:"Server URL, for example http://127.0.0.1:8086."`
	Token  string `yaml:"token" secret:"true" doc:"API token; for InfluxDB 1.8 user:pass."`
	Org    string `yaml:"org" doc:"Organisation; empty for InfluxDB 1.8."`
	Bucket string `yaml:"bucket" required:"true" doc:"Bucket; for InfluxDB 1.8 database/retention-policy."`
	// BatchSize and FlushInterval bound how long a reading waits to be written.
	BatchSize     int           `yaml:"batch_size" default:"5000" doc:"Points per write."`
	FlushInterval time.Duration `yaml:"flush_interval" default:"1s" doc:"Longest a point waits before a write."`
	Timeout       time.Duration `yaml:"timeout" default:"10s" doc:"HTTP timeout of one write."`
}

func (d *decoder) validateInflux(in *InfluxDB) {
	d.checkURL("influxdb.url", in.URL, []string{"http", "https"}, true)
	if in.Bucket == "" {
		d.errorAt("influxdb.bucket", "influxdb.bucket must not be empty")
	}
	if in.BatchSize < 1 {
		d.errorAt("influxdb.batch_size", "influxdb.batch_size must be at least 1")
	}
	if in.FlushInterval <= 0 {
		d.errorAt("influxdb.flush_interval", "influxdb.flush_interval must be positive")
	}
	if in.Timeout <= 0 {
		d.errorAt("influxdb.timeout", "influxdb.timeout must be positive")
	}
}
