package config

import (
	"fmt"
	"strings"
	"time"
)

// Hub makes this process a regulator's hub: it subscribes to the sites'
// northbound topics on a broker and keeps, per site, the alarms and hazard
// records as the site has them and the site's health. docs/northbound.md is
// the contract the sites publish.
type Hub struct {
	URL       string        `yaml:"url" required:"true" doc:"Broker URL the sites publish to: tcp://, ssl:// or ws://."`
	ClientID  string        `yaml:"client_id" doc:"MQTT client id; each hub process needs its own. Default hazgate-hub-{site id}."`
	Username  string        `yaml:"username" doc:"Broker user name."`
	Password  string        `yaml:"password" secret:"true" doc:"Broker password; write ${ENV_NAME}, never the value."`
	KeepAlive time.Duration `yaml:"keepalive" default:"30s" doc:"MQTT keepalive; 0 turns pings off."`
	TLS       *TLS          `yaml:"tls" doc:"Certificates for ssl:// and wss:// brokers."`
	// TopicPrefix is the sites' northbound.topic_prefix.
	TopicPrefix string `yaml:"topic_prefix" default:"hazgate" doc:"The sites' northbound.topic_prefix: the hub reads {topic_prefix}/{site id}/status, alarm, hazard and summary."`
	// Group lets several hub processes split one feed: the broker hands
	// each message of a shared subscription to one member of the group.
	// Off by default: Mosquitto 2.0 does not restore shared subscriptions
	// from its persistence file, so what sites publish between a broker
	// restart and the hubs' resubscription reaches no hub.
	Group string `yaml:"group" doc:"MQTT shared-subscription group ($share/{group}/...): hub processes with the same group split the sites' alarm, hazard and summary messages, each message stored by one. Empty (the default): plain subscriptions, every hub process reads every message and the store keeps each once. Measured on Mosquitto 2.0.11: a broker restart forgets shared subscriptions, and what the sites publish before the hubs reconnect is lost to them; plain subscriptions lose nothing."`
	// Store is where the hub keeps what it received.
	Store string `yaml:"store" doc:"The hub's store: a postgres:// URL (write its password as ${ENV_NAME}), or a SQLite file path. Default data_dir/hub.db."`
	// OfflineAfter: a site that says nothing this long (sites publish a
	// summary every minute) is offline, an alarm at the hub.
	OfflineAfter time.Duration `yaml:"offline_after" default:"3m" doc:"A site silent this long (no status, summary or event) is offline: a comm_loss alarm at the hub until it speaks again. A site's last will marks it offline at once."`
	MaxPayload   ByteSize      `yaml:"max_payload" default:"1MiB" doc:"Largest message the hub accepts; a larger one is refused, logged with its site and topic, and counted."`
	Sites        []HubSite     `yaml:"sites" doc:"The sites expected. A message from a site not listed is refused and counted; without a list every site is accepted."`
}

// HubSite is one site a hub expects.
type HubSite struct {
	ID     string `yaml:"id" required:"true" doc:"The site's site.id."`
	Name   string `yaml:"name" doc:"Display name (the enterprise), for example 南京某化工有限公司."`
	Region string `yaml:"region" doc:"Region the site is in, for regulators' scopes and filters, for example 江北新区."`
	Type   string `yaml:"type" doc:"Enterprise type, for filters: for example 危化品生产, 危化品经营, 消防控制室."`
}

func (d *decoder) validateHub(h *Hub) {
	const p = "hub"
	d.checkBroker(p, h.URL, h.TLS)
	if h.TopicPrefix == "" || strings.ContainsAny(h.TopicPrefix, "+#\x00") || strings.HasPrefix(h.TopicPrefix, "/") || strings.HasSuffix(h.TopicPrefix, "/") {
		d.errorAt(p+".topic_prefix", "hub.topic_prefix %q: want a non-empty topic without +, # or a leading or trailing /", h.TopicPrefix)
	}
	if strings.ContainsAny(h.Group, "/+#\x00") {
		d.errorAt(p+".group", "hub.group %q: want a name without /, + or #", h.Group)
	}
	if h.OfflineAfter < time.Second {
		d.errorAt(p+".offline_after", "hub.offline_after %v: want at least 1s", h.OfflineAfter)
	}
	if h.MaxPayload < 1024 {
		d.errorAt(p+".max_payload", "hub.max_payload %d: want at least 1KiB", h.MaxPayload)
	}
	if h.KeepAlive > 0 && h.KeepAlive < time.Second {
		d.errorAt(p+".keepalive", "hub.keepalive %v: use 0 or at least 1s", h.KeepAlive)
	}
	seen := map[string]int{}
	for i, s := range h.Sites {
		sp := fmt.Sprintf("%s.sites[%d]", p, i)
		if strings.ContainsAny(s.ID, "/+#\x00") {
			d.errorAt(sp+".id", "%s.id %q: a site id is a topic level: no /, + or #", sp, s.ID)
		}
		if j, dup := seen[s.ID]; dup {
			d.errorAt(sp+".id", "duplicate site id %q (first at %s)", s.ID, d.short(fmt.Sprintf("%s.sites[%d].id", p, j)))
		}
		seen[s.ID] = i
	}
}
