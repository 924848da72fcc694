package hazard

import (
	"context"
	"sync"
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

// Subscription delivers events in seq order on C. C closes when the
// subscription's context ends, on Close, or when the store cannot be read
// (Err then says why; subscribe again from the last seq received).
type Subscription struct {
	C <-chan Event

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Close ends the subscription and waits for its goroutine.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
}

// Err is why C closed, nil for Close or the context. Read it after C closed.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Subscribe delivers every event with seq greater than afterSeq: those
// committed, then each as it is committed, without gap or duplicate.
func (b *Bus) Subscribe(ctx context.Context, afterSeq int64) *Subscription {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan Event)
	s := &Subscription{C: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(out)
		s.err = b.feed(ctx, afterSeq, out)
	}()
	return s
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
