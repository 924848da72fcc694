package config

import (
	"strings"
	"testing"
	"time"
)

func TestForward(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte(`site: {id: s}
forward: {centres: ["119.example.cn:9026", "10.0.0.9:9026"], address: "000000001234"}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Forward
	if f.Heartbeat != 30*time.Second || f.ConfirmTimeout != 10*time.Second || f.Retries != 3 || f.AlarmAfter != 30*time.Second || f.MaxBytes != 256<<20 {
		t.Errorf("defaults %+v", f)
	}
	for _, tt := range []struct{ yaml, want string }{
		{`{centres: [], address: "000000001234"}`, "forward.centres: at least one"},
		{`{centres: ["119.example.cn"], address: "000000001234"}`, `forward.centres[0] "119.example.cn": want host:port`},
		{`{centres: ["h:1"], address: "1234"}`, `f.yaml:2:38: forward.address "1234": want 12 digits`},
		{`{centres: ["h:1"], address: "000000001234", retries: 0}`, "forward.retries 0: want 1 to 10"},
		{`{centres: ["h:1"], address: "000000001234", tags: ["[x"]}`, `forward.tags[0] "[x"`},
	} {
		_, err := Parse("f.yaml", []byte("site: {id: s}\nforward: "+tt.yaml+"\n"), env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
