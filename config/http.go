package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Webhook is a receiver of alarm and hazard events over HTTP POST. Delivery
// follows the journals from a cursor kept under data_dir, so events
// committed while the receiver or the gateway was down still arrive, in
// order, at least once.
type Webhook struct {
	Name   string   `yaml:"name" required:"true" doc:"Short id (letters, digits, - and _): names the webhook in logs and its cursor files under data_dir."`
	URL    string   `yaml:"url" required:"true" doc:"http:// or https:// URL events are POSTed to."`
	Events []string `yaml:"events" doc:"Event types to send: alarm.raised, alarm.acked, alarm.cleared, alarm.closed, alarm.shelved, alarm.unshelved, alarm.disposed, alarm.escalated, hazard.created, hazard.linked, hazard.transition, hazard.supervised, hazard.unsupervised, hazard.overdue, or alarm.* / hazard.*; empty sends every event."`
	// Severities narrows alarm events; hazard events are not filtered by it.
	Severities []string      `yaml:"severities" doc:"Alarm severities to send (low, medium, high, critical); empty sends all. Hazard events are not filtered by it."`
	Secret     string        `yaml:"secret" secret:"true" doc:"HMAC-SHA256 key signing each delivery (X-Hazgate-Signature); write ${ENV_NAME}, never the value. Optional."`
	Timeout    time.Duration `yaml:"timeout" default:"10s" doc:"Timeout of one delivery attempt."`
	MinBackoff time.Duration `yaml:"min_backoff" default:"1s" doc:"Wait before the first retry; doubled after each failure."`
	MaxBackoff time.Duration `yaml:"max_backoff" default:"5m" doc:"Longest wait between retries; failed deliveries are retried until they succeed."`
}

// WebhookEvents are the event types a webhook may select.
var WebhookEvents = []string{
	"alarm.raised", "alarm.acked", "alarm.cleared", "alarm.closed", "alarm.shelved", "alarm.unshelved", "alarm.disposed", "alarm.escalated",
	"hazard.created", "hazard.linked", "hazard.transition", "hazard.supervised", "hazard.unsupervised",
	"hazard.overdue",
}

var webhookName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (d *decoder) validateWebhooks(hooks []Webhook) {
	names := map[string]string{}
	for i := range hooks {
		w := &hooks[i]
		p := fmt.Sprintf("webhooks[%d]", i)
		if !webhookName.MatchString(w.Name) {
			d.errorAt(p+".name", "webhook name %q: use 1 to 64 letters, digits, - or _", w.Name)
		} else if prev, dup := names[w.Name]; dup {
			d.errorAt(p+".name", "duplicate webhook name %q (first at %s)", w.Name, d.short(prev+".name"))
		} else {
			names[w.Name] = p
		}
		d.checkURL(p+".url", w.URL, []string{"http", "https"}, true)
		for j, e := range w.Events {
			if e != "alarm.*" && e != "hazard.*" && !slices.Contains(WebhookEvents, e) {
				d.errorAt(fmt.Sprintf("%s.events[%d]", p, j), "webhook %q: unknown event %q (one of alarm.*, hazard.*, %s)", w.Name, e, strings.Join(WebhookEvents, ", "))
			}
		}
		for j, s := range w.Severities {
			d.enum(fmt.Sprintf("%s.severities[%d]", p, j), "severity", s, []string{"low", "medium", "high", "critical"})
		}
		if w.Timeout <= 0 {
			d.errorAt(p+".timeout", "webhook %q: timeout must be positive", w.Name)
		}
		if w.MinBackoff <= 0 || w.MaxBackoff < w.MinBackoff {
			d.errorAt(p+".max_backoff", "webhook %q: want 0 < min_backoff <= max_backoff (got %s and %s)", w.Name, w.MinBackoff, w.MaxBackoff)
		}
	}
}
