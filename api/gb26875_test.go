package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeUITD is an in-process UITDControl: device 1 confirms, 2 is not
// connected, 3 never answers, 4 denies.
type fakeUITD struct {
	mu      sync.Mutex
	user    string
	minutes int
}

var errOf = map[uint64]error{2: ErrUITDNotConnected, 3: ErrUITDNoReply, 4: ErrUITDDenied}

// fakeStatus and fakeResult stand for the protocol's documents, which the
// API serves as they are.
type fakeStatus struct {
	Listener  string `json:"listener"`
	Address   string `json:"address"`
	Connected bool   `json:"connected"`
}

type fakeResult struct {
	Address string `json:"address"`
	Command string `json:"command"`
	SentBy  string `json:"sent_by"`
	Reply   string `json:"reply"`
	Tries   int    `json:"tries"`
}

func fakeAddress(id string) (uint64, error) {
	a, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("address %q: want a decimal number: %w", id, ErrUITDAddress)
	}
	return a, nil
}

func (f *fakeUITD) Devices() []any {
	return []any{fakeStatus{Listener: "fire-centre", Address: "000000000001", Connected: true}}
}

func (f *fakeUITD) Device(id string) (any, error) {
	a, err := fakeAddress(id)
	if err != nil {
		return nil, err
	}
	if a != 1 {
		return nil, fmt.Errorf("transmission device %012d: %w", a, ErrUITDNotHeard)
	}
	return f.Devices()[0], nil
}

func (f *fakeUITD) result(id, cmd, user string, minutes int) (any, error) {
	a, err := fakeAddress(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.user, f.minutes = user, minutes
	f.mu.Unlock()
	if err := errOf[a]; err != nil {
		return nil, fmt.Errorf("%s to %012d: %w", cmd, a, err)
	}
	return fakeResult{Address: fmt.Sprintf("%012d", a), Command: cmd, SentBy: user, Reply: "confirm", Tries: 1}, nil
}

func (f *fakeUITD) SyncClock(_ context.Context, id, user string) (any, error) {
	return f.result(id, "sync_clock", user, 0)
}

func (f *fakeUITD) DutyCheck(_ context.Context, id string, minutes int, user string) (any, error) {
	return f.result(id, "duty_check", user, minutes)
}

func TestUITDRoutes(t *testing.T) {
	op := tokenOf(RoleOperator)
	tests := []struct {
		method, path, body string
		want               int
		wantIn             string // a piece of the body
	}{
		{http.MethodGet, "/api/v1/uitds", "", 200, `"address":"000000000001"`},
		{http.MethodGet, "/api/v1/uitds/000000000001", "", 200, `"listener":"fire-centre"`},
		{http.MethodGet, "/api/v1/uitds/9", "", 404, "has not been heard"},
		{http.MethodGet, "/api/v1/uitds/0x12", "", 400, "decimal"},
		{http.MethodPost, "/api/v1/uitds/1/sync-clock", "", 200, `"command":"sync_clock"`},
		{http.MethodPost, "/api/v1/uitds/2/sync-clock", "", 409, "not connected"},
		{http.MethodPost, "/api/v1/uitds/3/sync-clock", "", 504, "no confirm"},
		{http.MethodPost, "/api/v1/uitds/4/duty-check", "", 502, "denied"},
		{http.MethodPost, "/api/v1/uitds/1/duty-check", `{"minutes": 0}`, 400, "minutes"},
		{http.MethodPost, "/api/v1/uitds/1/duty-check", `{"minutes": 5, "x": 1}`, 400, "unknown field"},
		{http.MethodPost, "/api/v1/uitds/1/duty-check", `{"minutes": 5}`, 200, `"sent_by":"ctrl-room"`},
	}
	for _, tt := range tests {
		f := newFixture(t, testTokens)
		rec := f.doBody(t, tt.method, tt.path, op, tt.body)
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantIn) {
			t.Errorf("%s %s %s: %d %s, want %d with %s", tt.method, tt.path, tt.body, rec.Code, rec.Body, tt.want, tt.wantIn)
		}
	}
	f := newFixture(t, testTokens)
	f.doBody(t, http.MethodPost, "/api/v1/uitds/1/duty-check", op, "")
	fake := f.h.uitd.(*fakeUITD)
	if fake.minutes != DefaultDutyMinutes || fake.user != "ctrl-room" {
		t.Errorf("duty check without a body: %d minutes by %q", fake.minutes, fake.user)
	}
}

func TestUITDRoutesWithoutListener(t *testing.T) {
	h, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: newFakeAlarms(), Control: newFakeAlarms(), History: newFakeAlarms()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{h: h}
	if rec := f.do(t, http.MethodPost, "/api/v1/uitds/1/sync-clock", ""); rec.Code != http.StatusNotImplemented {
		t.Errorf("no listener: %d %s", rec.Code, rec.Body)
	}
}
