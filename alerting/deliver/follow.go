package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
)

// resubscribeWait is the pause before reading a journal again after it
// failed to read.
const resubscribeWait = time.Second

// filteredSaveDelay is how long the cursor may trail events the filter left
// out: saving after each would cost two fsyncs an event in an alarm flood.
const filteredSaveDelay = 500 * time.Millisecond

// saveEvery spaces the cursor's saves while events flow: each is two
// fsyncs, and in an alarm flood a save per delivered batch put hundreds of
// them on the disk the alarm journal fsyncs every commit to. After a crash
// at most this much more is delivered again: repeats, never a gap.
const saveEvery = 250 * time.Millisecond

// Backoff is the wait between attempts at one event: Min after the first
// failure, doubled after each further one up to Max.
type Backoff struct {
	Min, Max time.Duration
	// Jitter spreads the wait over ±25%, so gateways that lost the same
	// receiver do not all come back at once.
	Jitter bool
}

// Wait is the pause after the given number of failed attempts (1 for the
// first) ending in err: the receiver's Retry-After when it gave one (up to
// Max), else the doubled backoff.
func (b Backoff) Wait(failures int, err error) time.Duration {
	w := b.Min
	for i := 1; i < failures && w < b.Max; i++ {
		w *= 2
	}
	w = min(w, b.Max)
	if ra, ok := errors.AsType[*RetryAfterError](err); ok && ra.After > 0 {
		w = min(ra.After, b.Max)
	}
	if b.Jitter {
		w = w*3/4 + rand.N(w/2+1)
	}
	return w
}

// Stats counts a follower's work since start.
type Stats struct {
	Delivered uint64 // events the channel took
	Retried   uint64 // attempts that failed and were made again
	Rejected  uint64 // events the channel refused (Reject), skipped
	Filtered  uint64 // events the filter left out
	LastSeq   int64  // the last journal seq handled
	// Lag is how old the last delivered event was when the channel took it.
	Lag time.Duration
}

// Counters are a follower's Stats as it runs; followers of one channel
// (its alarm and hazard journals) may share them.
type Counters struct {
	delivered, retried, rejected, filtered atomic.Uint64
	lastSeq, lag                           atomic.Int64
}

// Stats returns the counts so far.
func (c *Counters) Stats() Stats {
	return Stats{
		Delivered: c.delivered.Load(), Retried: c.retried.Load(), Rejected: c.rejected.Load(), Filtered: c.filtered.Load(),
		LastSeq: c.lastSeq.Load(), Lag: time.Duration(c.lag.Load()),
	}
}

// Follower delivers one journal to one channel. Set the fields, then Run.
type Follower struct {
	Name    string // names the follower in logs and errors: "webhook platform: alarm journal"
	Journal Journal
	Cursor  Cursor
	Filter  Filter
	Channel Channel
	Retry   Backoff
	// ResendOnBadCursor starts from the journal's beginning when the cursor
	// cannot be read (repeats, never a gap); without it Run returns the error.
	ResendOnBadCursor bool
	// Durable, for a channel that takes events before it holds them durably
	// (the InfluxDB sink's WhenDurable), calls fn once everything the
	// channel took so far is held; the cursor moves only then. Nil: a
	// Deliver that returned nil holds the event.
	Durable func(fn func())
	// Counters default to the follower's own.
	Counters *Counters
	Log      *slog.Logger
}

// Run delivers until ctx ends. It returns an error only when it cannot start
// (an unreadable cursor without ResendOnBadCursor); a journal that fails to
// read is read again, a channel that fails is retried.
func (f *Follower) Run(ctx context.Context) error {
	if f.Counters == nil {
		f.Counters = new(Counters)
	}
	if f.Log == nil {
		f.Log = slog.New(slog.DiscardHandler)
	}
	seq, err := f.Cursor.Load()
	if err != nil {
		if !f.ResendOnBadCursor {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		f.Log.Error(f.Name+": cursor unreadable, delivering the journal from the start", "err", err)
		seq = 0
	}
	f.Counters.lastSeq.Store(seq)
	pos := &position{f: f, saved: seq, wake: make(chan struct{}, 1)}
	pos.held.Store(seq)
	defer pos.save()
	for {
		sub := f.Journal.Subscribe(ctx, seq)
		stopped := f.follow(ctx, sub, &seq, pos)
		sub.Close()
		if stopped || ctx.Err() != nil {
			return nil
		}
		f.Log.Error(f.Name+": journal feed failed; reading it again", "after_seq", seq, "err", sub.Err())
		if !collector.Sleep(ctx, resubscribeWait) {
			return nil
		}
	}
}

// follow delivers sub's events after *seq; true when ctx ended (an event
// not yet taken is delivered after a restart), false when sub closed.
func (f *Follower) follow(ctx context.Context, sub *alerting.Stream[Event], seq *int64, pos *position) bool {
	var idle <-chan time.Time // armed while filtered events wait for a save
	var due <-chan time.Time  // armed while a save waits for saveEvery to pass
	defer func() {
		if due != nil {
			pos.save() // before reading the journal again, or stopping
		}
	}()
	saveSoon := func() {
		if due != nil {
			return
		}
		if wait := time.Until(pos.savedAt.Add(saveEvery)); wait > 0 {
			due = time.After(wait)
			return
		}
		pos.save()
		idle = nil
	}
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return ctx.Err() != nil
			}
			kept := f.Filter.Keep(ev)
			if kept {
				if !f.deliver(ctx, ev) {
					return true
				}
			} else {
				f.Counters.filtered.Add(1)
			}
			*seq = ev.Seq
			f.Counters.lastSeq.Store(ev.Seq)
			if f.Durable == nil {
				pos.held.Store(ev.Seq)
				// A flood of filtered events rides along with the next
				// delivered one, or is saved once the feed is quiet; after a
				// kill they are only filtered again.
				if kept {
					saveSoon()
				} else if idle == nil {
					idle = time.After(filteredSaveDelay)
				}
			} else {
				n := ev.Seq
				f.Durable(func() { pos.hold(n) }) // on the channel's goroutine
			}
		case <-pos.wake:
			saveSoon()
		case <-due:
			due = nil
			pos.save()
			idle = nil
		case <-idle:
			idle = nil
			pos.save()
		}
	}
}

// deliver hands ev to the channel until it takes or refuses it; false when
// ctx ended first.
func (f *Follower) deliver(ctx context.Context, ev Event) bool {
	for failures := 0; ; failures++ {
		err := f.Channel.Deliver(ctx, ev)
		if err == nil {
			f.Counters.delivered.Add(1)
			f.Counters.lag.Store(int64(time.Since(ev.Time)))
			if failures > 0 {
				f.Log.Info(f.Name+": delivered after retries", "id", ev.ID(), "attempts", failures+1)
			}
			return true
		}
		if _, ok := errors.AsType[*RejectedError](err); ok {
			f.Counters.rejected.Add(1)
			f.Log.Error(f.Name+": event refused; not retried", "id", ev.ID(), "event", ev.Type, "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		f.Counters.retried.Add(1)
		wait := f.Retry.Wait(failures+1, err)
		// A receiver down for hours would otherwise log a line per retry.
		if failures == 0 || (failures+1)%10 == 0 {
			f.Log.Warn(f.Name+": delivery failed; retrying", "id", ev.ID(), "event", ev.Type, "attempt", failures+1, "err", err, "retry_in", wait)
		}
		if !collector.Sleep(ctx, wait) {
			return false
		}
	}
}

// position is how far the cursor may move: held is the last seq the channel
// holds (set from the channel's goroutine with Durable), saved what the
// cursor file says.
type position struct {
	f       *Follower
	held    atomic.Int64
	saved   int64
	savedAt time.Time // of the last save tried
	wake    chan struct{}
}

func (p *position) hold(seq int64) {
	if seq > p.held.Load() { // callbacks come in order; the check keeps it monotonic anyway
		p.held.Store(seq)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *position) save() {
	s := p.held.Load()
	if s <= p.saved {
		return
	}
	p.savedAt = time.Now()
	if err := p.f.Cursor.Save(s); err != nil {
		// A restart resends from an older seq: repeats, never a gap.
		p.f.Log.Error(p.f.Name+": cursor not saved; events may be sent twice after a restart", "seq", s, "err", err)
		return
	}
	p.saved = s
}
