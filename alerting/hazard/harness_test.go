package hazard

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
)

// t0 is 08:00 in Beijing.
var t0 = time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// harness is a hazard engine on a real journal, fed synthetic alarm events
// committed to that journal (so ids and seqs are the journal's).
type harness struct {
	t     *testing.T
	ctx   context.Context
	path  string
	j     *alerting.Journal
	e     *Engine
	clock *fakeClock
	reg   *collector.Registry
	rules []config.HazardRule
}

func testTags() []collector.Tag {
	return []collector.Tag{
		{ID: "GT-101", Name: "1号储罐区可燃气体", Site: "cz01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
		{ID: "GT-102", Name: "2号储罐区可燃气体", Site: "cz01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
		{ID: "AT-201", Name: "硫化氢", Site: "cz01", Device: "gds-2", Kind: "toxic_gas", Unit: "ppm", Area: "装置区"},
		{ID: "LT-301", Name: "1号储罐液位", Site: "cz01", Device: "dcs", Kind: "level", Unit: "m", Area: "罐区A", HazardSource: "HS-01"},
		{ID: "LT-302", Name: "污水池液位", Site: "cz01", Device: "dcs", Kind: "level", Unit: "m", Area: "污水站"},
		{ID: "PT-401", Name: "蒸汽管道压力", Site: "cz01", Device: "dcs", Kind: "pipe_pressure", Unit: "MPa", Area: "管廊"},
		{ID: "FP-1", Name: "1号火灾报警控制器", Site: "cz01", Device: "fas", Kind: "fire_panel", Area: "消防控制室"},
		{ID: "HP-1", Name: "厂区消火栓管网压力", Site: "cz01", Device: "hyd", Kind: "hydrant_pressure", Unit: "MPa", Area: "厂区"},
	}
}

// newHarness builds an engine with rules (nil: the built-in set).
func newHarness(t *testing.T, rules []config.HazardRule) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "hazgate.db"),
		clock: &fakeClock{t: t0}, reg: collector.NewRegistry(), rules: rules}
	for _, tg := range testTags() {
		if err := h.reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	h.open()
	t.Cleanup(func() { h.j.Close() })
	return h
}

// open (re)opens the journal and the engine on the same file, as a restart.
func (h *harness) open() {
	h.t.Helper()
	var err error
	if h.j, err = alerting.OpenJournal(h.ctx, h.path); err != nil {
		h.t.Fatal(err)
	}
	if h.e, err = NewEngine(h.ctx, h.j.DB(), Options{Site: "cz01", Unit: "演示化工有限公司", Rules: h.rules,
		Tags: h.reg, Now: h.clock.Now}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) restart() {
	h.t.Helper()
	h.j.Close()
	h.open()
}

// commit journals one alarm transition at at and returns its event,
// without applying it.
func (h *harness) commit(typ string, a alerting.Alarm, at time.Time) alerting.Event {
	h.t.Helper()
	ev, err := h.j.Commit(h.ctx, typ, a, at)
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

// apply judges events, with the clock at the last one's time.
func (h *harness) apply(evs ...alerting.Event) {
	h.t.Helper()
	if len(evs) > 0 && evs[len(evs)-1].Time.After(h.clock.Now()) {
		h.clock.Set(evs[len(evs)-1].Time)
	}
	if err := h.e.Apply(h.ctx, evs); err != nil {
		h.t.Fatal(err)
	}
}

// raise opens an alarm at at and applies it.
func (h *harness) raise(tag, rule, level, class string, value float64, at time.Time) alerting.Alarm {
	h.t.Helper()
	ev := h.commit(alerting.EventRaised, alerting.Alarm{Site: "cz01", Tag: tag, Rule: rule, Level: level, Class: class,
		Severity: alerting.SeverityHigh, State: alerting.ActiveUnacked, Active: true, Value: value, Peak: value,
		Count: 1, RaisedAt: at}, at)
	h.apply(ev)
	return ev.Alarm
}

// reraise raises a cleared, unacknowledged alarm again (same id).
func (h *harness) reraise(a alerting.Alarm, at time.Time) alerting.Alarm {
	h.t.Helper()
	a.State, a.Active, a.ClearedAt = alerting.ActiveUnacked, true, nil
	a.Count++
	ev := h.commit(alerting.EventRaised, a, at)
	h.apply(ev)
	return ev.Alarm
}

func (h *harness) clear(a alerting.Alarm, at time.Time) alerting.Alarm {
	h.t.Helper()
	a.State, a.Active, a.ClearedAt = alerting.ClearedUnacked, false, &at
	ev := h.commit(alerting.EventCleared, a, at)
	h.apply(ev)
	return ev.Alarm
}

func (h *harness) ack(a alerting.Alarm, at time.Time) alerting.Alarm {
	h.t.Helper()
	typ := alerting.EventAcked
	if a.State == alerting.ClearedUnacked {
		a.State, typ = alerting.Normal, alerting.EventClosed
	} else {
		a.State = alerting.ActiveAcked
	}
	a.AckedAt, a.AckedBy = &at, "op"
	ev := h.commit(typ, a, at)
	h.apply(ev)
	return ev.Alarm
}

// cycle raises an alarm and closes it (cleared and acknowledged) a minute later.
func (h *harness) cycle(tag, rule, level, class string, value float64, at time.Time) alerting.Alarm {
	h.t.Helper()
	a := h.raise(tag, rule, level, class, value, at)
	a = h.clear(a, at.Add(time.Minute))
	return h.ack(a, at.Add(time.Minute))
}

func (h *harness) tick(at time.Time) {
	h.t.Helper()
	h.clock.Set(at)
	if err := h.e.Tick(h.ctx, at); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) hazards() []Hazard {
	h.t.Helper()
	hs, err := h.e.List(h.ctx, Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return hs
}

func (h *harness) only() Hazard {
	h.t.Helper()
	hs := h.hazards()
	if len(hs) != 1 {
		h.t.Fatalf("%d hazards, want 1: %+v", len(hs), hs)
	}
	return hs[0]
}

func (h *harness) events() []Event {
	h.t.Helper()
	evs, err := h.e.EventsAfter(h.ctx, 0, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func rulesByName(names ...string) []config.HazardRule {
	var out []config.HazardRule
	for _, r := range DefaultRules() {
		for _, n := range names {
			if r.Name == n {
				out = append(out, r)
			}
		}
	}
	return out
}
