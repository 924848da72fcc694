package deliver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/sim/testenv"
)

func TestBackoffWait(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 10 * time.Second}
	failed := errors.New("503")
	cases := []struct {
		name     string
		failures int
		err      error
		want     time.Duration
	}{
		{"first failure waits min", 1, failed, time.Second},
		{"doubles", 2, failed, 2 * time.Second},
		{"doubles again", 3, failed, 4 * time.Second},
		{"capped at max", 5, failed, 10 * time.Second},
		{"far past max", 200, failed, 10 * time.Second},
		{"retry-after honoured", 1, RetryAfter(7*time.Second, failed), 7 * time.Second},
		{"retry-after below backoff", 4, RetryAfter(2*time.Second, failed), 2 * time.Second},
		{"retry-after capped at max", 1, RetryAfter(time.Hour, failed), 10 * time.Second},
		{"retry-after wrapped", 1, fmt.Errorf("post: %w", RetryAfter(3*time.Second, failed)), 3 * time.Second},
		{"zero retry-after ignored", 2, RetryAfter(0, failed), 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := b.Wait(c.failures, c.err); got != c.want {
				t.Errorf("Wait(%d, %v) = %v, want %v", c.failures, c.err, got, c.want)
			}
			j := b
			j.Jitter = true
			for range 50 {
				if got := j.Wait(c.failures, c.err); got < c.want*3/4 || got > c.want*5/4 {
					t.Fatalf("jittered %v, want within 25%% of %v", got, c.want)
				}
			}
		})
	}
}

// memJournal serves fixed alarm events after a seq, then waits.
type memJournal []Event

func (j memJournal) Subscribe(ctx context.Context, after int64) *alerting.Stream[Event] {
	return alerting.NewStream(ctx, func(ctx context.Context, out chan<- Event) error {
		for _, ev := range j {
			if ev.Seq <= after {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		<-ctx.Done()
		return nil
	})
}

type memCursor struct {
	mu    sync.Mutex
	seq   int64
	saves []int64
}

func (c *memCursor) Load() (int64, error) { c.mu.Lock(); defer c.mu.Unlock(); return c.seq, nil }
func (c *memCursor) Save(seq int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = seq
	c.saves = append(c.saves, seq)
	return nil
}
func (c *memCursor) get() (int64, []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, slices.Clone(c.saves)
}

// scripted answers each event's attempts from its script (nil takes it),
// then nil; it records the cursor seen at every attempt.
type scripted struct {
	mu      sync.Mutex
	script  map[int64][]error
	cur     *memCursor
	taken   []int64
	atSeen  []int64
	release chan struct{} // closed when a blocking event may pass
}

var errBlock = errors.New("block until released")

func (s *scripted) Deliver(ctx context.Context, ev Event) error {
	s.mu.Lock()
	var err error
	if q := s.script[ev.Seq]; len(q) > 0 {
		err, s.script[ev.Seq] = q[0], q[1:]
	}
	seq, _ := s.cur.get()
	s.atSeen = append(s.atSeen, seq)
	s.mu.Unlock()
	if err == errBlock {
		select {
		case <-s.release:
			err = nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err == nil {
		s.mu.Lock()
		s.taken = append(s.taken, ev.Seq)
		s.mu.Unlock()
	}
	return err
}

func alarms(n int) memJournal {
	var j memJournal
	for i := 1; i <= n; i++ {
		sev := alerting.SeverityHigh
		if i%2 == 0 {
			sev = alerting.SeverityLow
		}
		j = append(j, AlarmEvent(&alerting.Event{Seq: int64(i), Type: alerting.EventRaised, Time: time.Now(), Alarm: alerting.Alarm{Severity: sev}}))
	}
	return j
}

func TestFollower(t *testing.T) {
	transient := errors.New("503")
	cases := []struct {
		name     string
		events   int
		start    int64
		filter   Filter
		script   map[int64][]error
		taken    []int64
		want     Stats
		attempts int
	}{
		{name: "all delivered", events: 3, taken: []int64{1, 2, 3}, want: Stats{Delivered: 3, LastSeq: 3}, attempts: 3},
		{name: "resumes after the cursor", events: 4, start: 2, taken: []int64{3, 4}, want: Stats{Delivered: 2, LastSeq: 4}, attempts: 2},
		{name: "retried until taken", events: 2, script: map[int64][]error{1: {transient, RetryAfter(time.Millisecond, transient)}},
			taken: []int64{1, 2}, want: Stats{Delivered: 2, Retried: 2, LastSeq: 2}, attempts: 4},
		{name: "refused is counted and skipped", events: 3, script: map[int64][]error{2: {Reject(errors.New("400"))}},
			taken: []int64{1, 3}, want: Stats{Delivered: 2, Rejected: 1, LastSeq: 3}, attempts: 3},
		{name: "filtered is counted, not delivered", events: 4, filter: Filter{Severities: []string{alerting.SeverityHigh}},
			taken: []int64{1, 3}, want: Stats{Delivered: 2, Filtered: 2, LastSeq: 4}, attempts: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := &memCursor{seq: c.start}
			ch := &scripted{script: c.script, cur: cur}
			if ch.script == nil {
				ch.script = map[int64][]error{}
			}
			f := &Follower{Name: "test", Journal: alarms(c.events), Cursor: cur, Filter: c.filter, Channel: ch,
				Retry: Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- f.Run(ctx) }()
			testenv.WaitFor(t, 5*time.Second, "the cursor at the last event", func() bool { s, _ := cur.get(); return s == int64(c.events) })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ch.taken, c.taken) {
				t.Errorf("taken %v, want %v", ch.taken, c.taken)
			}
			got := f.Counters.Stats()
			got.Lag = 0
			if got != c.want {
				t.Errorf("stats %+v, want %+v", got, c.want)
			}
			if len(ch.atSeen) != c.attempts {
				t.Errorf("%d attempts, want %d", len(ch.atSeen), c.attempts)
			}
		})
	}
}

// TestFollowerCursorAfterSuccess: the cursor never passes an event the
// channel has not taken, and a restart delivers it again.
func TestFollowerCursorAfterSuccess(t *testing.T) {
	cur := &memCursor{}
	ch := &scripted{script: map[int64][]error{2: {errBlock}}, cur: cur, release: make(chan struct{})}
	f := &Follower{Name: "test", Journal: alarms(3), Cursor: cur, Channel: ch, Retry: Backoff{Min: time.Millisecond, Max: time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "event 2 in flight", func() bool { ch.mu.Lock(); defer ch.mu.Unlock(); return len(ch.atSeen) == 2 })
	if s, _ := cur.get(); s != 1 {
		t.Fatalf("cursor %d while event 2 is in flight, want 1", s)
	}
	cancel() // a stop mid-delivery
	<-done
	if s, _ := cur.get(); s != 1 {
		t.Fatalf("cursor %d after a stop during event 2, want 1", s)
	}

	close(ch.release)
	f2 := &Follower{Name: "test", Journal: alarms(3), Cursor: cur, Channel: ch, Retry: f.Retry}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- f2.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the cursor at 3", func() bool { s, _ := cur.get(); return s == 3 })
	cancel()
	<-done
	if !slices.Equal(ch.taken, []int64{1, 2, 3}) {
		t.Errorf("taken %v, want 1 2 3", ch.taken)
	}
	if _, saves := cur.get(); !slices.Equal(saves, []int64{1, 2, 3}) {
		t.Errorf("cursor saves %v, want 1 2 3", saves)
	}
}

// TestFollowerDurable: with Durable the cursor moves only when the channel
// says it holds what it took, and is saved on the way out too.
func TestFollowerDurable(t *testing.T) {
	cur := &memCursor{}
	ch := &scripted{script: map[int64][]error{}, cur: cur}
	var mu sync.Mutex
	var waiting []func()
	f := &Follower{Name: "test", Journal: alarms(3), Cursor: cur, Channel: ch,
		Durable: func(fn func()) { mu.Lock(); waiting = append(waiting, fn); mu.Unlock() }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	pending := func() int { mu.Lock(); defer mu.Unlock(); return len(waiting) }
	testenv.WaitFor(t, 5*time.Second, "three events taken", func() bool { return pending() == 3 })
	if s, saves := cur.get(); s != 0 || len(saves) != 0 {
		t.Fatalf("cursor %d (saves %v) before anything is durable", s, saves)
	}
	mu.Lock()
	waiting[0]()
	waiting[1]()
	mu.Unlock()
	testenv.WaitFor(t, 5*time.Second, "the cursor at 2", func() bool { s, _ := cur.get(); return s == 2 })
	mu.Lock()
	waiting[2]()
	mu.Unlock()
	cancel()
	<-done
	if s, _ := cur.get(); s != 3 {
		t.Errorf("cursor %d after stop, want 3", s)
	}
}

type badCursor struct{ memCursor }

func (*badCursor) Load() (int64, error) { return 0, errors.New("garbage") }

func TestFollowerBadCursor(t *testing.T) {
	f := &Follower{Name: "test", Journal: alarms(1), Cursor: &badCursor{}, Channel: &scripted{}}
	if err := f.Run(context.Background()); err == nil {
		t.Fatal("an unreadable cursor started the follower")
	}
	cur := &badCursor{}
	ch := &scripted{script: map[int64][]error{}, cur: &cur.memCursor}
	f = &Follower{Name: "test", Journal: alarms(2), Cursor: cur, Channel: ch, ResendOnBadCursor: true}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the journal from the start", func() bool { s, _ := cur.get(); return s == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// flakyAlarms is an alarm feed whose first subscription fails after one
// event; it records where each subscription started.
type flakyAlarms struct {
	mu     sync.Mutex
	starts []int64
	events []alerting.Event
}

func (f *flakyAlarms) Subscribe(ctx context.Context, after int64) *alerting.Subscription {
	f.mu.Lock()
	f.starts = append(f.starts, after)
	first := len(f.starts) == 1
	f.mu.Unlock()
	return alerting.NewStream(ctx, func(ctx context.Context, out chan<- alerting.Event) error {
		for _, ev := range f.events[after:] {
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
			if first {
				return errors.New("journal unreadable")
			}
		}
		<-ctx.Done()
		return nil
	})
}

// TestFollowerResubscribes: a journal that fails to read is read again from
// the last event handled, through the Alarms adapter.
func TestFollowerResubscribes(t *testing.T) {
	feed := &flakyAlarms{}
	for i := int64(1); i <= 3; i++ {
		feed.events = append(feed.events, alerting.Event{Seq: i, Type: alerting.EventAcked})
	}
	cur := &memCursor{}
	ch := &scripted{script: map[int64][]error{}, cur: cur}
	f := &Follower{Name: "test", Journal: Alarms(feed), Cursor: cur, Channel: ch}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the cursor at 3", func() bool { s, _ := cur.get(); return s == 3 })
	cancel()
	<-done
	if !slices.Equal(feed.starts, []int64{0, 1}) || !slices.Equal(ch.taken, []int64{1, 2, 3}) {
		t.Errorf("subscribed after %v, delivered %v; want after 0 then 1, delivered 1 2 3", feed.starts, ch.taken)
	}
}

type hazardFeed []hazard.Event

func (h hazardFeed) Subscribe(ctx context.Context, after int64) *hazard.Subscription {
	return alerting.NewStream(ctx, func(ctx context.Context, out chan<- hazard.Event) error {
		for _, ev := range h[after:] {
			out <- ev
		}
		<-ctx.Done()
		return nil
	})
}

func TestHazardsJournal(t *testing.T) {
	sub := Hazards(hazardFeed{{Seq: 1, Type: "created"}, {Seq: 2, Type: "linked"}}).Subscribe(context.Background(), 1)
	defer sub.Close()
	ev := <-sub.C
	if ev.Type != "hazard.linked" || ev.ID() != "h2" || ev.Hazard == nil || ev.Alarm != nil || ev.Data() != any(ev.Hazard) {
		t.Errorf("event %+v", ev)
	}
}

// TestFollowerSpacesSaves: a flood of events held at once is saved a few
// times, saveEvery apart, not once per event, and the cursor still reaches
// the last one without a stop.
func TestFollowerSpacesSaves(t *testing.T) {
	const n = 2000
	cur := &memCursor{}
	ch := &scripted{script: map[int64][]error{}, cur: cur}
	f := &Follower{Name: "test", Journal: alarms(n), Cursor: cur, Channel: ch, Durable: func(fn func()) { fn() }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	start := time.Now()
	go func() { done <- f.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the cursor at the last event", func() bool { s, _ := cur.get(); return s == n })
	took := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, saves := cur.get()
	if most := 2 + int(took/saveEvery); len(saves) > most {
		t.Errorf("%d saves in %s for %d events, want at most %d", len(saves), took.Round(time.Millisecond), n, most)
	}
}
