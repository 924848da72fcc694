package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/gb26875"
	"hazgate/sim"
)

// fakeUITD is an in-process UITDControl: device 1 confirms, 2 is not
// connected, 3 never answers, 4 denies.
type fakeUITD struct {
	mu      sync.Mutex
	user    string
	minutes int
}

var errOf = map[gb26875.Address]error{2: gb26875.ErrNotConnected, 3: gb26875.ErrNoReply, 4: gb26875.ErrDenied}

func (f *fakeUITD) Devices() []gb26875.DeviceStatus {
	return []gb26875.DeviceStatus{{Listener: "fire-centre", Address: "000000000001", Connected: true}}
}

func (f *fakeUITD) Device(a gb26875.Address) (gb26875.DeviceStatus, bool) {
	if a != 1 {
		return gb26875.DeviceStatus{}, false
	}
	return f.Devices()[0], true
}

func (f *fakeUITD) result(a gb26875.Address, cmd, user string, minutes int) (gb26875.CommandResult, error) {
	f.mu.Lock()
	f.user, f.minutes = user, minutes
	f.mu.Unlock()
	if err := errOf[a]; err != nil {
		return gb26875.CommandResult{}, fmt.Errorf("%s to %s: %w", cmd, a, err)
	}
	return gb26875.CommandResult{Address: a.String(), Command: cmd, SentBy: user, Reply: "confirm", Tries: 1}, nil
}

func (f *fakeUITD) SyncClock(_ context.Context, a gb26875.Address, user string) (gb26875.CommandResult, error) {
	return f.result(a, "sync_clock", user, 0)
}

func (f *fakeUITD) DutyCheck(_ context.Context, a gb26875.Address, minutes int, user string) (gb26875.CommandResult, error) {
	return f.result(a, "duty_check", user, minutes)
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
	if fake.minutes != gb26875.DefaultDutyMinutes || fake.user != "ctrl-room" {
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

// TestDutyCheckThroughTheAPI drives a real listener and a simulated device
// over TCP: the operator's duty check reaches the device, the device's
// answer is in the device's status.
func TestDutyCheckThroughTheAPI(t *testing.T) {
	dev := config.Device{ID: "fire-centre", Protocol: "gb26875", Timeout: time.Second,
		Block: &gb26875.Config{Listen: "127.0.0.1:0", Heartbeat: time.Minute, CommLossAfter: 3,
			MaxConnections: 10, HandshakeTimeout: 5 * time.Second, CommandTimeout: time.Second, CommandTries: 3}}
	reg := collector.NewRegistry()
	pipe := collector.NewPipeline(collector.NewLatest())
	l, err := gb26875.New(protocols.Env{Site: "s1", Emit: pipe, Tags: reg, Log: slog.New(slog.DiscardHandler)}, dev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { pipe.Run(ctx) })
	wg.Go(func() { l.Run(ctx) })
	addr, err := l.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := sim.DialUITD(ctx, addr.String(), sim.UITDOptions{Address: 1234, Centre: 88888})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Latest: testLatest(), Tags: reg, Alarms: newFakeAlarms(), Control: newFakeAlarms(),
		History: newFakeAlarms(), UITD: gb26875.Listeners{l}, Tokens: testTokens})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{h: h}
	rec := f.doBody(t, http.MethodPost, "/api/v1/uitds/1234/duty-check", tokenOf(RoleOperator), `{"minutes": 3}`)
	if rec.Code != 200 {
		t.Fatalf("duty check: %d %s", rec.Code, rec.Body)
	}
	var res gb26875.CommandResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Reply != "confirm" || res.SentBy != "ctrl-room" || res.Address != "000000001234" {
		t.Errorf("result %+v", res)
	}
	if cmds := u.Commands(); len(cmds) != 1 || cmds[0].Data[0] != gb26875.TypeDutyCheck || cmds[0].Data[2] != 3 {
		t.Fatalf("device received %+v", cmds)
	}
	if err := u.AnswerDuty(ctx, 7); err != nil {
		t.Fatal(err)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/uitds/1234", tokenOf(RoleViewer))
	var st gb26875.DeviceStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Duty == nil || st.Duty.Answered == nil || *st.Duty.Operator != 7 || st.Duty.Minutes != 3 || st.Last == nil || st.Last.Command != "duty_check" {
		t.Errorf("status after the answer: %s", rec.Body)
	}
	// A viewer may look but not send.
	if rec := f.do(t, http.MethodPost, "/api/v1/uitds/1234/sync-clock", tokenOf(RoleViewer)); rec.Code != http.StatusForbidden {
		t.Errorf("viewer sync-clock: %d", rec.Code)
	}
}
