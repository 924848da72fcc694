package modbus

import (
	"strings"
	"testing"

	"hazgate/collector"
	"hazgate/config"
)

func TestLoopBands(t *testing.T) {
	ne43 := &loop{raw0: 4000, raw1: 20000, eng0: 0, eng1: 100, faultLow: NE43FaultLow, faultHigh: NE43FaultHigh}
	// A detector that signals fault at 0 mA and calibration at 2 mA.
	zeroFault := &loop{raw0: 4000, raw1: 20000, eng0: 0, eng1: 100, faultLow: 1, faultHigh: 21}
	// Reversed ranges are legal: raw counts falling as the value rises.
	reversed := &loop{raw0: 20000, raw1: 4000, eng0: 0, eng1: 1.6, faultLow: NE43FaultLow, faultHigh: NE43FaultHigh}
	cases := []struct {
		name   string
		l      *loop
		raw    float64
		q      collector.Quality
		reason string
		v      float64
	}{
		{"4 mA is the range's bottom", ne43, 4000, collector.Good, "", 0},
		{"12 mA is mid-range", ne43, 12000, collector.Good, "", 50},
		{"20 mA is full scale", ne43, 20000, collector.Good, "", 100},
		{"17.5 mA", ne43, 17500, collector.Good, "", 84.375},
		{"3.9 mA under-range", ne43, 3900, collector.Uncertain, collector.ReasonSaturated, -0.625},
		{"3.61 mA still under-range", ne43, 3610, collector.Uncertain, collector.ReasonSaturated, -2.4375},
		{"3.6 mA is a fault", ne43, 3600, collector.Bad, collector.ReasonSensorFault, 0},
		{"0 mA is a fault", ne43, 0, collector.Bad, collector.ReasonSensorFault, 0},
		{"20.5 mA over-range", ne43, 20500, collector.Uncertain, collector.ReasonSaturated, 103.125},
		{"20.99 mA still over-range", ne43, 20990, collector.Uncertain, collector.ReasonSaturated, 106.1875},
		{"21 mA is a fault", ne43, 21000, collector.Bad, collector.ReasonSensorFault, 0},
		{"22 mA is a fault", ne43, 22000, collector.Bad, collector.ReasonSensorFault, 0},
		{"own bands: 2 mA calibration is under-range", zeroFault, 2000, collector.Uncertain, collector.ReasonSaturated, -12.5},
		{"own bands: 3.6 mA is no fault", zeroFault, 3600, collector.Uncertain, collector.ReasonSaturated, -2.5},
		{"own bands: 0 mA is a fault", zeroFault, 0, collector.Bad, collector.ReasonSensorFault, 0},
		{"reversed 4 mA", reversed, 20000, collector.Good, "", 0},
		{"reversed 20 mA", reversed, 4000, collector.Good, "", 1.6},
		{"reversed over-range", reversed, 3500, collector.Uncertain, collector.ReasonSaturated, 1.65},
		{"reversed fault", reversed, 0, collector.Bad, collector.ReasonSensorFault, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, q, reason := tc.l.convert(tc.raw)
			if q != tc.q || reason != tc.reason || v != tc.v {
				t.Errorf("convert(%v) = %v %v %q, want %v %v %q", tc.raw, v, q, reason, tc.v, tc.q, tc.reason)
			}
		})
	}
}

func u8(v uint8) *uint8 { return &v }

func TestPointSet(t *testing.T) {
	states := map[int]string{0: "normal", 1: "alarm", 3: "fault"}
	cases := []struct {
		name string
		reg  Register
		raw  float64
		want []collector.Sample // Value, Quality, Reason only
	}{
		{"scaled", Register{Table: "input", Scale: 0.1, Offset: -4}, 284, []collector.Sample{{Value: 24.4}}},
		{"unset scale in Go means 1", Register{Table: "input"}, 284, []collector.Sample{{Value: 284}}},
		{"bit", Register{Table: "holding", Bit: u8(3)}, 1, []collector.Sample{{Value: 1}}},
		{"4-20 mA", Register{Table: "input", Raw: []float64{4000, 20000}, Range: []float64{0, 100}}, 8000, []collector.Sample{{Value: 25}}},
		{"4-20 mA fault", Register{Table: "input", Raw: []float64{4000, 20000}, Range: []float64{0, 100}}, 0,
			[]collector.Sample{{Quality: collector.Bad, Reason: collector.ReasonSensorFault}}},
		{"state alarm", Register{Table: "holding", States: states}, 1, []collector.Sample{{Value: 1}, {Value: 0}, {Value: 1}, {Value: 0}}},
		{"state fault", Register{Table: "holding", States: states}, 3, []collector.Sample{{Value: 3}, {Value: 0}, {Value: 0}, {Value: 1}}},
		{"unknown state", Register{Table: "holding", States: states}, 2, []collector.Sample{
			{Value: 2, Quality: collector.Uncertain, Reason: collector.ReasonUnknownState},
			{Quality: collector.Uncertain, Reason: collector.ReasonUnknownState},
			{Quality: collector.Uncertain, Reason: collector.ReasonUnknownState},
			{Quality: collector.Uncertain, Reason: collector.ReasonUnknownState}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reg.Scale == 0 && tc.name != "unset scale in Go means 1" {
				tc.reg.Scale = 1
			}
			pt, err := resolve(config.Tag{ID: "T", Block: &TagConfig{Register: &tc.reg}}, orderABCD)
			if err != nil {
				t.Fatal(err)
			}
			if pt.samples() != len(tc.want) {
				t.Fatalf("%d samples, want %d", pt.samples(), len(tc.want))
			}
			out := make([]collector.Sample, pt.samples())
			pt.set(out, tc.raw)
			for i, w := range tc.want {
				if out[i].Value != w.Value || out[i].Quality != w.Quality || out[i].Reason != w.Reason {
					t.Errorf("sample %d = %v %v %q, want %v %v %q", i, out[i].Value, out[i].Quality, out[i].Reason, w.Value, w.Quality, w.Reason)
				}
			}
		})
	}
}

func TestResolveRejects(t *testing.T) {
	cases := []struct {
		name string
		reg  Register
		want string
	}{
		{"bit 16", Register{Table: "holding", Bit: u8(16), Scale: 1}, "bit 16"},
		{"bit of a float", Register{Table: "holding", Type: "float32", Bit: u8(1), Scale: 1}, "16-bit register"},
		{"bit of a coil", Register{Table: "coil", Bit: u8(1), Scale: 1}, "16-bit register"},
		{"raw without range", Register{Table: "input", Raw: []float64{4000, 20000}, Scale: 1}, "raw"},
		{"empty raw", Register{Table: "input", Raw: []float64{4000, 4000}, Range: []float64{0, 1}, Scale: 1}, "raw"},
		{"bands inside 4-20", Register{Table: "input", Raw: []float64{0, 1}, Range: []float64{0, 1}, Bands: &Bands{Low: 4.5, High: 21}, Scale: 1}, "bands"},
		{"float states", Register{Table: "input", Type: "float32", States: map[int]string{0: "ok"}, Scale: 1}, "integer"},
		{"bit and states", Register{Table: "input", Bit: u8(0), States: map[int]string{0: "ok"}, Scale: 1}, "exclude"},
		{"scaled bit", Register{Table: "input", Bit: u8(0), Scale: 0.1}, "scale"},
		{"byte order", Register{Table: "input", ByteOrder: "BACD", Scale: 1}, "byte order"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolve(config.Tag{ID: "T9", Block: &TagConfig{Register: &tc.reg}}, orderABCD)
			if err == nil || !strings.Contains(err.Error(), "tag T9: register: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want tag T9 and %q", err, tc.want)
			}
		})
	}
}
