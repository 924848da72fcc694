package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/collector"
	"hazgate/config"
)

// streamFixture serves the API over real HTTP on a real journal, bus and
// hazard engine (the engineFixture's two records).
type streamFixture struct {
	*engineFixture
	j   *alerting.Journal
	bus *alerting.Bus
	srv *httptest.Server
	h   http.Handler
	n   int // alarms raised, for unique rule names
}

func newStreamFixture(t testing.TB, heartbeat time.Duration) *streamFixture {
	t.Helper()
	ef := newEngineFixture(t)
	f := &streamFixture{engineFixture: ef, j: ef.journal}
	f.bus = alerting.NewBus(f.j, nil)
	fa := newFakeAlarms()
	h, err := New(Options{Site: "cz-demo-01", Latest: testLatest(), Tags: testTags(t), Alarms: fa, Control: fa, History: f.j,
		Hazards: ef.eng, AlarmFeed: f.bus, HazardFeed: ef.eng, Heartbeat: heartbeat, Tokens: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// raise commits and publishes an alarm event, as the engine does.
func (f *streamFixture) raise(t testing.TB, tag, severity string) alerting.Event {
	t.Helper()
	f.n++ // one open alarm per tag and rule: each raise is its own rule
	a := alerting.Alarm{Site: "cz-demo-01", Tag: tag, Rule: fmt.Sprintf("r%d-%s", f.n, severity), Class: "lel", Severity: severity,
		State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: time.Now()}
	ev, err := f.j.Commit(context.Background(), alerting.EventRaised, a, a.RaisedAt)
	if err != nil {
		t.Fatal(err)
	}
	f.bus.Publish(ev)
	return ev
}

type sseEvent struct {
	id, event, data string
	comment         bool
}

type sseClient struct {
	resp *http.Response
	sc   *bufio.Scanner
	ch   chan sseEvent
}

// connect opens the stream; lastID "" sends no Last-Event-ID.
func (f *streamFixture) connect(t testing.TB, query, lastID string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+streamPath+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleViewer))
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{resp: resp, sc: bufio.NewScanner(resp.Body), ch: make(chan sseEvent, 1024)}
	go func() {
		defer close(c.ch)
		var ev sseEvent
		for c.sc.Scan() {
			line := c.sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					c.ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				c.ch <- sseEvent{comment: true, data: line}
			default:
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "id":
					ev.id = v
				case "event":
					ev.event = v
				case "data":
					ev.data = v
				}
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() { c.resp.Body.Close() }

// next returns the next event that is not a comment.
func (c *sseClient) next(t testing.TB) sseEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.ch:
			if !ok {
				t.Fatal("stream closed")
			}
			if !ev.comment {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 5 s")
		}
	}
}

// seqOf decodes an alarm or hazard event's journal seq.
func seqOf(t testing.TB, ev sseEvent) int64 {
	t.Helper()
	var v struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil || v.Seq == 0 {
		t.Fatalf("event %s %q: %v", ev.event, ev.data, err)
	}
	return v.Seq
}

func TestStreamResumesWithLastEventID(t *testing.T) {
	f := newStreamFixture(t, time.Hour)
	ctx := context.Background()
	operator := hazard.Actor{Name: "ctrl-room", Rectify: true}

	c := f.connect(t, "", "")
	ready := c.next(t)
	if ready.event != "ready" {
		t.Fatalf("first event %+v, want ready", ready)
	}
	start, err := ParseCursor(ready.id)
	if err != nil {
		t.Fatal(err)
	}
	alarmStart, _ := f.j.LastSeq(ctx)
	hazardStart, _ := f.eng.LastSeq(ctx)
	if start.Alarm != alarmStart || start.Hazard != hazardStart || alarmStart == 0 || hazardStart == 0 {
		t.Fatalf("start cursor %v, want a%d.h%d (live only)", start, alarmStart, hazardStart)
	}

	// Before the disconnect: two alarms and a hazard change.
	f.raise(t, "T101-LEL", alerting.SeverityHigh)
	f.raise(t, "T102-LEL", alerting.SeverityMedium)
	if _, err := f.eng.Transition(ctx, f.general, operator, hazard.TransitionRequest{To: hazard.InProgress}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{"alarm": alarmStart, "hazard": hazardStart}
	var lastID string
	for range 3 {
		ev := c.next(t)
		s := seqOf(t, ev)
		if s != seen[ev.event]+1 {
			t.Fatalf("%s seq %d after %d", ev.event, s, seen[ev.event])
		}
		seen[ev.event] = s
		lastID = ev.id
	}
	if want := (Cursor{Alarm: seen["alarm"], Hazard: seen["hazard"]}).String(); lastID != want {
		t.Fatalf("last id %q, want %q", lastID, want)
	}
	c.close()

	// While disconnected: more of both.
	for range 5 {
		f.raise(t, "T101-LEL", alerting.SeverityLow)
	}
	if _, err := f.eng.Transition(ctx, f.general, operator, hazard.TransitionRequest{To: hazard.PendingVerification, Comment: "阀门已更换"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Supervise(ctx, f.major, hazard.Actor{Name: "bureau", Supervise: true}, hazard.SuperviseRequest{Note: "挂牌督办"}); err != nil {
		t.Fatal(err)
	}

	c2 := f.connect(t, "", lastID)
	if ev := c2.next(t); ev.event != "ready" || ev.id != lastID {
		t.Fatalf("resumed ready %+v, want id %s", ev, lastID)
	}
	// Live while the replay may still be running.
	f.raise(t, "T102-LEL", alerting.SeverityCritical)
	counts := map[string]int{}
	for range 5 + 2 + 1 {
		ev := c2.next(t)
		s := seqOf(t, ev)
		if s != seen[ev.event]+1 {
			t.Fatalf("%s seq %d after %d: a gap or a duplicate", ev.event, s, seen[ev.event])
		}
		seen[ev.event] = s
		counts[ev.event]++
		if want := (Cursor{Alarm: seen["alarm"], Hazard: seen["hazard"]}).String(); ev.id != want {
			t.Fatalf("event id %q, want %q", ev.id, want)
		}
	}
	if counts["alarm"] != 6 || counts["hazard"] != 2 {
		t.Fatalf("after resume: %v, want 6 alarm and 2 hazard events", counts)
	}
	lastAlarm, _ := f.j.LastSeq(ctx)
	lastHazard, _ := f.eng.LastSeq(ctx)
	if seen["alarm"] != lastAlarm || seen["hazard"] != lastHazard {
		t.Fatalf("saw up to %v, journals end at a%d.h%d", seen, lastAlarm, lastHazard)
	}
	select {
	case ev := <-c2.ch:
		if !ev.comment {
			t.Fatalf("extra event %+v", ev)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStreamFiltersAndHeartbeat(t *testing.T) {
	f := newStreamFixture(t, 30*time.Millisecond)
	c := f.connect(t, "?severity=high,critical&kind=alarm", "")
	c.next(t) // ready
	f.raise(t, "T101-LEL", alerting.SeverityLow)
	high := f.raise(t, "T101-LEL", alerting.SeverityHigh)
	ev := c.next(t)
	var got alerting.Event
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
		t.Fatal(err)
	}
	if ev.event != "alarm" || got.Alarm.Severity != alerting.SeverityHigh || got.Seq != high.Seq || !strings.HasPrefix(ev.id, fmt.Sprintf("a%d.", high.Seq)) {
		t.Fatalf("filtered stream gave %+v (%+v)", ev, got)
	}
	// A filtered-out event moves the id on the next heartbeat, so a
	// reconnect does not read it again.
	medium := f.raise(t, "T101-LEL", alerting.SeverityMedium)
	deadline := time.After(5 * time.Second)
	var idMoved, pinged bool
	for !idMoved || !pinged {
		select {
		case ev := <-c.ch:
			switch {
			case ev.comment && ev.data == ": ping":
				pinged = true
			case ev.id != "" && ev.event == "" && strings.HasPrefix(ev.id, fmt.Sprintf("a%d.", medium.Seq)):
				idMoved = true
			case !ev.comment:
				t.Fatalf("unexpected %+v", ev)
			}
		case <-deadline:
			t.Fatalf("id moved %v, pinged %v", idMoved, pinged)
		}
	}
}

func TestStreamRejects(t *testing.T) {
	f := newFixture(t, testTokens)
	for _, q := range []string{"?kind=metrics", "?severity=urgent", "?after=17", "?after=a1.hx"} {
		rec := f.do(t, http.MethodGet, streamPath+q, tokenOf(RoleViewer))
		if rec.Code != 400 {
			t.Errorf("%s: %d %s, want 400", q, rec.Code, rec.Body)
		}
		assertErrorBody(t, rec)
	}
}

func TestParseCursor(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Cursor
		ok   bool
	}{
		{"a17.h4", Cursor{17, 4}, true},
		{" a0.h0 ", Cursor{}, true},
		{"a17", Cursor{}, false},
		{"h4.a17", Cursor{}, false},
		{"a-1.h2", Cursor{}, false},
		{"a99999999999999999999.h1", Cursor{}, false},
	} {
		got, err := ParseCursor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseCursor(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != strings.TrimSpace(tt.in) {
			t.Errorf("round trip %q -> %q", tt.in, got.String())
		}
	}
}

// BenchmarkStreamFanout measures one alarm event committed, published and
// read by N stream clients over loopback HTTP.
func BenchmarkStreamFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			f := newStreamFixture(b, time.Hour)
			clients := make([]*sseClient, n)
			for i := range clients {
				clients[i] = f.connect(b, "", "")
				clients[i].next(b) // ready
			}
			for b.Loop() {
				f.raise(b, "T101-LEL", alerting.SeverityHigh)
				for _, c := range clients {
					c.next(b)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// TestStreamCarriesOverdue: a record passing its deadline reaches the live
// stream as a hazard event of type overdue.
func TestStreamCarriesOverdue(t *testing.T) {
	f := newStreamFixture(t, time.Hour)
	c := f.connect(t, "?kind=hazard", "")
	if ev := c.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	g, err := f.eng.Get(context.Background(), f.major)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Tick(context.Background(), g.Deadline.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the 一般隐患's deadline has passed too
		ev := c.next(t)
		var he hazard.Event
		if err := json.Unmarshal([]byte(ev.data), &he); err != nil || ev.event != "hazard" || he.Type != hazard.EventOverdue || !he.Hazard.Overdue {
			t.Fatalf("event %+v (%v), want a hazard overdue", ev, err)
		}
	}
}

// countingWriter is a ResponseWriter that keeps what was written and
// counts flushes, safe to read while the handler writes.
type countingWriter struct {
	mu      sync.Mutex
	header  http.Header
	body    strings.Builder
	flushes int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.Write(b)
}
func (w *countingWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
}

func (w *countingWriter) count(s string) (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.body.String(), s), w.flushes
}

// TestStreamWritesABacklogTogether: events already waiting go to the
// client in a few writes, not a write and flush each (a flood of a
// thousand alarms was a thousand flushes).
func TestStreamWritesABacklogTogether(t *testing.T) {
	f := newStreamFixture(t, time.Hour)
	const n = 500
	for i := range n {
		a := alerting.Alarm{Site: "cz-demo-01", Tag: fmt.Sprintf("GT-%03d", i), Rule: "lel", Class: "lel", Severity: "high",
			State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: time.Now()}
		if _, err := f.j.Commit(context.Background(), alerting.EventRaised, a, a.RaisedAt); err != nil {
			t.Fatal(err)
		}
	}
	want, err := f.j.LastSeq(context.Background()) // the fixture's own alarms too
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, streamPath, nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleViewer))
	req.Header.Set("Last-Event-ID", "a0.h0") // the whole journal, waiting
	w := &countingWriter{header: http.Header{}}
	done := make(chan struct{})
	go func() { defer close(done); f.h.ServeHTTP(w, req) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, flushes := w.count("event: alarm\n")
		if int64(got) == want {
			if flushes > n/8 {
				t.Errorf("%d alarm events in %d flushes, want a few", got, flushes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alarm events written in 10 s", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestStreamCarriesDisposalAndEscalation: the engine's own escalation of an
// alarm left unacknowledged, and the disposal an operator files, reach the
// live stream as alarm events with what changed.
func TestStreamCarriesDisposalAndEscalation(t *testing.T) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	reg := collector.NewRegistry()
	for _, tg := range roomTags {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	bus := alerting.NewBus(j, nil)
	eng, err := alerting.NewEngine("s1", roomRules, reg, j, bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng.SetHandling(config.AlarmHandling{Escalate: map[string]time.Duration{alerting.SeverityHigh: time.Minute}})
	h, err := New(Options{Site: "s1", Latest: collector.NewLatest(), Tags: reg, Alarms: j, Control: eng, History: j,
		AlarmFeed: bus, Heartbeat: time.Hour, Tokens: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	f := &streamFixture{srv: httptest.NewServer(h)}
	t.Cleanup(f.srv.Close)
	c := f.connect(t, "?kind=alarm", "")
	if ev := c.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	next := func(want string) alerting.Event {
		t.Helper()
		ev := c.next(t)
		var ae alerting.Event
		if err := json.Unmarshal([]byte(ev.data), &ae); err != nil || ev.event != "alarm" || ae.Type != want {
			t.Fatalf("event %+v (%v), want alarm %s", ev, err, want)
		}
		return ae
	}
	t0 := time.Now()
	eng.Consume(ctx, []collector.Sample{{Tag: "GT-101", Value: 30, Time: t0}}) // level 1: high
	raised := next(alerting.EventRaised)
	if raised.Alarm.Severity != alerting.SeverityHigh {
		t.Fatalf("raised %+v, want high", raised.Alarm)
	}
	eng.Tick(ctx, t0.Add(2*time.Minute))
	if esc := next(alerting.EventEscalated); esc.Alarm.ID != raised.Alarm.ID || esc.Alarm.Severity != alerting.SeverityCritical ||
		esc.Alarm.Escalations != 1 || esc.Alarm.EscalatedAt == nil {
		t.Errorf("escalated %+v, want alarm %d critical, escalated once", esc.Alarm, raised.Alarm.ID)
	}
	if _, err := eng.Dispose(ctx, raised.Alarm.ID, "op1", alerting.Disposal{Cause: alerting.CauseLeak,
		Measures: "关闭根部阀", Person: "李班长", At: t0}); err != nil {
		t.Fatal(err)
	}
	disp := next(alerting.EventDisposed)
	if d := disp.Alarm.Disposal; disp.Alarm.ID != raised.Alarm.ID || disp.By != "op1" || d == nil || d.Cause != alerting.CauseLeak ||
		d.Measures != "关闭根部阀" || d.Person != "李班长" || d.By != "op1" {
		t.Errorf("disposed %+v by %q (disposal %+v)", disp.Alarm, disp.By, disp.Alarm.Disposal)
	}
}
