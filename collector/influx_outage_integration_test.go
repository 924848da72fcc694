package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"hazgate/sim/testenv"
)

// These tests run their own influxd (testenv.StartInfluxd) so they can stop
// and start it under the writer.

// influxValues reads every `reading` value in bucket's database, by
// timestamp in ns; InfluxDB keeps one point per series and time, so a point
// written twice is there once.
func influxValues(t *testing.T, influxURL, bucket string) map[int64]float64 {
	t.Helper()
	db, _, _ := strings.Cut(bucket, "/")
	resp, err := http.PostForm(influxURL+"/query", url.Values{"db": {db}, "epoch": {"ns"}, "q": {"SELECT value FROM reading"}})
	if err != nil {
		t.Fatalf("query %s: %v", db, err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string
			Series []struct {
				Values [][]json.Number
			}
		}
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("query %s: %v", db, err)
	}
	got := map[int64]float64{}
	for _, r := range out.Results {
		if r.Error != "" {
			t.Fatalf("query %s: %s", db, r.Error)
		}
		for _, s := range r.Series {
			for _, row := range s.Values {
				ts, err1 := row[0].Int64()
				v, err2 := row[1].Float64()
				if err1 != nil || err2 != nil {
					t.Fatalf("query %s: row %v", db, row)
				}
				got[ts] = v
			}
		}
	}
	return got
}

// checkLanded asserts InfluxDB holds exactly the samples with values in
// [from, to), each at its original timestamp (see samples).
func checkLanded(t *testing.T, got map[int64]float64, from, to int) {
	t.Helper()
	missing := 0
	for i := from; i < to; i++ {
		ts := t0.Add(time.Duration(i) * time.Second).UnixNano()
		v, ok := got[ts]
		if !ok {
			missing++
			continue
		}
		if v != float64(i) {
			t.Errorf("point at %d holds %v, want %d", ts, v, i)
		}
		delete(got, ts)
	}
	if missing > 0 || len(got) > 0 {
		t.Errorf("InfluxDB: %d of points %d..%d missing, %d unexpected points", missing, from, to-1, len(got))
	}
}

func spoolSink(t *testing.T, influxURL, bucket, dir string, opts InfluxOptions) (*InfluxSink, func()) {
	t.Helper()
	opts.Bucket = bucket
	opts.Spool.Dir = dir
	return startSink(t, influxURL, opts, func(s *InfluxSink) {
		s.backoffMin = 50 * time.Millisecond
		s.backoffMax = time.Second
	})
}

func waitDrained(t *testing.T, s *InfluxSink, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.Stats()
		if !st.Down && st.SpoolPoints == 0 && st.QueueLength == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool not drained after %s: %+v", timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInfluxOutageIntegration: influxd stops for 20 s under a steady
// stream; once the spool drains, InfluxDB holds exactly the points sent.
func TestInfluxOutageIntegration(t *testing.T) {
	d := testenv.StartInfluxd(t)
	bucket := testenv.InfluxDatabase(t, d.URL)
	s, stop := spoolSink(t, d.URL, bucket, t.TempDir(), InfluxOptions{BatchSize: 200, FlushInterval: 100 * time.Millisecond})

	// 1000 points/s until told to stop.
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				sent <- n
				return
			case <-tick.C:
				s.Consume(ctx, samples(n, 20))
				n += 20
			}
		}
	}()
	time.Sleep(2 * time.Second)
	d.Stop()
	time.Sleep(20 * time.Second)
	if st := s.Stats(); !st.Down || st.SpoolPoints < 15_000 {
		t.Errorf("after 20 s down: %+v, want the sink down and about 20 s of points spooled", st)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cancel()
	n := <-sent
	waitDrained(t, s, 60*time.Second)
	stop()

	st := s.Stats()
	t.Logf("sent %d points; stats %+v", n, st)
	if st.PointsDropped != 0 || st.PointsSpooled == 0 || st.PointsReplayed < st.PointsSpooled {
		t.Errorf("stats %+v: want nothing dropped and every spooled point replayed", st)
	}
	checkLanded(t, influxValues(t, d.URL, bucket), 0, n)
}

const crashBatch = 500

// TestInfluxSpoolCrashChild is the writer TestInfluxCrashIntegration kills:
// it sends batch after batch and prints "durable K S" once batch K is written
// or fsynced to the spool, S being the points spooled so far.
func TestInfluxSpoolCrashChild(t *testing.T) {
	dir := os.Getenv("HAZGATE_SPOOL_CHILD")
	if dir == "" {
		t.Skip("helper process of TestInfluxCrashIntegration")
	}
	s, err := NewInfluxSink(InfluxOptions{
		URL: os.Getenv("HAZGATE_SPOOL_CHILD_URL"), Bucket: os.Getenv("HAZGATE_SPOOL_CHILD_BUCKET"),
		BatchSize: crashBatch, FlushInterval: time.Hour, Spool: SpoolOptions{Dir: dir},
	}, "cz-demo-01", NewRegistry(), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.backoffMin, s.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	go s.Run(context.Background())
	for k := 0; ; k++ {
		s.Consume(context.Background(), samples(k*crashBatch, crashBatch))
		for {
			st := s.Stats()
			if st.PointsWritten-st.PointsReplayed+st.PointsSpooled >= uint64((k+1)*crashBatch) {
				fmt.Printf("durable %d %d\n", k, st.PointsSpooled)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestInfluxCrashIntegration: the writer is killed with SIGKILL while
// influxd is down; a new writer on the same spool, once influxd is back,
// leaves exactly the points of every batch reported durable, plus at most
// the one batch not yet fsynced.
func TestInfluxCrashIntegration(t *testing.T) {
	d := testenv.StartInfluxd(t)
	bucket := testenv.InfluxDatabase(t, d.URL)
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestInfluxSpoolCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HAZGATE_SPOOL_CHILD="+dir, "HAZGATE_SPOOL_CHILD_URL="+d.URL, "HAZGATE_SPOOL_CHILD_BUCKET="+bucket)
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type report struct{ batch, spooled int }
	durable := make(chan report, 1000)
	var readDone sync.WaitGroup
	readDone.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r report
			if _, err := fmt.Sscanf(sc.Text(), "durable %d %d", &r.batch, &r.spooled); err == nil {
				durable <- r
			}
		}
		close(durable)
	})
	last, spooled := -1, 0
	waitUntil := func(what string, done func() bool) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for !done() {
			select {
			case r, ok := <-durable:
				if !ok {
					t.Fatalf("writer exited after batch %d, waiting for %s: %s", last, what, stderr.String())
				}
				last, spooled = r.batch, r.spooled
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("writer stuck after batch %d, waiting for %s: %s", last, what, stderr.String())
			}
		}
	}
	waitUntil("5 batches written live", func() bool { return last >= 5 })
	d.Stop()
	// Batches in flight at the stop may still land live, so count what the
	// writer says it spooled rather than batches since the stop.
	waitUntil("20 batches spooled", func() bool { return spooled >= 20*crashBatch })
	time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	readDone.Wait()
	for r := range durable {
		last, spooled = r.batch, r.spooled
	}
	t.Logf("writer killed after batch %d was durable", last)

	// The new writer replays what the killed one spooled.
	s, stop := spoolSink(t, d.URL, bucket, dir, InfluxOptions{BatchSize: crashBatch})
	if st := s.Stats(); st.SpoolPoints < spooled || st.SpoolPoints > spooled+crashBatch || st.SpoolPoints%crashBatch != 0 {
		t.Errorf("new writer found %d spooled points, want whole batches: the %d reported spooled, plus at most the one in flight", st.SpoolPoints, spooled)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, s, 60*time.Second)
	stop()
	t.Logf("stats of the new writer %+v", s.Stats())

	got := influxValues(t, d.URL, bucket)
	want := (last + 1) * crashBatch
	// The batch being spooled at the kill is there whole or not at all.
	if len(got) == want+crashBatch {
		want += crashBatch
	}
	checkLanded(t, got, 0, want)
}

// TestInfluxRejectedIntegration: a point whose field type conflicts with
// the stored one. InfluxDB 1.8 stores the other points of its batch
// ("partial write ... dropped=1"); the batch goes to the dead-letter file
// with the server's message, and later batches land.
func TestInfluxRejectedIntegration(t *testing.T) {
	influxURL := testenv.InfluxURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)
	dir := t.TempDir()
	s, stop := spoolSink(t, influxURL, bucket, dir, InfluxOptions{BatchSize: 10, FlushInterval: time.Hour})
	ctx := context.Background()
	s.Consume(ctx, samples(0, 10))
	waitFor(t, "first batch", func() bool { return s.Stats().PointsWritten == 10 })
	s.Consume(ctx, samples(10, 5))
	bad := write.NewPoint("reading", map[string]string{"tag": "T101-LEL", "site": "cz-demo-01"},
		map[string]any{"value": "not a number"}, t0.Add(-time.Hour))
	s.WritePoint(bad)
	s.Consume(ctx, samples(15, 4))
	s.Consume(ctx, samples(19, 10))
	waitFor(t, "29 points written", func() bool { return s.Stats().PointsWritten == 29 })
	stop()

	st := s.Stats()
	if st.PointsRejected != 1 || st.PointsDeadLettered != 10 || st.PointsDropped != 1 || st.PointsSpooled != 0 {
		t.Errorf("stats %+v: want 1 point rejected, its batch of 10 dead-lettered", st)
	}
	checkLanded(t, influxValues(t, influxURL, bucket), 0, 29)
	files, _ := filepath.Glob(filepath.Join(dir, "deadletter", "*.lp"))
	if len(files) != 1 {
		t.Fatalf("dead-letter files %v, want 1", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "field type conflict") || !strings.Contains(string(data), `value="not a number"`) ||
		strings.Count(string(data), "\n") != 11 {
		t.Errorf("dead-letter file:\n%s", data)
	}
}

// TestInfluxSpoolFullIntegration: a long outage fills a small spool; the
// oldest points go, counted and reported, and exactly the rest land.
func TestInfluxSpoolFullIntegration(t *testing.T) {
	d := testenv.StartInfluxd(t)
	bucket := testenv.InfluxDatabase(t, d.URL)
	d.Stop()
	var mu sync.Mutex
	hook := 0
	s, stop := spoolSink(t, d.URL, bucket, t.TempDir(), InfluxOptions{
		BatchSize: 100, FlushInterval: time.Hour,
		Spool: SpoolOptions{MaxBytes: 256 << 10},
		OnSpoolOverflow: func(n int) {
			mu.Lock()
			hook += n
			mu.Unlock()
		},
	})
	const total = 10_000 // about 1.8 MB of line protocol
	for i := 0; i < total; i += 100 {
		s.Consume(context.Background(), samples(i, 100))
	}
	waitFor(t, "everything spooled", func() bool { return s.Stats().PointsSpooled == total })
	st := s.Stats()
	mu.Lock()
	reported := hook
	mu.Unlock()
	if st.SpoolOverflowPoints == 0 || uint64(reported) != st.SpoolOverflowPoints || st.SpoolBytes > 256<<10 {
		t.Fatalf("stats %+v, hook told of %d points: want the overflow counted and reported", st, reported)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, s, 60*time.Second)
	stop()
	// The newest points survive.
	checkLanded(t, influxValues(t, d.URL, bucket), int(st.SpoolOverflowPoints), total)
}
