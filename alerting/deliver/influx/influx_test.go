package influx

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/sim/testenv"
)

// heldSink takes points and holds its WhenDurable callbacks until release.
type heldSink struct {
	mu      sync.Mutex
	points  []*write.Point
	waiting []func()
}

func (s *heldSink) WritePoint(p *write.Point) {
	s.mu.Lock()
	s.points = append(s.points, p)
	s.mu.Unlock()
}
func (s *heldSink) WhenDurable(fn func()) {
	s.mu.Lock()
	s.waiting = append(s.waiting, fn)
	s.mu.Unlock()
}
func (s *heldSink) release() {
	s.mu.Lock()
	w := s.waiting
	s.waiting = nil
	s.mu.Unlock()
	for _, fn := range w {
		fn()
	}
}
func (s *heldSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.points) }

func TestFeed(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cursor := deliver.NewFileCursor(filepath.Join(dir, "influx-alarms.seq"))
	j, err := alerting.OpenJournal(ctx, filepath.Join(dir, "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	bus := alerting.NewBus(j, nil)
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	a := alerting.Alarm{Site: "s1", Tag: "GT-1", Rule: "lel", Level: "h", Class: "gas", Severity: alerting.SeverityHigh, State: alerting.ActiveUnacked, Value: 60}
	for _, typ := range []string{alerting.EventRaised, alerting.EventAcked} { // one tick: the same time
		ev, err := j.Commit(ctx, typ, a, at)
		if err != nil {
			t.Fatal(err)
		}
		bus.Publish(ev)
		a = ev.Alarm
		a.State = alerting.ActiveAcked
	}

	sink := &heldSink{}
	f := New(sink, bus, cursor, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.Run(rctx) }()
	testenv.WaitFor(t, 5*time.Second, "two points", func() bool { return sink.count() == 2 })
	time.Sleep(20 * time.Millisecond)
	if seq, _ := cursor.Load(); seq != 0 {
		t.Fatalf("cursor at %d before the sink holds anything", seq)
	}
	sink.release()
	testenv.WaitFor(t, 5*time.Second, "the cursor at 2", func() bool { seq, _ := cursor.Load(); return seq == 2 })
	cancel()
	<-done
	if seq, _ := cursor.Load(); seq != 2 {
		t.Fatalf("cursor at %d once the sink holds both, want 2", seq)
	}

	p0, p1 := sink.points[0], sink.points[1]
	if d := p1.Time().Sub(p0.Time()); !p0.Time().Equal(at) || d != time.Nanosecond {
		t.Errorf("times %v and %v: want the event time, then one nanosecond later", p0.Time(), p1.Time())
	}
	if p0.Name() != "alarm" {
		t.Errorf("measurement %q", p0.Name())
	}
	tags := map[string]string{}
	for _, tg := range p0.TagList() {
		tags[tg.Key] = tg.Value
	}
	want := map[string]string{"site": "s1", "tag": "GT-1", "rule": "lel", "level": "h", "class": "gas", "severity": "high"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	fields := map[string]any{}
	for _, fl := range p1.FieldList() {
		fields[fl.Key] = fl.Value
	}
	if fields["event"] != alerting.EventAcked || fields["seq"] != int64(2) || fields["id"] != a.ID || fields["state"] != string(alerting.ActiveAcked) || fields["value"] != 60.0 {
		t.Errorf("fields %v", fields)
	}
}
