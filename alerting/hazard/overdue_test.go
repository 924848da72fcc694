package hazard

import (
	"testing"
	"time"
)

// TestOverdueOnce: a record past its deadline undone gets one overdue
// event, committed and published, on the engine's tick with the fake
// clock; not before the deadline, not for a closed record, not again on
// later ticks nor after a restart.
func TestOverdueOnce(t *testing.T) {
	h := newHarness(t, nil)
	id := newMajor(h) // GT-101 down; found t0+1d, deadline 3 days later
	done := newHarness(t, nil)
	closed := newRestoredMajor(done)
	walk(done, closed, InProgress, PendingVerification, Closed)

	g, _ := h.e.Get(h.ctx, id)
	overdue := func(h *harness) []Event {
		var out []Event
		for _, ev := range h.events() {
			if ev.Type == EventOverdue {
				out = append(out, ev)
			}
		}
		return out
	}
	sub := h.e.Subscribe(h.ctx, 0)
	defer sub.Close()

	h.tick(g.Deadline.Add(-time.Minute))
	if evs := overdue(h); len(evs) != 0 {
		t.Fatalf("overdue before the deadline: %+v", evs)
	}
	h.tick(g.Deadline.Add(time.Second))
	// Published: the subscriber (as the stream, webhooks and northbound
	// are) sees it after the record's earlier events.
	timeout := time.After(5 * time.Second)
	for seen := false; !seen; {
		select {
		case got, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			if last := h.events()[len(h.events())-1]; got.Type == EventOverdue {
				seen = true
				if got.Seq != last.Seq || last.Type != EventOverdue {
					t.Errorf("published seq %d, committed %+v", got.Seq, last)
				}
			}
		case <-timeout:
			t.Fatal("the overdue event was not published")
		}
	}
	h.tick(g.Deadline.Add(2 * time.Minute))
	h.tick(g.Deadline.Add(day))
	h.restart()
	h.tick(g.Deadline.Add(2 * day))
	evs := overdue(h)
	if len(evs) != 1 {
		t.Fatalf("%d overdue events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Hazard.ID != id || !ev.Hazard.Overdue || ev.By != "" || !ev.Time.Equal(g.Deadline.Add(time.Second)) {
		t.Errorf("overdue event %+v", ev)
	}
	d, _ := done.e.Get(done.ctx, closed)
	done.tick(d.Deadline.Add(day))
	if evs := overdue(done); len(evs) != 0 {
		t.Errorf("a closed record went overdue: %+v", evs)
	}
}
