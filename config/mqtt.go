package config

import (
	"strings"
	"time"
)

var (
	// mqttSchemes are the broker transports paho understands.
	mqttSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}
	// mqttTLSSchemes are the transports a tls block applies to.
	mqttTLSSchemes = []string{"ssl", "tls", "mqtts", "wss"}
)

// Northbound is the upstream MQTT broker events are published to.
type Northbound struct {
	URL       string        `yaml:"url" required:"true" doc:"Broker URL: tcp://, ssl:// or ws://."`
	ClientID  string        `yaml:"client_id" doc:"MQTT client id. Default hazgate-{site}-northbound."`
	Username  string        `yaml:"username" doc:"Broker user name."`
	Password  string        `yaml:"password" secret:"true" doc:"Broker password; write ${ENV_NAME}, never the value."`
	KeepAlive time.Duration `yaml:"keepalive" default:"30s" doc:"MQTT keepalive; 0 turns pings off."`
	// TopicPrefix keeps one site's events apart from another's on a shared broker.
	TopicPrefix string `yaml:"topic_prefix" default:"hazgate" doc:"The site is published under {topic_prefix}/{site id}/: status, alarm, hazard and summary (docs/northbound.md)."`
	QoS         uint8  `yaml:"qos" default:"1" doc:"Publish QoS, 1 or 2: the gateway moves on only when the broker has acknowledged an event."`
	// Timeout bounds the wait for one acknowledgement; the event is then sent again.
	Timeout time.Duration `yaml:"timeout" default:"10s" doc:"How long to wait for the broker's acknowledgement before sending an event again."`
	TLS     *TLS          `yaml:"tls" doc:"Certificates for ssl:// and wss:// brokers."`
	// Readings, when set, publishes live readings of some kinds northbound.
	Readings *NorthboundReadings `yaml:"readings" doc:"Publishes readings of the kinds listed to {topic_prefix}/{site id}/reading, several a message. Optional: without it only events, status and summaries go north."`
	// SummaryInterval paces the retained counts a hub's site list shows.
	SummaryInterval time.Duration `yaml:"summary_interval" default:"60s" doc:"How often to publish the site's counts (open alarms, bad tags, spool backlog, open hazards) to {topic_prefix}/{site id}/summary, and once after each connect; 0 turns summaries off."`
}

func (d *decoder) checkBroker(p, raw string, tls *TLS) {
	u := d.checkURL(p+".url", raw, mqttSchemes, true)
	if u != nil && tls != nil && !oneOf(u.Scheme, mqttTLSSchemes) {
		d.errorAt(p+".tls", "%s.tls is set but url %q is not a TLS transport (%s)", p, raw, strings.Join(mqttTLSSchemes, ", "))
	}
}

// Broker reports a broker URL at key "url" that is not one paho speaks,
// and a tls block on a transport that is not TLS; MQTT devices and the
// northbound block share it.
func (c *Checker) Broker(raw string, tls *TLS) { c.d.checkBroker(c.path, raw, tls) }

// NorthboundReadings chooses which readings go north and how often.
type NorthboundReadings struct {
	Kinds    []string      `yaml:"kinds" required:"true" doc:"Tag kinds whose readings are published, for example combustible_gas, toxic_gas, tank_level, hydrant_pressure."`
	Deadband float64       `yaml:"deadband" doc:"A reading goes when it moves more than this (in the tag's unit) from the last one sent, or its quality changes; 0 sends every change."`
	Refresh  time.Duration `yaml:"refresh" default:"5m" doc:"A tag's reading goes at least this often, changed or not."`
	Interval time.Duration `yaml:"interval" default:"1s" doc:"How often the readings gathered are published (several a message)."`
	MaxBatch int           `yaml:"max_batch" default:"500" doc:"Most readings one message carries."`
}

// validateNorthbound checks the upstream broker block.
func (d *decoder) validateNorthbound(n *Northbound) {
	const p = "northbound"
	d.checkBroker(p, n.URL, n.TLS)
	if n.QoS != 1 && n.QoS != 2 {
		d.errorAt(p+".qos", "northbound.qos must be 1 or 2 (events must be acknowledged), not %d", n.QoS)
	}
	if n.TopicPrefix == "" || strings.ContainsAny(n.TopicPrefix, "+#\x00") || strings.HasPrefix(n.TopicPrefix, "/") || strings.HasSuffix(n.TopicPrefix, "/") {
		d.errorAt(p+".topic_prefix", "northbound.topic_prefix %q: want a non-empty topic without +, # or a leading or trailing /", n.TopicPrefix)
	}
	if n.Timeout <= 0 {
		d.errorAt(p+".timeout", "northbound.timeout must be positive")
	}
	if r := n.Readings; r != nil {
		if len(r.Kinds) == 0 {
			d.errorAt(p+".readings.kinds", "northbound.readings.kinds: list the tag kinds to publish")
		}
		if r.Deadband < 0 {
			d.errorAt(p+".readings.deadband", "northbound.readings.deadband %g must not be negative", r.Deadband)
		}
		if r.Refresh < time.Second {
			d.errorAt(p+".readings.refresh", "northbound.readings.refresh %v: at least 1s", r.Refresh)
		}
		if r.Interval < 100*time.Millisecond {
			d.errorAt(p+".readings.interval", "northbound.readings.interval %v: at least 100ms", r.Interval)
		}
		if r.MaxBatch < 1 || r.MaxBatch > 10000 {
			d.errorAt(p+".readings.max_batch", "northbound.readings.max_batch %d: 1 to 10000", r.MaxBatch)
		}
	}
	if n.SummaryInterval > 0 && n.SummaryInterval < time.Second { // the decoder refuses negative durations
		d.errorAt(p+".summary_interval", "northbound.summary_interval %v: use 0 (off) or at least 1s", n.SummaryInterval)
	}
	if n.KeepAlive > 0 && n.KeepAlive < time.Second {
		d.errorAt(p+".keepalive", "northbound.keepalive %v: use 0 or at least 1s", n.KeepAlive)
	}
}
