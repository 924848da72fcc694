package alerting

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// act is one thing that happens to a rig at a time since t0: a sample of
// value v (quality q), or, with tick, a Tick with no sample.
type act struct {
	at   time.Duration
	v    float64
	q    collector.Quality
	tick bool
	tag  string   // default the stream's tag
	want []string // rule/level:type committed by the act
}

// stream runs acts against one rule set and checks the committed events.
func stream(t *testing.T, rules []config.Rule, tags []collector.Tag, tag string, acts []act) *rig {
	t.Helper()
	r := newRig(t, "", rules, tags...)
	for i, a := range acts {
		r.now = t0.Add(a.at)
		id := tag
		if a.tag != "" {
			id = a.tag
		}
		if a.tick {
			r.e.Tick(context.Background(), r.now)
		} else {
			r.e.Consume(context.Background(), []collector.Sample{{Tag: id, Value: a.v, Quality: a.q, Time: r.now}})
		}
		if got := r.levelEvents(); !reflect.DeepEqual(got, a.want) {
			t.Errorf("act %d (at %s, v %g, tick %v): events %v, want %v", i, a.at, a.v, a.tick, got, a.want)
		}
	}
	return r
}

// levelEvents is events() with each alarm's level: rule/level:type.
func (r *rig) levelEvents() []string {
	r.t.Helper()
	r.flush()
	evs, err := r.j.EventsAfter(context.Background(), r.seq, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Alarm.Rule+"/"+ev.Alarm.Level+":"+ev.Type)
		r.seq = ev.Seq
	}
	return out
}

func s(d float64) time.Duration { return time.Duration(d * float64(time.Second)) }

func lvl(v float64, sev string) *config.Level { return &config.Level{Value: v, Severity: sev} }

func TestThresholdRule(t *testing.T) {
	tank := collector.Tag{ID: "TT1", Kind: "temperature", Unit: "°C"}
	tests := []struct {
		name string
		rule config.Rule
		acts []act
	}{
		{"deadband edges, high", config.Rule{Name: "t", H: lvl(50, ""), Deadband: 5}, []act{
			{at: s(1), v: 50}, // on the limit: not above it
			{at: s(2), v: 50.5, want: []string{"t/H:raised"}}, // above
			{at: s(3), v: 46}, // back inside, but not by the deadband
			{at: s(4), v: 45, want: []string{"t/H:cleared"}}, // back by exactly the deadband
			{at: s(5), v: 49}, // re-raise needs the limit itself
			{at: s(6), v: 51, want: []string{"t/H:raised"}}, // re-raise: the same alarm
		}},
		{"deadband edges, low", config.Rule{Name: "t", L: lvl(1.5, ""), Deadband: 0.25}, []act{
			{at: s(1), v: 1.5},
			{at: s(2), v: 1.25, want: []string{"t/L:raised"}},
			{at: s(3), v: 1.625},
			{at: s(4), v: 1.75, want: []string{"t/L:cleared"}},
		}},
		{"four levels", config.Rule{Name: "t", HH: lvl(80, "critical"), H: lvl(60, ""), L: lvl(5, ""), LL: lvl(0, "")}, []act{
			{at: s(1), v: 20},
			{at: s(2), v: 61, want: []string{"t/H:raised"}},
			{at: s(3), v: 81, want: []string{"t/HH:raised"}},
			{at: s(4), v: 20, want: []string{"t/H:cleared", "t/HH:cleared"}},
			{at: s(5), v: -1, want: []string{"t/LL:raised", "t/L:raised"}},
			{at: s(6), v: 3, want: []string{"t/LL:cleared"}},
		}},
		{"on-delay raises by time", config.Rule{Name: "t", Above: ptr(50), Delay: 3 * time.Second}, []act{
			{at: s(0), v: 60},
			{at: s(1), v: 60},
			{at: s(2.9), tick: true},
			{at: s(3), tick: true, want: []string{"t/H:raised"}},
		}},
		{"on-delay raises by sample", config.Rule{Name: "t", Above: ptr(50), Delay: 3 * time.Second}, []act{
			{at: s(0), v: 60},
			{at: s(3), v: 61, want: []string{"t/H:raised"}},
		}},
		{"on-delay: a blip never raises", config.Rule{Name: "t", Above: ptr(50), Delay: 3 * time.Second}, []act{
			{at: s(0), v: 60},
			{at: s(2), v: 40},
			{at: s(2.5), v: 60}, // the delay starts again
			{at: s(5), tick: true},
			{at: s(5.5), tick: true, want: []string{"t/H:raised"}},
		}},
		{"off-delay", config.Rule{Name: "t", Above: ptr(50), OffDelay: 2 * time.Second}, []act{
			{at: s(0), v: 60, want: []string{"t/H:raised"}},
			{at: s(10), v: 40},
			{at: s(11), v: 60}, // back before the off-delay ran out
			{at: s(12), v: 40},
			{at: s(13.9), tick: true},
			{at: s(14), tick: true, want: []string{"t/H:cleared"}},
		}},
		{"bad and NaN hold", config.Rule{Name: "t", Above: ptr(50)}, []act{
			{at: s(1), v: 60, want: []string{"t/H:raised"}},
			{at: s(2), v: 0, q: collector.Bad, want: []string{"bad_quality/:raised"}},
			{at: s(3), v: math.NaN(), want: []string{"bad_quality/:cleared"}},
			{at: s(4), v: 10, want: []string{"t/H:cleared"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream(t, []config.Rule{tt.rule}, []collector.Tag{tank}, "TT1", tt.acts)
		})
	}
}

func TestThresholdLevelsSeverity(t *testing.T) {
	rs, err := compileRules([]config.Rule{{Name: "t", Severity: "low", HH: lvl(80, ""), H: lvl(60, ""), L: lvl(5, "critical"), LL: lvl(0, "")}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rs {
		got[r.meta().level] = r.meta().severity
	}
	want := map[string]string{LevelHH: "high", LevelH: "low", LevelL: "critical", LevelLL: "high"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("severities %v, want %v", got, want)
	}
}

func TestRateRule(t *testing.T) {
	hyd := collector.Tag{ID: "HP1", Kind: "hydrant_pressure", Unit: "MPa"}
	fall := config.Rule{Name: "fall", Rate: &config.Rate{Falling: 0.05, Per: time.Minute, Window: 10 * time.Second}}
	// Irregular sample times over more than the window.
	times := []float64{0, 0.7, 2.1, 2.5, 4.0, 6.2, 7.0, 9.1, 10.0, 11.3, 12.0}
	ramp := func(perMin float64, startAt float64, base float64) []act {
		var out []act
		for _, x := range times {
			out = append(out, act{at: s(startAt + x), v: base - perMin*(x/60)})
		}
		return out
	}
	t.Run("slower than the limit never raises", func(t *testing.T) {
		stream(t, []config.Rule{fall}, []collector.Tag{hyd}, "HP1", ramp(0.04, 0, 0.3))
	})
	t.Run("faster raises once half a window is seen, flat clears", func(t *testing.T) {
		acts := ramp(0.07, 0, 0.3)
		// Not judged before 5 s of history (sample at 4.0 s), then raised at 6.2 s.
		acts[5].want = []string{"fall/fall:raised"}
		last := acts[len(acts)-1].v
		for i, x := range []float64{13, 15.5, 17, 19, 21, 22.5} {
			a := act{at: s(x), v: last}
			if i == 1 { // the flat samples pull the window's slope under the limit
				a.want = []string{"fall/fall:cleared"}
			}
			acts = append(acts, a)
		}
		stream(t, []config.Rule{fall}, []collector.Tag{hyd}, "HP1", acts)
	})
	t.Run("rising", func(t *testing.T) {
		rise := config.Rule{Name: "rise", Rate: &config.Rate{Rising: 2, Per: time.Minute, Window: 10 * time.Second}}
		var acts []act
		for i := range 12 {
			acts = append(acts, act{at: s(float64(i)), v: 20 + 3*float64(i)/60})
		}
		acts[5].want = []string{"rise/rise:raised"}
		stream(t, []config.Rule{rise}, []collector.Tag{{ID: "TT1"}}, "TT1", acts)
	})
	t.Run("a gap forgets the trend", func(t *testing.T) {
		acts := ramp(0.07, 0, 0.3)
		acts[5].want = []string{"fall/fall:raised"}
		// 60 s later, one sample far lower: only one point in the window, so
		// no judgement (hold), not a huge fall.
		acts = append(acts, act{at: s(72), v: 0.1}, act{at: s(73), v: 0.1})
		stream(t, []config.Rule{fall}, []collector.Tag{hyd}, "HP1", acts)
	})
}

func TestRateRing(t *testing.T) {
	// 10 samples a second for a minute into a 10 s window: the ring thins
	// them and still spans the window.
	var g rateRing
	var slope float64
	var ok bool
	for i := range 600 {
		ts := int64(i) * int64(100*time.Millisecond)
		slope, ok = g.add(ts, 5-0.5*float64(i)/10, 10*time.Second)
	}
	if !ok || math.Abs(slope+0.5) > 1e-9 {
		t.Errorf("slope %g (ok %v), want -0.5/s", slope, ok)
	}
	if span := g.t[g.idx(g.n-1)] - g.t[g.head]; span < int64(9*time.Second) || span > int64(10*time.Second) {
		t.Errorf("ring spans %s, want about the 10 s window", time.Duration(span))
	}
	if _, ok := g.add(0, 1, 10*time.Second); ok {
		t.Error("time going back kept the old samples")
	}
}

func TestStaleRule(t *testing.T) {
	tags := []collector.Tag{{ID: "HP1", Kind: "hydrant_pressure"}, {ID: "HP2", Kind: "hydrant_pressure"}}
	rule := config.Rule{Name: "silent", Match: config.Match{Kind: "hydrant_pressure"}, Stale: 10 * time.Second, Severity: "low"}
	stream(t, []config.Rule{rule}, tags, "HP1", []act{
		{at: s(0), tick: true}, // starts HP2's timer: it never sends
		{at: s(1), v: 0.3},
		{at: s(9.9), tick: true},
		{at: s(10), tick: true, want: []string{"silent/stale:raised"}}, // HP2
		{at: s(10.9), tick: true},
		{at: s(11), tick: true, want: []string{"silent/stale:raised"}}, // HP1
		{at: s(12), v: 0, q: collector.Bad, want: []string{"bad_quality/:raised", "silent/stale:cleared"}},
		{at: s(12.5), tag: "HP2", v: 0.3, want: []string{"silent/stale:cleared"}},
	})
}

func TestStateRule(t *testing.T) {
	var tags []collector.Tag
	for _, st := range []string{StateFire, StateFault, StateStart} {
		tags = append(tags, collector.Tag{ID: "FP1-0101." + st, Kind: "fire_panel", Name: "3F东走廊感烟"})
	}
	rule := config.Rule{Name: "fas", Match: config.Match{Kind: "fire_panel"},
		States: map[string]string{"fire": "high", "fault": "medium", "supervisory": "low"}}
	r := stream(t, []config.Rule{rule}, tags, "FP1-0101.fire", []act{
		{at: s(1), v: 0},
		{at: s(2), v: 1, want: []string{"fas/fire:raised"}},
		{at: s(3), tag: "FP1-0101.start", v: 1}, // start is not mapped
		{at: s(4), tag: "FP1-0101.fault", v: 1, want: []string{"fas/fault:raised"}},
		{at: s(5), v: 0, want: []string{"fas/fire:cleared"}},
	})
	a := r.open("FP1-0101.fault")["fas"]
	if a.Class != "fault" || a.Severity != "medium" || a.Message != "3F东走廊感烟 故障" || a.MessageEN != "3F东走廊感烟 fault" {
		t.Errorf("fault alarm %+v", a)
	}
}

func TestChattering(t *testing.T) {
	rule := config.Rule{Name: "t", Above: ptr(50), Chatter: config.Chatter{Count: 3, Window: time.Minute, Quiet: 30 * time.Second}}
	r := stream(t, []config.Rule{rule}, []collector.Tag{gasTag}, "T1", []act{
		{at: s(0), v: 60, want: []string{"t/H:raised"}},
		{at: s(5), v: 40, want: []string{"t/H:cleared"}},
		{at: s(10), v: 60, want: []string{"t/H:raised"}},
		{at: s(15), v: 40, want: []string{"t/H:cleared"}},
		{at: s(20), v: 60, want: []string{"t/H:raised"}}, // third raise in 60 s: chattering
		{at: s(25), v: 40}, // held active
		{at: s(30), v: 60}, // counted, not announced
		{at: s(35), v: 40},
		{at: s(64.9), tick: true},
		{at: s(65), tick: true, want: []string{"t/H:cleared"}}, // quiet for 30 s
	})
	a := r.open("T1")["t"]
	if !a.Chattering || a.Count != 4 || a.State != ClearedUnacked {
		t.Errorf("alarm after chattering %+v, want chattering, count 4, cleared_unacked", a)
	}
	// Three raises spread over more than the window do not chatter.
	r = stream(t, []config.Rule{rule}, []collector.Tag{gasTag}, "T1", []act{
		{at: s(0), v: 60, want: []string{"t/H:raised"}},
		{at: s(30), v: 40, want: []string{"t/H:cleared"}},
		{at: s(40), v: 60, want: []string{"t/H:raised"}},
		{at: s(50), v: 40, want: []string{"t/H:cleared"}},
		{at: s(61), v: 60, want: []string{"t/H:raised"}},
		{at: s(62), v: 40, want: []string{"t/H:cleared"}},
	})
	if a := r.open("T1")["t"]; a.Chattering || a.Count != 3 {
		t.Errorf("alarm %+v, want not chattering, count 3", a)
	}
}

func TestOwnRuleOverrides(t *testing.T) {
	t1 := collector.Tag{ID: "T101-LEL", Kind: "combustible_gas"}
	t2 := collector.Tag{ID: "T102-LEL", Kind: "combustible_gas"}
	rules := []config.Rule{
		{Name: "gas", Match: config.Match{Kind: "combustible_gas"}, Preset: PresetCombustible},
		{Name: "t101", Match: config.Match{Tag: "T101-LEL"}, Above: ptr(20)},
		{Name: "silent", Match: config.Match{Kind: "combustible_gas"}, Stale: time.Minute},
	}
	r := newRig(t, "", rules, t1, t2)
	r.sample("T101-LEL", 22, collector.Good, "")
	r.sample("T102-LEL", 22, collector.Good, "")
	r.sample("T101-LEL", 30, collector.Good, "")
	r.sample("T102-LEL", 30, collector.Good, "")
	if got, want := r.levelEvents(), []string{"t101/H:raised", "gas/H:raised"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v (T101's own limit replaces the preset, not the stale rule)", got, want)
	}
	var kinds []string
	for _, sl := range r.e.state["T101-LEL"].slots {
		kinds = append(kinds, sl.r.meta().name)
	}
	if want := []string{ClassCommLoss, ClassSensorFault, ClassBadQuality, "t101", "silent"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("T101 rules %v, want %v", kinds, want)
	}
}

func TestPresets(t *testing.T) {
	type lim struct {
		v   float64
		sev string
	}
	tests := []struct {
		rule config.Rule
		want map[string]lim
		err  string
	}{
		{rule: config.Rule{Preset: PresetCombustible}, want: map[string]lim{LevelH: {25, "high"}, LevelHH: {50, "critical"}}},
		{rule: config.Rule{Preset: PresetToxic, Gas: "h2s"}, want: map[string]lim{LevelH: {7.058, "high"}, LevelHH: {14.117, "critical"}}},
		{rule: config.Rule{Preset: PresetToxic, Gas: "benzene"}, want: map[string]lim{LevelH: {3.079, "high"}, LevelHH: {6.159, "critical"}}},
		{rule: config.Rule{Preset: PresetOxygen}, want: map[string]lim{LevelL: {19.5, "high"}, LevelH: {23.5, "high"}}},
		{rule: config.Rule{Preset: PresetHydrant}, want: map[string]lim{LevelL: {0.14, "medium"}, LevelLL: {0.10, "high"}}},
		{rule: config.Rule{Preset: PresetHydrant, Hydrant: HydrantIndoor}, want: map[string]lim{LevelL: {0.25, "high"}}},
		{rule: config.Rule{Preset: PresetHydrant, Hydrant: HydrantIndoorHighRise}, want: map[string]lim{LevelL: {0.35, "high"}}},
		// Configurable: an explicit level overrides the preset's.
		{rule: config.Rule{Preset: PresetHydrant, L: lvl(0.2, "low")}, want: map[string]lim{LevelL: {0.2, "low"}, LevelLL: {0.10, "high"}}},
		{rule: config.Rule{Preset: PresetCombustible, Above: ptr(20), Severity: "medium"}, want: map[string]lim{LevelH: {20, "medium"}, LevelHH: {50, "critical"}}},
		{rule: config.Rule{Preset: PresetToxic}, err: `preset gb50493-toxic needs gas, one of C6H6, CO, COCl2, Cl2, H2S, HCN, NH3, NO2, SO2 (got "")`},
		{rule: config.Rule{Preset: PresetHydrant, Hydrant: "roof"}, err: `hydrant "roof" is not one of`},
		{rule: config.Rule{Preset: "gb99999"}, err: `unknown preset "gb99999"`},
		{rule: config.Rule{Preset: PresetCombustible, H: lvl(60, "")}, err: `h (60) must be less than gb50493-combustible hh (50)`},
	}
	for _, tt := range tests {
		t.Run(tt.rule.Preset+"/"+tt.rule.Gas+tt.rule.Hydrant, func(t *testing.T) {
			tt.rule.Name = "p"
			rs, err := compileRules([]config.Rule{tt.rule})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]lim{}
			for _, r := range rs {
				th := r.(*threshold)
				got[th.level] = lim{math.Round(th.limit*1000) / 1000, th.severity}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("levels %v, want %v", got, tt.want)
			}
		})
	}
}

// TestToxicTable checks the mg/m³ to ppm conversion against figures worked
// by hand: ppm = mg/m³ × 24.055 / M.
func TestToxicTable(t *testing.T) {
	want := map[string]float64{
		"H2S": 7.058, "NH3": 42.37, "Cl2": 0.3393, "CO": 25.76, "SO2": 3.755,
		"NO2": 5.229, "HCN": 0.9246, "C6H6": 3.080, "COCl2": 0.1216, "phosgene": 0.1216,
	}
	if math.Abs(MolarVolume-24.055) > 0.001 {
		t.Errorf("molar volume %g L/mol, want 24.055 at 20 °C, 101.325 kPa", MolarVolume)
	}
	for gas, ppm := range want {
		g, ok := LookupToxicGas(gas)
		if !ok {
			t.Errorf("%s missing", gas)
			continue
		}
		if got := g.PPM(); math.Abs(got-ppm)/ppm > 0.001 {
			t.Errorf("%s: %g ppm, want %g", gas, got, ppm)
		}
	}
}

func TestRuleShapeErrors(t *testing.T) {
	tests := []struct {
		rule config.Rule
		want string
	}{
		{config.Rule{Name: "a", Above: ptr(1), Stale: time.Second}, "limits, rate, stale and states are separate rules"},
		{config.Rule{Name: "a", Above: ptr(1), H: lvl(2, "")}, "above and h are the same level"},
		{config.Rule{Name: "a", Rate: &config.Rate{Per: time.Minute, Window: time.Second}}, "rate: needs rising or falling"},
		{config.Rule{Name: "a", Rate: &config.Rate{Falling: -1, Per: time.Minute, Window: time.Second}}, "positive numbers"},
		{config.Rule{Name: "a", Rate: &config.Rate{Falling: 1}}, "per and window must be positive"},
		{config.Rule{Name: "a", States: map[string]string{"fire": "urgent"}}, `states[fire]: severity "urgent"`},
		{config.Rule{Name: "a", Above: ptr(1), Deadband: -1}, "deadband -1 must not be negative"},
		{config.Rule{Name: "a", Above: ptr(1), Chatter: config.Chatter{Count: 3}}, "chatter.window and chatter.quiet must be positive"},
		{config.Rule{Name: "a", HH: lvl(1, "loud")}, `hh: severity "loud"`},
	}
	for _, tt := range tests {
		_, err := compileRules([]config.Rule{tt.rule})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.rule, err, tt.want)
		}
	}
}

// TestConfigReportsEngineProblems: `hazgate check` (config.Parse) reports
// what only the engine knows at the rule's line.
func TestConfigReportsEngineProblems(t *testing.T) {
	yaml := "site: {id: s}\nrules:\n  - {name: h2s, match: {kind: toxic_gas}, preset: gb50493-toxic, gas: XX}\n" +
		"  - {name: fas, match: {kind: fire_panel}, states: {fire: high, fault: medium, supervisory: low}}\n" +
		"  - {name: hydrant-fall, match: {kind: hydrant_pressure}, rate: {falling: 0.05, per: 1m, window: 10s}, severity: medium}\n"
	_, err := config.Parse("c.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3:5: rule "h2s": preset gb50493-toxic needs gas`) {
		t.Fatalf("error %v", err)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("only the toxic rule is wrong, got %v", err)
	}
}
