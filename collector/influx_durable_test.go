package collector

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestInfluxSinkWhenDurable: a waiter is called once the points accepted
// before it are written, not before, and without waiting for the flush
// interval; a batch spooled during an outage is durable too, and so a
// waiter registered with nothing outstanding is called at once.
func TestInfluxSinkWhenDurable(t *testing.T) {
	var failing atomic.Bool
	release := make(chan struct{})
	f := newFakeInflux(t, func(n int) int {
		if n == 0 {
			<-release // hold the first write until the test has looked
		}
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 1000, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: t.TempDir()}}, nil)

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

	failing.Store(true)
	s.Consume(context.Background(), samples(5, 5))
	s.WhenDurable(func() { called <- struct{}{} })
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not called once the batch was spooled")
	}
	if st := s.Stats(); st.PointsSpooled != 5 {
		t.Fatalf("waiter called with %d of 5 points spooled", st.PointsSpooled)
	}

	s.WhenDurable(func() { called <- struct{}{} })
	select {
	case <-called:
	default:
		t.Fatal("a waiter with nothing outstanding was not called at once")
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
