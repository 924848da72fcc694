package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// failLimiter limits failed authentications per client address: a bucket of
// burst failures that refills one every interval. While a client's bucket is
// empty its wrong tokens are refused with 429 instead of 401; a valid token
// still passes (see checkToken), so a guesser cannot lock out a holder who
// shares its address.
type failLimiter struct {
	burst    float64
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	clients map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Defaults of the failed-auth limiter: 10 failures at once, then one every
// 6 s (10 a minute). A person mistyping a token never meets it.
const (
	authFailBurst    = 10
	authFailInterval = 6 * time.Second
	// maxLimitedClients bounds the limiter's memory under a spray of
	// addresses; full buckets are pruned first.
	maxLimitedClients = 10000
)

func newFailLimiter(burst int, interval time.Duration) *failLimiter {
	return &failLimiter{burst: float64(burst), interval: interval, now: time.Now, clients: map[string]*bucket{}}
}

// refill brings b up to date; the caller holds mu.
func (l *failLimiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.interval))
	b.at = now
}

// blocked reports whether client has no failures left, and when it will.
func (l *failLimiter) blocked(client string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		return 0, false
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(l.interval)), true
}

// fail spends one of client's failures.
func (l *failLimiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxLimitedClients {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.clients[client] = b
	}
	l.refill(b, now)
	b.tokens = max(b.tokens-1, 0)
}

// prune drops clients whose bucket has refilled: they are as good as new.
// If every client is still limited the map is cleared; at worst that gives
// a sprayer of addresses a fresh burst per address.
func (l *failLimiter) prune(now time.Time) {
	for k, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxLimitedClients {
		clear(l.clients)
	}
}

// clientOf is the address failures are counted against: the peer's IP.
// X-Forwarded-For is not trusted: anyone can write it.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
