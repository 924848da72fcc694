package hazard

import (
	"context"
	"sync"

	"hazgate/alerting"
)

// subscribeBatch is how many events a subscriber reads from the store at once.
const subscribeBatch = 256

// Bus tells subscribers that hazard events were committed; each reads them
// from the store after the last seq it delivered. Hazard events are few (a
// handful a day), so reading them back costs nothing worth a buffer, and a
// slow subscriber can never lose one or hold up a writer.
type Bus struct {
	store *Store
	mu    sync.Mutex
	wake  chan struct{} // closed and replaced on every publish
}

func (b *Bus) publish() {
	b.mu.Lock()
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

func (b *Bus) waiter() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wake
}

// Subscription is a stream of hazard events.
type Subscription = alerting.Stream[Event]

// Subscribe delivers every event with seq greater than afterSeq: those
// committed, then each as it is committed, without gap or duplicate.
func (b *Bus) Subscribe(ctx context.Context, afterSeq int64) *Subscription {
	return alerting.NewStream(ctx, func(ctx context.Context, out chan<- Event) error { return b.feed(ctx, afterSeq, out) })
}

func (b *Bus) feed(ctx context.Context, last int64, out chan<- Event) error {
	for {
		// Take the waiter before reading: a publish after the read closes it.
		wake := b.waiter()
		evs, err := b.store.EventsAfter(ctx, last, subscribeBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range evs {
			select {
			case out <- ev:
				last = ev.Seq
			case <-ctx.Done():
				return nil
			}
		}
		if len(evs) == subscribeBatch {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
	}
}
