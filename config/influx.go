package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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
	GzipLevel     int           `yaml:"gzip_level" default:"1" doc:"gzip level of write bodies, 1 (fastest; a full batch about 3.8 % of its line protocol) to 9 (smallest, about 2.4 %, several times the CPU); raise it where InfluxDB is behind a slow or metered link."`
	Spool         InfluxSpool   `yaml:"spool" doc:"Disk spool under data_dir/spool for batches InfluxDB cannot take; replayed in order when it answers."`
}

// InfluxSpool bounds the disk spool. It is always on: an outage must not
// lose readings.
type InfluxSpool struct {
	MaxBytes   ByteSize `yaml:"max_bytes" default:"1GiB" doc:"Most bytes the spool keeps on disk, as 1073741824, 512MiB or 1GiB; when full the oldest readings are dropped and the spool_overflow alarm is raised."`
	ReplayRate int      `yaml:"replay_rate" default:"0" doc:"Most points per second replayed from the spool beside live data; 0 means as fast as InfluxDB takes them."`
}

// minSpoolBytes keeps the spool worth having: a few batches at least.
const minSpoolBytes = 1 << 20

// ByteSize is a size in bytes: a plain number, or a number with a unit
// (KiB, MiB, GiB, TiB; KB, MB, GB, TB in powers of ten), such as 512MiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// UnmarshalText parses "1073741824", "1GiB", "512 MiB", "10GB".
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("bad size %q (write it like 1073741824, 512MiB or 1GiB)", text)
	}
	*b = ByteSize(n * mult)
	return nil
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
	if in.GzipLevel < 1 || in.GzipLevel > 9 {
		d.errorAt("influxdb.gzip_level", "influxdb.gzip_level must be 1 to 9, got %d", in.GzipLevel)
	}
	if in.Spool.MaxBytes < minSpoolBytes {
		d.errorAt("influxdb.spool.max_bytes", "influxdb.spool.max_bytes must be at least %d (1 MiB), got %d", minSpoolBytes, in.Spool.MaxBytes)
	}
	if in.Spool.ReplayRate < 0 {
		d.errorAt("influxdb.spool.replay_rate", "influxdb.spool.replay_rate must not be negative")
	}
}
