package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
)

func TestAckWithComment(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.doBody(t, http.MethodPost, "/api/v1/alarms/1/ack", tokenOf(RoleOperator), `{"comment": "现场确认"}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var a alerting.Alarm
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.AckComment != "现场确认" || a.AckedBy != "ctrl-room" || a.State != alerting.ActiveAcked {
		t.Errorf("acked %+v", a)
	}
	for body, want := range map[string]int{`{"comment": 5}`: 400, `{"coment": "x"}`: 400, `[`: 400} {
		if rec := newFixture(t, testTokens).doBody(t, http.MethodPost, "/api/v1/alarms/1/ack", tokenOf(RoleOperator), body); rec.Code != want {
			t.Errorf("body %s: status %d, want %d", body, rec.Code, want)
		}
	}
}

func TestShelveRoutes(t *testing.T) {
	tests := []struct {
		path, body string
		status     int
	}{
		{"/api/v1/alarms/1/shelve", `{"minutes": 60, "reason": "calibration"}`, 200},
		{"/api/v1/alarms/1/shelve", `{"minutes": 0, "reason": "x"}`, 400},
		{"/api/v1/alarms/1/shelve", `{"minutes": 10081, "reason": "x"}`, 400},
		{"/api/v1/alarms/1/shelve", `{"minutes": 60, "reason": "  "}`, 400},
		{"/api/v1/alarms/1/shelve", `{"minutes": 60, "reason": "x", "until": "never"}`, 400},
		{"/api/v1/alarms/1/shelve", ``, 400},
		{"/api/v1/alarms/99/shelve", `{"minutes": 60, "reason": "x"}`, 404},
		{"/api/v1/alarms/4/shelve", `{"minutes": 60, "reason": "x"}`, 409}, // closed
		{"/api/v1/alarms/3/unshelve", ``, 409},                             // not shelved
		{"/api/v1/alarms/99/unshelve", ``, 404},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			f := newFixture(t, testTokens)
			rec := f.doBody(t, http.MethodPost, tt.path, tokenOf(RoleOperator), tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				assertErrorBody(t, rec)
			}
		})
	}
	f := newFixture(t, testTokens)
	before := time.Now()
	f.doBody(t, http.MethodPost, "/api/v1/alarms/1/shelve", tokenOf(RoleOperator), `{"minutes": 30, "reason": "calibration"}`)
	a := f.alarms.alarms[1]
	if a.State != alerting.Shelved || a.ShelvedBy != "ctrl-room" || a.ShelveReason != "calibration" ||
		a.ShelvedUntil.Before(before.Add(30*time.Minute)) || a.ShelvedUntil.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("shelved %+v", a)
	}
	rec := f.doBody(t, http.MethodPost, "/api/v1/alarms/1/unshelve", tokenOf(RoleOperator), "")
	if rec.Code != 200 || f.alarms.alarms[1].State != alerting.ActiveUnacked {
		t.Errorf("unshelve: %d %s", rec.Code, rec.Body)
	}
}

func TestHistoryAndKPIQueries(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/alarms/history?from=2025-03-01T08:00:00%2B08:00&to=2025-03-02T00:00:00Z&tag=T101-LEL&class=lel-level-2&limit=5", tokenOf(RoleViewer))
	if rec.Code != 200 {
		t.Fatalf("history: %d %s", rec.Code, rec.Body)
	}
	h := f.alarms.lastHistory
	if !h.From.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) || !h.To.Equal(time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)) ||
		h.Tag != "T101-LEL" || h.Class != "lel-level-2" || h.Limit != 5 || h.Site != "cz-demo-01" {
		t.Errorf("history filter %+v", h)
	}
	var evs []alerting.Event
	if err := json.Unmarshal(rec.Body.Bytes(), &evs); err != nil || len(evs) != 1 || evs[0].Alarm.ID != 3 {
		t.Errorf("history answer %s (%v)", rec.Body, err)
	}
	if rec := f.do(t, http.MethodGet, "/api/v1/alarms/history?tag=nope", tokenOf(RoleViewer)); strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("empty history %q, want []", rec.Body)
	}

	rec = f.do(t, http.MethodGet, "/api/v1/alarms/kpi", tokenOf(RoleViewer))
	if rec.Code != 200 {
		t.Fatalf("kpi: %d %s", rec.Code, rec.Body)
	}
	if p := f.alarms.lastKPI; p[1].Sub(p[0]) != 24*time.Hour || time.Since(p[1]) > time.Minute {
		t.Errorf("default KPI period %v", p)
	}
	var k map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &k); err != nil || k["alarms"] != 4.0 {
		t.Errorf("kpi answer %s", rec.Body)
	}
	for _, q := range []string{
		"/api/v1/alarms/kpi?from=yesterday",
		"/api/v1/alarms/kpi?to=2025-03-01",
		"/api/v1/alarms/kpi?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z",
		"/api/v1/alarms/history?limit=0",
		"/api/v1/alarms/history?limit=10001",
	} {
		if rec := f.do(t, http.MethodGet, q, tokenOf(RoleViewer)); rec.Code != 400 {
			t.Errorf("%s: status %d, want 400", q, rec.Code)
		} else {
			assertErrorBody(t, rec)
		}
	}
}

func TestAlarmListBySuppressedState(t *testing.T) {
	f := newFixture(t, testTokens)
	f.doBody(t, http.MethodPost, "/api/v1/alarms/1/shelve", tokenOf(RoleOperator), `{"minutes": 5, "reason": "x"}`)
	rec := f.do(t, http.MethodGet, "/api/v1/alarms?state=shelved,out_of_service", tokenOf(RoleViewer))
	var list []alerting.Alarm
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].ID != 1 {
		t.Errorf("shelved alarms: %d %s", rec.Code, rec.Body)
	}
}

func TestOutOfServiceRoutes(t *testing.T) {
	admin := tokenOf(RoleAdmin)
	tests := []struct {
		name    string
		oos     bool // alarm 1 is taken out of service first
		path    string
		token   string
		body    string
		status  int
		wantNow alerting.State // alarm 1's state after, on success
	}{
		{"remove", false, "/api/v1/alarms/1/out-of-service", admin, `{"reason": "detector recalibration"}`, 200, alerting.OutOfService},
		{"again: a new reason", true, "/api/v1/alarms/1/out-of-service", admin, `{"reason": "still in the workshop"}`, 200, alerting.OutOfService},
		{"no reason", false, "/api/v1/alarms/1/out-of-service", admin, `{}`, 400, ""},
		{"blank reason", false, "/api/v1/alarms/1/out-of-service", admin, `{"reason": " "}`, 400, ""},
		{"no body", false, "/api/v1/alarms/1/out-of-service", admin, ``, 400, ""},
		{"unknown field", false, "/api/v1/alarms/1/out-of-service", admin, `{"reason": "x", "minutes": 5}`, 400, ""},
		{"unknown alarm", false, "/api/v1/alarms/99/out-of-service", admin, `{"reason": "x"}`, 404, ""},
		{"closed alarm", false, "/api/v1/alarms/4/out-of-service", admin, `{"reason": "x"}`, 409, ""},
		{"return", true, "/api/v1/alarms/1/return-to-service", admin, ``, 200, alerting.ActiveUnacked},
		{"return one in service", false, "/api/v1/alarms/1/return-to-service", admin, ``, 409, ""},
		{"return unknown", false, "/api/v1/alarms/99/return-to-service", admin, ``, 404, ""},
		// Ending maintenance is the admin's call, not the operator's unshelve.
		{"unshelve out of service", true, "/api/v1/alarms/1/unshelve", tokenOf(RoleOperator), ``, 409, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testTokens)
			if tt.oos {
				if rec := f.doBody(t, http.MethodPost, "/api/v1/alarms/1/out-of-service", admin, `{"reason": "maintenance"}`); rec.Code != 200 {
					t.Fatalf("setup: %d %s", rec.Code, rec.Body)
				}
			}
			before := f.alarms.alarms[1]
			rec := f.doBody(t, http.MethodPost, tt.path, tt.token, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			a := f.alarms.alarms[1]
			if tt.status != 200 {
				assertErrorBody(t, rec)
				if a.State != before.State {
					t.Errorf("a refused request changed alarm 1: %s -> %s", before.State, a.State)
				}
				return
			}
			var got alerting.Alarm
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantNow || a.State != tt.wantNow {
				t.Errorf("answered %s, alarm now %s, want %s", got.State, a.State, tt.wantNow)
			}
			if tt.wantNow == alerting.OutOfService && (a.ShelvedBy != "root" || !strings.Contains(tt.body, a.ShelveReason)) {
				t.Errorf("out of service by %q for %q", a.ShelvedBy, a.ShelveReason)
			}
		})
	}
}
