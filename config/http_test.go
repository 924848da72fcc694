package config

import (
	"strings"
	"testing"
	"time"
)

func TestWebhookConfig(t *testing.T) {
	base := "site: {id: s}\n"
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
	}{
		{name: "defaults", yaml: "webhooks: [{name: platform, url: https://example.com/hook}]\n"},
		{name: "full", yaml: "webhooks:\n  - {name: p-1, url: http://h/x, events: [alarm.raised, hazard.*], severities: [high], secret: \"${HOOK_SECRET}\", timeout: 2s, min_backoff: 100ms, max_backoff: 1m}\n",
			env: map[string]string{"HOOK_SECRET": "s3cret"}},
		{name: "unset secret", yaml: "webhooks: [{name: p, url: http://h/x, secret: \"${NOPE}\"}]\n", wantErr: "NOPE"},
		{name: "bad name", yaml: "webhooks: [{name: a/b, url: http://h/x}]\n", wantErr: `c.yaml:2:19: webhook name "a/b"`},
		{name: "duplicate", yaml: "webhooks:\n  - {name: p, url: http://h/x}\n  - {name: p, url: http://h/y}\n", wantErr: `c.yaml:4:12: duplicate webhook name "p" (first at line 3)`},
		{name: "bad url", yaml: "webhooks: [{name: p, url: ftp://h/x}]\n", wantErr: "webhooks[0].url: bad URL"},
		{name: "unknown event", yaml: "webhooks: [{name: p, url: http://h, events: [alarm.exploded]}]\n", wantErr: `unknown event "alarm.exploded"`},
		{name: "bad severity", yaml: "webhooks: [{name: p, url: http://h, severities: [urgent]}]\n", wantErr: `unknown severity "urgent"`},
		{name: "backoff order", yaml: "webhooks: [{name: p, url: http://h, min_backoff: 1m, max_backoff: 1s}]\n", wantErr: "min_backoff <= max_backoff"},
		{name: "missing url", yaml: "webhooks: [{name: p}]\n", wantErr: `missing required key "url"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(base+tt.yaml), env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := cfg.Webhooks[0]
			if w.Timeout <= 0 || w.MinBackoff <= 0 || w.MaxBackoff < w.MinBackoff {
				t.Errorf("defaults not applied: %+v", w)
			}
			if tt.name == "defaults" && (w.Timeout != 10*time.Second || w.MinBackoff != time.Second || w.MaxBackoff != 5*time.Minute) {
				t.Errorf("defaults %+v", w)
			}
			if tt.name == "full" && (w.Secret != "s3cret" || len(w.Events) != 2 || w.MaxBackoff != time.Minute) {
				t.Errorf("full %+v", w)
			}
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	tests := []struct {
		entry      string
		host, port string
		wantErr    string
	}{
		{entry: "gw.plant.example", host: "gw.plant.example"},
		{entry: "GW.Plant.Example.", host: "gw.plant.example"},
		{entry: "gw.plant.example:8443", host: "gw.plant.example", port: "8443"},
		{entry: "10.0.0.5", host: "10.0.0.5"},
		{entry: "fd00::5", host: "fd00::5"},
		{entry: "[fd00::5]", host: "fd00::5"},
		{entry: "[fd00::5]:8080", host: "fd00::5", port: "8080"},
		{entry: "", wantErr: "empty host"},
		{entry: "http://gw", wantErr: "without scheme or path"},
		{entry: "gw/console", wantErr: "without scheme or path"},
		{entry: ":8080", wantErr: "empty host"},
		{entry: "gw:http", wantErr: "bad port"},
		{entry: "gw:0", wantErr: "bad port"},
	}
	for _, tt := range tests {
		host, port, err := SplitAllowedHost(tt.entry)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitAllowedHost(%q) = %v, want %q", tt.entry, err, tt.wantErr)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("SplitAllowedHost(%q) = %q, %q, %v; want %q, %q", tt.entry, host, port, err, tt.host, tt.port)
		}
	}
	cfg, err := Parse("c.yaml", []byte("site: {id: s}\nhttp: {allowed_hosts: [gw.plant.example, \"gw:8443\"]}\n"), env(nil))
	if err != nil || len(cfg.HTTP.AllowedHosts) != 2 {
		t.Fatalf("%v %+v", err, cfg)
	}
	_, err = Parse("c.yaml", []byte("site: {id: s}\nhttp: {allowed_hosts: [gw, \"https://gw\"]}\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2:28:") || !strings.Contains(err.Error(), "http.allowed_hosts[1]") {
		t.Errorf("bad entry: %v", err)
	}
}

func TestHTTPLimits(t *testing.T) {
	tests := []struct {
		name    string
		http    string
		body    time.Duration
		conns   int
		wantErr string
	}{
		{name: "defaults", http: "{}", body: 10 * time.Second, conns: 32},
		{name: "set", http: "{body_timeout: 2s, max_conns_per_client: 200}", body: 2 * time.Second, conns: 200},
		{name: "zero timeout", http: "{body_timeout: 0s}", wantErr: "c.yaml:2:22: http.body_timeout must be positive"},
		{name: "no connections", http: "{max_conns_per_client: 0}", wantErr: "c.yaml:2:30: http.max_conns_per_client must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte("site: {id: s}\nhttp: "+tt.http+"\n"), env(nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.BodyTimeout != tt.body || cfg.HTTP.MaxConnsPerClient != tt.conns {
				t.Errorf("body_timeout %s, max_conns_per_client %d; want %s, %d", cfg.HTTP.BodyTimeout, cfg.HTTP.MaxConnsPerClient, tt.body, tt.conns)
			}
		})
	}
}
