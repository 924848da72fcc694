package alerting

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// TestJournalHistory drives the engine and reads the history back from the
// journal.
func TestJournalHistory(t *testing.T) {
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
	r.flush()

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
