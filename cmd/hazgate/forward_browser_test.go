package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/protocols/gb26875"
	"hazgate/sim/testenv"
)

// TestDutyCheckInChromium: the city's centre (a gateway's listener) sends
// 查岗 to a control room that forwards to it; the control room's console
// shows the banner with its countdown, the operator on duty answers with
// the button, and the centre sees the answer; the control room's book says
// who answered and when.
func TestDutyCheckInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	centre, centreBase, _ := centreAt(t, "127.0.0.1:0", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	centreAddr, err := centre.devices[0].(*gb26875.Listener).Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	site := parseConfig(t, `
site: {id: building-3, name: 三号楼消防控制室}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
forward: {centres: ["${CENTRE}"], address: "000000005678", heartbeat: 1s}
`, map[string]string{"DIR": t.TempDir(), "CENTRE": centreAddr.String()})
	_, base, _ := startGateway(t, site)
	testenv.WaitFor(t, 10*time.Second, "the link up", func() bool { return forwardStatus(t, base).Connected })

	post := func(url, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(centreBase+"/api/v1/uitds/5678/duty-check", `{"minutes": 3}`); code != 200 {
		t.Fatalf("the centre's 查岗: %d %s", code, body)
	}
	b := testenv.Browser(t, bin)
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`#duty-check #duty-answer`),
	); err != nil {
		t.Fatalf("duty-check banner: %v", err)
	}
	text, err := chromedp.Run(b, chromedp.Text(`#duty-text`))
	if err != nil || !strings.HasPrefix(text, "监控中心查岗：请在 2:5") {
		t.Errorf("banner %q (%v), want a countdown from 3 minutes", text, err)
	}
	testenv.Screenshot(t, b, "duty-check")
	if err := chromedp.Do(b,
		chromedp.Click(`#duty-answer`),
		chromedp.WaitNotVisible(`#duty-check`),
	); err != nil {
		t.Fatalf("answer: %v", err)
	}
	// The centre has the answer.
	testenv.WaitFor(t, 10*time.Second, "the centre sees the answer", func() bool {
		resp, err := http.Get(centreBase + "/api/v1/uitds/5678")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st gb26875.DeviceStatus
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Duty != nil && st.Duty.Answered != nil
	})
	st := forwardStatus(t, base)
	if st.DutyCheck != nil || len(st.DutyChecks) != 1 || st.DutyChecks[0].AnsweredBy != "local" || st.DutyChecks[0].AnsweredAt == nil {
		t.Errorf("the control room's book %+v", st.DutyChecks)
	}
	if code, _ := post(base+"/api/v1/forward/duty-check", ""); code != http.StatusConflict {
		t.Errorf("a second answer: %d, want 409", code)
	}
}
