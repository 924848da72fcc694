package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
	"hazgate/sim"
)

// TestDutyCheckThroughTheAPI drives a real listener and a simulated device
// over TCP through the gateway's API: the operator's duty check reaches the
// device, the device's answer is in the device's status, and the
// protocol's errors get the API's statuses in the protocol's words.
func TestDutyCheckThroughTheAPI(t *testing.T) {
	cfg := parseConfig(t, `
site: {id: s1}
data_dir: ${DIR}
http:
  listen: "127.0.0.1:0"
  tokens:
    - {name: watcher, role: viewer, token: "${VIEWER}"}
    - {name: ctrl-room, role: operator, token: "${OPERATOR}"}
devices:
  - {id: fire-centre, protocol: gb26875, listen: "127.0.0.1:0", heartbeat: 1m, command_timeout: 1s, command_tries: 3}
`, map[string]string{"DIR": t.TempDir(), "VIEWER": "viewer-token-0123456789", "OPERATOR": "operator-token-0123456789"})
	g, base, _ := startGateway(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr, err := g.devices[0].(*gb26875.Listener).Addr(ctx)
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
	do := func(method, path, token, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	const viewer, operator = "viewer-token-0123456789", "operator-token-0123456789"

	code, body := do(http.MethodPost, "/api/v1/uitds/1234/duty-check", operator, `{"minutes": 3}`)
	if code != 200 {
		t.Fatalf("duty check: %d %s", code, body)
	}
	var res gb26875.CommandResult
	if err := json.Unmarshal(body, &res); err != nil {
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
	var st gb26875.DeviceStatus
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = do(http.MethodGet, "/api/v1/uitds/1234", viewer, "")
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Duty != nil && st.Duty.Answered != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Duty == nil || st.Duty.Answered == nil || *st.Duty.Operator != 7 || st.Duty.Minutes != 3 || st.Last == nil || st.Last.Command != "duty_check" {
		t.Errorf("status after the answer: %s", body)
	}
	// A viewer may look but not send.
	if code, _ := do(http.MethodPost, "/api/v1/uitds/1234/sync-clock", viewer, ""); code != http.StatusForbidden {
		t.Errorf("viewer sync-clock: %d", code)
	}
	// The protocol's errors, with the API's statuses and their own words.
	for _, tt := range []struct {
		method, path string
		want         int
		body         string
	}{
		{http.MethodGet, "/api/v1/uitds/9", 404, `{"error":"transmission device 000000000009 has not been heard"}`},
		{http.MethodGet, "/api/v1/uitds/0x12", 400, `{"error":"address \"0x12\": want a decimal number from 0 to 281474976710655"}`},
		{http.MethodPost, "/api/v1/uitds/9/sync-clock", 409, `{"error":"sync_clock to 000000000009: transmission device not connected"}`},
	} {
		if code, body := do(tt.method, tt.path, operator, ""); code != tt.want || strings.TrimSpace(string(body)) != tt.body {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, code, body, tt.want, tt.body)
		}
	}
}
