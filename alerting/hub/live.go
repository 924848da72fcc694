package hub

import (
	"sync"
	"sync/atomic"
)

// Live hands what this hub process stores to its live streams (the
// regulators' cross-site feed), as it commits. It is live only: a stream
// that reconnects reads the lists again. With plain subscriptions every hub
// process reads every message, so each one's streams carry the whole feed;
// a message stored before by another process still goes out (marked as a
// repeat by the store), and clients drop repeats by site and seq.
type Live struct {
	mu   sync.Mutex
	subs map[*LiveSub]struct{}
}

// LiveSub is one stream's subscription.
type LiveSub struct {
	C       <-chan Message
	c       chan Message
	dropped atomic.Uint64
	live    *Live
}

// liveBuffer is how far a stream may fall behind before it loses messages
// (and is told so).
const liveBuffer = 4096

// Subscribe starts a subscription; Close ends it.
func (l *Live) Subscribe() *LiveSub {
	s := &LiveSub{c: make(chan Message, liveBuffer), live: l}
	s.C = s.c
	l.mu.Lock()
	if l.subs == nil {
		l.subs = map[*LiveSub]struct{}{}
	}
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	return s
}

// Dropped is how many messages the subscriber was too slow for.
func (s *LiveSub) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *LiveSub) Close() {
	s.live.mu.Lock()
	delete(s.live.subs, s)
	s.live.mu.Unlock()
}

// publish never waits: a stream that cannot keep up loses messages, never
// the store.
func (l *Live) publish(m Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs {
		select {
		case s.c <- m:
		default:
			s.dropped.Add(1)
		}
	}
}
