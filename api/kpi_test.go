package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/kpi"
)

// Daily makes fakeAlarms a KPIs: one empty day per Beijing day asked.
func (f *fakeAlarms) Daily(_ context.Context, site string, from, to time.Time, points int) ([]kpi.Day, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastKPI = [2]time.Time{from, to}
	if f.err != nil {
		return nil, f.err
	}
	var out []kpi.Day
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		out = append(out, kpi.Day{Date: d.In(kpi.Beijing).Format(time.DateOnly), From: d, To: d.AddDate(0, 0, 1), Points: points, TopSources: []kpi.SourceCount{}})
	}
	return out, nil
}

func TestParseDays(t *testing.T) {
	now := time.Date(2025, 3, 7, 20, 0, 0, 0, time.UTC) // 03-08 04:00 in Beijing
	bj := func(m time.Month, d int) time.Time { return time.Date(2025, m, d, 0, 0, 0, 0, kpi.Beijing) }
	tests := []struct {
		query    string
		from, to time.Time
		err      string // a part of the 400's message
	}{
		{query: "", from: bj(3, 2), to: bj(3, 9)},
		{query: "from=2025-03-01&to=2025-03-01", from: bj(3, 1), to: bj(3, 2)},
		{query: "to=2025-02-10", from: bj(2, 4), to: bj(2, 11)},
		{query: "from=2025-02-01", from: bj(2, 1), to: bj(3, 9)},
		{query: "from=2025-03-01T00:00:00Z", err: `from="2025-03-01T00:00:00Z": want a date`},
		{query: "to=yesterday", err: `to="yesterday": want a date`},
		{query: "from=2025-03-02&to=2025-03-01", err: "from (2025-03-02) must not be after to (2025-03-01)"},
		{query: "from=2024-01-01&to=2025-03-01", err: "at most 366"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			from, to, err := parseDays(httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil), now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || !from.Equal(tt.from) || !to.Equal(tt.to) {
				t.Errorf("[%s, %s) %v, want [%s, %s)", from, to, err, tt.from, tt.to)
			}
		})
	}
}

// TestDailyKPIRoute serves the daily KPIs from a real journal: one alarm
// on 03-01 (Beijing), disposed as a false alarm, and one suppressed by
// design, which does not count.
func TestDailyKPIRoute(t *testing.T) {
	f := newFixtureWith(t, testTokens, nil)
	r := kpi.NewReader(f.journal.DB())
	f.h.kpis = r
	ctx := context.Background()
	raised := time.Date(2025, 3, 1, 1, 0, 0, 0, kpi.Beijing) // 02-28 17:00 UTC
	acked := raised.Add(90 * time.Second)
	a := alerting.Alarm{Site: "cz-demo-01", Tag: "T101-LEL", Rule: "lel", Level: alerting.LevelH, Class: "lel", Severity: alerting.SeverityHigh,
		State: alerting.Normal, RaisedAt: raised, AckedAt: &acked, ClearedAt: &acked, Count: 1,
		Disposal: &alerting.Disposal{Cause: alerting.CauseFalseAlarm, Measures: "标定", Person: "张三", At: raised.Add(10 * time.Minute), By: "ctrl-room"}}
	if _, err := f.journal.Commit(ctx, alerting.EventRaised, a, raised); err != nil {
		t.Fatal(err)
	}
	s := alerting.Alarm{Site: "cz-demo-01", Tag: "T102-LEL", Rule: "lel", Level: alerting.LevelH, Class: "lel", Severity: alerting.SeverityHigh,
		State: alerting.SuppressedByDesign, Active: true, RaisedAt: raised, Count: 1, Root: 99}
	if _, err := f.journal.Commit(ctx, alerting.EventRaised, s, raised); err != nil {
		t.Fatal(err)
	}
	rec := f.do(t, http.MethodGet, "/api/v1/alarms/kpi/daily?from=2025-02-28&to=2025-03-01", tokenOf(RoleViewer))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got dailyKPIs
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Site != "cz-demo-01" || got.Points != 2 || got.Guidance != 144 || len(got.Days) != 2 {
		t.Fatalf("answer %s", rec.Body)
	}
	d := got.Days[1]
	if d.Date != "2025-03-01" || d.Alarms != 1 || d.AlarmRate != 0.5 || d.DisposalRate != 1 || d.FalseAlarmRate != 1 ||
		d.MedianAckSeconds == nil || *d.MedianAckSeconds != 90 || d.MedianDisposeSeconds == nil || *d.MedianDisposeSeconds != 600 {
		t.Errorf("03-01: %+v", d)
	}
	if got.Days[0].Date != "2025-02-28" || got.Days[0].Alarms != 0 {
		t.Errorf("02-28: %+v", got.Days[0])
	}

	for _, q := range []string{"from=2025-13-01", "to=03/01/2025", "from=2025-03-02&to=2025-03-01"} {
		rec := f.do(t, http.MethodGet, "/api/v1/alarms/kpi/daily?"+q, tokenOf(RoleViewer))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
		assertErrorBody(t, rec)
	}
	f.h.kpis = nil
	if rec := f.do(t, http.MethodGet, "/api/v1/alarms/kpi/daily", tokenOf(RoleViewer)); rec.Code != http.StatusNotImplemented {
		t.Errorf("without KPIs: %d, want 501", rec.Code)
	}
}

// TestHubDailyKPI: a site's daily KPIs at the hub, within the token's
// scope: the region bureau reads nj-01 (two alarms in the last hour) and
// not nj-03.
func TestHubDailyKPI(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	rec := f.do(t, http.MethodGet, "/api/v1/hub/sites/nj-01/kpi/daily?points=4", "region-token-0123456789")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got dailyKPIs
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range got.Days {
		total += d.Alarms
	}
	if got.Site != "nj-01" || got.Points != 4 || len(got.Days) != 7 || total != 2 {
		t.Errorf("answer %s", rec.Body)
	}
	// Without ?points= the hub counts the tags the site publishes: none here.
	rec = f.do(t, http.MethodGet, "/api/v1/hub/sites/nj-01/kpi/daily?from=2025-03-01&to=2025-03-01", "city-token-0123456789")
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || got.Points != 0 || len(got.Days) != 1 || got.Days[0].Alarms != 0 {
		t.Errorf("2025-03-01: %d %s", rec.Code, rec.Body)
	}
	for path, want := range map[string]int{
		"/api/v1/hub/sites/nj-03/kpi/daily":               http.StatusForbidden,
		"/api/v1/hub/sites/nj-01/kpi/daily?points=0":      http.StatusBadRequest,
		"/api/v1/hub/sites/nj-01/kpi/daily?points=many":   http.StatusBadRequest,
		"/api/v1/hub/sites/nj-01/kpi/daily?from=03-01":    http.StatusBadRequest,
		"/api/v1/hub/sites/nj-01/kpi/daily?to=2025-02-30": http.StatusBadRequest,
	} {
		rec := f.do(t, http.MethodGet, path, "region-token-0123456789")
		if rec.Code != want {
			t.Errorf("%s: %d, want %d (%s)", path, rec.Code, want, rec.Body)
		}
		assertErrorBody(t, rec)
	}
}
