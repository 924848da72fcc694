package api_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting"
	"hazgate/sim/testenv"
)

// TestAlarmHandlingInChromium is the control room's loop on a real page: a
// level-2 gas alarm sounds the horn in its critical pattern; the operator
// acknowledges it with a comment (the horn drops to the level-1 alarm's
// pattern); the gas clears and, since the site requires a disposal for
// critical alarms, the alarm waits for one (待处置) until the operator
// files it with the form.
func TestAlarmHandlingInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, true)
	ctx := testenv.Browser(t, bin)
	if err := chromedp.Do(ctx, chromedp.Navigate(g.base+"/")); err != nil {
		t.Fatal(err)
	}
	// The horn is on in this browser, for every severity.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`localStorage.setItem('hazgate.horn',
		JSON.stringify({on: true, critical: true, high: true, medium: true, low: true})), true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, operatorLogin(g.base)...); err != nil {
		t.Fatalf("login: %v", err)
	}
	if site, _ := chromedp.Run(ctx, chromedp.Text("#site")); site != "浏览器测试化工 (browser-01)" {
		t.Errorf("header shows %q, want the enterprise's name", site)
	}

	g.gas.SetLEL(0, 60) // above both levels: H (high) and HH (critical)
	hh := `#alarm-rows tr.state-active_unacked`
	horn := func(want string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.horn === `+strconv.Quote(want),
			chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.horn`))
			t.Fatalf("horn %q, want %q", got, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(hh+` + tr.state-active_unacked`)); err != nil {
		t.Fatalf("two alarm rows: %v", err)
	}
	horn("critical")
	// The first row is the most urgent: level 2, in Chinese, no English.
	first, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => { const r = document.querySelector('#alarm-rows tr');
		return { id: r.dataset.id, level: r.querySelector('.level').textContent, msg: r.querySelector('.msg').textContent,
			point: r.querySelector('.point').textContent, value: r.querySelector('.value').textContent }; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if first["level"] != "二级" || first["point"] != "1号储罐区可燃气体 GT-101" || first["value"] != "60 %LEL" ||
		first["msg"] != "罐区A 1号储罐区可燃气体 60 %LEL 超过二级报警值 50（GB/T 50493-2019 5.5.1）" {
		t.Errorf("first row %v", first)
	}
	id := first["id"]
	byID := `#alarm-rows tr[data-id="` + id + `"]`

	if err := chromedp.Do(ctx,
		chromedp.Click(byID+` td.msg`),
		chromedp.WaitVisible(`#ack-comment`),
		chromedp.SendKeys(`#ack-comment`, "现场已确认，启动排风"),
		chromedp.Click(`#ack-with-comment`),
		chromedp.WaitVisible(byID+`.state-active_acked`),
	); err != nil {
		t.Fatalf("ack with comment: %v", err)
	}
	if a := g.alarm(t, id); a.State != alerting.ActiveAcked || a.AckComment != "现场已确认，启动排风" || a.AckedBy != "ctrl-room" {
		t.Fatalf("after ack the API has %+v", a)
	}
	horn("high") // the level-1 alarm still waits

	g.gas.SetLEL(0, 0)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(byID+`.state-awaiting_disposal button.dispose`)); err != nil {
		t.Fatalf("awaiting disposal: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(byID+` button.dispose`),
		chromedp.WaitVisible(`#dp-measures`),
		chromedp.SendKeys(`#dp-measures`, "关闭根部阀，更换法兰垫片"),
		chromedp.SetValue(`#dp-person`, "李班长"),
	); err != nil {
		t.Fatalf("disposal form: %v", err)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('dp-cause');
		s.value = 'leak'; return s.options[s.selectedIndex].textContent === '泄漏'; })()`)); err != nil || !ok {
		t.Fatalf("cause 泄漏 not offered: %v", err)
	}
	testenv.Screenshot(t, ctx, "alarm-disposal")
	if err := chromedp.Do(ctx,
		chromedp.Click(`#dp-submit`),
		chromedp.WaitNotPresent(byID),
	); err != nil {
		t.Fatalf("dispose: %v", err)
	}
	a := g.alarm(t, id)
	if a.State != alerting.Normal || a.Disposal == nil || a.Disposal.Cause != alerting.CauseLeak ||
		a.Disposal.Measures != "关闭根部阀，更换法兰垫片" || a.Disposal.Person != "李班长" || a.Disposal.By != "ctrl-room" {
		t.Fatalf("after the disposal the API has %+v (disposal %+v)", a, a.Disposal)
	}
	// The detail shows the history: raised, acked with its comment, cleared, disposed.
	hist, err := chromedp.Run(ctx, chromedp.Poll[[]string](`(() => { const r = [...document.querySelectorAll('#ad-history tr')].map(tr => tr.children[1].textContent);
		return r.length >= 4 && r; })()`, chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || len(hist) != 4 || hist[0] != "报警" || hist[1] != "确认" || hist[3] != "处置" {
		t.Errorf("history %v (%v)", hist, err)
	}
}

// TestHornInChromium: in a fresh browser profile the horn is on and sounds
// for an unacknowledged level-2 gas alarm; on a page not clicked yet (a
// reload) the browser keeps audio suspended, and the page says 点击启用报警声
// until the first click anywhere. Turned off, it stays off across a reload; turned on again it
// stops once the alarms are acknowledged.
func TestHornInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, true)
	ctx := testenv.Browser(t, bin)
	// until waits for a condition with plain evaluations: chromedp.Poll
	// runs as a user gesture, which would let the browser (started with
	// desktop Chrome's autoplay policy, see testenv.Browser) start the audio.
	until := func(cond string, d time.Duration) error {
		for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err == nil && ok {
				return nil
			}
			if time.Now().After(end) {
				return fmt.Errorf("%s: not within %v (%v)", cond, d, err)
			}
		}
	}
	horn := func(want string) {
		t.Helper()
		if err := until(`document.body.dataset.horn === `+strconv.Quote(want), 10*time.Second); err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.horn`))
			t.Fatalf("horn %q, want %q", got, want)
		}
	}
	sound := func(want string) {
		t.Helper()
		if got, err := chromedp.Run(ctx, chromedp.Text("#sound")); err != nil || got != want {
			t.Errorf("sound button %q (%v), want %q", got, err, want)
		}
	}
	// The control room's screen comes back with its session (no click on
	// this page yet).
	if err := chromedp.Do(ctx, chromedp.Navigate(g.base+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sessionStorage.setItem('hazgate.token', `+strconv.Quote(operatorToken)+`), true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#live.on")); err != nil {
		t.Fatalf("reload with the session: %v", err)
	}
	if stored, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`localStorage.getItem('hazgate.horn') !== null`)); stored {
		t.Fatal("a fresh profile already has horn preferences")
	}
	sound("声音：开")

	g.gas.SetLEL(0, 60) // level 2: critical
	horn("critical")
	if err := until(`!!horn.ctx && horn.ctx.state === 'suspended' && !document.getElementById('horn-hint').hidden`, 5*time.Second); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`horn.ctx ? horn.ctx.state : 'none'`))
		t.Fatalf("no 点击启用报警声 prompt for a suspended AudioContext (audio %s): %v", st, err)
	}
	if hint, _ := chromedp.Run(ctx, chromedp.Text("#horn-hint")); hint != "点击启用报警声" {
		t.Errorf("hint %q", hint)
	}
	// The first click anywhere starts the audio and the prompt goes.
	if err := chromedp.Do(ctx, chromedp.Click("#alarm-count")); err != nil {
		t.Fatal(err)
	}
	if err := until(`horn.ctx.state === 'running' && document.getElementById('horn-hint').hidden`, 5*time.Second); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`horn.ctx.state`))
		t.Fatalf("after a click the audio is %q or the prompt still shows: %v", st, err)
	}

	// Off, and still off after a reload.
	if err := chromedp.Do(ctx, chromedp.Click("#sound")); err != nil {
		t.Fatal(err)
	}
	horn("")
	sound("声音：关")
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#live.on"),
		chromedp.WaitVisible(`#alarm-rows tr.state-active_unacked`)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the horn's state follows the list
	horn("")
	sound("声音：关")

	// On again; acknowledging every alarm stops it.
	if err := chromedp.Do(ctx, chromedp.Click("#sound")); err != nil {
		t.Fatal(err)
	}
	horn("critical")
	for range 2 { // level 2 (critical), then level 1 (high)
		if err := chromedp.Do(ctx, chromedp.Click(`#alarm-rows tr.state-active_unacked button.ack`)); err != nil {
			t.Fatalf("ack: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	horn("")
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#alarm-rows tr.state-active_unacked').length`)); n != 0 {
		t.Errorf("%d alarms still unacknowledged", n)
	}
	sound("声音：开")
}

// TestAlarmListValuesInChromium: a gas row shows its reading with the unit,
// a detector that stopped answering (communication loss) shows no value,
// not 0, and the API leaves the value out too; switched to English, the
// list shows the alarm's English message from the same catalogue.
func TestAlarmListValuesInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, true)
	ctx := testenv.Browser(t, bin)
	if err := chromedp.Do(ctx, operatorLogin(g.base)...); err != nil {
		t.Fatalf("login: %v", err)
	}
	g.gas.SetLEL(0, 52)    // GT-101: levels 1 and 2
	g.gas.Silence(1, true) // GT-102 stops answering; the controller still does
	type row struct{ ID, Point, Level, Value, Msg string }
	rows, err := chromedp.Run(ctx, chromedp.Poll[[]row](`(() => {
		const rs = [...document.querySelectorAll('#alarm-rows tr')].map(r => ({ ID: r.dataset.id,
			Point: r.querySelector('.point').textContent, Level: r.querySelector('.level').textContent,
			Value: r.querySelector('.value').textContent, Msg: r.querySelector('.msg').textContent }));
		return rs.length >= 3 && rs; })()`, chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		t.Fatalf("three alarm rows: %v", err)
	}
	var gas, lost row
	for _, r := range rows {
		switch {
		case r.Level == "二级":
			gas = r
		case r.Level == "通信中断":
			lost = r
		}
	}
	if gas.ID == "" || gas.Value != "52 %LEL" {
		t.Errorf("level-2 gas row %+v, want the value 52 %%LEL (rows %+v)", gas, rows)
	}
	if lost.ID == "" || lost.Value != "" || lost.Point != "泵房可燃气体 GT-102" {
		t.Errorf("communication-loss row %+v, want GT-102 with no value (rows %+v)", lost, rows)
	}
	if lost.ID != "" {
		raw := g.alarmJSON(t, lost.ID)
		if v, has := raw["value"]; has || raw["class"] != alerting.ClassCommLoss {
			t.Errorf("the API's comm-loss alarm has value %v (class %v)", v, raw["class"])
		}
	}

	a := g.alarm(t, gas.ID)
	if a.MessageEN == "" || a.MessageEN == a.Message {
		t.Fatalf("alarm %s has no English message of its own: %q / %q", gas.ID, a.Message, a.MessageEN)
	}
	if gas.Msg != a.Message {
		t.Errorf("Chinese console shows %q, want %q", gas.Msg, a.Message)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#lang")); err != nil {
		t.Fatal(err)
	}
	sel := `#alarm-rows tr[data-id="` + gas.ID + `"] .msg`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector(`+strconv.Quote(sel)+`).textContent === `+strconv.Quote(a.MessageEN),
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(sel))
		t.Errorf("English console shows %q, want %q", got, a.MessageEN)
	}
	if lvl, _ := chromedp.Run(ctx, chromedp.Text(`#alarm-rows tr[data-id="`+lost.ID+`"] .level`)); lvl != "Comm loss" {
		t.Errorf("English comm-loss level %q", lvl)
	}
}

// alarmJSON is GET /api/v1/alarms/{id} as the JSON says it, absent keys absent.
func (g *gateway) alarmJSON(t *testing.T, id string) map[string]any {
	t.Helper()
	var m map[string]any
	g.getAlarm(t, id, &m)
	return m
}
