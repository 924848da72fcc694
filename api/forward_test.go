package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeForward has one 查岗 waiting until it is answered.
type fakeForward struct {
	mu  sync.Mutex
	st  ForwardStatus
	err error
}

func newFakeForward() *fakeForward {
	now := time.Now()
	return &fakeForward{st: ForwardStatus{Connected: true, Centre: "119.example.cn:9026",
		Pending: map[string]int{"alarm": 0, "status": 2}, DutyCheck: &DutyCheck{Received: now, Deadline: now.Add(10 * time.Minute)}}}
}

func (f *fakeForward) ForwardStatus(context.Context) (ForwardStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.err
}

func (f *fakeForward) AnswerDutyCheck(_ context.Context, user string) (DutyCheck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.DutyCheck == nil {
		return DutyCheck{}, fmt.Errorf("answer: %w", ErrNoDutyCheck)
	}
	dc := *f.st.DutyCheck
	now := time.Now()
	dc.AnsweredAt, dc.AnsweredBy = &now, user
	f.st.DutyCheck, f.st.DutyChecks = nil, append([]DutyCheck{dc}, f.st.DutyChecks...)
	return dc, nil
}

func TestDutyCheckRoutes(t *testing.T) {
	f := newFixture(t, testTokens)
	rec := f.do(t, http.MethodGet, "/api/v1/forward", tokenOf(RoleViewer))
	var st ForwardStatus
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &st) != nil || st.DutyCheck == nil || !st.Connected {
		t.Fatalf("status: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodPost, "/api/v1/forward/duty-check", tokenOf(RoleViewer)); rec.Code != 403 {
		t.Errorf("a viewer answered the duty check: %d", rec.Code)
	}
	rec = f.do(t, http.MethodPost, "/api/v1/forward/duty-check", tokenOf(RoleOperator))
	var dc DutyCheck
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &dc) != nil || dc.AnsweredBy != "ctrl-room" || dc.AnsweredAt == nil {
		t.Fatalf("answer: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodPost, "/api/v1/forward/duty-check", tokenOf(RoleOperator)); rec.Code != 409 {
		t.Errorf("a second answer: %d %s, want 409", rec.Code, rec.Body)
	}
	// Without a forward block both routes say so.
	h, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: f.alarms, Control: f.alarms, History: f.alarms})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		req := asJSON(httptest.NewRequest(m, "/api/v1/forward"+map[string]string{"GET": "", "POST": "/duty-check"}[m], nil))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 501 || !strings.Contains(rec.Body.String(), "no forward block") {
			t.Errorf("%s without forwarding: %d %s", m, rec.Code, rec.Body)
		}
	}
}
