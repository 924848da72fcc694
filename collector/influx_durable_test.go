package collector

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestInfluxSinkWhenDurable: without a spool, a waiter is called once the
// points accepted before it are written, not before, and without waiting
// for the flush interval; a waiter registered with nothing outstanding is
// called at once.
func TestInfluxSinkWhenDurable(t *testing.T) {
	release := make(chan struct{})
	f := newFakeInflux(t, func(n int) int {
		if n == 0 {
			<-release // hold the first write until the test has looked
		}
		return http.StatusNoContent
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 1000, FlushInterval: time.Hour}, nil)

	called := make(chan struct{}, 3)
	s.Consume(context.Background(), samples(0, 5))
	s.WhenDurable(func() { called <- struct{}{} })
	select {
	case <-called:
		t.Fatal("waiter called before InfluxDB answered")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not called after the write (flush interval is 1h: the batch must go at once)")
	}
	if st := s.Stats(); st.PointsWritten != 5 {
		t.Fatalf("waiter called with %d of 5 points written", st.PointsWritten)
	}
	s.WhenDurable(func() { called <- struct{}{} })
	select {
	case <-called:
	default:
		t.Fatal("a waiter with nothing outstanding was not called at once")
	}
}

// TestInfluxSinkAcksFromSpool: with a spool, a waiter is called once the
// points before it are fsynced there, while InfluxDB has not answered the
// first write yet; what was logged for four waiters reaches InfluxDB once
// each, in fewer writes than waiters; during an outage the spool is what
// makes points durable, as before.
func TestInfluxSinkAcksFromSpool(t *testing.T) {
	var failing atomic.Bool
	release := make(chan struct{})
	f := newFakeInflux(t, func(n int) int {
		if n == 0 {
			<-release
		}
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 1000, FlushInterval: 200 * time.Millisecond, Spool: SpoolOptions{Dir: t.TempDir()}}, nil)

	called := make(chan struct{}, 1)
	wait := func(what string) {
		t.Helper()
		s.WhenDurable(func() { called <- struct{}{} })
		select {
		case <-called:
		case <-time.After(10 * time.Second):
			t.Fatalf("waiter not called: %s", what)
		}
	}
	for i := range 4 {
		s.Consume(context.Background(), samples(5*i, 5))
		wait(fmt.Sprintf("batch %d not logged", i))
	}
	if st := s.Stats(); st.PointsWritten != 0 || st.PointsLogged != 20 {
		t.Fatalf("acknowledged with %d points written, %d logged; want 0 (InfluxDB holds the first write) and 20", st.PointsWritten, st.PointsLogged)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().PointsWritten < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	writes, lines := len(f.requests), map[string]int{}
	for _, r := range f.requests {
		for _, l := range r.lines {
			lines[l]++
		}
	}
	f.mu.Unlock()
	if st := s.Stats(); st.PointsWritten != 20 || len(lines) != 20 || writes > 2 {
		t.Errorf("%d points written in %d writes, %d distinct lines; want 20 in at most 2 (the held one and the rest merged)", st.PointsWritten, writes, len(lines))
	}
	for l, n := range lines {
		if n != 1 {
			t.Errorf("line written %d times: %s", n, l)
		}
	}

	failing.Store(true)
	s.Consume(context.Background(), samples(20, 5))
	wait("batch not spooled in the outage")
	if st := s.Stats(); st.PointsSpooled != 25 {
		t.Errorf("%d points spooled, want 25", st.PointsSpooled)
	}
}

// TestInfluxSinkSettleOutOfOrder: ranges settled ahead of the oldest (an
// evicted batch spooled while an older one is in flight) wait for it.
func TestInfluxSinkSettleOutOfOrder(t *testing.T) {
	s := &InfluxSink{early: make(map[uint64]uint64)}
	var got []uint64
	for _, seq := range []uint64{3, 6, 9} {
		s.waiters = append(s.waiters, durableWaiter{seq, func() { got = append(got, seq) }})
	}
	s.settle(3, 6)
	s.settle(6, 9)
	if len(got) != 0 || s.durableTo != 0 {
		t.Fatalf("waiters %v called, durable to %d, before the oldest range", got, s.durableTo)
	}
	s.settle(0, 3)
	if len(got) != 3 || s.durableTo != 9 || len(s.early) != 0 {
		t.Fatalf("waiters %v, durable to %d, early %v; want all three, 9, none", got, s.durableTo, s.early)
	}
}
