package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("d.yaml", []byte(`
site: {id: s}
devices:
  - id: d
    protocol: testbus
    url: tcp://127.0.0.1:502
    tags:
      - id: t
        register: {table: holding, address: 3}
rules:
  - {name: r, above: 1}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./var" || cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.InfluxDB != nil {
		t.Errorf("top-level defaults: data_dir=%q listen=%q influx=%v", cfg.DataDir, cfg.HTTP.Listen, cfg.InfluxDB)
	}
	d := cfg.Devices[0]
	if d.Block.(*testBusDevice).UnitID != 1 || d.Interval != time.Second || d.Timeout != 500*time.Millisecond {
		t.Errorf("device defaults: %+v", d)
	}
	if r := d.Tags[0].Block.(*testBusTag).Register; r.Scale != 1 {
		t.Errorf("scale default = %v, want 1", r.Scale)
	}
	if cfg.Rules[0].Severity != "medium" {
		t.Errorf("severity default = %q", cfg.Rules[0].Severity)
	}
}

const base = `site: {id: s}
devices:
  - id: gds-1
    protocol: testbus
    url: tcp://127.0.0.1:5020
    interval: 1s
    tags:
      - id: T1
        register: {table: input, address: 0}
`

// TestProblems checks each kind of mistake is reported at its line and column.
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // "LINE:COL: substring", in order
	}{
		{"unknown key", base + "bogus: 1\n", nil, []string{"10:1: unknown key \"bogus\" in the top level"}},
		{"typo suggests", strings.Replace(base, "interval:", "intervall:", 1), nil, []string{`6:5: unknown key "intervall" in devices[0] (did you mean "interval"?)`}},
		{"wrong type", strings.Replace(base, "address: 0", "address: zero", 1), nil, []string{`9:43: devices[0].tags[0].register.address: expected an integer from 0 to 65535, got "zero"`}},
		{"out of range", strings.Replace(base, "address: 0", "address: 70000", 1), nil, []string{`9:43: devices[0].tags[0].register.address: expected an integer from 0 to 65535`}},
		{"list expected", "site: {id: s}\ndevices: {id: x}\n", nil, []string{"2:10: devices: expected a list, got a mapping"}},
		{"missing required", "site: {name: x}\n", nil, []string{`1:7: missing required key "id" in site`}},
		{"missing url", strings.Replace(base, "    url: tcp://127.0.0.1:5020\n", "", 1), nil, []string{`3:5: missing required key "url" in devices[0]`}},
		{"missing site", "data_dir: x\n", nil, []string{`1:1: missing required key "site" in the top level`}},
		{"bad duration", strings.Replace(base, "interval: 1s", "interval: 1 sec", 1), nil, []string{`6:15: devices[0].interval: bad duration "1 sec"`}},
		{"bad url scheme", strings.Replace(base, "tcp://", "http://", 1), nil, []string{`5:10: devices[0].url: bad URL "http://127.0.0.1:5020": scheme must be one of`}},
		{"bad url syntax", strings.Replace(base, "tcp://127.0.0.1:5020", `"tcp://[::1"`, 1), nil, []string{`5:10: devices[0].url: bad URL`}},
		{"duplicate tag", base + "  - id: gds-2\n    protocol: testbus\n    url: tcp://127.0.0.1:5021\n    tags:\n      - id: T1\n        register: {table: input, address: 0}\n", nil,
			[]string{`14:13: duplicate tag id "T1" (first at line 8)`}},
		{"duplicate device", base + "  - id: gds-1\n    protocol: testbus\n    url: tcp://127.0.0.1:5021\n", nil, []string{`10:9: duplicate device id "gds-1" (first at line 3)`}},
		{"duplicate key", "site: {id: s, id: t}\n", nil, []string{`1:15: duplicate key "id" in site`}},
		{"unset env", base + "influxdb: {url: http://h:8086, bucket: b, token: \"${NOPE}\"}\n", nil, []string{"10:50: influxdb.token: environment variable NOPE is not set"}},
		{"env expands", base + "influxdb: {url: \"http://${HOST}:8086\", bucket: b}\n", map[string]string{"HOST": "db"}, nil},
		{"env bad name", base + "influxdb: {url: \"http://${1X}:8086\", bucket: b}\n", nil, []string{`10:17: influxdb.url: bad environment variable name "1X"`}},
		{"rule without limit", base + "rules:\n  - {name: r}\n", nil, []string{`11:5: rule "r": needs above or below`}},
		{"rule reserved name", base + "rules:\n  - {name: comm_loss, above: 1}\n", nil, []string{`11:12: rule name "comm_loss" is reserved`}},
		{"rule bad severity", base + "rules:\n  - {name: r, above: 1, severity: urgent}\n", nil, []string{`11:35: rules[0].severity: unknown severity "urgent"`}},
		{"rule bad glob", base + "rules:\n  - {name: r, above: 1, match: {tag: \"[\"}}\n", nil, []string{`11:38: rule "r": bad tag glob "["`}},
		{"short token", base + "http: {tokens: [{name: ops, token: abc}]}\n", nil, []string{`10:36: token "ops": the secret must be at least 16 characters`}},
		{"bad listen", base + "http: {listen: localhost}\n", nil, []string{`10:16: http.listen: bad address "localhost"`}},
		{"yaml syntax", "site: {id: s\n", nil, []string{"YAML syntax"}},
		{"empty", "", nil, []string{"1:1: the file is empty"}},
		{"several at once", strings.Replace(base, "interval: 1s", "interval: soon", 1) + "bogus: 1\n", nil,
			[]string{`6:15: devices[0].interval: bad duration`, `10:1: unknown key "bogus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), env(tt.env))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got := ps[i].Error(); !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
				}
				if !strings.HasPrefix(ps[i].Error(), "c.yaml:") {
					t.Errorf("problem %d does not name the file: %q", i, ps[i].Error())
				}
			}
		})
	}
}

// TestSecretsNotInMessages: a problem with a token names the token, never its value.
func TestSecretsNotInMessages(t *testing.T) {
	_, err := Parse("c.yaml", []byte(base+"http: {tokens: [{name: ops, role: boss, token: ${T}}]}\n"), env(map[string]string{"T": "s3cr3t-value-very-long"}))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v; want a role error that does not show the secret", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("site: &a {id: *a}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse("f.yaml", b, env(map[string]string{"INFLUX_TOKEN": "x"}))
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		var ps Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("error is not Problems: %v", err)
		}
	})
}

// TestInlineProtocolKeys: a protocol's keys sit flat under the device but
// live in their own struct, with defaults and unknown-key checks intact.
func TestInlineProtocolKeys(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(strings.Replace(base, "    interval: 1s\n", "    interval: 1s\n    unit_id: 7\n", 1)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Devices[0].Block.(*testBusDevice).UnitID; u != 7 {
		t.Errorf("unit_id = %d, want 7", u)
	}
	cfg, err = Parse("c.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.Devices[0].Block.(*testBusDevice).UnitID; u != 1 {
		t.Errorf("unit_id default = %d, want 1", u)
	}
}

func TestMapValues(t *testing.T) {
	var v struct {
		States map[int]string `yaml:"states"`
	}
	d := &decoder{file: "m.yaml", lookup: env(nil), pos: map[string]Pos{}}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("states: {0: normal, 1: fault, x: bad, 1: again}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	d.decode(doc.Content[0], reflect.ValueOf(&v).Elem(), "")
	if v.States[0] != "normal" || v.States[1] != "fault" || len(v.States) != 2 {
		t.Errorf("states = %v", v.States)
	}
	if len(d.problems) != 2 || !strings.Contains(d.problems[0].Error(), `m.yaml:1:31: states: key: expected an integer`) ||
		!strings.Contains(d.problems[1].Error(), `m.yaml:1:39: duplicate key "1" in states`) {
		t.Errorf("problems = %v", d.problems)
	}
}

// TestNorthboundSummaryInterval: summaries every minute unless set; 0 turns
// them off; a negative or sub-second interval is a problem at its key.
func TestNorthboundSummaryInterval(t *testing.T) {
	for _, c := range []struct {
		block string
		want  time.Duration
		prob  string
	}{
		{"{url: tcp://hub:1883}", time.Minute, ""},
		{"{url: tcp://hub:1883, summary_interval: 0}", 0, ""},
		{"{url: tcp://hub:1883, summary_interval: 5m}", 5 * time.Minute, ""},
		{"{url: tcp://hub:1883, summary_interval: -1s}", 0, `2:53: northbound.summary_interval: bad duration "-1s": must not be negative`},
		{"{url: tcp://hub:1883, summary_interval: 10ms}", 0, `2:53: northbound.summary_interval 10ms: use 0 (off) or at least 1s`},
	} {
		cfg, err := Parse("c.yaml", []byte("site: {id: s}\nnorthbound: "+c.block+"\n"), env(nil))
		switch {
		case c.prob != "":
			if err == nil || !strings.Contains(err.Error(), c.prob) {
				t.Errorf("%s: err %v, want %q", c.block, err, c.prob)
			}
		case err != nil:
			t.Errorf("%s: %v", c.block, err)
		case cfg.Northbound.SummaryInterval != c.want:
			t.Errorf("%s: summary_interval %v, want %v", c.block, cfg.Northbound.SummaryInterval, c.want)
		}
	}
}
