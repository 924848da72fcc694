package config

import (
	"strings"
	"testing"
	"time"
)

func TestAlarmHandling(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("site: {id: s}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.AlarmHandling; !h.DeviceSuppression || len(h.RequireDisposal) != 0 || len(h.Escalate) != 0 {
		t.Errorf("defaults %+v: want device suppression on, nothing required, no escalation", h)
	}
	cfg, err = Parse("a.yaml", []byte(`site: {id: s}
alarm_handling:
  require_disposal: [critical, high]
  escalate: {critical: 5m, high: 10m}
  device_suppression: false
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.AlarmHandling
	if h.DeviceSuppression || !h.Requires("high") || h.Requires("medium") || h.Escalate["critical"] != 5*time.Minute {
		t.Errorf("parsed %+v", h)
	}

	for _, tt := range []struct{ yaml, want string }{
		{"alarm_handling:\n  require_disposal: [urgent]\n", "a.yaml:3:22: alarm_handling.require_disposal[0]: unknown severity \"urgent\""},
		{"alarm_handling:\n  escalate: {huge: 5m}\n", "alarm_handling.escalate[huge]: unknown severity \"huge\""},
		{"alarm_handling:\n  escalate: {high: 0s}\n", "a.yaml:3:20: alarm_handling.escalate[high]: 0s must be positive"},
	} {
		_, err := Parse("a.yaml", []byte("site: {id: s}\n"+tt.yaml), env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
