package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing t after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, d, time.Millisecond, what, cond)
}

// Poll is WaitFor checking every interval: for a cond that costs a request
// or publishes a message.
func Poll(t testing.TB, d, every time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(every) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}
