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
	// AlarmHandling closes the loop after an alarm: disposal, escalation,
	// root-cause suppression.
	AlarmHandling AlarmHandling `yaml:"alarm_handling" doc:"What the control room must do with an alarm beyond acknowledging it: dispose of it (报警处置), escalation when it waits, designed suppression."`
	// HazardRules turn alarm history into hazard records (隐患).
	HazardRules []HazardRule `yaml:"hazard_rules" doc:"Rules that open hazard records from alarm history; the built-in set applies when absent."`
	// Northbound publishes alarm transitions to an upstream broker (a
	// regulator's hub, a group platform).
	Northbound *Northbound `yaml:"northbound" doc:"Where alarm and hazard events are published over MQTT. Optional."`
	// Hub makes this process a regulator's hub over the sites' northbound
	// topics.
	Hub *Hub `yaml:"hub" doc:"Makes this process a regulator's hub: it keeps every listed site's alarms, hazard records and health from their northbound topics. Optional."`
	// Forward sends fire panel states to the city's fire remote-monitoring
	// centre as a GB/T 26875.3 transmission device.
	Forward  *Forward  `yaml:"forward" doc:"Makes the gateway the site's GB/T 26875.3 transmission device (用户信息传输装置) to the city's fire remote-monitoring centre. Optional."`
	Webhooks []Webhook `yaml:"webhooks" doc:"HTTP receivers (a group platform, an SMS gateway) of alarm and hazard events, signed and retried."`
	// TimeBounds refuses device-supplied times a far-off clock would make
	// freeze a tag; receipt times are the gateway's own and never checked.
	TimeBounds TimeBounds `yaml:"time_bounds" doc:"How far device-supplied reading times may be from the gateway's clock."`
	// ForgetTagsAfter bounds the tag memory (data_dir/tags.json): tags
	// created on first sight are known after a restart, so their stale rules
	// watch them at once, until they have been silent this long.
	ForgetTagsAfter time.Duration `yaml:"forget_tags_after" default:"720h" doc:"Tags created on first sight (MQTT subscriptions, Sparkplug metrics, GB/T 26875.3 points) are remembered in data_dir across restarts, so a sensor silent since before a restart still goes stale; one unseen this long is forgotten at the next start. 0 remembers them for ever."`

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
	// BodyTimeout and MaxConnsPerClient keep a few sockets from holding
	// the server: a body that never arrives, connections that never close.
	BodyTimeout       time.Duration `yaml:"body_timeout" default:"10s" doc:"How long a request may take to send its body once its headers are in; a client that declares a body and does not send it is cut off then. The live stream has no body and is not affected."`
	MaxConnsPerClient int           `yaml:"max_conns_per_client" default:"32" doc:"Most connections one client IP address may hold open; more are answered 503 and closed. A browser tab holds its live stream and a few more. Behind a reverse proxy every client shares the proxy's address: raise it to cover them all."`
	// Notice is for what an operator must not mistake for the real thing:
	// the demo's shortened hazard timing.
	Notice string `yaml:"notice" doc:"A line the console shows every user under its header, for example 演示: 重大隐患判定时长缩短为 1 分钟; empty shows none. hazgate demo sets it."`
	// AllowedHosts defends against DNS rebinding: a page on a name the
	// attacker controls, resolved to the gateway, sends that name as Host.
	AllowedHosts []string `yaml:"allowed_hosts" doc:"Names (host, or host:port) the API answers to in the Host header, besides its listen address (and 127.0.0.1, localhost and [::1] on its port when it listens on loopback or every interface, and any IP address on its port when it listens on every interface: a DNS-rebinding page always sends a name); a request for any other Host is refused with 421. List the names clients and a reverse proxy use, for example gw.plant.example. With http.tokens and no allowed_hosts any Host is accepted, as before; without tokens only the listen address and these names are."`
}

// Token is one API credential.
type Token struct {
	Name  string `yaml:"name" required:"true" doc:"Who holds the token, for logs."`
	Role  string `yaml:"role" default:"viewer" doc:"viewer, operator, verifier, regulator or admin."`
	Token string `yaml:"token" required:"true" secret:"true" doc:"The secret; write ${ENV_NAME}, never the value."`
	// Sites and Regions limit what a hub shows the holder: a district's
	// 应急管理局 sees its own enterprises only.
	Sites   []string `yaml:"sites" doc:"At a hub: the site ids this token may see (with regions: either). Without sites or regions, every site. A token with either may call only the hub routes (/api/v1/hub/...), which honour them; the gateway's own lists span every site and refuse it."`
	Regions []string `yaml:"regions" doc:"At a hub: the regions (hub.sites[].region) whose sites this token may see."`
}

// Device is one thing hazgate reads from. Keys every protocol shares are
// here; each protocol's own keys are in a block its package registers
// (RegisterProtocol: protocols/modbus/config.go, ...), flat under the
// device in YAML.
type Device struct {
	ID       string `yaml:"id" required:"true" doc:"Unique device id."`
	Protocol string `yaml:"protocol" required:"true" doc:"modbus, mqtt or gb26875."`
	// URL is the transport: for Modbus in simonvetter/modbus form
	// (tcp://host:port, rtu:///dev/ttyS0, rtuovertcp://host:port,
	// tcp+tls://host:port), for MQTT the broker. Required but for listeners (gb26875).
	URL      string        `yaml:"url" doc:"Transport URL: tcp://host:port, rtu:///dev/ttyS0, rtuovertcp://host:port, tcp+tls://host:port; for mqtt the broker (tcp://, ssl://, ws://)."`
	Interval time.Duration `yaml:"interval" default:"1s" doc:"Poll interval."`
	Timeout  time.Duration `yaml:"timeout" default:"500ms" doc:"Timeout of one request."`
	TLS      *TLS          `yaml:"tls" doc:"Certificates for tcp+tls:// and ssl:// transports."`
	Tags     []Tag         `yaml:"tags" doc:"Points read from this device."`

	// Block holds the keys of the device's protocol, which registers their
	// struct (RegisterProtocol); they sit flat under the device in YAML.
	Block any `yaml:"-"`
}

// TLS names the files of a TLS client.
type TLS struct {
	CA   string `yaml:"ca" doc:"PEM file of the CA (or pinned server certificate) that signs the server."`
	Cert string `yaml:"cert" doc:"PEM file of the client certificate, for mutual TLS."`
	Key  string `yaml:"key" secret:"true" doc:"PEM file of the client key, for mutual TLS."`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name" doc:"Name to verify in the server certificate, when it differs from the URL's host."`
}

// Tag is one point of a device.
type Tag struct {
	ID           string `yaml:"id" required:"true" doc:"Unique tag id across the site, for example T101-LEL."`
	Name         string `yaml:"name" doc:"Display name, for example 1号罐区可燃气体."`
	Kind         string `yaml:"kind" doc:"combustible_gas, toxic_gas, oxygen, fire_panel, hydrant_pressure, pipe_pressure, temperature, level, ..."`
	Unit         string `yaml:"unit" doc:"Engineering unit, for example %LEL, ppm, MPa."`
	Area         string `yaml:"area" doc:"Area the point is in, for example 罐区A."`
	HazardSource string `yaml:"hazard_source" doc:"重大危险源编码 of the installation the point belongs to."`
	Description  string `yaml:"description" doc:"Free text."`
	// Block holds the tag keys the device's protocol adds, if any (a
	// Modbus tag's register).
	Block any `yaml:"-"`
}

// TimeBounds are the limits on device-supplied reading times.
type TimeBounds struct {
	Future time.Duration `yaml:"future" default:"5m" doc:"Readings stamped further ahead of the gateway's clock are refused as bad_time."`
	Past   time.Duration `yaml:"past" default:"8760h" doc:"Readings stamped further in the past are refused as bad_time; keep it long, devices backfill after outages."`
}
