package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHazardRulesAbsentEmptyAndGiven(t *testing.T) {
	const head = "site: {id: s}\n"
	tests := []struct {
		name    string
		yaml    string
		wantNil bool
		wantLen int
	}{
		{"absent: built-in set", "", true, 0},
		{"null: built-in set", "hazard_rules:\n", true, 0},
		{"empty list: none", "hazard_rules: []\n", false, 0},
		{"one rule", `hazard_rules:
  - name: gas-detector-down
    match: {kind: combustible_gas}
    class: comm_loss
    for: 24h
    category: 重大危险源
    level: 重大隐患
    basis: 《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》第十二项
    measures: 检修或更换探测器
    responsible: 仪表车间
    deadline: 72h
`, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("h.yaml", []byte(head+tt.yaml), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.HazardRules == nil) != tt.wantNil || len(cfg.HazardRules) != tt.wantLen {
				t.Fatalf("hazard_rules = %#v, want nil %v, len %d", cfg.HazardRules, tt.wantNil, tt.wantLen)
			}
		})
	}
	cfg, err := Parse("h.yaml", []byte(head+tests[3].yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.HazardRules[0]
	if r.For != 24*time.Hour || r.Class != "comm_loss" || r.Level != "重大隐患" || r.By != "tag" ||
		r.Deadline != 72*time.Hour || r.NormalFor != 24*time.Hour || r.Match.Kind != "combustible_gas" {
		t.Errorf("rule = %+v", r)
	}
}

func TestHazardRuleProblems(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want []string // each in one problem, with its line
	}{
		{"no kind", "{name: a, class: c, category: 压力管道, basis: x}",
			[]string{"h.yaml:3:5: hazard_rules[0].for: hazard rule \"a\" needs for"}},
		{"two kinds", "{name: a, class: c, for: 1h, immediate: true, category: 压力管道, basis: x}",
			[]string{"are separate rules"}},
		{"recurrence without window", "{name: a, class: c, count: 3, category: 压力管道, basis: x}",
			[]string{"within: a recurrence needs a positive window"}},
		{"recurrence of one", "{name: a, class: c, count: 1, within: 1h, category: 压力管道, basis: x}",
			[]string{"count of at least 2"}},
		{"no selector", "{name: a, immediate: true, category: 压力管道, basis: x}",
			[]string{"needs class, classes, rule or alarm_levels"}},
		{"bad enums", "{name: a, class: c, immediate: true, category: 其他, level: 特大隐患, by: device, basis: x}",
			[]string{`unknown category "其他"`, `unknown level "特大隐患"`, `by: unknown value "device"`}},
		{"no basis", "{name: a, class: c, immediate: true, category: 压力管道, basis: ' '}",
			[]string{"needs its 判定依据"}},
		{"bad glob", "{name: a, class: c, immediate: true, category: 压力管道, basis: x, match: {tag: '[x'}}",
			[]string{"bad tag glob"}},
		{"missing category", "{name: a, class: c, immediate: true, basis: x}",
			[]string{`missing required key "category"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("h.yaml", []byte("site: {id: s}\nhazard_rules:\n  - "+tt.rule+"\n"), env(nil))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err %v, want Problems", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems\n%v\nlack %q", err, w)
				}
			}
		})
	}
	_, err := Parse("h.yaml", []byte(`site: {id: s}
hazard_rules:
  - {name: a, class: c, immediate: true, category: 压力管道, basis: x}
  - {name: a, class: c, immediate: true, category: 压力管道, basis: x}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), `h.yaml:4:12: duplicate hazard rule name "a" (first at line 3)`) {
		t.Errorf("duplicate: %v", err)
	}
}
