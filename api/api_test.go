package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"hazgate/alerting"
	"hazgate/alerting/hub"
	"hazgate/alerting/kpi"
	"hazgate/collector"
	"hazgate/config"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// fakeAlarms is an in-memory alarm store and engine.
type fakeAlarms struct {
	mu          sync.Mutex
	alarms      map[int64]alerting.Alarm
	lastQ       alerting.AlarmFilter
	lastHistory alerting.HistoryFilter
	lastKPI     [2]time.Time
	ackedBy     string
	err         error // returned by every call when set
}

func newFakeAlarms(alarms ...alerting.Alarm) *fakeAlarms {
	f := &fakeAlarms{alarms: map[int64]alerting.Alarm{}}
	for _, a := range alarms {
		f.alarms[a.ID] = a
	}
	return f
}

func (f *fakeAlarms) List(_ context.Context, q alerting.AlarmFilter) ([]alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastQ = q
	if f.err != nil {
		return nil, f.err
	}
	var out []alerting.Alarm // nil when nothing matches: the API must still say []
	for _, a := range f.alarms {
		if q.OpenOnly && !a.State.Open() {
			continue
		}
		if len(q.States) > 0 && !slices.Contains(q.States, a.State) {
			continue
		}
		if q.Tag != "" && a.Tag != q.Tag {
			continue
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeAlarms) Get(_ context.Context, id int64) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return alerting.Alarm{}, f.err
	}
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("alarm %d: %w", id, alerting.ErrNotFound)
	}
	return a, nil
}

func (f *fakeAlarms) Ack(_ context.Context, id int64, user string) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return alerting.Alarm{}, f.err
	}
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("alarm %d: %w", id, alerting.ErrNotFound)
	}
	switch a.State {
	case alerting.ActiveUnacked:
		a.State = alerting.ActiveAcked
	case alerting.ClearedUnacked:
		a.State = alerting.Normal
	default:
		return a, fmt.Errorf("alarm %d is %s: %w", id, a.State, alerting.ErrWrongState)
	}
	at := t0.Add(time.Minute)
	a.AckedAt, a.AckedBy = &at, user
	f.alarms[id] = a
	f.ackedBy = user
	return a, nil
}

func (f *fakeAlarms) AckWithComment(ctx context.Context, id int64, user, comment string) (alerting.Alarm, error) {
	a, err := f.Ack(ctx, id, user)
	if err == nil {
		f.mu.Lock()
		a.AckComment = comment
		f.alarms[id] = a
		f.mu.Unlock()
	}
	return a, err
}

func (f *fakeAlarms) Dispose(_ context.Context, id int64, user string, d alerting.Disposal) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("dispose of alarm %d: %w", id, alerting.ErrNotFound)
	}
	if !a.State.Open() {
		return a, fmt.Errorf("dispose of alarm %d: %w", id, alerting.ErrWrongState)
	}
	d.By = user
	a.Disposal = &d
	f.alarms[id] = a
	return a, nil
}

// Shelve and Unshelve return the engine's own errors, as the engine does
// when passed to Options.Control directly.
func (f *fakeAlarms) Shelve(_ context.Context, id int64, user, reason string, until time.Time) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return alerting.Alarm{}, f.err
	}
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("shelve: alarm %d: %w", id, alerting.ErrNotFound)
	}
	if !a.State.Open() {
		return a, fmt.Errorf("shelve alarm %d: %w", id, alerting.ErrWrongState)
	}
	a.State, a.ShelvedBy, a.ShelveReason, a.ShelvedUntil = alerting.Shelved, user, reason, &until
	f.alarms[id] = a
	return a, nil
}

func (f *fakeAlarms) RemoveFromService(_ context.Context, id int64, user, reason string) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("remove from service: alarm %d: %w", id, alerting.ErrNotFound)
	}
	if !a.State.Open() {
		return a, fmt.Errorf("remove from service alarm %d: %w", id, alerting.ErrWrongState)
	}
	a.State, a.ShelvedBy, a.ShelveReason, a.ShelvedUntil = alerting.OutOfService, user, reason, nil
	f.alarms[id] = a
	return a, nil
}

func (f *fakeAlarms) Unshelve(_ context.Context, id int64, user string) (alerting.Alarm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alarms[id]
	if !ok {
		return a, fmt.Errorf("unshelve: alarm %d: %w", id, alerting.ErrNotFound)
	}
	if !a.State.Suppressed() && id != 1 { // alarm 1 stands for a shelved one in the role tests
		return a, fmt.Errorf("unshelve alarm %d: %w", id, alerting.ErrWrongState)
	}
	a.State, a.ShelvedBy, a.ShelvedUntil = alerting.ActiveUnacked, "", nil
	f.alarms[id] = a
	return a, nil
}

func (f *fakeAlarms) History(_ context.Context, h alerting.HistoryFilter) ([]alerting.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastHistory = h
	if f.err != nil {
		return nil, f.err
	}
	var out []alerting.Event // nil: the API must still say []
	for _, a := range f.alarms {
		if (h.Tag == "" || a.Tag == h.Tag) && (h.Class == "" || a.Class == h.Class) {
			out = append(out, alerting.Event{Seq: a.ID, Type: alerting.EventRaised, Time: a.RaisedAt, Alarm: a})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func (f *fakeAlarms) KPI(_ context.Context, site string, from, to time.Time) (kpi.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastKPI = [2]time.Time{from, to}
	if f.err != nil {
		return kpi.Report{}, f.err
	}
	return kpi.Report{From: from, To: to, Alarms: len(f.alarms), TopSources: []kpi.SourceCount{}}, nil
}

func (f *fakeAlarms) LastSeq(context.Context) (int64, error) { return 0, nil }

// fakeReloader counts reloads and fails with err when set.
type fakeReloader struct {
	n   int
	err error
}

func (f *fakeReloader) Reload(context.Context) error {
	f.n++
	return f.err
}

func testAlarms() []alerting.Alarm {
	cleared := t0.Add(30 * time.Second)
	acked := t0.Add(20 * time.Second)
	return []alerting.Alarm{
		{ID: 1, Site: "cz-demo-01", Tag: "T101-LEL", Rule: "lel-level-1", Class: "lel-level-1",
			Severity: alerting.SeverityMedium, State: alerting.ActiveUnacked, Value: 31.5, Peak: 31.5, RaisedAt: t0},
		{ID: 2, Site: "cz-demo-01", Tag: "T102-LEL", Rule: "comm_loss", Class: alerting.ClassCommLoss,
			Severity: alerting.SeverityHigh, State: alerting.ActiveAcked, RaisedAt: t0, AckedAt: &acked, AckedBy: "ctrl-room"},
		{ID: 3, Site: "cz-demo-01", Tag: "T101-LEL", Rule: "lel-level-2", Class: "lel-level-2",
			Severity: alerting.SeverityHigh, State: alerting.ClearedUnacked, Value: 12, Peak: 55, RaisedAt: t0, ClearedAt: &cleared},
		{ID: 4, Site: "cz-demo-01", Tag: "T103-LEL", Rule: "lel-level-1", Class: "lel-level-1",
			Severity: alerting.SeverityMedium, State: alerting.Normal, RaisedAt: t0, AckedAt: &acked, ClearedAt: &cleared},
	}
}

func testTags(t testing.TB) *collector.Registry {
	t.Helper()
	reg := collector.NewRegistry()
	for _, tg := range []collector.Tag{
		{ID: "T101-LEL", Name: "1号罐区可燃气体", Site: "cz-demo-01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
		{ID: "T102-LEL", Name: "2号罐区可燃气体", Site: "cz-demo-01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
	} {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func testLatest() *collector.Latest {
	l := collector.NewLatest()
	l.Update([]collector.Sample{
		{Tag: "T102-LEL", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Value: 7, Time: t0},
		{Tag: "T101-LEL", Quality: collector.Good, Value: 12.5, Time: t0},
		{Tag: "X-UNREGISTERED", Quality: collector.Uncertain, Value: 3, Time: t0},
	})
	return l
}

// Tokens of the role tests; one per role.
var testTokens = []config.Token{
	{Name: "watcher", Role: "viewer", Token: "viewer-token-0123456789"},
	{Name: "ctrl-room", Role: "operator", Token: "operator-token-0123456789"},
	{Name: "checker", Role: "verifier", Token: "verifier-token-0123456789"},
	{Name: "bureau", Role: "regulator", Token: "regulator-token-0123456789"},
	{Name: "root", Role: "admin", Token: "admin-token-0123456789"},
}

func tokenOf(role Role) string {
	for _, t := range testTokens {
		if Role(t.Role) == role {
			return t.Token
		}
	}
	panic("no token for role " + role)
}

type fixture struct {
	h        *API
	alarms   *fakeAlarms
	reloader *fakeReloader
	logBuf   *bytes.Buffer
	journal  *alerting.Journal
	bus      *alerting.Bus // the stream's feed
	hub      *hub.Store    // a real hub store, empty until a test fills it
	ingest   *hub.Ingest   // the hub's ingest on it, for commands and the live stream
}

func newFixture(t *testing.T, tokens []config.Token) *fixture {
	t.Helper()
	return newFixtureWith(t, tokens, nil)
}

// newFixtureWith is newFixture with more options set by with, if not nil.
func newFixtureWith(t *testing.T, tokens []config.Token, with func(*Options)) *fixture {
	t.Helper()
	f := &fixture{alarms: newFakeAlarms(testAlarms()...), reloader: &fakeReloader{}, logBuf: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: f.logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The stream needs a real bus: its subscriptions come from a journal.
	j, err := alerting.OpenJournal(context.Background(), filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	hist := collector.NewHistory(0, 0)
	hist.Consume(context.Background(), []collector.Sample{{Tag: "T101-LEL", Value: 12.5, Time: time.Now().Add(-time.Minute)}})
	f.journal, f.bus = j, alerting.NewBus(j, nil)
	f.hub = openHubStore(t)
	hubIngest, err := hub.New(config.Hub{TopicPrefix: "hazgate", MaxPayload: 1 << 20}, hub.Options{Store: f.hub, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.ingest = hubIngest
	opts := Options{Site: "cz-demo-01", Latest: testLatest(), Tags: testTags(t),
		Alarms: f.alarms, Control: f.alarms, History: f.alarms, KPIs: f.alarms, Shift: fakeShift{}, Forward: newFakeForward(), UITD: &fakeUITD{}, Hazards: newFakeHazards(),
		AlarmFeed: f.bus, Points: MemoryHistory(hist), Limits: testLimits, Reload: f.reloader, Hub: f.hub, HubControl: hubIngest, HubLive: hubIngest.Live(), HubTrends: trendsOf{MemoryHistory(hist)},
		Tokens: tokens, Log: log}
	if with != nil {
		with(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// trendsOf serves every site's trends from one history, for routes that
// only need an answer.
type trendsOf struct{ h PointHistory }

func (t trendsOf) ForSite(string) PointHistory { return t.h }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends a request; token "" sends no Authorization header. A POST to a
// route that needs a body gets a valid one.
func (f *fixture) do(t *testing.T, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	body := ""
	switch {
	case strings.HasSuffix(path, "/shelve"):
		body = `{"minutes": 60, "reason": "maintenance"}`
	case strings.HasSuffix(path, "/dispose"):
		body = `{"cause": "leak", "measures": "关闭阀门"}`
	case strings.HasSuffix(path, "/out-of-service"):
		body = `{"reason": "detector recalibration"}`
	case strings.HasSuffix(path, "/return-to-service"):
		// Only an out-of-service alarm returns: take it out first.
		var id int64
		fmt.Sscanf(strings.TrimPrefix(path, "/api/v1/alarms/"), "%d", &id)
		if _, err := f.alarms.RemoveFromService(context.Background(), id, "admin", "maintenance"); err != nil {
			t.Fatal(err)
		}
	case strings.HasSuffix(path, "/transition"):
		body = `{"to": "in_progress"}`
	case strings.HasSuffix(path, "/supervise"):
		body = `{"note": "挂牌督办"}`
	case method == http.MethodPost && path == "/api/v1/hazards":
		body = `{"description": "消防通道堵塞", "level": "一般隐患", "area": "厂区", "days": 3, "person": "张三"}`
	}
	return f.doBody(t, method, path, token, body)
}

func (f *fixture) doBody(t *testing.T, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	asJSON(req)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasPrefix(path, streamPath) || strings.HasPrefix(path, "/api/v1/hub/stream") {
		// The stream runs until its client leaves: leave soon.
		ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// asJSON marks a state-changing request as JSON, as every client must
// (guardWrites); reads are left alone.
func asJSON(req *http.Request) *http.Request {
	if !safeMethod(req.Method) {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// concrete turns a route pattern into a path that exists (alarm 1 is
// active_unacked, so ack succeeds; T101-LEL has history).
func concrete(pattern string) string {
	return strings.NewReplacer("{id}", "1", "{tag}", "T101-LEL", "{site}", "nj-01").Replace(pattern)
}

var notSuppressed = []alerting.State{alerting.SuppressedByDesign}

func TestRoutesByRole(t *testing.T) {
	callers := []struct {
		name  string
		token string
		role  Role // empty: not authenticated
	}{
		{"no token", "", ""},
		{"wrong token", "not-a-configured-token", ""},
		{"viewer", tokenOf(RoleViewer), RoleViewer},
		{"operator", tokenOf(RoleOperator), RoleOperator},
		{"verifier", tokenOf(RoleVerifier), RoleVerifier},
		{"regulator", tokenOf(RoleRegulator), RoleRegulator},
		{"admin", tokenOf(RoleAdmin), RoleAdmin},
	}
	// The expectations spelled out, so a change to grants shows up here.
	wantRead := map[Role]int{RoleViewer: 200, RoleOperator: 200, RoleVerifier: 200, RoleRegulator: 200, RoleAdmin: 200}
	wantAck := map[Role]int{RoleViewer: 403, RoleOperator: 200, RoleVerifier: 403, RoleRegulator: 403, RoleAdmin: 200}
	wantDispose := map[Role]int{RoleViewer: 403, RoleOperator: 200, RoleVerifier: 403, RoleRegulator: 403, RoleAdmin: 200}
	wantHazardWork := map[Role]int{RoleViewer: 403, RoleOperator: 200, RoleVerifier: 200, RoleRegulator: 403, RoleAdmin: 200}
	wantSupervise := map[Role]int{RoleViewer: 403, RoleOperator: 403, RoleVerifier: 403, RoleRegulator: 200, RoleAdmin: 200}
	wantHazardCreate := map[Role]int{RoleViewer: 403, RoleOperator: 200, RoleVerifier: 200, RoleRegulator: 403, RoleAdmin: 200}
	wantAdmin := map[Role]int{RoleViewer: 403, RoleOperator: 403, RoleVerifier: 403, RoleRegulator: 403, RoleAdmin: 200}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.pattern+"/"+c.name, func(t *testing.T) {
				f := newFixture(t, testTokens)
				rec := f.do(t, rt.method, concrete(rt.pattern), c.token)
				want := 401
				if c.role != "" {
					switch rt.perm {
					case PermRead:
						want = wantRead[c.role]
					case PermAck:
						want = wantAck[c.role]
					case PermDispose:
						want = wantDispose[c.role]
					case PermHazardWork:
						want = wantHazardWork[c.role]
					case PermSupervise:
						want = wantSupervise[c.role]
					case PermHazardCreate:
						want = wantHazardCreate[c.role]
					case PermAdmin:
						want = wantAdmin[c.role]
					default:
						t.Fatalf("route %s %s: permission %q has no expectations in this test", rt.method, rt.pattern, rt.perm)
					}
				}
				if rec.Code != want {
					t.Fatalf("status %d, want %d; body %s", rec.Code, want, rec.Body)
				}
				if want == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", rec.Header().Get("WWW-Authenticate"))
				}
				if want != 200 {
					assertErrorBody(t, rec)
				}
			})
		}
	}
}

// TestRouteTableIsComplete keeps every routed endpoint in the routes table,
// so TestRoutesByRole cannot miss one.
func TestRouteTableIsComplete(t *testing.T) {
	f := newFixture(t, testTokens)
	var got []string
	err := chi.Walk(f.h.mux, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		got = append(got, method+" "+pattern)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /healthz", "GET /", "GET " + consolePath + "*"}
	for _, rt := range routes {
		want = append(want, rt.method+" "+rt.pattern)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("router has %v, routes table + /healthz has %v", got, want)
	}
}

func TestEveryRoleIsGranted(t *testing.T) {
	perms := []Permission{PermRead, PermAck, PermHazardWork, PermRectify, PermVerify, PermSupervise, PermHazardCreate, PermAdmin}
	for _, p := range perms {
		if !RoleAdmin.Can(p) {
			t.Errorf("admin lacks %q", p)
		}
	}
	if Role("intruder").Can(PermRead) {
		t.Error("unknown role may read")
	}
}

func assertErrorBody(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if msg, _ := body["error"].(string); msg == "" || len(body) != 1 {
		t.Errorf("error body %q, want {\"error\": \"...\"}", rec.Body)
	}
}

func TestHealthzIsOpen(t *testing.T) {
	for _, tokens := range [][]config.Token{nil, testTokens} {
		f := newFixture(t, tokens)
		rec := f.do(t, http.MethodGet, "/healthz", "")
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
			t.Errorf("tokens=%d: /healthz = %d %q", len(tokens), rec.Code, rec.Body)
		}
	}
}

func TestUnauthenticatedMode(t *testing.T) {
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
			f := newFixture(t, nil)
			if rec := f.do(t, rt.method, concrete(rt.pattern), ""); rec.Code != 200 {
				t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
			}
		})
	}
	f := newFixture(t, nil)
	f.do(t, http.MethodPost, "/api/v1/alarms/1/ack", "")
	if f.alarms.ackedBy != "local" {
		t.Errorf("unauthenticated ack by %q, want local", f.alarms.ackedBy)
	}
}

func TestAckRecordsTokenName(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodPost, "/api/v1/alarms/1/ack", tokenOf(RoleOperator))
	if rec.Code != 200 {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	if f.alarms.ackedBy != "ctrl-room" {
		t.Errorf("acked by %q, want ctrl-room", f.alarms.ackedBy)
	}
	var a alerting.Alarm
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != 1 || a.State != alerting.ActiveAcked || a.AckedBy != "ctrl-room" || a.AckedAt == nil {
		t.Errorf("ack answered %+v", a)
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		path   string
		status int
		state  alerting.State // after, when 200
	}{
		{"/api/v1/alarms/1/ack", 200, alerting.ActiveAcked},
		{"/api/v1/alarms/3/ack", 200, alerting.Normal},
		{"/api/v1/alarms/2/ack", 409, ""}, // already acked
		{"/api/v1/alarms/4/ack", 409, ""}, // closed
		{"/api/v1/alarms/99/ack", 404, ""},
		{"/api/v1/alarms/abc/ack", 400, ""},
		{"/api/v1/alarms/0/ack", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFixture(t, testTokens)
			rec := f.do(t, http.MethodPost, tt.path, tokenOf(RoleOperator))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				assertErrorBody(t, rec)
				return
			}
			var a alerting.Alarm
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if a.State != tt.state {
				t.Errorf("state %q, want %q", a.State, tt.state)
			}
		})
	}
}

func TestAlarmGet(t *testing.T) {
	tests := []struct {
		path   string
		status int
	}{
		{"/api/v1/alarms/3", 200},
		{"/api/v1/alarms/4", 200}, // closed alarms stay readable
		{"/api/v1/alarms/99", 404},
		{"/api/v1/alarms/x", 400},
		{"/api/v1/alarms/-1", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFixture(t, testTokens)
			rec := f.do(t, http.MethodGet, tt.path, tokenOf(RoleViewer))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				assertErrorBody(t, rec)
			}
		})
	}
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/alarms/3", tokenOf(RoleViewer))
	var a alerting.Alarm
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if want := testAlarms()[2]; a.ID != want.ID || a.Peak != want.Peak || a.ClearedAt == nil || !a.ClearedAt.Equal(*want.ClearedAt) {
		t.Errorf("got %+v, want %+v", a, want)
	}
}

func TestAlarmJSONShape(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/alarms", tokenOf(RoleViewer))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var list []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("default list has %d alarms, want the 3 open ones: %s", len(list), rec.Body)
	}
	for _, k := range []string{"id", "tag", "rule", "class", "severity", "state", "value", "raised_at", "acked_at", "cleared_at"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("alarm JSON lacks %q: %v", k, list[0])
		}
	}
	first := list[0]
	if first["id"] != 1.0 || first["tag"] != "T101-LEL" || first["state"] != "active_unacked" ||
		first["severity"] != "medium" || first["value"] != 31.5 || first["acked_at"] != nil ||
		first["raised_at"] != t0.Format(time.RFC3339) {
		t.Errorf("alarm 1 as JSON: %v", first)
	}
}

func TestAlarmFilter(t *testing.T) {
	tests := []struct {
		query  string
		status int
		want   alerting.AlarmFilter
		ids    []int64
	}{
		{"", 200, alerting.AlarmFilter{OpenOnly: true, NotStates: notSuppressed}, []int64{1, 2, 3}},
		{"?state=active_unacked", 200, alerting.AlarmFilter{States: []alerting.State{"active_unacked"}, NotStates: notSuppressed}, []int64{1}},
		{"?state=active_unacked,cleared_unacked", 200,
			alerting.AlarmFilter{States: []alerting.State{"active_unacked", "cleared_unacked"}, NotStates: notSuppressed}, []int64{1, 3}},
		{"?state=active_acked&state=normal", 200,
			alerting.AlarmFilter{States: []alerting.State{"active_acked", "normal"}, NotStates: notSuppressed}, []int64{2, 4}},
		{"?state=active_unacked,,active_unacked", 200, alerting.AlarmFilter{States: []alerting.State{"active_unacked"}, NotStates: notSuppressed}, []int64{1}},
		{"?all=1", 200, alerting.AlarmFilter{NotStates: notSuppressed}, []int64{1, 2, 3, 4}},
		{"?all=0", 200, alerting.AlarmFilter{OpenOnly: true, NotStates: notSuppressed}, []int64{1, 2, 3}},
		{"?all=1&tag=T101-LEL&limit=10", 200, alerting.AlarmFilter{Tag: "T101-LEL", Limit: 10, NotStates: notSuppressed}, []int64{1, 3}},
		{"?state=suppressed_by_design", 200, alerting.AlarmFilter{States: []alerting.State{"suppressed_by_design"}}, nil},
		{"?suppressed=1&limit=5&offset=5", 200, alerting.AlarmFilter{OpenOnly: true, Limit: 10}, []int64{}},
		{"?sort=loudest", 400, alerting.AlarmFilter{}, nil},
		{"?severity=urgent", 400, alerting.AlarmFilter{}, nil},
		{"?offset=-1", 400, alerting.AlarmFilter{}, nil},
		{"?state=cleared_acked", 400, alerting.AlarmFilter{}, nil},
		{"?state=active_unacked,bogus", 400, alerting.AlarmFilter{}, nil},
		{"?all=maybe", 400, alerting.AlarmFilter{}, nil},
		{"?limit=0", 400, alerting.AlarmFilter{}, nil},
		{"?limit=ten", 400, alerting.AlarmFilter{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			f := newFixture(t, testTokens)
			rec := f.do(t, http.MethodGet, "/api/v1/alarms"+tt.query, tokenOf(RoleViewer))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				assertErrorBody(t, rec)
				if strings.Contains(tt.query, "state=") && !strings.Contains(rec.Body.String(), "active_unacked, active_acked") {
					t.Errorf("bad state message does not list the states: %s", rec.Body)
				}
				return
			}
			if !reflect.DeepEqual(f.alarms.lastQ, tt.want) {
				t.Errorf("store asked %+v, want %+v", f.alarms.lastQ, tt.want)
			}
			var list []alerting.Alarm
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, a := range list {
				ids = append(ids, a.ID)
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("ids %v, want %v", ids, tt.ids)
			}
		})
	}
}

func TestPointsJSONShape(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/points/latest", tokenOf(RoleViewer))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	ts := t0.Format(time.RFC3339)
	want := []map[string]any{
		{"tag": "T101-LEL", "value": 12.5, "quality": "good", "time": ts,
			"unit": "%LEL", "kind": "combustible_gas", "area": "罐区A", "device": "gds-1", "name": "1号罐区可燃气体"},
		// Bad: no value, whatever the sample carried, and the reason why.
		{"tag": "T102-LEL", "value": nil, "quality": "bad", "reason": "comm_loss", "time": ts,
			"unit": "%LEL", "kind": "combustible_gas", "area": "罐区A", "device": "gds-1", "name": "2号罐区可燃气体"},
		// Not in the registry: shown without metadata.
		{"tag": "X-UNREGISTERED", "value": 3.0, "quality": "uncertain", "time": ts,
			"unit": "", "kind": "", "area": "", "device": "", "name": ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("points\n got %v\nwant %v", got, want)
	}
}

func TestPointsNonFiniteValueIsNull(t *testing.T) {
	l := collector.NewLatest()
	l.Update([]collector.Sample{
		{Tag: "A", Quality: collector.Good, Value: math.NaN(), Time: t0},
		{Tag: "B", Quality: collector.Uncertain, Value: math.Inf(1), Time: t0},
	})
	fa := newFakeAlarms()
	h, err := New(Options{Latest: l, Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/points/latest", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got []Point
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != nil || got[1].Value != nil {
		t.Errorf("non-finite values not null: %s", rec.Body)
	}
}

func TestTagsJSON(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/tags", tokenOf(RoleViewer))
	var got []collector.Tag
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "T101-LEL" || got[0].Area != "罐区A" || got[1].Device != "gds-1" {
		t.Errorf("tags: %s", rec.Body)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	fa := newFakeAlarms()
	h, err := New(Options{Latest: collector.NewLatest(), Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/points/latest", "/api/v1/alarms", "/api/v1/alarms?state=normal", "/api/v1/tags"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("%s = %d %q, want 200 []", path, rec.Code, rec.Body)
		}
	}
}

func TestStoreErrorIs500WithoutDetail(t *testing.T) {
	f := newFixture(t, testTokens)
	f.alarms.err = errors.New("sqlite: disk I/O error at /var/lib/hazgate/alarms.db")
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/alarms"},
		{http.MethodGet, "/api/v1/alarms/1"},
		{http.MethodPost, "/api/v1/alarms/1/ack"},
	} {
		rec := f.do(t, c.method, c.path, tokenOf(RoleAdmin))
		if rec.Code != 500 {
			t.Errorf("%s %s = %d, want 500", c.method, c.path, rec.Code)
		}
		assertErrorBody(t, rec)
		if strings.Contains(rec.Body.String(), "sqlite") {
			t.Errorf("%s %s leaks the store error: %s", c.method, c.path, rec.Body)
		}
	}
	if !strings.Contains(f.logBuf.String(), "disk I/O error") {
		t.Error("store error not logged")
	}
}

type panickyLatest struct{}

func (panickyLatest) All() []collector.Sample { panic("boom") }

func TestPanicIs500(t *testing.T) {
	fa := newFakeAlarms()
	var logBuf bytes.Buffer
	h, err := New(Options{Latest: panickyLatest{}, Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa,
		Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/points/latest", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	assertErrorBody(t, rec)
	if !strings.Contains(logBuf.String(), "boom") {
		t.Errorf("panic not logged: %s", logBuf.String())
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do(t, http.MethodGet, "/api/v1/nope", "")
	if rec.Code != 404 {
		t.Errorf("unknown path: %d", rec.Code)
	}
	assertErrorBody(t, rec)
	rec = f.do(t, http.MethodDelete, "/api/v1/alarms/1", "")
	if rec.Code != 405 {
		t.Errorf("DELETE alarm: %d", rec.Code)
	}
	assertErrorBody(t, rec)
	if got := rec.Header().Get("Allow"); got != "GET" {
		t.Errorf("Allow %q, want GET", got)
	}
}

func TestRequestIDEchoed(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do(t, http.MethodGet, "/healthz", "")
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id in response")
	}
}

func TestBearerHeaderParsing(t *testing.T) {
	tok := tokenOf(RoleViewer)
	tests := []struct {
		header string
		status int
	}{
		{"Bearer " + tok, 200},
		{"bearer " + tok, 200},
		{"BEARER  " + tok + " ", 200},
		{"Basic " + tok, 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{tok, 401},
		{"Bearer " + tok + "x", 401},
		{"Bearer " + tok[:len(tok)-1], 401},
	}
	f := newFixture(t, testTokens)
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/tags", nil)
		req.Header.Set("Authorization", tt.header)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("Authorization %q: %d, want %d", tt.header, rec.Code, tt.status)
		}
	}
}

func TestTokensNeverLogged(t *testing.T) {
	f := newFixture(t, testTokens)
	wrong := "wrong-token-that-must-not-be-logged"
	f.do(t, http.MethodGet, "/api/v1/alarms", wrong)
	for _, tk := range testTokens {
		f.do(t, http.MethodGet, "/api/v1/alarms", tk.Token)
		f.do(t, http.MethodPost, "/api/v1/alarms/1/ack", tk.Token)
	}
	logs := f.logBuf.String()
	if !strings.Contains(logs, "api: request") || !strings.Contains(logs, "user=ctrl-room") {
		t.Fatalf("access log missing or without user: %s", logs)
	}
	for _, s := range append([]string{wrong}, tokenValues()...) {
		if strings.Contains(logs, s) {
			t.Errorf("log contains token %q", s)
		}
	}
}

func tokenValues() []string {
	var out []string
	for _, t := range testTokens {
		out = append(out, t.Token)
	}
	return out
}

func TestMatchFindsEachToken(t *testing.T) {
	a, err := newAuthenticator(testTokens, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range testTokens {
		p, ok := a.match(tk.Token)
		if !ok || p.Name != tk.Name || string(p.Role) != tk.Role {
			t.Errorf("match(%s) = %+v, %v", tk.Name, p, ok)
		}
	}
	if _, ok := a.match(""); ok {
		t.Error("empty token matched")
	}
}

func TestNewRejects(t *testing.T) {
	fa := newFakeAlarms()
	ok := Options{Latest: collector.NewLatest(), Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa}
	with := func(tokens ...config.Token) Options { o := ok; o.Tokens = tokens; return o }
	tests := []struct {
		name string
		opts Options
		want string // in the error
	}{
		{"missing deps", Options{}, "Latest, Tags, Alarms, Control, History"},
		{"empty token", with(config.Token{Name: "a", Role: "viewer"}), `http.tokens[0] ("a"): empty token`},
		{"empty name", with(config.Token{Role: "viewer", Token: "t1-0123456789abcdef"}), "http.tokens[0]: empty name"},
		{"duplicate token", with(
			config.Token{Name: "a", Role: "viewer", Token: "same-0123456789abcdef"},
			config.Token{Name: "b", Role: "admin", Token: "same-0123456789abcdef"}), `same token as "a"`},
		{"duplicate name", with(
			config.Token{Name: "a", Role: "viewer", Token: "t1-0123456789abcdef"},
			config.Token{Name: "a", Role: "viewer", Token: "t2-0123456789abcdef"}), "duplicate name"},
		{"unknown role", with(config.Token{Name: "a", Role: "god", Token: "t1-0123456789abcdef"}), `unknown role "god"`},
		{"whitespace", with(config.Token{Name: "a", Role: "viewer", Token: "t1-0123456789abcdef\n"}), "whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
			for _, tk := range tt.opts.Tokens {
				if tk.Token != "" && strings.Contains(err.Error(), strings.TrimSpace(tk.Token)) {
					t.Errorf("error reveals the token: %v", err)
				}
			}
		})
	}
}

func TestEmptyRoleIsViewer(t *testing.T) {
	fa := newFakeAlarms(testAlarms()...)
	h, err := New(Options{Latest: collector.NewLatest(), Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa,
		Tokens: []config.Token{{Name: "a", Token: "token-a-0123456789"}}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/api/v1/alarms": 200, "/api/v1/alarms/1/ack": 403} {
		method := http.MethodGet
		if strings.HasSuffix(path, "/ack") {
			method = http.MethodPost
		}
		req := asJSON(httptest.NewRequest(method, path, nil))
		req.Header.Set("Authorization", "Bearer token-a-0123456789")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s %s = %d, want %d", method, path, rec.Code, want)
		}
	}
}
