package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/collector"
)

// fakeHazards holds record 1 and accepts every change, recording the actor;
// the workflow's own refusals are tested against the real engine below.
type fakeHazards struct {
	mu    sync.Mutex
	actor hazard.Actor
}

func newFakeHazards() *fakeHazards { return &fakeHazards{} }

func (f *fakeHazards) record(id int64) (hazard.Hazard, error) {
	if id != 1 {
		return hazard.Hazard{}, fmt.Errorf("hazard %d: %w", id, hazard.ErrNotFound)
	}
	return hazard.Hazard{ID: 1, Number: "CZ-DEMO-01-20251122-0001", Level: hazard.LevelMajor, Status: hazard.Open}, nil
}

func (f *fakeHazards) List(context.Context, hazard.Filter) ([]hazard.Hazard, error) {
	h, _ := f.record(1)
	return []hazard.Hazard{h}, nil
}

func (f *fakeHazards) Get(_ context.Context, id int64) (hazard.Hazard, error) { return f.record(id) }

func (f *fakeHazards) History(_ context.Context, id int64) ([]hazard.Event, error) {
	_, err := f.record(id)
	return nil, err
}

func (f *fakeHazards) Transition(_ context.Context, id int64, a hazard.Actor, _ hazard.TransitionRequest) (hazard.Hazard, error) {
	f.mu.Lock()
	f.actor = a
	f.mu.Unlock()
	return f.record(id)
}

func (f *fakeHazards) Create(_ context.Context, a hazard.Actor, _ hazard.CreateRequest) (hazard.Hazard, error) {
	f.mu.Lock()
	f.actor = a
	f.mu.Unlock()
	return f.record(1)
}

func (f *fakeHazards) Supervise(_ context.Context, id int64, a hazard.Actor, _ hazard.SuperviseRequest) (hazard.Hazard, error) {
	f.mu.Lock()
	f.actor = a
	f.mu.Unlock()
	return f.record(id)
}

func TestHazardActorsFromRoles(t *testing.T) {
	want := map[Role]hazard.Actor{
		RoleOperator:  {Name: "ctrl-room", Rectify: true, Create: true},
		RoleVerifier:  {Name: "checker", Verify: true, Create: true},
		RoleRegulator: {Name: "bureau", Supervise: true},
		RoleAdmin:     {Name: "root", Rectify: true, Verify: true, Supervise: true, Create: true},
	}
	for role, w := range want {
		fh := newFakeHazards()
		h, err := New(Options{Latest: collector.NewLatest(), Tags: collector.NewRegistry(), Alarms: newFakeAlarms(),
			Control: newFakeAlarms(), History: newFakeAlarms(), Hazards: fh, Tokens: testTokens})
		if err != nil {
			t.Fatal(err)
		}
		path := "/api/v1/hazards/1/transition"
		body := `{"to": "in_progress"}`
		if role == RoleRegulator {
			path, body = "/api/v1/hazards/1/supervise", `{"note": "x"}`
		}
		req := asJSON(httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		req.Header.Set("Authorization", "Bearer "+tokenOf(role))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || fh.actor != w {
			t.Errorf("%s: %d, actor %+v, want %+v", role, rec.Code, fh.actor, w)
		}
	}
}

func TestHazardRoutesWithoutHazards(t *testing.T) {
	fa := newFakeAlarms()
	h, err := New(Options{Latest: collector.NewLatest(), Tags: collector.NewRegistry(), Alarms: fa, Control: fa, History: fa})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/hazards", nil))
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("status %d, want 501", rec.Code)
	}
}

// engineFixture is the API on a real hazard engine holding one 重大隐患
// (a gas detector silent for 24 h) and one 一般隐患 (pipe over-pressure).
type engineFixture struct {
	h       http.Handler
	journal *alerting.Journal
	eng     *hazard.Engine
	major   int64
	general int64
}

func newEngineFixture(t testing.TB) *engineFixture {
	t.Helper()
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	reg := testTags(t)
	if err := reg.Add(collector.Tag{ID: "PT-1", Site: "cz-demo-01", Kind: "pipe_pressure", Unit: "MPa", Area: "管廊"}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(25 * time.Hour)
	eng, err := hazard.NewEngine(ctx, j.DB(), hazard.Options{Site: "cz-demo-01", Unit: "演示化工有限公司", Tags: reg,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var evs []alerting.Event
	for _, a := range []alerting.Alarm{
		{Site: "cz-demo-01", Tag: "T101-LEL", Rule: "comm_loss", Class: alerting.ClassCommLoss, RaisedAt: t0},
		{Site: "cz-demo-01", Tag: "PT-1", Rule: "pipe", Level: alerting.LevelHH, Class: "pipe", Value: 1.8, RaisedAt: t0.Add(time.Hour)},
	} {
		a.Severity, a.State, a.Active, a.Count = alerting.SeverityHigh, alerting.ActiveUnacked, true, 1
		ev, err := j.Commit(ctx, alerting.EventRaised, a, a.RaisedAt)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := eng.Apply(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := eng.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	f := &engineFixture{eng: eng, journal: j}
	hs, err := eng.List(ctx, hazard.Filter{})
	if err != nil || len(hs) != 2 {
		t.Fatalf("fixture records %+v, %v", hs, err)
	}
	for _, g := range hs {
		if g.Level == hazard.LevelMajor {
			f.major = g.ID
		} else {
			f.general = g.ID
		}
	}
	fa := newFakeAlarms()
	if f.h, err = New(Options{Site: "cz-demo-01", Latest: collector.NewLatest(), Tags: reg, Alarms: fa, Control: fa, History: fa,
		Hazards: eng, Tokens: testTokens}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *engineFixture) do(t *testing.T, method, path string, role Role, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := asJSON(httptest.NewRequest(method, path, rd))
	req.Header.Set("Authorization", "Bearer "+tokenOf(role))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func TestHazardWorkflowThroughAPI(t *testing.T) {
	f := newEngineFixture(t)
	tr := fmt.Sprintf("/api/v1/hazards/%d/transition", f.major)
	steps := []struct {
		name   string
		role   Role
		body   string
		status int
		after  hazard.Status
	}{
		{"viewer cannot close", RoleViewer, `{"to": "closed"}`, 403, hazard.Open},
		{"销号 from 待整改 is refused", RoleAdmin, `{"to": "closed"}`, 409, hazard.Open},
		{"verifier does not rectify", RoleVerifier, `{"to": "in_progress"}`, 403, hazard.Open},
		{"regulator cannot reach the route", RoleRegulator, `{"to": "in_progress"}`, 403, hazard.Open},
		{"unknown field", RoleOperator, `{"to": "in_progress", "who": "x"}`, 400, hazard.Open},
		{"operator starts", RoleOperator, `{"to": "in_progress", "person": "张三"}`, 200, hazard.InProgress},
		{"submitting needs a comment", RoleOperator, `{"to": "pending_verification"}`, 400, hazard.InProgress},
		{"operator submits", RoleOperator, `{"to": "pending_verification", "comment": "已更换探测器"}`, 200, hazard.PendingVerification},
		{"operator cannot close", RoleOperator, `{"to": "closed"}`, 403, hazard.PendingVerification},
		{"销号 while the detector is still silent is refused", RoleVerifier, `{"to": "closed", "comment": "验收合格"}`, 409, hazard.PendingVerification},
		{"verifier closes, saying why", RoleVerifier, `{"to": "closed", "comment": "验收合格", "override_reason": "探测器已更换，旧点位通信报警待清除"}`, 200, hazard.Closed},
		{"closed stays closed", RoleAdmin, `{"to": "in_progress", "comment": "x"}`, 409, hazard.Closed},
	}
	for _, s := range steps {
		rec := f.do(t, http.MethodPost, tr, s.role, s.body)
		if rec.Code != s.status {
			t.Fatalf("%s: status %d, want %d: %s", s.name, rec.Code, s.status, rec.Body)
		}
		if s.status != 200 {
			assertErrorBody(t, rec)
		}
		g, err := f.eng.Get(context.Background(), f.major)
		if err != nil || g.Status != s.after {
			t.Fatalf("%s: status %s, want %s (%v)", s.name, g.Status, s.after, err)
		}
	}
	rec := f.do(t, http.MethodGet, fmt.Sprintf("/api/v1/hazards/%d/history", f.major), RoleViewer, "")
	var hist []hazard.Event
	if err := json.Unmarshal(rec.Body.Bytes(), &hist); err != nil || rec.Code != 200 {
		t.Fatalf("history %d %s: %v", rec.Code, rec.Body, err)
	}
	var got []string
	for _, ev := range hist {
		got = append(got, ev.By+":"+string(ev.To))
	}
	if want := []string{":", "ctrl-room:in_progress", "ctrl-room:pending_verification", "checker:closed"}; !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	if last := hist[len(hist)-1]; last.OverrideReason != "探测器已更换，旧点位通信报警待清除" {
		t.Errorf("the override reason is not in the history: %+v", last)
	}
}

// TestHazardCreateThroughAPI: roles without hazard_create are refused, bad
// input is a 400 naming the field and records nothing, and a good entry is
// a manual record whose creator is in its history.
func TestHazardCreateThroughAPI(t *testing.T) {
	f := newEngineFixture(t)
	const good = `{"description": "东门消防通道堆放杂物", "level": "一般隐患", "area": "厂区", "point": "东门消防通道",
		"days": 3, "person": "张三", "measures": "清理杂物", "funds": 0, "remarks": "巡检发现"}`
	tests := []struct {
		name   string
		role   Role
		body   string
		status int
		field  string // the 400 names it
	}{
		{"viewer", RoleViewer, good, 403, ""},
		{"regulator", RoleRegulator, good, 403, ""},
		{"no body", RoleOperator, ``, 400, "body"},
		{"unknown field", RoleOperator, `{"description": "x", "levl": "一般隐患"}`, 400, "levl"},
		{"no description", RoleOperator, `{"level": "一般隐患", "area": "厂区", "days": 3, "person": "张三"}`, 400, "description"},
		{"bad level", RoleOperator, `{"description": "x", "level": "较大", "area": "厂区", "days": 3, "person": "张三"}`, 400, "level"},
		{"no place", RoleOperator, `{"description": "x", "level": "一般隐患", "days": 3, "person": "张三"}`, 400, "area"},
		{"no deadline", RoleOperator, `{"description": "x", "level": "一般隐患", "area": "厂区", "person": "张三"}`, 400, "deadline"},
		{"bad deadline", RoleOperator, `{"description": "x", "level": "一般隐患", "area": "厂区", "deadline": "tomorrow", "person": "张三"}`, 400, "deadline"},
		{"no person", RoleOperator, `{"description": "x", "level": "一般隐患", "area": "厂区", "days": 3}`, 400, "person"},
		{"negative funds", RoleOperator, `{"description": "x", "level": "一般隐患", "area": "厂区", "days": 3, "person": "张三", "funds": -5}`, 400, "funds"},
		{"operator enters", RoleOperator, good, 200, ""},
		{"verifier enters", RoleVerifier, good, 200, ""},
		{"admin enters", RoleAdmin, good, 200, ""},
	}
	before, _ := f.eng.List(context.Background(), hazard.Filter{})
	made := 0
	for _, tt := range tests {
		rec := f.do(t, http.MethodPost, "/api/v1/hazards", tt.role, tt.body)
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.name, rec.Code, tt.status, rec.Body)
			continue
		}
		hs, _ := f.eng.List(context.Background(), hazard.Filter{})
		if tt.status != 200 {
			assertErrorBody(t, rec)
			if !strings.Contains(rec.Body.String(), tt.field) {
				t.Errorf("%s: %s does not name %q", tt.name, rec.Body, tt.field)
			}
			if len(hs) != len(before)+made {
				t.Errorf("%s: refused entry changed the records (%d)", tt.name, len(hs))
			}
			continue
		}
		made++
		var g hazard.Hazard
		if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil {
			t.Fatal(err)
		}
		if g.Source != hazard.SourceManual || g.Person != "张三" || g.TagName != "东门消防通道" || g.Funds == nil || *g.Funds != 0 {
			t.Errorf("%s: record %+v", tt.name, g)
		}
		hist, err := f.eng.History(context.Background(), g.ID)
		if err != nil || len(hist) != 1 || hist[0].Type != hazard.EventCreated || hist[0].By != tokenNameOf(tt.role) {
			t.Errorf("%s: history %+v %v", tt.name, hist, err)
		}
	}
}

func TestHazardSuperviseThroughAPI(t *testing.T) {
	f := newEngineFixture(t)
	tests := []struct {
		role   Role
		id     int64
		body   string
		status int
	}{
		{RoleOperator, f.major, `{"note": "x"}`, 403},
		{RoleRegulator, f.general, `{"note": "x"}`, 409}, // only a 重大隐患
		{RoleRegulator, f.major, `{}`, 400},
		{RoleRegulator, 99, `{"note": "x"}`, 404},
		{RoleRegulator, f.major, `{"note": "市应急管理局挂牌督办"}`, 200},
	}
	for _, tt := range tests {
		rec := f.do(t, http.MethodPost, fmt.Sprintf("/api/v1/hazards/%d/supervise", tt.id), tt.role, tt.body)
		if rec.Code != tt.status {
			t.Errorf("%s on %d with %s: %d, want %d: %s", tt.role, tt.id, tt.body, rec.Code, tt.status, rec.Body)
		}
	}
	rec := f.do(t, http.MethodGet, fmt.Sprintf("/api/v1/hazards/%d", f.major), RoleViewer, "")
	var g hazard.Hazard
	if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil {
		t.Fatal(err)
	}
	if !g.Supervised || g.SupervisedBy != "bureau" || g.Status != hazard.Open {
		t.Errorf("record %+v", g)
	}
}

func TestHazardListAndExport(t *testing.T) {
	f := newEngineFixture(t)
	tests := []struct {
		query  string
		status int
		n      int
	}{
		{"", 200, 2},
		{"?status=open", 200, 2},
		{"?status=closed,dismissed", 200, 0},
		{"?level=重大隐患", 200, 1},
		{"?category=压力管道", 200, 1},
		{"?overdue=1", 200, 0},
		{"?from=2025-03-01T10:00:00Z", 200, 1},
		{"?to=2025-03-01T10:00:00Z", 200, 1},
		{"?to=2025-03-01T08:30:00Z", 200, 0},
		{"?limit=1", 200, 1},
		{"?status=fixed", 400, 0},
		{"?overdue=maybe", 400, 0},
		{"?from=yesterday", 400, 0},
		{"?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", 400, 0},
		{"?limit=0", 400, 0},
	}
	for _, tt := range tests {
		rec := f.do(t, http.MethodGet, "/api/v1/hazards"+tt.query, RoleViewer, "")
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.query, rec.Code, tt.status, rec.Body)
			continue
		}
		if tt.status != 200 {
			assertErrorBody(t, rec)
			continue
		}
		var hs []hazard.Hazard
		if err := json.Unmarshal(rec.Body.Bytes(), &hs); err != nil || len(hs) != tt.n {
			t.Errorf("%s: %d records, want %d (%v): %s", tt.query, len(hs), tt.n, err, rec.Body)
		}
	}

	rec := f.do(t, http.MethodGet, "/api/v1/hazards/export?format=csv&level=重大隐患", RoleViewer, "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(rec.Header().Get("Content-Disposition"), `attachment; filename="hazards-cz-demo-01-`) {
		t.Fatalf("export: %d %v", rec.Code, rec.Header())
	}
	body := rec.Body.Bytes()
	if !bytes.HasPrefix(body, []byte("\uFEFF")) {
		t.Fatal("export lacks the byte-order mark")
	}
	rows, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	g, _ := f.eng.Get(context.Background(), f.major)
	if len(rows) != 2 || !slices.Equal(rows[0], hazard.LedgerColumns) || rows[1][1] != g.Number || rows[1][5] != hazard.LevelMajor {
		t.Errorf("ledger rows %q", rows)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/hazards/export?format=xlsx&level=重大隐患", RoleViewer, "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/vnd.openxmlformats") ||
		!strings.HasSuffix(rec.Header().Get("Content-Disposition"), `.xlsx"`) {
		t.Fatalf("xlsx: %d %v", rec.Code, rec.Header())
	}
	book, err := excelize.OpenReader(rec.Body)
	if err != nil {
		t.Fatalf("xlsx: %v", err)
	}
	defer book.Close()
	if xrows, err := book.GetRows(book.GetSheetList()[0]); err != nil || len(xrows) != 2 || xrows[1][1] != g.Number {
		t.Errorf("xlsx rows %q %v, want the header and the 重大隐患", xrows, err)
	}
	if rec := f.do(t, http.MethodGet, "/api/v1/hazards/export?format=pdf", RoleViewer, ""); rec.Code != 400 {
		t.Errorf("pdf: %d, want 400", rec.Code)
	}
	for path, want := range map[string]int{"/api/v1/hazards/99": 404, "/api/v1/hazards/x": 400, "/api/v1/hazards/99/history": 404} {
		if rec := f.do(t, http.MethodGet, path, RoleViewer, ""); rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

// tokenNameOf is the name a role's test token acts under.
func tokenNameOf(role Role) string {
	for _, t := range testTokens {
		if Role(t.Role) == role {
			return t.Name
		}
	}
	panic("no token for role " + role)
}
