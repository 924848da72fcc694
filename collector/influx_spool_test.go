package collector

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// switchable answers 204 while up, else the given status.
type switchable struct {
	up     atomic.Bool
	status int
}

func (s *switchable) answer(int) int {
	if s.up.Load() {
		return http.StatusNoContent
	}
	return s.status
}

// sortedValues returns the accepted values, sorted, to compare as a set.
func sortedValues(t *testing.T, f *fakeInflux) []float64 {
	v := f.values(t)
	slices.Sort(v)
	return v
}

func TestInfluxSinkSpoolsDuringOutageAndReplays(t *testing.T) {
	sw := &switchable{status: http.StatusServiceUnavailable}
	f := newFakeInflux(t, sw.answer)
	dir := t.TempDir()
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 10, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: dir}}, nil)

	for i := 0; i < 100; i += 10 {
		s.Consume(context.Background(), samples(i, 10))
	}
	waitFor(t, "100 points spooled", func() bool { st := s.Stats(); return st.PointsSpooled == 100 && st.QueueLength == 0 })
	st := s.Stats()
	if !st.Down || st.SpoolPoints != 100 || st.SpoolBytes == 0 || st.QueueLength != 0 || st.PointsDropped != 0 {
		t.Errorf("stats during outage %+v", st)
	}
	if want := time.Since(t0); st.SpoolOldestAge < want-time.Minute || st.SpoolOldestAge > want+time.Minute {
		t.Errorf("oldest spooled age %s, want about %s (the first sample's timestamp)", st.SpoolOldestAge, want)
	}
	// Only the first batch and the replayer's probes reach the server;
	// later batches go straight to disk.
	if n := f.count(); n > 30 {
		t.Errorf("%d requests during the outage: live batches should not each try", n)
	}

	sw.up.Store(true)
	waitFor(t, "the replayer's probe to end the outage", func() bool { return !s.Stats().Down })
	s.Consume(context.Background(), samples(100, 10)) // live again: straight to InfluxDB
	waitFor(t, "110 points written", func() bool { return s.Stats().PointsWritten == 110 })
	st = s.Stats()
	if st.Down || st.SpoolPoints != 0 || st.PointsSpooled != 100 || st.PointsReplayed != 100 || st.BatchesRetried == 0 || st.PointsDropped != 0 {
		t.Errorf("stats after replay %+v", st)
	}
	wantValues(t, sortedValues(t, f), [2]int{0, 110})

	// The spool replays in order.
	var spooled []float64
	for _, v := range f.values(t) {
		if v < 100 {
			spooled = append(spooled, v)
		}
	}
	wantValues(t, spooled, [2]int{0, 100})
}

func TestInfluxSinkSpoolSurvivesRestart(t *testing.T) {
	sw := &switchable{status: http.StatusServiceUnavailable}
	f := newFakeInflux(t, sw.answer)
	dir := t.TempDir()
	opts := InfluxOptions{BatchSize: 10, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: dir}}
	s, stop := startSink(t, f.srv.URL, opts, nil)
	s.Consume(context.Background(), samples(0, 25))
	waitFor(t, "20 points spooled", func() bool { return s.Stats().PointsSpooled == 20 })
	stop() // the 5 points of the unfilled batch are spooled on the way out
	if st := s.Stats(); st.PointsSpooled != 25 || st.PointsDropped != 0 || st.QueueLength != 0 {
		t.Errorf("stats after stop while down %+v", st)
	}

	sw.up.Store(true)
	s2, _ := startSink(t, f.srv.URL, opts, nil)
	waitFor(t, "25 points replayed", func() bool { return s2.Stats().PointsReplayed == 25 })
	wantValues(t, f.values(t), [2]int{0, 25})
	if st := s2.Stats(); st.SpoolPoints != 0 || st.Down {
		t.Errorf("stats after replay %+v", st)
	}
}

func TestInfluxSinkHonoursRetryAfter(t *testing.T) {
	sw := &switchable{status: http.StatusTooManyRequests}
	f := newFakeInflux(t, sw.answer)
	f.retryAfter = "1"
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 10, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: t.TempDir()}}, nil)
	s.Consume(context.Background(), samples(0, 10))
	waitFor(t, "two attempts", func() bool { return f.count() >= 2 })
	sw.up.Store(true)
	waitFor(t, "written", func() bool { return s.Stats().PointsWritten == 10 })
	f.mu.Lock()
	gap := f.requests[1].at.Sub(f.requests[0].at)
	f.mu.Unlock()
	if gap < 900*time.Millisecond {
		t.Errorf("second attempt %s after a 429 with Retry-After: 1", gap)
	}
}

func TestInfluxSinkRefusedLogsOnceAndDoesNotSpin(t *testing.T) {
	f := newFakeInflux(t, func(int) int { return http.StatusUnauthorized })
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := NewRegistry()
	s, err := NewInfluxSink(InfluxOptions{URL: f.srv.URL, Bucket: "b", BatchSize: 10, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: t.TempDir()}}, "s", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.backoffMin, s.backoffMax = 5*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	for i := 0; i < 50; i += 10 {
		s.Consume(ctx, samples(i, 10))
	}
	waitFor(t, "50 points spooled", func() bool { return s.Stats().PointsSpooled == 50 })
	time.Sleep(time.Second)
	cancel()
	<-done
	// One live attempt, then probes at most every backoffMax.
	if n := f.count(); n > 8 {
		t.Errorf("%d requests in about a second against 401: spinning", n)
	}
	if n := strings.Count(logs.String(), "refuses our writes"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
	}
	if st := s.Stats(); st.PointsDropped != 0 || st.SpoolPoints != 50 {
		t.Errorf("stats %+v: want everything kept in the spool", st)
	}
}

func TestInfluxSinkDeadLettersRejectedBatch(t *testing.T) {
	f := newFakeInflux(t, func(n int) int {
		if n == 0 {
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	})
	// InfluxDB 1.8's answer when some points of a batch conflict with a
	// field's stored type: the others were written.
	f.errMsg = `partial write: field type conflict: input field "value" on measurement "reading" is type string, already exists as type float dropped=2`
	dir := t.TempDir()
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 5, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: dir}}, nil)
	s.Consume(context.Background(), samples(0, 10))
	waitFor(t, "second batch written", func() bool { return f.count() == 2 && s.Stats().BatchesWritten == 1 })

	st := s.Stats()
	if st.PointsRejected != 2 || st.PointsDropped != 2 || st.PointsDeadLettered != 5 || st.PointsWritten != 8 || st.PointsSpooled != 0 {
		t.Errorf("stats %+v: want 2 rejected, 3+5 written, the batch of 5 dead-lettered", st)
	}
	files, err := filepath.Glob(filepath.Join(dir, "deadletter", "*.lp"))
	if err != nil || len(files) != 1 {
		t.Fatalf("dead-letter files %v, %v", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "# rejected by InfluxDB") || !strings.Contains(lines[0], "dropped=2") {
		t.Errorf("dead-letter file:\n%s", data)
	}
	if f.count() != 2 {
		t.Errorf("%d requests: a rejected batch must not be retried", f.count())
	}
}

func TestInfluxSinkSpoolOverflow(t *testing.T) {
	f := newFakeInflux(t, func(int) int { return http.StatusServiceUnavailable })
	var mu sync.Mutex
	var hook []int
	opts := InfluxOptions{BatchSize: 10, FlushInterval: time.Hour,
		Spool: SpoolOptions{Dir: t.TempDir(), MaxBytes: 8 << 10},
		OnSpoolOverflow: func(n int) {
			mu.Lock()
			hook = append(hook, n)
			mu.Unlock()
		}}
	s, stop := startSink(t, f.srv.URL, opts, nil)
	const total = 1000 // about 180 bytes a point: far more than 8 KiB
	for i := 0; i < total; i += 10 {
		s.Consume(context.Background(), samples(i, 10))
	}
	waitFor(t, "all spooled or dropped", func() bool { return s.Stats().PointsSpooled == total })
	// The counters hold at any moment, even while the last append may still
	// be telling the hook.
	st := s.Stats()
	if st.SpoolOverflowPoints == 0 || st.PointsDropped != st.SpoolOverflowPoints {
		t.Errorf("stats %+v: want overflow counted", st)
	}
	if st.SpoolBytes > 8<<10 || uint64(st.SpoolPoints)+st.SpoolOverflowPoints != total {
		t.Errorf("stats %+v: spool over its bound, or points unaccounted for", st)
	}
	// The hook runs after the spool lets go of its lock (so it may call
	// Stats), hence after the counters move: compare once the sink stopped.
	stop()
	st = s.Stats()
	mu.Lock()
	sum := 0
	for _, n := range hook {
		sum += n
	}
	mu.Unlock()
	if uint64(sum) != st.SpoolOverflowPoints || st.PointsDropped != st.SpoolOverflowPoints {
		t.Errorf("stats %+v, hook total %d: want overflow reported", st, sum)
	}
}
