package alerting

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultSubscriberBuffer is how many live events a subscriber may fall
// behind before the bus drops its live stream and it catches up from the
// journal instead: a flood of a thousand alarms committed at once fits, so
// the console sees it live (BenchmarkAlarmUnderFlood). The buffer holds
// pointers, 8 KiB a subscriber.
const DefaultSubscriberBuffer = 1024

// replayBatch is how many events a subscriber reads from the journal at once.
const replayBatch = 256

// Bus fans committed events out to subscribers. Publish never blocks: each
// subscriber has a buffer, and one that overflows it reads the journal until
// it has caught up. Because every event is in the journal before it is
// published, a subscriber can always fill a gap from there, so nothing is
// lost or delivered twice.
type Bus struct {
	j      *Journal
	log    *slog.Logger
	buffer int

	mu   sync.Mutex
	subs map[chan *Event]struct{}

	lagged atomic.Uint64
}

// NewBus returns a bus that replays from j.
func NewBus(j *Journal, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Bus{j: j, log: log, buffer: DefaultSubscriberBuffer, subs: make(map[chan *Event]struct{})}
}

// Publish hands ev to every subscriber. Call it only with events the journal
// has committed, in seq order.
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	shared := &ev // one copy for every subscriber; none changes it
	for ch := range b.subs {
		select {
		case ch <- shared:
		default:
			// Full: cut the live stream; the subscriber resumes from the journal.
			delete(b.subs, ch)
			close(ch)
			b.lagged.Add(1)
		}
	}
}

// Lagged counts how often a subscriber fell behind and was switched to
// catching up from the journal.
func (b *Bus) Lagged() uint64 { return b.lagged.Load() }

func (b *Bus) register() chan *Event {
	ch := make(chan *Event, b.buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch
}

func (b *Bus) unregister(ch chan *Event) {
	b.mu.Lock()
	if _, ok := b.subs[ch]; ok {
		delete(b.subs, ch)
		close(ch)
	}
	b.mu.Unlock()
}

// Subscription is a stream of alarm events.
type Subscription = Stream[Event]

// Subscribe delivers every event with seq greater than afterSeq: first those
// already in the journal, then live ones, with no gap and no duplicate.
// afterSeq 0 means from the beginning; Journal.LastSeq gives "from now".
func (b *Bus) Subscribe(ctx context.Context, afterSeq int64) *Subscription {
	return NewStream(ctx, func(ctx context.Context, out chan<- Event) error { return b.feed(ctx, afterSeq, out) })
}

// feed registers for live events before reading the journal, so whatever
// is published during the replay waits in the live buffer; live events the
// replay already delivered are skipped by seq, and a gap in the live stream
// is filled from the journal.
func (b *Bus) feed(ctx context.Context, last int64, out chan<- Event) error {
	for {
		live := b.register()
		if err := b.replay(ctx, &last, out); err != nil {
			b.unregister(live)
			if ctx.Err() != nil {
				return nil
			}
			b.log.Error("alarm event subscriber cannot read the journal", "after_seq", last, "err", err)
			return err
		}
	stream:
		for {
			select {
			case ev, ok := <-live:
				if !ok {
					b.log.Warn("alarm event subscriber fell behind; catching up from the journal", "after_seq", last)
					break stream
				}
				if ev.Seq <= last {
					continue
				}
				if ev.Seq > last+1 {
					b.unregister(live)
					break stream
				}
				if !send(ctx, out, *ev) {
					b.unregister(live)
					return nil
				}
				last = ev.Seq
			case <-ctx.Done():
				b.unregister(live)
				return nil
			}
		}
	}
}

// replay sends journal events after *last until the journal has no more.
func (b *Bus) replay(ctx context.Context, last *int64, out chan<- Event) error {
	for {
		evs, err := b.j.EventsAfter(ctx, *last, replayBatch)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if !send(ctx, out, ev) {
				return ctx.Err()
			}
			*last = ev.Seq
		}
		if len(evs) < replayBatch {
			return nil
		}
	}
}

func send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
