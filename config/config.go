// Package config is hazgate's YAML schema: the structs, their defaults and
// their validation. Every problem is reported as FILE:LINE:COL: message.
package config

import "time"

// Config is one gateway's whole configuration file.
type Config struct {
	// Site identifies the plant, control room or hub this gateway serves.
	Site Site `yaml:"site" required:"true" doc:"The site this gateway serves."`
	// DataDir holds the embedded store (alarms, hazards) and the InfluxDB spool.
	DataDir string `yaml:"data_dir" default:"./var" doc:"Directory for the embedded store and the InfluxDB spool."`
	HTTP    HTTP   `yaml:"http" doc:"The HTTP API and console."`
	// InfluxDB is optional: without it readings stay in the latest cache only.
	InfluxDB *InfluxDB `yaml:"influxdb" doc:"Where readings and alarm events are written. Optional."`
	Devices  []Device  `yaml:"devices" doc:"Devices to read."`
	Rules    []Rule    `yaml:"rules" doc:"Alarm rules."`

	// File is the path the config was loaded from, for messages.
	File string `yaml:"-"`
}

// Site names the place.
type Site struct {
	ID   string `yaml:"id" required:"true" doc:"Short stable id, used in InfluxDB tags and MQTT topics."`
	Name string `yaml:"name" doc:"Display name, for example 演示化工有限公司."`
}

// HTTP configures the API listener.
type HTTP struct {
	Listen string `yaml:"listen" default:"127.0.0.1:8080" doc:"host:port to listen on."`
	// Tokens, when present, make a Bearer token mandatory on every API route.
	// Without them the API refuses to listen anywhere but loopback.
	Tokens []Token `yaml:"tokens" doc:"API tokens. Without any, the API only listens on loopback."`
}

// Token is one API credential.
type Token struct {
	Name  string `yaml:"name" required:"true" doc:"Who holds the token, for logs."`
	Role  string `yaml:"role" default:"viewer" doc:"viewer, operator, verifier, regulator or admin."`
	Token string `yaml:"token" required:"true" secret:"true" doc:"The secret; write ${ENV_NAME}, never the value."`
}

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

// Device is one thing hazgate reads from.
type Device struct {
	ID       string `yaml:"id" required:"true" doc:"Unique device id."`
	Protocol string `yaml:"protocol" required:"true" doc:"modbus."`
	// URL is the transport, in simonvetter/modbus form for Modbus:
	// tcp://host:port, rtu:///dev/ttyS0, rtuovertcp://host:port, tcp+tls://host:port.
	URL      string        `yaml:"url" required:"true" doc:"Transport URL: tcp://host:port, rtu:///dev/ttyS0, rtuovertcp://host:port."`
	UnitID   uint8         `yaml:"unit_id" default:"1" doc:"Modbus unit (slave) id."`
	Interval time.Duration `yaml:"interval" default:"1s" doc:"Poll interval."`
	Timeout  time.Duration `yaml:"timeout" default:"500ms" doc:"Timeout of one request."`
	Tags     []Tag         `yaml:"tags" doc:"Points read from this device."`
}

// Tag is one point of a device.
type Tag struct {
	ID           string    `yaml:"id" required:"true" doc:"Unique tag id across the site, for example T101-LEL."`
	Name         string    `yaml:"name" doc:"Display name, for example 1号罐区可燃气体."`
	Kind         string    `yaml:"kind" doc:"combustible_gas, toxic_gas, oxygen, fire_panel, hydrant_pressure, pipe_pressure, temperature, level, ..."`
	Unit         string    `yaml:"unit" doc:"Engineering unit, for example %LEL, ppm, MPa."`
	Area         string    `yaml:"area" doc:"Area the point is in, for example 罐区A."`
	HazardSource string    `yaml:"hazard_source" doc:"重大危险源编码 of the installation the point belongs to."`
	Description  string    `yaml:"description" doc:"Free text."`
	Register     *Register `yaml:"register" doc:"Where a Modbus tag's value is."`
}

// Register locates and decodes a Modbus value.
type Register struct {
	Table   string  `yaml:"table" required:"true" doc:"coil, discrete, holding or input."`
	Address uint16  `yaml:"address" doc:"0-based register or bit address."`
	Type    string  `yaml:"type" doc:"uint16, int16, uint32, int32 or float32; bool for coil and discrete. Default uint16 for registers, bool for bits."`
	Scale   float64 `yaml:"scale" default:"1" doc:"Multiplier: value = raw*scale + offset."`
	Offset  float64 `yaml:"offset" doc:"Added after scale. Default 0."`
}

// Rule raises an alarm when a tag's value crosses a limit.
type Rule struct {
	Name     string   `yaml:"name" required:"true" doc:"Unique rule name."`
	Match    Match    `yaml:"match" doc:"Which tags the rule applies to; empty matches all."`
	Above    *float64 `yaml:"above" doc:"Alarm while value > above."`
	Below    *float64 `yaml:"below" doc:"Alarm while value < below."`
	Severity string   `yaml:"severity" default:"medium" doc:"low, medium, high or critical."`
	Class    string   `yaml:"class" doc:"Alarm class. Default the rule name."`
}

// Match selects tags. Every non-empty field must match.
type Match struct {
	Tag    string `yaml:"tag" doc:"Tag id glob, for example T1*-LEL."`
	Kind   string `yaml:"kind" doc:"Tag kind."`
	Area   string `yaml:"area" doc:"Tag area."`
	Device string `yaml:"device" doc:"Device id."`
}
