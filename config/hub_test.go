package config

import (
	"strings"
	"testing"
	"time"
)

func TestHubConfig(t *testing.T) {
	base := "site: {id: hub}\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{name: "defaults", yaml: "hub: {url: tcp://127.0.0.1:1883}\n"},
		{name: "sites", yaml: "hub:\n  url: tcp://b:1883\n  sites:\n    - {id: nj-01, name: 南京某化工, region: 江北新区, type: 危化品生产}\n    - {id: nj-02}\n"},
		{name: "bad group", yaml: "hub: {url: tcp://b:1883, group: a/b}\n", wantErr: `c.yaml:2:33: hub.group "a/b"`},
		{name: "bad prefix", yaml: "hub: {url: tcp://b:1883, topic_prefix: a/}\n", wantErr: `hub.topic_prefix "a/"`},
		{name: "duplicate site", yaml: "hub:\n  url: tcp://b:1883\n  sites: [{id: s1}, {id: s1}]\n", wantErr: `c.yaml:4:26: duplicate site id "s1" (first at line 4)`},
		{name: "site id with a slash", yaml: "hub: {url: tcp://b:1883, sites: [{id: a/b}]}\n", wantErr: `hub.sites[0].id "a/b"`},
		{name: "offline_after too short", yaml: "hub: {url: tcp://b:1883, offline_after: 10ms}\n", wantErr: "hub.offline_after 10ms"},
		{name: "tiny max_payload", yaml: "hub: {url: tcp://b:1883, max_payload: 10}\n", wantErr: "hub.max_payload 10"},
		{name: "bad url", yaml: "hub: {url: http://b}\n", wantErr: "hub.url"},
		{name: "missing url", yaml: "hub: {group: g}\n", wantErr: `missing required key "url"`},
		{name: "missing site id", yaml: "hub: {url: tcp://b:1883, sites: [{name: x}]}\n", wantErr: `missing required key "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(base+tt.yaml), env(nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := cfg.Hub
			if h.TopicPrefix != "hazgate" || h.Group != "" || h.OfflineAfter != 3*time.Minute || h.MaxPayload != 1<<20 {
				t.Errorf("defaults not applied: %+v", h)
			}
		})
	}
}
