package alerting

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

var tagN atomic.Int64

// hangGuard turns a lost event into a failure instead of a hung test; it
// does not measure speed.
const hangGuard = 10 * time.Second

// commitN commits n transitions of distinct alarms and, if bus is set,
// publishes each after its commit, as the engine does.
func commitN(t testing.TB, j *Journal, bus *Bus, n int) {
	t.Helper()
	for range n {
		ev, err := j.Commit(context.Background(), EventRaised,
			Alarm{Site: "s", Tag: fmt.Sprintf("T%d", tagN.Add(1)), Rule: "r", State: ActiveUnacked, RaisedAt: time.Now()},
			time.Now())
		if err != nil {
			t.Error(err)
			return
		}
		if bus != nil {
			bus.Publish(ev)
		}
	}
}

// collect reads from sub until it has the event with seq last, and checks
// that the seqs run from first to last with no gap and no duplicate. It
// may run on any goroutine.
func collect(t *testing.T, sub *Subscription, first, last int64) bool {
	t.Helper()
	want := first
	for want <= last {
		var ev Event
		var ok bool
		select {
		case ev, ok = <-sub.C:
		case <-time.After(hangGuard):
			t.Errorf("subscription from %d: no seq %d after %v", first-1, want, hangGuard)
			return false
		}
		if !ok {
			t.Errorf("subscription closed at seq %d (err %v), want up to %d", want-1, sub.Err(), last)
			return false
		}
		if ev.Seq != want {
			t.Errorf("subscription from %d: got seq %d, want %d", first-1, ev.Seq, want)
			return false
		}
		want++
	}
	return true
}

func TestBusReplayThenLive(t *testing.T) {
	j := openTestJournal(t, "")
	bus := NewBus(j, discard)
	commitN(t, j, nil, 5) // in the journal before anyone subscribes

	for _, after := range []int64{0, 3, 5} {
		t.Run(fmt.Sprint("after ", after), func(t *testing.T) {
			sub := bus.Subscribe(context.Background(), after)
			defer sub.Close()
			collect(t, sub, after+1, 5)
		})
	}

	sub := bus.Subscribe(context.Background(), 2)
	commitN(t, j, bus, 5)
	collect(t, sub, 3, 10)
	sub.Close()
	if _, ok := <-sub.C; ok {
		t.Error("C still open after Close")
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}
}

// TestBusSwitchOver subscribes while events are being committed and
// published: every subscriber must see each event after its start exactly
// once, in order, whenever the replay hands over to the live stream.
func TestBusSwitchOver(t *testing.T) {
	j := openTestJournal(t, "")
	bus := NewBus(j, discard)
	const total, every = 300, 10
	ctx := context.Background()

	started := make(chan int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(started)
		for i := 1; i <= total; i++ {
			commitN(t, j, bus, 1)
			if i%every == 0 {
				started <- int64(i) // a subscriber starts now, while we go on publishing
			}
		}
	}()
	var subs sync.WaitGroup
	for at := range started {
		for _, after := range []int64{0, at / 2, at} {
			subs.Add(1)
			sub := bus.Subscribe(ctx, after)
			go func() {
				defer subs.Done()
				defer sub.Close()
				collect(t, sub, after+1, total)
			}()
		}
	}
	wg.Wait()
	subs.Wait()
}

func TestBusLaggingSubscriber(t *testing.T) {
	j := openTestJournal(t, "")
	bus := NewBus(j, discard)
	bus.buffer = 2
	sub := bus.Subscribe(context.Background(), 0)
	defer sub.Close()
	fast := bus.Subscribe(context.Background(), 0)
	defer fast.Close()

	const n = 100
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keeps up, more or less
		defer wg.Done()
		collect(t, fast, 1, n)
	}()
	commitN(t, j, bus, n) // never blocks although sub reads nothing yet
	if bus.Lagged() == 0 {
		t.Error("no subscriber was switched to catching up, with a buffer of 2 and 100 unread events")
	}
	collect(t, sub, 1, n)
	wg.Wait()

	// Caught up, it is back on the live stream.
	commitN(t, j, bus, 1)
	collect(t, sub, n+1, n+1)
}

func TestBusJournalError(t *testing.T) {
	j := openTestJournal(t, "")
	bus := NewBus(j, discard)
	j.Close()
	sub := bus.Subscribe(context.Background(), 0)
	if _, ok := <-sub.C; ok {
		t.Fatal("got an event from a closed journal")
	}
	if sub.Err() == nil {
		t.Error("Err() = nil after the journal failed")
	}
}
