package collector

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"
)

var testTag = Tag{
	ID: "T101-LEL", Name: "1号罐区可燃气体", Site: "cz-demo-01", Device: "gds-1",
	Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A",
}

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 1, time.UTC)

func TestBatchBuilderReading(t *testing.T) {
	ts := strconv.FormatInt(t0.UnixNano(), 10)
	tests := []struct {
		name string
		tag  Tag
		s    Sample
		want string
	}{
		{
			name: "good reading with every tag",
			tag:  testTag,
			s:    Sample{Tag: "T101-LEL", Value: 12.5, Quality: Good, Time: t0},
			want: `reading,area=罐区A,device=gds-1,kind=combustible_gas,site=cz-demo-01,tag=T101-LEL,unit=%LEL quality="good",value=12.5 ` + ts,
		},
		{
			name: "bad reading has no value",
			tag:  testTag,
			s:    Sample{Tag: "T101-LEL", Value: 99, Quality: Bad, Reason: ReasonCommLoss, Time: t0},
			want: `reading,area=罐区A,device=gds-1,kind=combustible_gas,site=cz-demo-01,tag=T101-LEL,unit=%LEL quality="bad",reason="comm_loss" ` + ts,
		},
		{
			name: "uncertain reading keeps its value",
			tag:  Tag{ID: "P1", Device: "d"},
			s:    Sample{Tag: "P1", Value: -0.125, Quality: Uncertain, Reason: ReasonSensorFault, Time: t0},
			want: `reading,device=d,site=site-param,tag=P1 quality="uncertain",reason="sensor_fault",value=-0.125 ` + ts,
		},
		{
			name: "unknown tag gets site and id only",
			s:    Sample{Tag: "X9", Value: 1, Time: t0},
			want: `reading,site=site-param,tag=X9 quality="good",value=1 ` + ts,
		},
		{
			name: "separators in tag values are escaped",
			tag:  Tag{Area: "Tank farm, A=1", Device: `C:\`, Unit: `a\,b`},
			s:    Sample{Tag: "t 1", Value: 1e21, Time: t0},
			want: `reading,area=Tank\ farm\,\ A\=1,device=C:/,site=site-param,tag=t\ 1,unit=a/\,b quality="good",value=1e+21 ` + ts,
		},
		{
			name: "NaN has no line-protocol form",
			s:    Sample{Tag: "X", Value: math.NaN(), Time: t0},
			want: `reading,site=site-param,tag=X quality="good" ` + ts,
		},
		{
			name: "quotes and line breaks in reason",
			s:    Sample{Tag: "X", Quality: Bad, Reason: "say \"hi\"\\\nbye", Time: t0},
			want: `reading,site=site-param,tag=X quality="bad",reason="say \"hi\"\\ bye" ` + ts,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b batchBuilder
			b.addSample(&tt.s, &tt.tag, "site-param", 0)
			got := b.finish()
			if got.points != 1 {
				t.Errorf("points = %d, want 1", got.points)
			}
			if got.body != tt.want+"\n" {
				t.Errorf("line\n got %s want %s", got.body, tt.want+"\n")
			}
		})
	}
}

func TestBatchBuilderPoint(t *testing.T) {
	def := t0.Add(time.Hour)
	tests := []struct {
		name string
		p    *write.Point
		want string // "" means not written
	}{
		{
			name: "alarm point",
			p: write.NewPoint("alarm",
				map[string]string{"site": "s", "tag": "T101-LEL", "rule": "lel-level-1", "severity": "medium", "class": ""},
				map[string]any{"id": "a1", "state": "active_unacked", "value": 26.5, "seq": 7, "count": uint64(3), "acked": false},
				t0),
			want: `alarm,rule=lel-level-1,severity=medium,site=s,tag=T101-LEL acked=false,count=3i,id="a1",seq=7i,state="active_unacked",value=26.5 ` +
				strconv.FormatInt(t0.UnixNano(), 10),
		},
		{
			name: "no time takes the enqueue time",
			p:    write.NewPointWithMeasurement("self").AddField("up", true),
			want: `self up=true ` + strconv.FormatInt(def.UnixNano(), 10),
		},
		{
			name: "NaN field is skipped",
			p:    write.NewPointWithMeasurement("m").AddField("a", math.Inf(1)).AddField("b", 2.0).SetTime(t0),
			want: `m b=2 ` + strconv.FormatInt(t0.UnixNano(), 10),
		},
		{
			name: "no writable field",
			p:    write.NewPointWithMeasurement("m").AddField("a", math.NaN()).SetTime(t0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b batchBuilder
			ok := b.addPoint(tt.p, def)
			if ok != (tt.want != "") {
				t.Fatalf("addPoint = %v, want %v", ok, tt.want != "")
			}
			got := b.finish()
			if tt.want == "" {
				if got != nil {
					t.Errorf("wrote %q, want nothing", got.body)
				}
				return
			}
			if got.body != tt.want+"\n" {
				t.Errorf("line\n got %s want %s", got.body, tt.want+"\n")
			}
		})
	}
}

// FuzzBatchBuilderTagValue checks that no tag value, however odd, breaks the
// line structure: one bad line would get a whole batch rejected.
func FuzzBatchBuilderTagValue(f *testing.F) {
	for _, s := range []string{"罐区A", "a b", "a,b", "a=b", `a\`, `a\ b`, `\\,`, "a\nb", "\f\t\v\x7f", `"q"`, ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, area, reason string) {
		s := Sample{Tag: "T1", Value: 3.5, Quality: Uncertain, Reason: reason, Time: t0}
		tag := Tag{Area: area}
		var b batchBuilder
		b.addSample(&s, &tag, "site", 0)
		body := b.finish().body
		if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
			t.Fatalf("not exactly one line: %q", body)
		}
		ms, err := lp.NewParser(lp.NewMetricHandler()).Parse([]byte(body))
		if err != nil {
			t.Fatalf("parse %q: %v", body, err)
		}
		if len(ms) != 1 {
			t.Fatalf("parse %q: %d metrics", body, len(ms))
		}
		m := ms[0]
		if m.Name() != "reading" || !m.Time().Equal(t0) {
			t.Fatalf("parse %q: name %q time %v", body, m.Name(), m.Time())
		}
		tags := map[string]string{}
		for _, tg := range m.TagList() {
			tags[tg.Key] = tg.Value
		}
		if tags["tag"] != "T1" || tags["site"] != "site" {
			t.Fatalf("parse %q: tags %v", body, tags)
		}
		fields := map[string]any{}
		for _, fl := range m.FieldList() {
			fields[fl.Key] = fl.Value
		}
		if fields["value"] != 3.5 || fields["quality"] != "uncertain" {
			t.Fatalf("parse %q: fields %v", body, fields)
		}
		// Values without backslashes or control characters come back unchanged.
		if !strings.ContainsFunc(area, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) && tags["area"] != area {
			t.Errorf("area %q came back as %q", area, tags["area"])
		}
		if !strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) && reason != "" && fields["reason"] != reason {
			t.Errorf("reason %q came back as %q", reason, fields["reason"])
		}
	})
}

// fakeInflux is an in-process stand-in for /api/v2/write.
type fakeInflux struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []fakeRequest
	// status answers the n-th request (0-based); nil means 204 always.
	status func(n int) int
	// retryAfter is sent with error answers; errMsg, if set, is the error
	// in InfluxDB 1.8's form.
	retryAfter string
	errMsg     string
}

type fakeRequest struct {
	status int
	at     time.Time
	gzip   bool
	query  url.Values
	auth   string
	lines  []string
}

func newFakeInflux(t *testing.T, status func(n int) int) *fakeInflux {
	f := &fakeInflux{status: status}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeInflux) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/write" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	gz := r.Header.Get("Content-Encoding") == "gzip"
	if gz {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	status := http.StatusNoContent
	if f.status != nil {
		status = f.status(len(f.requests))
	}
	f.requests = append(f.requests, fakeRequest{
		status: status, at: time.Now(), gzip: gz, query: r.URL.Query(), auth: r.Header.Get("Authorization"),
		lines: strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n"),
	})
	f.mu.Unlock()
	if status >= 400 {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		if f.errMsg != "" {
			w.Header().Set("X-Influxdb-Error", f.errMsg)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":%q}`, f.errMsg)
			return
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":"test","message":"fake status %d"}`, status)
		return
	}
	w.WriteHeader(status)
}

// accepted returns the requests answered 2xx.
func (f *fakeInflux) accepted() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if r.status < 300 {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeInflux) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// values returns the value field of every accepted line, in order.
func (f *fakeInflux) values(t *testing.T) []float64 {
	t.Helper()
	var out []float64
	for _, r := range f.accepted() {
		for _, l := range r.lines {
			_, after, ok := strings.Cut(l, ",value=")
			if !ok {
				t.Fatalf("line without value: %s", l)
			}
			v, err := strconv.ParseFloat(strings.Fields(after)[0], 64)
			if err != nil {
				t.Fatalf("line %s: %v", l, err)
			}
			out = append(out, v)
		}
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startSink runs a sink on url; tune adjusts it before Run. The returned
// stop cancels Run and waits for it.
func startSink(t *testing.T, rawURL string, opts InfluxOptions, tune func(*InfluxSink)) (*InfluxSink, func()) {
	t.Helper()
	opts.URL = rawURL
	if opts.Bucket == "" {
		opts.Bucket = "hazgate/autogen"
	}
	reg := NewRegistry()
	if err := reg.Add(testTag); err != nil {
		t.Fatal(err)
	}
	s, err := NewInfluxSink(opts, "cz-demo-01", reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.backoffMin = 5 * time.Millisecond
	s.backoffMax = 20 * time.Millisecond
	if tune != nil {
		tune(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func samples(from, n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{Tag: "T101-LEL", Value: float64(from + i), Time: t0.Add(time.Duration(from+i) * time.Second)}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantValues(t *testing.T, got []float64, ranges ...[2]int) {
	t.Helper()
	var want []float64
	for _, r := range ranges {
		for v := r[0]; v < r[1]; v++ {
			want = append(want, float64(v))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("values written\n got %v\nwant %v", got, want)
	}
}

func TestInfluxSinkWritesGzippedLineProtocol(t *testing.T) {
	for _, level := range []int{0, 9} { // the default (fastest), the smallest
		t.Run(fmt.Sprintf("gzip_level=%d", level), func(t *testing.T) { testWritesGzipped(t, level) })
	}
	if _, err := NewInfluxSink(InfluxOptions{URL: "http://127.0.0.1:1", Bucket: "b", GzipLevel: 10}, "s", nil, nil); err == nil ||
		!strings.Contains(err.Error(), "gzip level 10") {
		t.Errorf("gzip level 10: %v, want an error naming it", err)
	}
}

func testWritesGzipped(t *testing.T, level int) {
	f := newFakeInflux(t, nil)
	s, stop := startSink(t, f.srv.URL, InfluxOptions{Token: "user:pass", Bucket: "hazgate/autogen", FlushInterval: 10 * time.Millisecond, GzipLevel: level}, nil)

	s.Consume(context.Background(), []Sample{
		{Tag: "T101-LEL", Value: 12.5, Time: t0},
		{Tag: "T101-LEL", Value: 0, Quality: Bad, Reason: ReasonCommLoss, Time: t0.Add(time.Second)},
	})
	s.WritePoint(write.NewPoint("alarm", map[string]string{"tag": "T101-LEL"}, map[string]any{"state": "active_unacked"}, t0.Add(2*time.Second)))
	waitFor(t, "3 points written", func() bool { return s.Stats().PointsWritten == 3 })
	stop()

	reqs := f.accepted()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1 batch", len(reqs))
	}
	r := reqs[0]
	if !r.gzip {
		t.Error("body not gzipped")
	}
	if r.auth != "Token user:pass" {
		t.Errorf("Authorization = %q", r.auth)
	}
	if got := r.query.Get("bucket"); got != "hazgate/autogen" {
		t.Errorf("bucket = %q", got)
	}
	if got := r.query.Get("precision"); got != "ns" {
		t.Errorf("precision = %q", got)
	}
	tags := `reading,area=罐区A,device=gds-1,kind=combustible_gas,site=cz-demo-01,tag=T101-LEL,unit=%LEL`
	want := []string{
		tags + ` quality="good",value=12.5 ` + strconv.FormatInt(t0.UnixNano(), 10),
		tags + ` quality="bad",reason="comm_loss" ` + strconv.FormatInt(t0.Add(time.Second).UnixNano(), 10),
		`alarm,tag=T101-LEL state="active_unacked" ` + strconv.FormatInt(t0.Add(2*time.Second).UnixNano(), 10),
	}
	if strings.Join(r.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("body\n got %s\nwant %s", strings.Join(r.lines, "\n"), strings.Join(want, "\n"))
	}
	st := s.Stats()
	if st.BatchesWritten != 1 || st.WriteErrors != 0 || st.PointsDropped != 0 || st.QueueLength != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestInfluxSinkBatchesBySize(t *testing.T) {
	f := newFakeInflux(t, nil)
	// An hour-long flush interval: only size may send before shutdown.
	s, stop := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 10, FlushInterval: time.Hour}, nil)
	for i := 0; i < 25; i += 5 {
		s.Consume(context.Background(), samples(i, 5))
	}
	waitFor(t, "two full batches", func() bool { return s.Stats().BatchesWritten == 2 })
	// The 5 points of the unfilled batch wait.
	waitFor(t, "queue length 5", func() bool { return s.Stats().QueueLength == 5 })
	stop() // shutdown flushes the partial batch

	reqs := f.accepted()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, want := range []int{10, 10, 5} {
		if len(reqs[i].lines) != want {
			t.Errorf("batch %d has %d lines, want %d", i, len(reqs[i].lines), want)
		}
	}
	wantValues(t, f.values(t), [2]int{0, 25})
	if st := s.Stats(); st.PointsWritten != 25 || st.BatchesWritten != 3 || st.QueueLength != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestInfluxSinkBatchesByAge(t *testing.T) {
	f := newFakeInflux(t, nil)
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 1000, FlushInterval: 20 * time.Millisecond}, nil)
	s.Consume(context.Background(), samples(0, 3))
	waitFor(t, "a batch by age", func() bool { return len(f.accepted()) == 1 })
	s.Consume(context.Background(), samples(3, 2))
	waitFor(t, "a second batch by age", func() bool { return len(f.accepted()) == 2 })

	reqs := f.accepted()
	if len(reqs[0].lines) != 3 || len(reqs[1].lines) != 2 {
		t.Errorf("batches of %d and %d lines, want 3 and 2", len(reqs[0].lines), len(reqs[1].lines))
	}
	wantValues(t, f.values(t), [2]int{0, 5})
}

func TestInfluxSinkRetriesAfter503(t *testing.T) {
	f := newFakeInflux(t, func(n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 5, FlushInterval: time.Hour}, nil)
	s.Consume(context.Background(), samples(0, 5))
	waitFor(t, "a failed attempt", func() bool { return s.Stats().WriteErrors >= 1 })
	s.Consume(context.Background(), samples(5, 5)) // waits behind the failing batch
	waitFor(t, "10 points written", func() bool { return s.Stats().PointsWritten == 10 })

	wantValues(t, f.values(t), [2]int{0, 10}) // in order, each once
	if st := s.Stats(); st.WriteErrors != 3 || st.BatchesWritten != 2 || st.PointsDropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestInfluxSinkDropsRejectedBatch(t *testing.T) {
	f := newFakeInflux(t, func(n int) int {
		if n == 0 {
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 5, FlushInterval: time.Hour}, nil)
	s.Consume(context.Background(), samples(0, 10))
	waitFor(t, "second batch written", func() bool { return s.Stats().PointsWritten == 5 })

	wantValues(t, f.values(t), [2]int{5, 10})
	if st := s.Stats(); st.PointsRejected != 5 || st.PointsDropped != 5 || st.WriteErrors != 1 || f.count() != 2 {
		t.Errorf("stats %+v after %d requests; want the 400 batch dropped, not retried", st, f.count())
	}
}

// TestPendingBatchesHeldGzipped: a batch the batcher cuts waits for the
// writer gzipped, at a fraction of its line protocol, and reads back whole
// (for the spool and the dead-letter file).
func TestPendingBatchesHeldGzipped(t *testing.T) {
	s, err := NewInfluxSink(InfluxOptions{URL: "http://127.0.0.1:1", Bucket: "hazgate/autogen"}, "cz-demo-01", nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.client.Close()
	s.Consume(context.Background(), samples(0, 1000))
	var b batchBuilder
	s.encode(&b, s.take(nil))
	raw := b.sb.String()
	s.cut(&b)
	lb := s.popPending()
	if lb == nil || lb.points != 1000 || lb.body != "" || len(lb.gz) == 0 || len(lb.gz) > len(raw)/5 {
		t.Fatalf("pending batch: %+v; want 1000 points held gzipped in under a fifth of the %d raw bytes", lb, len(raw))
	}
	if got, err := lb.raw(); err != nil || got != raw {
		t.Errorf("read back %d bytes (%v), want the %d raw", len(got), err, len(raw))
	}
}

func TestInfluxSinkMemoryBoundDropsOldest(t *testing.T) {
	var mu sync.Mutex
	up := false
	f := newFakeInflux(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	s, _ := startSink(t, f.srv.URL, InfluxOptions{BatchSize: 10, FlushInterval: time.Hour},
		func(s *InfluxSink) { s.maxPendingPoints = 30 })
	s.Consume(context.Background(), samples(0, 10))
	waitFor(t, "first batch failing", func() bool { return s.Stats().WriteErrors >= 1 })
	for i := 10; i < 100; i += 10 {
		s.Consume(context.Background(), samples(i, 10))
	}
	waitFor(t, "60 points dropped", func() bool { return s.Stats().PointsDropped == 60 })
	if st := s.Stats(); st.QueueLength != 40 {
		t.Errorf("queue length %d, want 40 (the batch being retried and 30 pending)", st.QueueLength)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	waitFor(t, "40 points written", func() bool { return s.Stats().PointsWritten == 40 })

	// The batch in flight and the newest 30 survive, in order.
	wantValues(t, f.values(t), [2]int{0, 10}, [2]int{70, 100})
}

func TestInfluxSinkDoesNotBlockWhenDown(t *testing.T) {
	// A port nobody listens on: connection refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()

	const total = 100_000
	s, stop := startSink(t, deadURL, InfluxOptions{BatchSize: 100},
		func(s *InfluxSink) { s.maxPendingPoints = 1000 })
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for i := 0; i < total; i += 1000 {
			s.Consume(context.Background(), samples(i, 1000))
		}
	}()
	select {
	case <-consumed:
	case <-time.After(20 * time.Second):
		t.Fatal("Consume blocked while InfluxDB is down")
	}
	waitFor(t, "every point queued or dropped", func() bool {
		st := s.Stats()
		// At most the memory bound and the batch being retried stay queued.
		return st.QueueLength+int(st.PointsDropped) == total && st.QueueLength <= 1000+100 && st.WriteErrors > 0
	})
	if st := s.Stats(); st.PointsWritten != 0 {
		t.Errorf("stats %+v: want nothing written", st)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Error("Check of a dead InfluxDB returned no error")
	}
	stop()
	if st := s.Stats(); st.PointsDropped != total || st.QueueLength != 0 {
		t.Errorf("after shutdown %+v: want every point counted as dropped", st)
	}
	s.Consume(context.Background(), samples(0, 3))
	if st := s.Stats(); st.PointsDropped != total+3 || st.QueueLength != 0 {
		t.Errorf("Consume after Run returned: %+v, want 3 more dropped", st)
	}
}

func TestNewInfluxSinkRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts InfluxOptions
		want string
	}{
		{"no scheme", InfluxOptions{URL: "127.0.0.1:8086", Bucket: "b"}, "influxdb url"},
		{"no host", InfluxOptions{URL: "http:///x", Bucket: "b"}, "want http"},
		{"ftp", InfluxOptions{URL: "ftp://h:1", Bucket: "b"}, "want http"},
		{"unparsable", InfluxOptions{URL: "http://[::1", Bucket: "b"}, "influxdb url"},
		{"no bucket", InfluxOptions{URL: "http://127.0.0.1:8086"}, "bucket"},
		{"negative batch", InfluxOptions{URL: "http://127.0.0.1:8086", Bucket: "b", BatchSize: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewInfluxSink(tt.opts, "s", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	s, err := NewInfluxSink(InfluxOptions{URL: "http://127.0.0.1:1", Bucket: "b"}, "s", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.BatchSize != DefaultInfluxBatchSize || s.opts.FlushInterval != DefaultInfluxFlushInterval || s.opts.Timeout != DefaultInfluxTimeout {
		t.Errorf("defaults not applied: %+v", s.opts)
	}
}

func TestClassifyWriteError(t *testing.T) {
	status := func(code int, retryAfter uint) error {
		return fmt.Errorf("wrapped: %w", &influxhttp.Error{StatusCode: code, RetryAfter: retryAfter})
	}
	tests := []struct {
		name       string
		err        error
		want       writeFailure
		retryAfter time.Duration
	}{
		{"connection refused", influxhttp.NewError(errors.New("connect: connection refused")), writeRetry, 0},
		{"timeout", context.DeadlineExceeded, writeRetry, 0},
		{"503", status(503, 0), writeRetry, 0},
		{"429 with Retry-After", status(429, 7), writeRetry, 7 * time.Second},
		{"500", status(500, 0), writeRetry, 0},
		{"400 field type conflict", status(400, 0), writeRejected, 0},
		{"413 too large", status(413, 0), writeRejected, 0},
		{"401", status(401, 0), writeRefused, 0},
		{"403", status(403, 0), writeRefused, 0},
		{"404 database not found", status(404, 0), writeRefused, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ra := classifyWriteError(tt.err)
			if got != tt.want || ra != tt.retryAfter {
				t.Errorf("got %v, %v; want %v, %v", got, ra, tt.want, tt.retryAfter)
			}
		})
	}
}

// benchSink is a sink for the benchmarks, with 100 tags T000-LEL... and an
// address nothing answers on.
func benchSink(b *testing.B) *InfluxSink {
	b.Helper()
	reg := NewRegistry()
	for i := range 100 {
		t := testTag
		t.ID = fmt.Sprintf("T%03d-LEL", i)
		if err := reg.Add(t); err != nil {
			b.Fatal(err)
		}
	}
	s, err := NewInfluxSink(InfluxOptions{URL: "http://127.0.0.1:1", Bucket: "b"}, "s", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkInfluxConsume measures the pipeline-side cost (Consume) plus the
// batcher's conversion to line protocol, without the network.
func BenchmarkInfluxConsume(b *testing.B) {
	s := benchSink(b)
	batch := make([]Sample, 100)
	for i := range batch {
		batch[i] = Sample{Tag: fmt.Sprintf("T%03d-LEL", i), Value: 12.3 + float64(i), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	var (
		bb    batchBuilder
		spare []queued
		bytes int
	)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Consume(ctx, batch)
		items := s.take(spare)
		version := s.tagsVersion()
		for j := range items {
			s.addReading(&bb, &items[j].s, version)
		}
		spare = items[:0]
		if bb.points >= DefaultInfluxBatchSize {
			bytes += len(bb.finish().body)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "points/s")
	if bytes == 0 && b.N > 50 {
		b.Fatal("no batch finished")
	}
}

// BenchmarkLineProtocol encodes a full batch of readings (as the batcher
// does: series keys cached while the registry is unchanged) and finishes
// its body; ns/op
// is per batch of DefaultInfluxBatchSize points.
func BenchmarkLineProtocol(b *testing.B) {
	s := benchSink(b)
	items := make([]queued, DefaultInfluxBatchSize)
	for i := range items {
		items[i].s = Sample{Tag: fmt.Sprintf("T%03d-LEL", i%100), Value: 12.3 + float64(i%100), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	var bb batchBuilder
	b.ReportAllocs()
	for b.Loop() {
		version := s.tagsVersion()
		for j := range items {
			s.addReading(&bb, &items[j].s, version)
		}
		if lb := bb.finish(); lb == nil || lb.points != len(items) {
			b.Fatal("no batch")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/point")
}

// countingLookup counts lookups of the registry it wraps.
type countingLookup struct {
	*Registry
	n int
}

func (c *countingLookup) Lookup(id string) (Tag, bool) { c.n++; return c.Registry.Lookup(id) }

// TestSeriesKeyFollowsRegistry: a tag's series key is reused without a
// lookup while the registry is unchanged, and a change (here a recalled tag
// claimed by its device with today's metadata) reaches the next line.
func TestSeriesKeyFollowsRegistry(t *testing.T) {
	reg := &countingLookup{Registry: NewRegistry()}
	old := Tag{ID: "PT-101", Device: "plc1", Kind: "pipe_pressure", Unit: "kPa"}
	reg.Recall(old)
	s, err := NewInfluxSink(InfluxOptions{URL: "http://127.0.0.1:1", Bucket: "b"}, "s1", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var b batchBuilder
	line := func(sec int) string {
		t.Helper()
		s.addReading(&b, &Sample{Tag: "PT-101", Value: 1, Time: t0.Add(time.Duration(sec) * time.Second)}, s.tagsVersion())
		return b.finish().body
	}
	steps := []struct {
		change  func()
		lookups int
		unit    string
	}{
		{nil, 1, "unit=kPa"},
		{nil, 0, "unit=kPa"},
		{func() {
			now := old
			now.Unit = "MPa"
			if err := reg.Add(now); err != nil {
				t.Fatal(err)
			}
		}, 1, "unit=MPa"},
		{nil, 0, "unit=MPa"},
		{func() { // a new tag learns nothing of PT-101 either
			if err := reg.Add(Tag{ID: "PT-102", Device: "plc1"}); err != nil {
				t.Fatal(err)
			}
		}, 0, "unit=MPa"},
	}
	for i, st := range steps {
		if st.change != nil {
			st.change()
		}
		reg.n = 0
		got := line(i)
		if reg.n != st.lookups || !strings.Contains(got, st.unit) {
			t.Errorf("step %d: %d lookups, line %q; want %d lookups and %s", i, reg.n, got, st.lookups, st.unit)
		}
	}

	// A reading of a tag not yet registered is written without metadata,
	// and once the tag is registered its next line has it.
	unknown := func() string {
		s.addReading(&b, &Sample{Tag: "PT-103", Value: 1, Time: t0}, s.tagsVersion())
		return b.finish().body
	}
	if got := unknown(); strings.Contains(got, "unit=") {
		t.Fatalf("unregistered tag's line %q has a unit", got)
	}
	if err := reg.Add(Tag{ID: "PT-103", Device: "plc1", Unit: "kPa"}); err != nil {
		t.Fatal(err)
	}
	if got := unknown(); !strings.Contains(got, "unit=kPa") {
		t.Errorf("after registering, line %q, want unit=kPa", got)
	}
}
