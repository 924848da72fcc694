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
	if f.Heartbeat != 30*time.Second || f.ConfirmTimeout != 10*time.Second || f.Retries != 3 || f.AlarmAfter != 10*time.Second || f.StatusAlarmAfter != 100*time.Second || f.MaxBytes != 256<<20 {
		t.Errorf("defaults %+v", f)
	}
	if f.Analogs != nil {
		t.Errorf("analogs %+v, want nil (the source's default) when absent", f.Analogs)
	}
	cfg, err = Parse("f.yaml", []byte(`site: {id: s}
forward:
  centres: ["h:1"]
  address: "000000001234"
  analogs:
    - {kind: hydrant_pressure}
    - {kind: level, deadband: 0.1, minimum: 1.5}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Forward.Analogs
	if len(a) != 2 || a[0].Minimum != nil || a[0].Refresh != 5*time.Minute || a[1].Deadband != 0.1 || a[1].Minimum == nil || *a[1].Minimum != 1.5 {
		t.Errorf("analogs %+v", a)
	}
	cfg, err = Parse("f.yaml", []byte("site: {id: s}\nforward: {centres: [\"h:1\"], address: \"000000001234\", gas: true, gas_levels: {combustible_gas: 20, toxic_gas: 10}}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Forward.GasLevels; len(g) != 2 || g["combustible_gas"] != 20 || g["toxic_gas"] != 10 {
		t.Errorf("gas_levels %v", g)
	}
	for _, tt := range []struct{ yaml, want string }{
		{`{centres: [], address: "000000001234"}`, "forward.centres: at least one"},
		{`{centres: ["119.example.cn"], address: "000000001234"}`, `forward.centres[0] "119.example.cn": want host:port`},
		{`{centres: ["h:1"], address: "1234"}`, `f.yaml:2:38: forward.address "1234": want 12 digits`},
		{`{centres: ["h:1"], address: "000000001234", retries: 0}`, "forward.retries 0: want 1 to 10"},
		{`{centres: ["h:1"], address: "000000001234", tags: ["[x"]}`, `forward.tags[0] "[x"`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{kind: flow}]}`, `f.yaml:2:71: forward.analogs[0].kind flow: analog_type and scale are required`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{kind: hydrant_pressure, analog_type: 4}]}`, `forward.analogs[0].analog_type 4: give its scale too`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{kind: level}, {kind: level}]}`, `forward.analogs[1].kind level: listed twice`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{kind: level, deadband: -1}]}`, `forward.analogs[0].deadband -1: want 0 or above`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{kind: level, refresh: 0s}]}`, `forward.analogs[0].refresh 0s: want at least 1s`},
		{`{centres: ["h:1"], address: "000000001234", analogs: [{minimum: 1}]}`, `missing required key "kind"`},
		{`{centres: ["h:1"], address: "000000001234", gas: true, gas_levels: {combustible_gas: 20, toxic_gas: 0}}`, `f.yaml:2:110: forward.gas_levels[toxic_gas] 0: want a level above 0`},
		{`{centres: ["h:1"], address: "000000001234", gas_levels: {toxic_gas: 10}}`, `forward.gas_levels: given but gas is not true`},
		{`{centres: ["h:1"], address: "000000001234", gas: true, gas_levels: {}}`, `forward.gas_levels: empty`},
		{`{centres: ["h:1"], address: "000000001234", alarm_after: 30s, status_alarm_after: 20s}`, `f.yaml:2:92: forward.status_alarm_after 20s: want at least alarm_after (30s)`},
	} {
		_, err := Parse("f.yaml", []byte("site: {id: s}\nforward: "+tt.yaml+"\n"), env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
