package hazard

import (
	"slices"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
)

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// want is one record expected after a rule test, newest found first.
type want struct {
	rule   string
	scope  string
	found  time.Time
	alarms int
}

func TestRules(t *testing.T) {
	byArea := rulesByName("gas-leak-recurring")
	byArea[0].By = "area"
	tests := []struct {
		name  string
		rules []config.HazardRule // nil: the built-in set
		run   func(h *harness)
		want  []want
	}{
		// Persistence: gas-detector-down, comm_loss or sensor_fault for 24 h.
		{"persistence: active 24 h by the clock", nil, func(h *harness) {
			h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.tick(t0.Add(day - time.Second))
			if n := len(h.hazards()); n != 0 {
				h.t.Fatalf("%d hazards a second before 24 h", n)
			}
			h.tick(t0.Add(day))
		}, []want{{"gas-detector-down", "tag:GT-101", t0.Add(day), 1}}},
		{"persistence: cleared before 24 h", nil, func(h *harness) {
			a := h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.clear(a, t0.Add(23*hour))
			h.tick(t0.Add(2 * day))
		}, nil},
		{"persistence: cleared after 24 h, judged late (no tick)", nil, func(h *harness) {
			a := h.raise("GT-101", "sensor_fault", "", alerting.ClassSensorFault, 0, t0)
			h.clear(a, t0.Add(30*hour))
		}, []want{{"gas-detector-down", "tag:GT-101", t0.Add(day), 1}}},
		{"persistence: acknowledging does not restart the wait", nil, func(h *harness) {
			a := h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.ack(a, t0.Add(hour))
			h.tick(t0.Add(day))
		}, []want{{"gas-detector-down", "tag:GT-101", t0.Add(day), 1}}},
		{"persistence: a level alarm is not a fault", nil, func(h *harness) {
			h.raise("GT-101", "lel", alerting.LevelH, "lel", 30, t0)
			h.tick(t0.Add(3 * day))
		}, nil},
		{"persistence: other kinds do not match", rulesByName("gas-detector-down"), func(h *harness) {
			h.raise("AT-201", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.tick(t0.Add(3 * day))
		}, nil},
		{"persistence: a second fault on the tag is linked, not a second record", nil, func(h *harness) {
			a := h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.tick(t0.Add(day))
			h.clear(a, t0.Add(day+hour))
			h.raise("GT-101", "sensor_fault", "", alerting.ClassSensorFault, 0, t0.Add(day+2*hour))
			h.tick(t0.Add(3 * day))
		}, []want{{"gas-detector-down", "tag:GT-101", t0.Add(day), 2}}},
		{"persistence: each tag its own record", nil, func(h *harness) {
			h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.raise("GT-102", "comm_loss", "", alerting.ClassCommLoss, 0, t0.Add(hour))
			h.tick(t0.Add(2 * day))
		}, []want{{"gas-detector-down", "tag:GT-102", t0.Add(day + hour), 1}, {"gas-detector-down", "tag:GT-101", t0.Add(day), 1}}},
		{"persistence: hydrant low for 2 h", nil, func(h *harness) {
			h.raise("HP-1", "hydrant", alerting.LevelL, "hydrant", 0.08, t0)
			h.tick(t0.Add(2 * hour))
		}, []want{{"hydrant-pressure-low", "tag:HP-1", t0.Add(2 * hour), 1}}},
		{"persistence: fire panel fault for 24 h", nil, func(h *harness) {
			h.raise("FP-1", "panel", "fault", "fault", 1, t0)
			h.tick(t0.Add(day))
		}, []want{{"fire-panel-fault", "tag:FP-1", t0.Add(day), 1}}},

		// Recurrence: gas-leak-recurring, level 2 (HH) three times in 7 days.
		{"recurrence: three level-2 alarms within 7 days", nil, func(h *harness) {
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 60, t0.Add(3*day))
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 52, t0.Add(6*day))
		}, []want{{"gas-leak-recurring", "tag:GT-101", t0.Add(6 * day), 3}}},
		{"recurrence: the window excludes its start", nil, func(h *harness) {
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(3*day))
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(7*day)) // the first is 7 days old: out
			if n := len(h.hazards()); n != 0 {
				h.t.Fatalf("%d hazards with the first raise exactly 7 days back", n)
			}
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(8*day))
		}, []want{{"gas-leak-recurring", "tag:GT-101", t0.Add(8 * day), 3}}},
		{"recurrence: two are not enough", nil, func(h *harness) {
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(day))
			h.cycle("GT-101", "lel", alerting.LevelH, "lel", 30, t0.Add(2*day)) // level 1 does not count
		}, nil},
		{"recurrence: re-raises of one alarm count", nil, func(h *harness) {
			a := h.raise("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			a = h.clear(a, t0.Add(hour))
			a = h.reraise(a, t0.Add(2*hour))
			a = h.clear(a, t0.Add(3*hour))
			h.reraise(a, t0.Add(4*hour))
		}, []want{{"gas-leak-recurring", "tag:GT-101", t0.Add(4 * hour), 1}}},
		{"recurrence: by tag, two detectors do not add up", nil, func(h *harness) {
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			h.cycle("GT-102", "lel", alerting.LevelHH, "lel", 55, t0.Add(day))
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(2*day))
		}, nil},
		{"recurrence: by area they do", byArea, func(h *harness) {
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0)
			h.cycle("GT-102", "lel", alerting.LevelHH, "lel", 55, t0.Add(day))
			h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(2*day))
		}, []want{{"gas-leak-recurring", "area:罐区A", t0.Add(2 * day), 3}}},
		{"recurrence: later raises attach while open", nil, func(h *harness) {
			for i := range 5 {
				h.cycle("GT-101", "lel", alerting.LevelHH, "lel", 55, t0.Add(time.Duration(i)*day))
			}
		}, []want{{"gas-leak-recurring", "tag:GT-101", t0.Add(2 * day), 5}}},

		// Immediate.
		{"immediate: pipe over-pressure", nil, func(h *harness) {
			h.raise("PT-401", "pipe", alerting.LevelH, "pipe", 1.5, t0) // H is not the MAWP
			h.raise("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, t0.Add(hour))
		}, []want{{"pipe-overpressure", "tag:PT-401", t0.Add(hour), 1}}},
		{"immediate: major-hazard tank HH, not a tank without a hazard source", nil, func(h *harness) {
			h.raise("LT-302", "level", alerting.LevelHH, "level", 9.5, t0)
			h.raise("LT-301", "level", alerting.LevelHH, "level", 9.5, t0.Add(hour))
		}, []want{{"major-hazard-hh", "tag:LT-301", t0.Add(hour), 1}}},
		{"immediate: an open record takes the next alarm", nil, func(h *harness) {
			h.cycle("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, t0)
			h.cycle("PT-401", "pipe", alerting.LevelHH, "pipe", 1.9, t0.Add(day))
		}, []want{{"pipe-overpressure", "tag:PT-401", t0, 2}}},
		{"empty rule list: nothing", []config.HazardRule{}, func(h *harness) {
			h.raise("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, t0)
			h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.tick(t0.Add(10 * day))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.rules)
			tt.run(h)
			got := h.hazards()
			if len(got) != len(tt.want) {
				t.Fatalf("%d hazards, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Rule != w.rule || g.Scope != w.scope || !g.FoundAt.Equal(w.found) || len(g.AlarmIDs) != w.alarms {
					t.Errorf("hazard %d: rule %s scope %s found %s alarms %v; want %s %s %s %d alarms",
						i, g.Rule, g.Scope, g.FoundAt, g.AlarmIDs, w.rule, w.scope, w.found, w.alarms)
				}
				if g.Status != Open || g.Deadline.Sub(g.FoundAt) != ruleOf(t, tt.rules, w.rule).Deadline {
					t.Errorf("hazard %d: status %s, deadline %s after found", i, g.Status, g.Deadline.Sub(g.FoundAt))
				}
			}
		})
	}
}

func ruleOf(t *testing.T, rules []config.HazardRule, name string) config.HazardRule {
	t.Helper()
	if rules == nil {
		rules = DefaultRules()
	}
	for _, r := range rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return config.HazardRule{}
}

func TestRecordFields(t *testing.T) {
	h := newHarness(t, nil)
	h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
	h.tick(t0.Add(day))
	g := h.only()
	r := ruleOf(t, nil, "gas-detector-down")
	if g.Number != "CZ01-20251123-0001" { // found 2025-11-23 08:00 Beijing
		t.Errorf("number %s", g.Number)
	}
	if g.Site != "cz01" || g.Unit != "演示化工有限公司" || g.Area != "罐区A" || g.Tag != "GT-101" || g.TagName != "1号储罐区可燃气体" || g.Device != "gds-1" {
		t.Errorf("location %+v", g)
	}
	if g.Category != "重大危险源" || g.Level != LevelMajor || g.Basis != r.Basis || g.Measures != r.Measures || g.Responsible != "仪表车间" {
		t.Errorf("rule fields %+v", g)
	}
	if want := "罐区A 1号储罐区可燃气体（GT-101）可燃气体检测报警装置通信中断或故障持续超过1天，检测报警功能失效"; g.Description != want {
		t.Errorf("description %q, want %q", g.Description, want)
	}
	if !strings.Contains(g.Basis, "第十二项") || !strings.Contains(g.Basis, "安监总管三〔2017〕121号") {
		t.Errorf("basis %q", g.Basis)
	}
	if !g.Deadline.Equal(t0.Add(4*day)) || g.Overdue {
		t.Errorf("deadline %s overdue %v", g.Deadline, g.Overdue)
	}
	if !g.ConditionActive || g.NormalSince != nil || g.Restored {
		t.Errorf("condition: active %v since %v restored %v", g.ConditionActive, g.NormalSince, g.Restored)
	}
	evs := h.events()
	if len(evs) != 1 || evs[0].Type != EventCreated || evs[0].By != "" || !slices.Equal(evs[0].AlarmIDs, g.AlarmIDs) ||
		evs[0].Hazard.Number != g.Number || !evs[0].Time.Equal(t0.Add(day)) {
		t.Errorf("events %+v", evs)
	}

	// Overdue is derived from the clock.
	h.clock.Set(t0.Add(4*day + time.Second))
	if g, _ = h.e.Get(h.ctx, g.ID); !g.Overdue {
		t.Error("not overdue past the deadline")
	}
	// The alarm clears: normal since then; restored after normal_for (24 h).
	cleared := t0.Add(5 * day)
	a, err := h.j.Get(h.ctx, g.AlarmIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	h.clear(a, cleared)
	if g, _ = h.e.Get(h.ctx, g.ID); g.ConditionActive || g.NormalSince == nil || !g.NormalSince.Equal(cleared) || g.Restored {
		t.Errorf("after clear: active %v since %v restored %v", g.ConditionActive, g.NormalSince, g.Restored)
	}
	h.clock.Set(cleared.Add(day))
	if g, _ = h.e.Get(h.ctx, g.ID); !g.Restored {
		t.Error("not restored 24 h after the alarm cleared")
	}
	if n := len(h.events()); n != 1 {
		t.Errorf("condition changes made %d events, want none beyond created", n-1)
	}
}

func TestNumbersBySiteDay(t *testing.T) {
	h := newHarness(t, rulesByName("pipe-overpressure", "major-hazard-hh"))
	// 15:59 and 16:00 UTC are 23:59 and 00:00 in Beijing.
	day1 := time.Date(2025, 11, 22, 15, 59, 0, 0, time.UTC)
	h.raise("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, day1)
	h.raise("LT-301", "level", alerting.LevelHH, "level", 9.5, day1.Add(30*time.Second))
	h.raise("PT-401", "pipe2", alerting.LevelHH, "pipe2", 1.8, day1.Add(time.Minute)) // linked to the open one
	h.raise("LT-301", "level2", alerting.LevelHH, "level2", 9.5, day1.Add(2*time.Minute))
	var got []string
	for _, g := range h.hazards() {
		got = append(got, g.Number)
	}
	want := []string{"CZ01-20251122-0002", "CZ01-20251122-0001"}
	if !slices.Equal(got, want) {
		t.Errorf("numbers %v, want %v", got, want)
	}
	h.e.Transition(h.ctx, h.hazards()[0].ID, Actor{Name: "v", Verify: true}, TransitionRequest{To: Dismissed, Comment: "误报"})
	h.raise("LT-301", "level3", alerting.LevelHH, "level3", 9.5, day1.Add(3*time.Minute))
	if g := h.hazards()[0]; g.Number != "CZ01-20251123-0001" {
		t.Errorf("first record of the next Beijing day: %s", g.Number)
	}
}

func TestDefaultRulesAreValid(t *testing.T) {
	rs := DefaultRules()
	if _, err := compileRules(rs); err != nil {
		t.Fatal(err)
	}
	kinds := map[kind]int{}
	cs, _ := compileRules(rs)
	for _, r := range cs {
		kinds[r.kind]++
		if r.cfg.Description == "" || r.cfg.Measures == "" || r.cfg.Responsible == "" {
			t.Errorf("rule %s lacks a description, measures or responsible unit", r.cfg.Name)
		}
	}
	if kinds[persistence] == 0 || kinds[recurrence] == 0 || kinds[immediate] == 0 {
		t.Errorf("rule kinds %v: want every kind", kinds)
	}
	for _, name := range []string{"GB 35181-2025", "GB 50974-2014", "121号"} {
		found := false
		for _, r := range rs {
			found = found || strings.Contains(r.Basis, name)
		}
		if !found {
			t.Errorf("no rule cites %s", name)
		}
	}
	for _, r := range rs {
		if strings.Contains(r.Basis, "35181-2017") {
			t.Errorf("rule %s cites the superseded GB 35181-2017", r.Name)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	bad := DefaultRules()[:2]
	bad[1].Name = bad[0].Name
	_, err := compileRules(bad)
	if err == nil || !strings.Contains(err.Error(), "duplicate name") {
		t.Errorf("duplicate: %v", err)
	}
	r := DefaultRules()[0]
	r.For, r.Immediate = 0, false
	if _, err := compileRules([]config.HazardRule{r}); err == nil || !strings.Contains(err.Error(), `hazard rule "gas-detector-down" (#1)`) {
		t.Errorf("no kind: %v", err)
	}
}

// TestDescribePlace: the area and the point read apart, and the area once
// when the point's name starts with it.
func TestDescribePlace(t *testing.T) {
	r := &rule{cfg: config.HazardRule{Name: "r", Description: "{area}{point}可燃气体报警"}}
	tests := []struct {
		tag  collector.Tag
		want string
	}{
		{collector.Tag{ID: "GT-1", Name: "1号储罐", Area: "罐区A"}, "罐区A 1号储罐（GT-1）可燃气体报警"},
		{collector.Tag{ID: "GT-2", Name: "泵房东侧", Area: "泵房"}, "泵房东侧（GT-2）可燃气体报警"},
		{collector.Tag{ID: "GT-3", Area: "泵房"}, "泵房 GT-3可燃气体报警"},
		{collector.Tag{ID: "GT-4", Name: "装卸台"}, "装卸台（GT-4）可燃气体报警"},
	}
	for _, tt := range tests {
		if got := r.describe(&tt.tag, &alerting.Alarm{}, 1); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.tag, got, tt.want)
		}
	}
}
