package hazard

import (
	"context"
	"testing"
	"time"

	"hazgate/alerting"
)

// runUntilCaughtUp runs the engine on the journal's bus until its cursor
// reaches the journal's last seq and hazards records exist, then stops it.
func (h *harness) runUntilCaughtUp(hazards int) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.e.Run(ctx, alerting.NewBus(h.j, nil), h.j, 10*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	target, err := h.j.LastSeq(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := h.e.Cursor(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		n := len(h.hazards())
		if cur == target && n >= hazards {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cursor %d, journal at %d, %d hazards after 10 s", cur, target, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// journalCycle commits a raise, clear and ack without applying them.
func (h *harness) journalCycle(tag string, at time.Time) {
	a := h.commit(alerting.EventRaised, alerting.Alarm{Site: "cz01", Tag: tag, Rule: "lel", Level: alerting.LevelHH, Class: "lel",
		Severity: alerting.SeverityCritical, State: alerting.ActiveUnacked, Active: true, Value: 55, Peak: 55, Count: 1, RaisedAt: at}, at).Alarm
	end := at.Add(time.Minute)
	a.State, a.Active, a.ClearedAt = alerting.ClearedUnacked, false, &end
	a = h.commit(alerting.EventCleared, a, end).Alarm
	a.State, a.AckedAt, a.AckedBy = alerting.Normal, &end, "op"
	h.commit(alerting.EventClosed, a, end)
}

func TestRestartResumesWithoutDuplicates(t *testing.T) {
	h := newHarness(t, nil)
	// While the engine is down: a detector drops out, and three level-2 alarms.
	h.commit(alerting.EventRaised, alerting.Alarm{Site: "cz01", Tag: "GT-102", Rule: "comm_loss", Class: alerting.ClassCommLoss,
		Severity: alerting.SeverityHigh, State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: t0}, t0)
	for i := range 3 {
		h.journalCycle("GT-101", t0.Add(time.Duration(i)*day))
	}
	h.clock.Set(t0.Add(2*day + time.Hour))
	h.runUntilCaughtUp(2)
	// Caught up, the first tick saw GT-102 silent for 50 h.
	hs := h.hazards()
	if len(hs) != 2 {
		t.Fatalf("%d hazards after the first run, want 2 (recurring leak, detector down): %+v", len(hs), hs)
	}
	first := len(h.events())

	// Down again; a fourth level-2 alarm meanwhile. Restart.
	h.journalCycle("GT-101", t0.Add(3*day))
	h.restart()
	h.runUntilCaughtUp(2)
	hs = h.hazards()
	if len(hs) != 2 {
		t.Fatalf("%d hazards after restart, want 2", len(hs))
	}
	for _, g := range hs {
		if g.Rule == "gas-leak-recurring" && len(g.AlarmIDs) != 4 {
			t.Errorf("recurring leak has alarms %v, want 4", g.AlarmIDs)
		}
	}
	evs := h.events()
	if len(evs) != first+1 || evs[len(evs)-1].Type != EventLinked {
		t.Errorf("events after restart %d (was %d), want one linked more: %+v", len(evs), first, evs[len(evs)-1])
	}

	// Everything again from seq 0: already judged, so nothing changes.
	all, err := h.j.EventsAfter(h.ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h.apply(all...)
	if n := len(h.events()); n != len(evs) {
		t.Errorf("re-applying the journal made %d more events", n-len(evs))
	}
}

func TestWatchSurvivesRestart(t *testing.T) {
	h := newHarness(t, rulesByName("gas-detector-down"))
	h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
	h.restart()
	h.tick(t0.Add(day))
	if g := h.only(); !g.FoundAt.Equal(t0.Add(day)) {
		t.Errorf("found at %s", g.FoundAt)
	}
}
