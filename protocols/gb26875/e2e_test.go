package gb26875_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/gb26875"
)

// centre is the gateway's stages behind a listener: the real pipeline and
// alarm engine on a journal in a temporary directory.
type centre struct {
	*harness
	eng *alerting.Engine
	sub *alerting.Subscription
}

func startCentre(t testing.TB, dev config.Device) *centre {
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := alerting.NewBus(j, log)
	reg := collector.NewRegistry()
	rules := []config.Rule{{Name: "fire-panel", Match: config.Match{Kind: gb26875.KindFirePanel},
		States: map[string]string{"fire": "high", "fault": "medium"}, Severity: "medium"}}
	eng, err := alerting.NewEngine("s1", rules, reg, j, bus, log)
	if err != nil {
		t.Fatal(err)
	}
	pipe := collector.NewPipeline(collector.NewLatest(), eng)
	done := make(chan struct{}, 2)
	go func() { pipe.Run(ctx); done <- struct{}{} }()
	go func() { eng.Run(ctx, time.Second); done <- struct{}{} }() // as the gateway runs it
	sub := bus.Subscribe(ctx, 0)
	// Cleanups run last-in first-out: the listener (registered by
	// startWith below) stops first, then the pipeline, then the journal.
	t.Cleanup(func() { sub.Close(); cancel(); <-done; <-done; j.Close() })
	return &centre{harness: startWith(t, dev, pipe, reg), eng: eng, sub: sub}
}

// await reads the live feed until every event "tag level:type" of wants
// has arrived, in any order, and returns the first of them.
func (c *centre) await(t testing.TB, wants ...string) alerting.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	missing := map[string]bool{}
	for _, w := range wants {
		missing[w] = true
	}
	var seen []string
	var first alerting.Event
	for len(missing) > 0 {
		select {
		case ev, ok := <-c.sub.C:
			if !ok {
				t.Fatalf("feed closed: %v", c.sub.Err())
			}
			got := ev.Alarm.Tag + " " + ev.Alarm.Level + ":" + ev.Type
			seen = append(seen, got)
			if got == wants[0] {
				first = ev
			}
			delete(missing, got)
		case <-deadline:
			t.Fatalf("no %v within 10 s; seen %v", wants, seen)
		}
	}
	return first
}

func TestFireRaisesHighAlarm(t *testing.T) {
	c := startCentre(t, testDevice())
	u := c.dial(t, 1234)
	ctx := context.Background()
	const fire = "UITD-000000001234.S1-1.Z3-P27.fire"

	sent := time.Now()
	if err := u.Component(ctx, smoke, 1<<1, "3号楼2层烟感"); err != nil {
		t.Fatal(err)
	}
	ev := c.await(t, fire+" fire:raised")
	t.Logf("fire bit to alarm on the feed: %v", time.Since(sent))
	if a := ev.Alarm; a.Severity != alerting.SeverityHigh || a.Rule != "fire-panel" || a.Value != 1 {
		t.Errorf("alarm %+v", a)
	}
	if want := "3号楼2层烟感 火警"; ev.Alarm.Message != want {
		t.Errorf("message %q, want %q", ev.Alarm.Message, want)
	}

	if err := u.Component(ctx, smoke, 1<<2, "3号楼2层烟感"); err != nil {
		t.Fatal(err)
	}
	c.await(t, fire+" fire:cleared", "UITD-000000001234.S1-1.Z3-P27.fault fault:raised")

	// Silence: every tag of the device turns Bad and the engine says so.
	c.await(t, fire+" :raised")
	for _, a := range c.eng.Open() {
		if a.Tag == fire && a.Level == "" && a.Rule != "comm_loss" {
			t.Errorf("silence raised %+v, want comm_loss", a)
		}
	}
}
