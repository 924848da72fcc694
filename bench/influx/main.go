// Command influx measures the InfluxDB sink against a private influxd 1.8
// (the binary scripts/test.sh installs) and prints:
//
//   - sustained points/s into influxd, and the gateway's CPU µs per point
//     (this process's user+system time; influxd runs apart);
//   - the replay rate after an outage: -outage worth of points at -live
//     points/s are spooled while InfluxDB is unreachable, then replayed while
//     live data keeps flowing at -live points/s; the figure is the replay
//     rate as a multiple of the live rate (target: at least 5).
//
// Usage: go run ./bench/influx [-duration 10s] [-live 10000] [-outage 60s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hazgate/bench/benchenv"
	"hazgate/collector"
	"hazgate/sim/testenv"
)

const tags = 1000

func main() {
	duration := flag.Duration("duration", 10*time.Second, "length of the sustained-rate run")
	live := flag.Int("live", 10_000, "live points per second during and after the outage")
	outage := flag.Duration("outage", 60*time.Second, "outage whose points are spooled and replayed")
	flag.Parse()
	log.SetFlags(0)

	tmp, err := os.MkdirTemp("", "hazgate-bench-influx-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(tmp)
	atExit = append(atExit, func() { os.RemoveAll(tmp) })
	bin, err := testenv.FindInfluxd()
	if err != nil {
		fatalf("%v", err)
	}
	d, err := testenv.NewInfluxd(bin, filepath.Join(tmp, "influxd"))
	if err != nil {
		fatalf("%v", err)
	}
	if err := d.Start(); err != nil {
		fatalf("%v", err)
	}
	defer d.Stop()
	atExit = append(atExit, d.Stop)

	reg := collector.NewRegistry()
	for i := range tags {
		if err := reg.Add(collector.Tag{ID: tagID(i), Site: "bench", Device: fmt.Sprintf("gds-%d", i/50), Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"}); err != nil {
			fatalf("%v", err)
		}
	}

	// 1. Sustained rate: as fast as the sink drains.
	bucket := createDB(d.URL, "sustained")
	s := startSink(d.URL, bucket, filepath.Join(tmp, "spool-sustained"), reg)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cpu0, t0 := benchenv.CPUTime(), time.Now()
	sent := feed(s.sink, 0, -1, *duration, func(i int) time.Time { return base.Add(time.Duration(i) * time.Microsecond) })
	waitWritten(s.sink, uint64(sent))
	elapsed, cpu := time.Since(t0), benchenv.CPUTime()-cpu0
	s.stop()
	sustained := float64(sent) / elapsed.Seconds()
	checkCount(d.URL, bucket, sent)
	fmt.Printf("sustained:   %9.0f points/s over %s (%d points), %.2f µs CPU per point\n",
		sustained, elapsed.Round(time.Millisecond), sent, float64(cpu.Microseconds())/float64(sent))

	// 2. Outage: spool -outage worth of live points while InfluxDB is unreachable.
	bucket = createDB(d.URL, "replay")
	spoolDir := filepath.Join(tmp, "spool-replay")
	spooled := int(outage.Seconds() * float64(*live))
	start := time.Now().Add(-*outage - time.Minute)
	at := func(i int) time.Time {
		return start.Add(time.Duration(float64(i) / float64(*live) * float64(time.Second)))
	}
	down := startSink(deadURL(), bucket, spoolDir, reg)
	feed(down.sink, 0, spooled, 0, at)
	for st := down.sink.Stats(); st.PointsSpooled < uint64(spooled); st = down.sink.Stats() {
		if st.PointsDropped > 0 {
			fatalf("points dropped while spooling: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	down.stop()
	spoolBytes := down.sink.Stats().SpoolBytes

	// 3. InfluxDB is back: replay in the background while live data flows.
	up := startSink(d.URL, bucket, spoolDir, reg)
	cpu0, t0 = benchenv.CPUTime(), time.Now()
	liveDone := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { liveDone <- feedLive(ctx, up.sink, spooled, *live, at) }()
	for up.sink.Stats().PointsReplayed < uint64(spooled) {
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(t0)
	cpu = benchenv.CPUTime() - cpu0
	cancel()
	liveSent := <-liveDone
	waitWritten(up.sink, uint64(spooled+liveSent))
	up.stop()
	checkCount(d.URL, bucket, spooled+liveSent)
	replay := float64(spooled) / drain.Seconds()
	fmt.Printf("outage:      %s at %d points/s = %d points, %.1f MB spooled\n", *outage, *live, spooled, float64(spoolBytes)/1e6)
	fmt.Printf("replay:      %9.0f points/s (drained in %s beside %d live points), %.2f µs CPU per point\n",
		replay, drain.Round(time.Millisecond), liveSent, float64(cpu.Microseconds())/float64(spooled+liveSent))
	fmt.Printf("ratio:       replay = %.1f x live rate (target >= 5), %.2f x sustained rate\n", replay/float64(*live), replay/sustained)
}

// atExit undoes what main started when a step fails (log.Fatal skips defers).
var atExit []func()

func fatalf(format string, args ...any) {
	for i := len(atExit) - 1; i >= 0; i-- {
		atExit[i]()
	}
	log.Fatalf(format, args...)
}

type running struct {
	sink *collector.InfluxSink
	stop func()
}

func startSink(influxURL, bucket, spoolDir string, reg *collector.Registry) running {
	s, err := collector.NewInfluxSink(collector.InfluxOptions{
		URL: influxURL, Bucket: bucket, Spool: collector.SpoolOptions{Dir: spoolDir},
	}, "bench", reg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		fatalf("%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return running{s, func() { cancel(); <-done }}
}

// feed consumes points from..from+n (n < 0: until d passes) as fast as the
// sink takes them, keeping its queue short so nothing is dropped.
func feed(s *collector.InfluxSink, from, n int, d time.Duration, at func(int) time.Time) int {
	end := time.Now().Add(d)
	batch := make([]collector.Sample, 1000)
	i := from
	for (n < 0 && time.Now().Before(end)) || (n >= 0 && i < from+n) {
		for s.Stats().QueueLength > 10_000 {
			time.Sleep(100 * time.Microsecond)
		}
		k := len(batch)
		if n >= 0 {
			k = min(k, from+n-i)
		}
		for j := range k {
			batch[j] = sample(i+j, at)
		}
		s.Consume(context.Background(), batch[:k])
		i += k
	}
	return i - from
}

// feedLive consumes rate points/s from index from until ctx ends.
func feedLive(ctx context.Context, s *collector.InfluxSink, from, rate int, at func(int) time.Time) int {
	const step = 10 * time.Millisecond
	per := rate * int(step) / int(time.Second)
	tick := time.NewTicker(step)
	defer tick.Stop()
	batch := make([]collector.Sample, per)
	i := from
	for {
		select {
		case <-ctx.Done():
			return i - from
		case <-tick.C:
			for j := range batch {
				batch[j] = sample(i+j, at)
			}
			s.Consume(ctx, batch)
			i += per
		}
	}
}

func sample(i int, at func(int) time.Time) collector.Sample {
	return collector.Sample{Tag: tagID(i % tags), Value: float64(i%1000) / 10, Time: at(i)}
}

func tagID(i int) string { return fmt.Sprintf("GT-%04d", i) }

func waitWritten(s *collector.InfluxSink, n uint64) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := s.Stats()
		if st.PointsWritten >= n && st.QueueLength == 0 {
			if st.PointsDropped > 0 {
				fatalf("points dropped: %+v", st)
			}
			return
		}
		if time.Now().After(deadline) {
			fatalf("not written after 2 minutes: %+v, want %d", st, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func createDB(influxURL, name string) string {
	query(influxURL, "", fmt.Sprintf("CREATE DATABASE %q", name))
	return name + "/autogen"
}

// checkCount makes sure every point landed, so the figures are of real work.
func checkCount(influxURL, bucket string, want int) {
	db, _, _ := strings.Cut(bucket, "/")
	body := query(influxURL, db, "SELECT count(value) FROM reading")
	if !strings.Contains(body, fmt.Sprintf(",%d]", want)) {
		fatalf("InfluxDB %s: %s, want %d points", db, body, want)
	}
}

func query(influxURL, db, q string) string {
	resp, err := http.PostForm(influxURL+"/query", url.Values{"db": {db}, "q": {q}})
	if err != nil {
		fatalf("%v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fatalf("%s: %s %s", q, resp.Status, b)
	}
	return string(b)
}

// deadURL is a loopback port nobody listens on: connection refused at once.
func deadURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}
