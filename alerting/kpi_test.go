package alerting

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// burst returns n raises from tag, one every gap from start.
func burst(start time.Time, n int, gap time.Duration, tag string) []raiseAt {
	out := make([]raiseAt, n)
	for i := range out {
		out[i] = raiseAt{start.Add(time.Duration(i) * gap), tag}
	}
	return out
}

func TestComputeKPI(t *testing.T) {
	hour := t0.Add(time.Hour)
	tests := []struct {
		name    string
		raises  []raiseAt
		from    time.Time
		to      time.Time
		alarms  int
		peak    int
		floods  int
		floodS  float64
		perTen  float64
		topTags []string
	}{
		{name: "quiet", from: t0, to: hour},
		{name: "ten in ten minutes is not a flood", raises: burst(t0.Add(time.Minute), 10, time.Second, "A"),
			from: t0, to: hour, alarms: 10, peak: 10, perTen: 10.0 / 6, topTags: []string{"A"}},
		// 11 raises a second apart: flood from the 11th (t+10 s) until fewer
		// than 5 remain in the window: the 7th leaves at t+6 s+10 min.
		{name: "eleven is a flood", raises: burst(t0.Add(time.Minute), 11, time.Second, "A"),
			from: t0, to: hour, alarms: 11, peak: 11, floods: 1, floodS: 596, perTen: 11.0 / 6, topTags: []string{"A"}},
		{name: "flood cut at the period's end", raises: burst(t0.Add(55*time.Minute), 11, time.Second, "A"),
			from: t0, to: hour, alarms: 11, peak: 11, floods: 1, floodS: 290, perTen: 11.0 / 6, topTags: []string{"A"}},
		// Raises before the period count toward the window, not the totals.
		{name: "window reaches back", raises: append(burst(t0.Add(-5*time.Minute), 10, time.Second, "A"), raiseAt{t0.Add(time.Second), "B"}),
			from: t0, to: hour, alarms: 1, peak: 11, floods: 1, floodS: 305, perTen: 1.0 / 6, topTags: []string{"B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := computeKPI(tt.raises, tt.from, tt.to)
			if k.Alarms != tt.alarms || k.PeakTenMinutes != tt.peak || k.Floods != tt.floods ||
				math.Abs(k.FloodSeconds-tt.floodS) > 1e-9 || math.Abs(k.PerTenMinutes-tt.perTen) > 1e-9 {
				t.Errorf("got alarms %d peak %d floods %d flood %gs per10 %g; want %d %d %d %gs %g",
					k.Alarms, k.PeakTenMinutes, k.Floods, k.FloodSeconds, k.PerTenMinutes,
					tt.alarms, tt.peak, tt.floods, tt.floodS, tt.perTen)
			}
			var tags []string
			for _, s := range k.TopSources {
				tags = append(tags, s.Tag)
			}
			if !reflect.DeepEqual(tags, tt.topTags) {
				t.Errorf("top sources %v, want %v", tags, tt.topTags)
			}
		})
	}
}

func TestComputeKPITopShare(t *testing.T) {
	var raises []raiseAt
	// 12 tags; tag i raises i+1 times, spread out so nothing floods.
	for i := range 12 {
		for n := range i + 1 {
			raises = append(raises, raiseAt{t0.Add(time.Duration(i*20+n) * time.Minute), fmt.Sprintf("T%02d", i)})
		}
	}
	k := computeKPI(sortRaises(raises), t0, t0.Add(24*time.Hour))
	if k.Alarms != 78 || len(k.TopSources) != 10 || k.TopSources[0] != (SourceCount{"T11", 12}) {
		t.Fatalf("kpi %+v", k)
	}
	if want := float64(78-1-2) / 78; math.Abs(k.TopShare-want) > 1e-9 {
		t.Errorf("top share %g, want %g", k.TopShare, want)
	}
}

func sortRaises(r []raiseAt) []raiseAt {
	out := append([]raiseAt(nil), r...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].t.Before(out[j-1].t); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestJournalKPIAndHistory drives the engine and reads the KPIs and history
// back from the journal.
func TestJournalKPIAndHistory(t *testing.T) {
	ctx := context.Background()
	chatty := []config.Rule{
		{Name: "lel", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(25),
			Chatter: config.Chatter{Count: 3, Window: time.Minute, Quiet: time.Minute}},
		{Name: "o2", Match: config.Match{Kind: "oxygen"}, Below: ptr(19.5), Class: "oxygen"},
	}
	r := newRig(t, "", chatty, gasTag, collector.Tag{ID: "O2-1", Kind: "oxygen"})
	for range 3 { // chattering on T1
		r.sample("T1", 30, collector.Good, "")
		r.sample("T1", 10, collector.Good, "")
	}
	r.sample("O2-1", 18, collector.Good, "")
	r.e.Tick(ctx, r.now.Add(2*time.Minute)) // T1 quiet: its chattering hold ends
	from, to := t0, t0.Add(time.Hour)
	k, err := r.j.KPI(ctx, "s1", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if k.Alarms != 4 || k.Chattering != 1 || k.Standing != 0 || k.TopSources[0] != (SourceCount{"T1", 3}) {
		t.Errorf("kpi %+v", k)
	}
	// A day later the oxygen alarm is standing.
	if k, _ = r.j.KPI(ctx, "s1", from, t0.Add(25*time.Hour)); k.Standing != 1 {
		t.Errorf("standing %d, want 1", k.Standing)
	}
	if k, _ = r.j.KPI(ctx, "other-site", from, to); k.Alarms != 0 {
		t.Errorf("another site's KPIs count %d alarms", k.Alarms)
	}
	if _, err := r.j.KPI(ctx, "s1", to, from); err == nil {
		t.Error("reversed period accepted")
	}

	h, err := r.j.History(ctx, HistoryFilter{Site: "s1", Class: "oxygen"})
	if err != nil || len(h) != 1 || h[0].Alarm.Tag != "O2-1" || h[0].Type != EventRaised {
		t.Errorf("history by class: %+v %v", h, err)
	}
	h, _ = r.j.History(ctx, HistoryFilter{Site: "s1", Tag: "T1", From: t0.Add(2 * time.Second), To: t0.Add(4 * time.Second)})
	if len(h) != 2 || h[0].Type != EventCleared || h[1].Type != EventRaised {
		t.Errorf("history by tag and time: %+v", h)
	}
	if h, _ = r.j.History(ctx, HistoryFilter{Limit: 2}); len(h) != 2 || h[0].Seq != 1 {
		t.Errorf("history limit: %+v", h)
	}
}

func TestAreaStatus(t *testing.T) {
	reg := testRegistry(t,
		collector.Tag{ID: "LEL-1", Kind: "combustible_gas", Area: "罐区A"},
		collector.Tag{ID: "H2S-1", Kind: "toxic_gas", Area: "罐区A"},
		collector.Tag{ID: "LEL-2", Kind: "combustible_gas", Area: "罐区B"},
		collector.Tag{ID: "H2S-2", Kind: "toxic_gas", Area: "罐区B"},
		collector.Tag{ID: "LEL-3", Kind: "combustible_gas", Area: "装卸区"},
		collector.Tag{ID: "PT-1", Kind: "hydrant_pressure"},
	)
	al := func(id int64, tag, level, sev string, st State) Alarm {
		return Alarm{ID: id, Tag: tag, Rule: "r", Level: level, Severity: sev, State: st, RaisedAt: t0.Add(time.Duration(id) * time.Second)}
	}
	open := []Alarm{
		// A: toxic level 1 beats combustible level 1, even of higher severity.
		al(1, "LEL-1", LevelH, SeverityCritical, ActiveUnacked),
		al(2, "H2S-1", LevelH, SeverityHigh, ActiveAcked),
		// B: combustible level 2 beats toxic level 1.
		al(3, "H2S-2", LevelH, SeverityHigh, ActiveUnacked),
		al(4, "LEL-2", LevelHH, SeverityHigh, ActiveUnacked),
		al(5, "H2S-2", LevelHH, SeverityCritical, ClearedUnacked), // not active
		// 装卸区: a fault only, and a shelved level 2 that does not count.
		{ID: 6, Tag: "LEL-3", Rule: ClassCommLoss, Severity: SeverityHigh, State: ActiveUnacked},
		al(7, "LEL-3", LevelHH, SeverityCritical, Shelved),
		al(8, "PT-1", LevelL, SeverityHigh, ActiveUnacked), // no area
	}
	got := AreaStatus(open, reg)
	want := map[string][3]any{ // area: winning id, level, colour
		"罐区A": {int64(2), 1, ColourOrange},
		"罐区B": {int64(4), 2, ColourRed},
		"装卸区": {int64(6), 1, ColourYellow},
	}
	if len(got) != len(want) {
		t.Fatalf("areas %v", got)
	}
	for area, w := range want {
		st := got[area]
		if st.Alarm.ID != w[0] || st.Level != w[1] || st.Colour != w[2] {
			t.Errorf("%s: alarm %d level %d %s, want %v", area, st.Alarm.ID, st.Level, st.Colour, w)
		}
	}
	if got["罐区B"].Active != 2 {
		t.Errorf("罐区B active %d, want 2", got["罐区B"].Active)
	}
}

func TestOverview(t *testing.T) {
	var tags []collector.Tag // LEL-1 in 罐区A, ...
	for i, area := range []string{"罐区A", "罐区B", "装卸区", "泵房"} {
		tags = append(tags, collector.Tag{ID: fmt.Sprintf("LEL-%d", i+1), Kind: "combustible_gas", Area: area})
	}
	reg := testRegistry(t, tags...)
	open := []Alarm{
		{ID: 1, Tag: "LEL-1", Rule: "r", Level: LevelH, Severity: SeverityHigh, State: ActiveUnacked},
		{ID: 2, Tag: "LEL-2", Rule: "r", Level: LevelH, Severity: SeverityHigh, State: ActiveUnacked},
	}
	hazards := []AreaHazard{
		{Area: "罐区A", Major: false}, // a 一般隐患 does not lower an orange area
		{Area: "罐区B", Major: true},  // a 重大隐患 turns it red
		{Area: "装卸区"},               // yellow
		{Area: "无此区", Major: true},  // an area no tag is in: left out
	}
	got := Overview(reg, open, hazards)
	want := []Area{
		{Area: "罐区B", Colour: ColourRed, ActiveAlarms: 1, OpenHazards: 1, MajorHazards: 1},
		{Area: "罐区A", Colour: ColourOrange, ActiveAlarms: 1, OpenHazards: 1},
		{Area: "装卸区", Colour: ColourYellow, OpenHazards: 1},
		{Area: "泵房", Colour: ColourBlue},
	}
	if len(got) != len(want) {
		t.Fatalf("overview %+v", got)
	}
	for i, w := range want {
		g := got[i]
		g.Alarm = nil
		if g != w {
			t.Errorf("area %d: %+v, want %+v", i, got[i], w)
		}
	}
}
