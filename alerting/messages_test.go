package alerting

import (
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

func TestMessagesCiteTheirStandard(t *testing.T) {
	fv := func(v float64) *float64 { return &v }
	gas := collector.Tag{ID: "GT-101", Name: "1号罐区可燃气体", Area: "1号罐区", Unit: "%LEL"}
	h2s := collector.Tag{ID: "AT-201", Name: "硫化氢", Area: "脱硫装置", Unit: "ppm"}
	hyd := collector.Tag{ID: "PT-301", Name: "室内消火栓栓口压力", Area: "3号楼", Unit: "MPa"}
	bare := collector.Tag{ID: "TT-1", Unit: "℃"}
	tests := []struct {
		name   string
		rule   config.Rule
		level  string
		tag    collector.Tag
		v      float64
		zh, en string
	}{
		{"combustible level 2", config.Rule{Name: "r", Preset: PresetCombustible}, LevelHH, gas, 52,
			"1号罐区可燃气体 52 %LEL 超过二级报警值 50（GB/T 50493-2019 5.5.1）",
			"1号罐区可燃气体 52 %LEL above level-2 alarm value 50 (GB/T 50493-2019 5.5.1)"},
		{"combustible level 1", config.Rule{Name: "r", Preset: PresetCombustible}, LevelH, gas, 30,
			"1号罐区可燃气体 30 %LEL 超过一级报警值 25（GB/T 50493-2019 5.5.1）",
			"1号罐区可燃气体 30 %LEL above level-1 alarm value 25 (GB/T 50493-2019 5.5.1)"},
		{"toxic, area joined to the name", config.Rule{Name: "r", Preset: PresetToxic, Gas: "H2S", HH: &config.Level{Value: 14}}, LevelH, h2s, 8,
			"脱硫装置 硫化氢 8 ppm 超过一级报警值 7.058（GB/T 50493-2019 5.5.2）",
			"脱硫装置 硫化氢 8 ppm above level-1 alarm value 7.058 (GB/T 50493-2019 5.5.2)"},
		{"an explicit level over a preset cites nothing", config.Rule{Name: "r", Preset: PresetToxic, Gas: "H2S", HH: &config.Level{Value: 14}}, LevelHH, h2s, 15,
			"脱硫装置 硫化氢 15 ppm 超过高高报警值 14", "脱硫装置 硫化氢 15 ppm above high-high limit 14"},
		{"indoor hydrant", config.Rule{Name: "r", Preset: PresetHydrant, Hydrant: HydrantIndoor}, LevelL, hyd, 0.2,
			"3号楼 室内消火栓栓口压力 0.2 MPa 低于栓口动压下限 0.25（GB 50974-2014 7.4.12）",
			"3号楼 室内消火栓栓口压力 0.2 MPa below outlet dynamic pressure minimum 0.25 (GB 50974-2014 7.4.12)"},
		{"no preset, no name", config.Rule{Name: "r", Above: fv(80)}, LevelH, bare, 81,
			"TT-1 81 ℃ 超过高报警值 80", "TT-1 81 ℃ above high limit 80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, problems := compileRule(tt.rule)
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			for _, r := range rs {
				if r.meta().level != tt.level {
					continue
				}
				got := r.message(&tt.tag, &collector.Sample{Tag: tt.tag.ID, Value: tt.v})
				if got.zh != tt.zh || got.en != tt.en {
					t.Errorf("message\n got %q / %q\nwant %q / %q", got.zh, got.en, tt.zh, tt.en)
				}
				return
			}
			t.Fatalf("no level %s compiled", tt.level)
		})
	}
}

func TestMessagesOfOtherKinds(t *testing.T) {
	gas := collector.Tag{ID: "GT-106", Name: "泵房可燃气体", Area: "泵房", Unit: "%LEL"}
	rate, _ := newRate(ruleMeta{name: "r"}, config.Rate{Rising: 10, Per: time.Minute, Window: 5 * time.Minute})
	tests := []struct {
		name   string
		got    text
		zh, en string
	}{
		{"comm loss", qualityText(&gas, ClassCommLoss, "comm_loss"), "泵房可燃气体 通信中断", "泵房可燃气体: communication lost"},
		{"bad quality with its reason", qualityText(&gas, ClassBadQuality, "modbus exception 2"), "泵房可燃气体 数据质量坏（modbus exception 2）", "泵房可燃气体: bad quality (modbus exception 2)"},
		{"stale", staleText(&gas, 90*time.Second), "泵房可燃气体 90秒无数据", "泵房可燃气体: no sample for 1m30s"},
		{"rate", rate[0].message(&gas, &collector.Sample{Value: 40}), "泵房可燃气体 40 %LEL，5分钟内上升速率超过每1分钟 10 %LEL", "泵房可燃气体 40 %LEL: rising faster than 10 %LEL per 1m0s (over 5m0s)"},
		{"fire state without a name", stateText(&collector.Tag{ID: "FP1-0101.fire"}, "FP1-0101", StateFire), "FP1-0101 火警", "FP1-0101 fire"},
		{"device", deviceLossText("gds-1"), "设备 gds-1 通信中断（其点位报警已抑制）", "device gds-1: communication lost (its points' alarms suppressed)"},
	}
	for _, tt := range tests {
		if tt.got.zh != tt.zh || tt.got.en != tt.en {
			t.Errorf("%s:\n got %q / %q\nwant %q / %q", tt.name, tt.got.zh, tt.got.en, tt.zh, tt.en)
		}
	}
}

func TestSpanZH(t *testing.T) {
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7天", 24 * time.Hour: "1天", 2 * time.Hour: "2小时",
		90 * time.Minute: "90分钟", 45 * time.Second: "45秒", 1500 * time.Millisecond: "1.5s", 0: ""} {
		if got := SpanZH(d); got != want {
			t.Errorf("SpanZH(%s) = %q, want %q", d, got, want)
		}
	}
}
