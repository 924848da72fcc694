package alerting

import (
	"context"
	"reflect"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

func TestEngineLimits(t *testing.T) {
	gas := collector.Tag{ID: "GT-101", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区"}
	own := collector.Tag{ID: "GT-102", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL"}
	hydrant := collector.Tag{ID: "PT-1", Device: "fw-1", Kind: "hydrant_pressure", Unit: "MPa"}
	rules := []config.Rule{
		{Name: "gas", Match: config.Match{Kind: "combustible_gas"}, Preset: PresetCombustible, Deadband: 2},
		{Name: "gt102", Match: config.Match{Tag: "GT-102"}, Above: ptr(20), Severity: "medium"},
		{Name: "gas-rate", Match: config.Match{Kind: "combustible_gas"}, Rate: &config.Rate{Rising: 10, Per: time.Minute, Window: time.Minute}},
		{Name: "silent", Match: config.Match{Kind: "combustible_gas"}, Stale: time.Minute},
		{Name: "water", Match: config.Match{Kind: "hydrant_pressure"}, Preset: PresetHydrant, HH: lvl(1.2, "")},
		{Name: "anything", Match: config.Match{Tag: "X-*"}, Below: ptr(-5)},
	}
	lel1 := Limit{Rule: "gas", Level: LevelH, Value: 25, High: true, Deadband: 2, Severity: SeverityHigh,
		Words: "一级报警值", WordsEN: "level-1 alarm value", Clause: "GB/T 50493-2019 5.5.1"}
	lel2 := Limit{Rule: "gas", Level: LevelHH, Value: 50, High: true, Deadband: 2, Severity: SeverityCritical,
		Words: "二级报警值", WordsEN: "level-2 alarm value", Clause: "GB/T 50493-2019 5.5.1"}
	tests := []struct {
		name    string
		sampled []string // tags that have sent a sample before the question
		tag     string
		want    []Limit
	}{
		{"preset, tag seen", []string{"GT-101"}, "GT-101", []Limit{lel1, lel2}},
		{"preset, tag not seen yet", nil, "GT-101", []Limit{lel1, lel2}},
		{"own rule replaces the preset", []string{"GT-102"}, "GT-102", []Limit{
			{Rule: "gt102", Level: LevelH, Value: 20, High: true, Severity: SeverityMedium, Words: "高报警值", WordsEN: "high limit"},
		}},
		{"own rule, not seen yet", nil, "GT-102", []Limit{
			{Rule: "gt102", Level: LevelH, Value: 20, High: true, Severity: SeverityMedium, Words: "高报警值", WordsEN: "high limit"},
		}},
		{"preset levels below, an explicit one above", nil, "PT-1", []Limit{
			{Rule: "water", Level: LevelLL, Value: 0.10, Severity: SeverityHigh,
				Words: "最不利点最低压力", WordsEN: "least-favourable minimum pressure", Clause: "GB 50974-2014 7.2.8"},
			{Rule: "water", Level: LevelL, Value: 0.14, Severity: SeverityMedium,
				Words: "工作压力下限", WordsEN: "working pressure minimum", Clause: "GB 50974-2014 7.2.8"},
			{Rule: "water", Level: LevelHH, Value: 1.2, High: true, Severity: SeverityHigh, Words: "高高报警值", WordsEN: "high-high limit"},
		}},
		{"a tag outside the registry that sends samples", []string{"X-9"}, "X-9", []Limit{
			{Rule: "anything", Level: LevelL, Value: -5, Severity: SeverityMedium, Words: "低报警值", WordsEN: "low limit"},
		}},
		{"unknown tag", nil, "X-9", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", rules, gas, own, hydrant)
			for _, id := range tt.sampled {
				r.sample(id, 1, collector.Good, "")
			}
			if got := r.e.Limits(tt.tag); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Limits(%s)\n got %+v\nwant %+v", tt.tag, got, tt.want)
			}
		})
	}
}

// TestEngineLimitsReload: a trend drawn after a reload shows the new limits.
func TestEngineLimitsReload(t *testing.T) {
	gas := collector.Tag{ID: "GT-101", Kind: "combustible_gas"}
	r := newRig(t, "", []config.Rule{{Name: "gas", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(30)}}, gas)
	r.sample("GT-101", 1, collector.Good, "")
	if err := r.e.Reload(context.Background(), []config.Rule{
		{Name: "gas", Match: config.Match{Kind: "combustible_gas"}, Preset: PresetCombustible},
	}); err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, l := range r.e.Limits("GT-101") {
		got = append(got, l.Value)
	}
	if want := []float64{25, 50}; !reflect.DeepEqual(got, want) {
		t.Errorf("limits after reload %v, want %v", got, want)
	}
}
