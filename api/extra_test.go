package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"hazgate/alerting"
	"hazgate/collector"
)

func TestFailedAuthIsRateLimitedPerClient(t *testing.T) {
	f := newFixture(t, testTokens)
	a := f.h
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	a.limiter.now = func() time.Time { return now }
	get := func(remote, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/tags", nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	const guesser, other = "192.0.2.7:40000", "192.0.2.8:40000"
	for i := range authFailBurst {
		if rec := get(guesser, "guess"); rec.Code != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, rec.Code)
		}
	}
	// Spent: a wrong token is refused from any port of that address; the
	// right one still passes (issue 14.4).
	rec := get("192.0.2.7:40001", "guess")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d (Retry-After %q), want 429", authFailBurst, rec.Code, rec.Header().Get("Retry-After"))
	}
	assertErrorBody(t, rec)
	if rec := get("192.0.2.7:40001", tokenOf(RoleViewer)); rec.Code != 200 {
		t.Fatalf("right token after %d failures: %d, want 200", authFailBurst, rec.Code)
	}
	// Another client is not affected, and a missing token is no guess.
	if rec := get(other, tokenOf(RoleViewer)); rec.Code != 200 {
		t.Fatalf("other client: %d", rec.Code)
	}
	for range 3 * authFailBurst {
		get(other, "")
	}
	if rec := get(other, tokenOf(RoleViewer)); rec.Code != 200 {
		t.Fatalf("other client after missing tokens: %d", rec.Code)
	}
	// One failure back per interval.
	now = now.Add(authFailInterval)
	if rec := get(guesser, tokenOf(RoleViewer)); rec.Code != 200 {
		t.Fatalf("after one interval: %d, want 200", rec.Code)
	}
	if rec := get(guesser, "guess"); rec.Code != 401 {
		t.Fatalf("one more guess: %d, want 401", rec.Code)
	}
	if rec := get(guesser, "guess"); rec.Code != 429 {
		t.Fatalf("second guess in the interval: %d, want 429", rec.Code)
	}
	if got := testutil.ToFloat64(a.metrics.authFailures.WithLabelValues("invalid")); got != authFailBurst+1 {
		t.Errorf("invalid-token failures counted %v, want %d", got, authFailBurst+1)
	}
}

func TestFailLimiterBoundsItsMemory(t *testing.T) {
	l := newFailLimiter(2, time.Second)
	for i := range maxLimitedClients + 10 {
		l.fail(strings.Repeat("x", i%7) + string(rune(i)))
	}
	if len(l.clients) > maxLimitedClients {
		t.Fatalf("%d clients kept", len(l.clients))
	}
}

// TestOpenAPIMatchesRouter keeps the OpenAPI document and the router in
// step: every routed method and path is documented, with a summary of its
// own, and nothing else is.
func TestOpenAPIMatchesRouter(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/openapi.json", tokenOf(RoleViewer))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var doc struct {
		OpenAPI string                                         `json:"openapi"`
		Paths   map[string]map[string]struct{ Summary string } `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for m, op := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+path)
			if op.Summary == "" || op.Summary == path {
				t.Errorf("%s %s has no summary of its own", m, path)
			}
		}
	}
	var routed []string
	err := chi.Walk(f.h.mux, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if pattern != "/" && !strings.HasPrefix(pattern, consolePath) { // the page, not the API
			routed = append(routed, method+" "+pattern)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("documented %v\nrouted     %v", documented, routed)
	}
	for k := range docs {
		if !slices.Contains(routed, k) {
			t.Errorf("docs has %q, which is not routed", k)
		}
	}
}

type fakeStats struct{}

func (fakeStats) Stats() alerting.Stats { return alerting.Stats{Raised: 7, Acked: 3} }
func (fakeStats) Lagged() uint64        { return 2 }
func (fakeStats) WriterStats() alerting.WriterStats {
	return alerting.WriterStats{Pending: 3, Groups: 40, Committed: 1200, LastGroup: 64}
}

type fakeInflux struct{}

func (fakeInflux) Stats() collector.InfluxStats {
	return collector.InfluxStats{PointsWritten: 1000, Down: true, SpoolBytes: 4096}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(AlarmCollector(fakeStats{}, fakeStats{}), InfluxCollector(fakeInflux{}), JournalCollector(fakeStats{}))
	fa := newFakeAlarms(testAlarms()...)
	h, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: fa, Control: fa, History: fa, Metrics: reg, Tokens: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf(RoleViewer))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	get("/api/v1/alarms/1")
	get("/api/v1/alarms/2")
	get("/api/v1/nothing")
	rec := get("/metrics")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{
		`hazgate_http_requests_total{code="200",method="GET",route="/api/v1/alarms/{id}"} 2`,
		`hazgate_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`hazgate_alarms_raised_total 7`,
		`hazgate_alarm_bus_lagged_total 2`,
		`hazgate_alarm_journal_pending 3`,
		`hazgate_alarm_journal_transitions_total 1200`,
		`hazgate_influx_points_written_total 1000`,
		`hazgate_influx_down 1`,
		`hazgate_spool_bytes 4096`,
		`hazgate_stream_clients 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// BenchmarkMetricsScrape is the cost of one /metrics answer with the
// gateway's own collectors and 30 routes' worth of HTTP series.
func BenchmarkMetricsScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(AlarmCollector(fakeStats{}, fakeStats{}), InfluxCollector(fakeInflux{}), JournalCollector(fakeStats{}))
	fa := newFakeAlarms(testAlarms()...)
	h, err := New(Options{Latest: testLatest(), Tags: testTags(b), Alarms: fa, Control: fa, History: fa, Metrics: reg})
	if err != nil {
		b.Fatal(err)
	}
	for _, rt := range routes {
		if rt.method == http.MethodGet && rt.pattern != streamPath {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, concrete(rt.pattern), nil))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func TestPointHistory(t *testing.T) {
	f := newFixture(t, testTokens)
	tests := []struct {
		path   string
		status int
		n      int
	}{
		{"/api/v1/points/T101-LEL/history", 200, 1},
		{"/api/v1/points/T101-LEL/history?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", 200, 0},
		{"/api/v1/points/T102-LEL/history", 200, 0},
		{"/api/v1/points/NOPE/history", 404, 0},
		{"/api/v1/points/T101-LEL/history?from=yesterday", 400, 0},
	}
	for _, tt := range tests {
		rec := f.do(t, http.MethodGet, tt.path, tokenOf(RoleViewer))
		if rec.Code != tt.status {
			t.Errorf("%s: %d %s", tt.path, rec.Code, rec.Body)
			continue
		}
		if tt.status != 200 {
			assertErrorBody(t, rec)
			continue
		}
		var pts []HistoryPoint
		if err := json.Unmarshal(rec.Body.Bytes(), &pts); err != nil || len(pts) != tt.n {
			t.Errorf("%s: %s (%v), want %d points", tt.path, rec.Body, err, tt.n)
		}
		if tt.n > 0 && (pts[0].Value == nil || *pts[0].Value != 12.5) {
			t.Errorf("%s: %s", tt.path, rec.Body)
		}
	}
}

func TestPointHistoryThinsLongSeries(t *testing.T) {
	hist := collector.NewHistory(3*maxHistoryPoints, 24*time.Hour)
	start := time.Now().Add(-30 * time.Minute)
	batch := make([]collector.Sample, 3*maxHistoryPoints)
	for i := range batch {
		batch[i] = collector.Sample{Tag: "T101-LEL", Value: float64(i), Time: start.Add(time.Duration(i) * time.Millisecond)}
	}
	hist.Consume(t.Context(), batch)
	fa := newFakeAlarms()
	h, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: fa, Control: fa, History: fa, Points: MemoryHistory(hist)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/points/T101-LEL/history", nil))
	var pts []HistoryPoint
	if err := json.Unmarshal(rec.Body.Bytes(), &pts); err != nil {
		t.Fatal(err)
	}
	if len(pts) != maxHistoryPoints || *pts[1].Value != 3 {
		t.Fatalf("%d points, second %v; want %d, every third", len(pts), *pts[1].Value, maxHistoryPoints)
	}
}

func TestAreas(t *testing.T) {
	reg := testTags(t)
	for _, tg := range []collector.Tag{
		{ID: "T201-LEL", Kind: "combustible_gas", Area: "装卸区"},
		{ID: "T301-LEL", Kind: "combustible_gas", Area: "泵房"},
		{ID: "T401-LEL", Kind: "combustible_gas", Area: "污水站"},
	} {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	fa := newFakeAlarms(
		alerting.Alarm{ID: 1, Tag: "T101-LEL", Rule: "lel", Level: alerting.LevelHH, Severity: "high", State: alerting.ActiveUnacked, Active: true},
		alerting.Alarm{ID: 2, Tag: "T201-LEL", Rule: "lel", Level: alerting.LevelH, Severity: "medium", State: alerting.ActiveAcked, Active: true},
		alerting.Alarm{ID: 3, Tag: "T301-LEL", Rule: alerting.ClassCommLoss, Class: alerting.ClassCommLoss, Severity: "high", State: alerting.ActiveUnacked, Active: true},
		alerting.Alarm{ID: 4, Tag: "T401-LEL", Rule: "lel", Level: alerting.LevelHH, Severity: "high", State: alerting.Shelved, Active: true},
	)
	h, err := New(Options{Latest: testLatest(), Tags: reg, Alarms: fa, Control: fa, History: fa, Hazards: newFakeHazards()})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/areas", nil))
	var got []alerting.Area
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	colours := map[string]string{}
	for _, a := range got {
		colours[a.Area] = a.Colour
	}
	want := map[string]string{"罐区A": alerting.ColourRed, "装卸区": alerting.ColourOrange, "泵房": alerting.ColourYellow, "污水站": alerting.ColourBlue}
	if len(got) != len(want) || got[0].Colour != alerting.ColourRed || got[len(got)-1].Colour != alerting.ColourBlue {
		t.Fatalf("areas %s", rec.Body)
	}
	for k, v := range want {
		if colours[k] != v {
			t.Errorf("%s: %s, want %s", k, colours[k], v)
		}
	}
}

func TestAreasColouredByHazards(t *testing.T) {
	f := newEngineFixture(t) // a 重大隐患 on T101-LEL (罐区A), a 一般隐患 on PT-1 (管廊), no alarms
	rec := f.do(t, http.MethodGet, "/api/v1/areas", RoleViewer, "")
	var got []alerting.Area
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []alerting.Area{
		{Area: "罐区A", Colour: alerting.ColourRed, OpenHazards: 1, MajorHazards: 1},
		{Area: "管廊", Colour: alerting.ColourYellow, OpenHazards: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("areas %s", rec.Body)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("area %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
