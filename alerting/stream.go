package alerting

import "context"

// Stream delivers a journal's events in seq order on C. C closes when the
// stream's context ends, on Close, or when the journal cannot be read (Err
// then says why; subscribe again from the last seq received). The alarm bus
// and the hazard records both hand out Streams.
type Stream[E any] struct {
	C <-chan E

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// NewStream runs feed on its own goroutine until it returns or ctx ends;
// feed sends on out and returns nil when ctx ends.
func NewStream[E any](ctx context.Context, feed func(ctx context.Context, out chan<- E) error) *Stream[E] {
	ctx, cancel := context.WithCancel(ctx)
	// A little room, so a reader that takes what is ready before it
	// writes (the API's stream) finds a backlog there.
	out := make(chan E, 64)
	s := &Stream[E]{C: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(out)
		s.err = feed(ctx, out)
	}()
	return s
}

// Close ends the stream and waits for its goroutine.
func (s *Stream[E]) Close() {
	s.cancel()
	<-s.done
}

// Err is the reason C closed, nil if it was Close or the context. Read it
// after C has closed.
func (s *Stream[E]) Err() error {
	<-s.done
	return s.err
}
