package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/api"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	_ "hazgate/protocols/modbus" // registers the modbus protocol
	"hazgate/sim"
	"hazgate/sim/testenv"
)

const operatorToken = "console-operator-token-0123"

// gateway is the running pieces a console needs: a simulated gas
// controller polled over Modbus, the pipeline, the alarm and hazard
// engines on a journal, and the API on a loopback port.
type gateway struct {
	gas     *sim.GasController
	base    string
	history *recordedHistory // what the history route was asked
}

// startGateway starts one; withTokens gives it the operator token, else it
// runs unauthenticated on loopback as the demo does.
func startGateway(t *testing.T, withTokens bool) *gateway {
	t.Helper()
	httpBlock := `http: {listen: "127.0.0.1:0"}`
	if withTokens {
		httpBlock = fmt.Sprintf(`http: {listen: "127.0.0.1:0", tokens: [{name: ctrl-room, role: operator, token: %s}]}`, operatorToken)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gas, err := sim.NewGasController("127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := gas.Start(); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`site: {id: browser-01, name: 浏览器测试化工}
%s
devices:
  - id: gds-1
    protocol: modbus
    url: %s
    unit_id: 1
    interval: 200ms
    timeout: 500ms
    tags:
      - {id: GT-101, name: 1号储罐区可燃气体, kind: combustible_gas, unit: "%%LEL", area: 罐区A, register: {table: input, address: 0, scale: 0.1}}
      - {id: GT-102, name: 泵房可燃气体, kind: combustible_gas, unit: "%%LEL", area: 泵房, register: {table: input, address: 1, scale: 0.1}}
rules:
  - {name: lel, match: {kind: combustible_gas}, preset: gb50493-combustible, deadband: 2}
alarm_handling: {require_disposal: [critical]}
`, httpBlock, gas.URL())
	cfg, err := config.Parse("browser.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	reg, latest, hist := collector.NewRegistry(), collector.NewLatest(), collector.NewHistory(0, 0)
	bus := alerting.NewBus(j, log)
	eng, err := alerting.NewEngine(cfg.Site.ID, cfg.Rules, reg, j, bus, log)
	if err != nil {
		t.Fatal(err)
	}
	eng.SetHandling(cfg.AlarmHandling)
	hz, err := hazard.NewEngine(ctx, j.DB(), hazard.Options{Site: cfg.Site.ID, Unit: cfg.Site.Name, Tags: reg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	pipe := collector.NewPipeline(latest, eng, hist)
	dev, err := protocols.New(protocols.Env{Site: cfg.Site.ID, Emit: pipe, Tags: reg, Log: log}, cfg.Devices[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range dev.Tags() {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	points := &recordedHistory{PointHistory: api.MemoryHistory(hist)}
	h, err := api.New(api.Options{Site: cfg.Site.ID, SiteName: cfg.Site.Name, Latest: latest, Tags: reg, Alarms: j, Control: eng, History: j,
		Hazards: hz, AlarmFeed: bus, HazardFeed: hz, Points: points, Limits: eng, Tokens: cfg.HTTP.Tokens, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.Listen(ctx, cfg.HTTP.Listen, h, log)
	if err != nil {
		t.Fatal(err)
	}
	var done []chan struct{}
	for _, run := range []func(){
		func() { pipe.Run(ctx) },
		func() { eng.Run(ctx, 200*time.Millisecond) },
		func() { hz.Run(ctx, bus, j, time.Second) },
		func() { _ = dev.Run(ctx) },
		func() { _ = srv.Serve(ctx) },
	} {
		c := make(chan struct{})
		done = append(done, c)
		go func() { defer close(c); run() }()
	}
	t.Cleanup(func() {
		cancel()
		for _, c := range done {
			<-c
		}
		j.Close()
		gas.Close()
	})
	return &gateway{gas: gas, base: "http://" + srv.Addr(), history: points}
}

func (g *gateway) alarm(t *testing.T, id string) alerting.Alarm {
	t.Helper()
	var a alerting.Alarm
	g.getAlarm(t, id, &a)
	return a
}

// getAlarm decodes GET /api/v1/alarms/{id}, as the operator, into v.
func (g *gateway) getAlarm(t *testing.T, id string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.base+"/api/v1/alarms/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// operatorLogin signs the operator in on the console at base and waits
// for the live feed.
func operatorLogin(base string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", operatorToken),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#live.on"),
	}
}

// TestConsoleInChromium logs in to the console of a running gateway, sees
// the alarm a simulated detector raises appear, acknowledges it with the
// button, and checks the page and the API agree.
func TestConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, true)
	ctx := testenv.Browser(t, bin)

	// The page asks for the token first.
	if err := chromedp.Do(ctx, operatorLogin(g.base)...); err != nil {
		t.Fatalf("login: %v", err)
	}
	// A plant gateway answers 501 on the hub's routes: no hub tabs.
	hubTabs, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelectorAll('nav .hub-only').length === 3 &&
		document.querySelectorAll('nav .hub-only:not([hidden])').length + 1`, chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || hubTabs != 1 {
		t.Errorf("hub tabs shown on a plant gateway: %d visible (%v)", hubTabs-1, err)
	}

	// A level-1 gas reading: the alarm must reach the open page live.
	g.gas.SetLEL(0, 31)
	row := `#alarm-rows tr.state-active_unacked`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row+` button.ack`)); err != nil {
		t.Fatalf("alarm row: %v", err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(row, "data-id"))
	if err != nil || !attr.Exists {
		t.Fatalf("alarm row id: %v", err)
	}
	id := attr.Value
	if a := g.alarm(t, id); a.Tag != "GT-101" || a.State != alerting.ActiveUnacked {
		t.Fatalf("API has alarm %s as %+v", id, a)
	}

	if err := chromedp.Do(ctx,
		chromedp.Click(row+` button.ack`),
		chromedp.WaitVisible(`#alarm-rows tr.state-active_acked[data-id="`+id+`"]`),
	); err != nil {
		t.Fatalf("ack: %v", err)
	}
	a := g.alarm(t, id)
	if a.State != alerting.ActiveAcked || a.AckedBy != "ctrl-room" {
		t.Fatalf("after the click the API has %+v, want active_acked by ctrl-room", a)
	}

	// The overview shows the area orange (a level-1 alarm) and the other blue.
	if err := chromedp.Do(ctx,
		chromedp.Click(`nav button[data-tab="overview"]`),
		chromedp.WaitVisible(`#areas .area[data-area="罐区A"]`),
	); err != nil {
		t.Fatalf("overview: %v", err)
	}
	colours, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('#areas .area')].map(e => [e.dataset.area, e.className]))`))
	if err != nil {
		t.Fatal(err)
	}
	if colours["罐区A"] != "area colour-orange" || colours["泵房"] != "area colour-blue" {
		t.Errorf("overview colours %v", colours)
	}

	if err := chromedp.Do(ctx,
		chromedp.Click(`nav button[data-tab="alarms"]`),
		chromedp.WaitVisible(`#alarm-rows tr[data-id="`+id+`"]`),
	); err != nil {
		t.Fatal(err)
	}
	testenv.Screenshot(t, ctx, "console")
}

// TestTokenlessConsoleInChromium: without tokens the API takes changes only
// from its own console's origin (issue 14.1); the console's buttons still
// work, an unshelve without a body included.
func TestTokenlessConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, false)
	ctx := testenv.Browser(t, bin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(g.base+"/"),
		chromedp.WaitVisible("#app"),
		chromedp.WaitVisible("#live.on"),
	); err != nil {
		t.Fatalf("open: %v", err)
	}
	g.gas.SetLEL(0, 31)
	row := `#alarm-rows tr.state-active_unacked`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row+` button.ack`)); err != nil {
		t.Fatalf("alarm row: %v", err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(row, "data-id"))
	if err != nil || !attr.Exists {
		t.Fatalf("alarm row id: %v", err)
	}
	id := attr.Value
	byID := `#alarm-rows tr[data-id="` + id + `"]`
	// Shelving asks for a reason and minutes with prompt(): answer them.
	answers := `(() => { const a = ['maintenance', '60']; window.prompt = () => a.shift(); return true; })()`
	if err := chromedp.Do(ctx,
		chromedp.Click(row+` button.ack`),
		chromedp.WaitVisible(byID+`.state-active_acked button.shelve`),
	); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](answers)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(byID+` button.shelve`),
		chromedp.WaitVisible(byID+`.state-shelved button.unshelve`),
	); err != nil {
		t.Fatalf("shelve: %v", err)
	}
	if a := g.alarm(t, id); a.State != alerting.Shelved || a.AckedBy != "local" {
		t.Fatalf("after ack and shelve the API has %+v, want shelved, acked by local", a)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(byID+` button.unshelve`),
		chromedp.WaitNotPresent(byID+`.state-shelved`),
	); err != nil {
		t.Fatalf("unshelve: %v", err)
	}
	if a := g.alarm(t, id); a.State == alerting.Shelved {
		t.Fatalf("after unshelve the API has %+v", a)
	}
}
