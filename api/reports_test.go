package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"hazgate/alerting"
	"hazgate/alerting/shift"
	"hazgate/config"
)

// fakeShift answers an empty report for the period asked.
type fakeShift struct{}

func (fakeShift) Build(_ context.Context, from, to time.Time) (shift.Report, error) {
	return shift.Report{Site: "cz-demo-01", From: from, To: to}, nil
}

func (fakeShift) Ledger(_ context.Context, from, to time.Time) (shift.Ledger, error) {
	return shift.Ledger{Site: "cz-demo-01", From: from, To: to}, nil
}

// shiftFixture serves reports built from the fixture's real journal, with
// an open alarm whose message carries markup.
func shiftFixture(t *testing.T, tokens []config.Token) *fixture {
	t.Helper()
	f := newFixture(t, tokens)
	f.h.shift = &shift.Builder{Site: "cz-demo-01", Unit: "演示化工有限公司", DB: f.journal.DB(), Tags: testTags(t)}
	a := alerting.Alarm{Site: "cz-demo-01", Tag: "T101-LEL", Rule: "lel", Level: alerting.LevelHH, Class: "lel", Severity: alerting.SeverityCritical,
		State: alerting.ActiveUnacked, Active: true, RaisedAt: time.Now().Add(-time.Hour), Count: 1, Message: `<script>alert(1)</script>超限`}
	if _, err := f.journal.Commit(context.Background(), alerting.EventRaised, a, a.RaisedAt); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestShiftReportFormats(t *testing.T) {
	f := shiftFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/reports/shift", tokenOf(RoleViewer))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("html: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	page := rec.Body.String()
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;超限") || strings.Contains(page, "<script") {
		t.Errorf("the message is not escaped text:\n%s", page)
	}
	if !strings.Contains(page, "1号罐区可燃气体") || !strings.Contains(page, "未关闭报警（1）") {
		t.Errorf("the open alarm is missing:\n%s", page)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, shift.StyleHash) {
		t.Errorf("CSP %q", csp)
	}

	rec = f.do(t, http.MethodGet, "/api/v1/reports/shift?format=xlsx", tokenOf(RoleOperator))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Disposition"), ".xlsx") {
		t.Fatalf("xlsx: %d %v", rec.Code, rec.Header())
	}
	x, err := excelize.OpenReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.GetRows("未关闭报警")
	if err != nil || len(rows) != 2 || rows[1][5] != `<script>alert(1)</script>超限` {
		t.Errorf("open alarms sheet %q %v", rows, err)
	}

	from, to := "2025-03-01T08:00:00%2B08:00", "2025-03-01T16:00:00%2B08:00"
	rec = f.do(t, http.MethodGet, "/api/v1/reports/shift?format=json&from="+from+"&to="+to, tokenOf(RoleViewer))
	var rep shift.Report
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &rep) != nil {
		t.Fatalf("json: %d %s", rec.Code, rec.Body)
	}
	if rep.To.Sub(rep.From) != 8*time.Hour || len(rep.Open) != 0 {
		t.Errorf("report of 2025-03-01 %+v", rep)
	}

	badRequests(t, f, "/api/v1/reports/shift", map[string]string{
		"format=pdf":                 `format="pdf"`,
		"from=yesterday":             `from="yesterday"`,
		"to=16:00":                   `to="16:00"`,
		"from=" + to + "&to=" + from: "must be before",
		"from=2025-03-01T00:00:00Z&to=2025-03-09T00:00:00Z": "at most",
	})
	f.h.shift = nil
	if rec := f.do(t, http.MethodGet, "/api/v1/reports/shift", tokenOf(RoleViewer)); rec.Code != http.StatusNotImplemented {
		t.Errorf("without reports: %d, want 501", rec.Code)
	}
}

// badRequests asks path with each query and wants a 400 whose error
// holds the text given for it (the parameter, the limit).
func badRequests(t *testing.T, f *fixture, path string, cases map[string]string) {
	t.Helper()
	for q, want := range cases {
		rec := f.do(t, http.MethodGet, path+"?"+q, tokenOf(RoleViewer))
		var body struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(body.Error, want) {
			t.Errorf("%s?%s: %d %s, want 400 naming %q", path, q, rec.Code, rec.Body, want)
		}
	}
}

// TestAlarmExport: the alarm ledger of the fixture's journal as CSV (the
// default) and XLSX, the same rows; bad periods and formats refused with
// the parameter named.
func TestAlarmExport(t *testing.T) {
	f := shiftFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/alarms/export", tokenOf(RoleViewer))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), `filename="alarms-cz-demo-01-`) {
		t.Fatalf("csv: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\uFEFF"))).ReadAll()
	if err != nil || len(recs) != 2 || !slices.Equal(recs[0], shift.LedgerColumns) {
		t.Fatalf("csv rows %q (%v)", recs, err)
	}
	row := recs[1]
	if row[3] != "T101-LEL" || row[4] != "1号罐区可燃气体" || row[6] != `<script>alert(1)</script>超限` || row[7] != "紧急" || row[22] != "报警未确认" {
		t.Errorf("csv row %q", row)
	}

	rec = f.do(t, http.MethodGet, "/api/v1/alarms/export?format=xlsx", tokenOf(RoleOperator))
	if rec.Code != http.StatusOK || !strings.HasSuffix(rec.Header().Get("Content-Disposition"), `.xlsx"`) {
		t.Fatalf("xlsx: %d %v", rec.Code, rec.Header())
	}
	x, err := excelize.OpenReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.GetRows("报警处置记录")
	if err != nil || len(rows) != 2 || !slices.Equal(rows[1], row[:len(rows[1])]) {
		t.Errorf("xlsx rows %q (%v), want the csv's %q", rows, err, row)
	}

	// A period before the alarm: the header alone.
	rec = f.do(t, http.MethodGet, "/api/v1/alarms/export?from=2025-03-01T00:00:00%2B08:00&to=2025-03-02T00:00:00%2B08:00", tokenOf(RoleViewer))
	if recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\uFEFF"))).ReadAll(); rec.Code != 200 || err != nil || len(recs) != 1 {
		t.Errorf("2025-03-01: %d, %d rows (%v)", rec.Code, len(recs), err)
	}
	badRequests(t, f, "/api/v1/alarms/export", map[string]string{
		"format=pdf":     `format="pdf"`,
		"from=yesterday": `from="yesterday"`,
		"from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z": "must be before",
		"from=2025-01-01T00:00:00Z&to=2025-04-05T00:00:00Z": "at most 93 days",
	})
	f.h.shift = nil
	if rec := f.do(t, http.MethodGet, "/api/v1/alarms/export", tokenOf(RoleViewer)); rec.Code != http.StatusNotImplemented {
		t.Errorf("without a ledger: %d, want 501", rec.Code)
	}
}

// TestShiftReportRoles: every role reads the report (it holds nothing a
// viewer cannot read elsewhere); no token, a wrong one or a token scoped
// to some sites (hub routes only) do not.
func TestShiftReportRoles(t *testing.T) {
	tokens := append(append([]config.Token{}, testTokens...), scopedTokens...)
	f := shiftFixture(t, tokens)
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"viewer", tokenOf(RoleViewer), 200}, {"operator", tokenOf(RoleOperator), 200}, {"verifier", tokenOf(RoleVerifier), 200},
		{"regulator", tokenOf(RoleRegulator), 200}, {"admin", tokenOf(RoleAdmin), 200},
		{"no token", "", 401}, {"wrong token", "not-a-configured-token", 401},
		{"scoped to a region", "region-token-0123456789", 403}, {"scoped to a site", "site-token-0123456789", 403},
	} {
		for _, path := range []string{"/api/v1/reports/shift?format=html", "/api/v1/reports/shift?format=xlsx",
			"/api/v1/alarms/export?format=csv", "/api/v1/alarms/export?format=xlsx"} {
			rec := f.do(t, http.MethodGet, path, c.token)
			if rec.Code != c.want {
				t.Errorf("%s, %s: %d, want %d", c.name, path, rec.Code, c.want)
			}
			if c.want != 200 {
				assertErrorBody(t, rec)
			}
		}
	}
}

// TestConsoleAllowsShiftStyle: the console's CSP names the report's style
// hash, as the report it opens from a blob inherits the console's policy.
func TestConsoleAllowsShiftStyle(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/console/", "")
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self' "+shift.StyleHash) || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("console CSP %q", csp)
	}
}
