package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting"
	"hazgate/alerting/kpi"
	"hazgate/alerting/shift"
	"hazgate/sim/testenv"
)

// kpiJournal commits, relative to today in Beijing time, on the site's two
// points: two days ago three alarms (one disposed as 误报), yesterday one
// disposed as a leak and T102-LEL's communication loss from 12:00 to 18:00
// (6 h of 2 × 24 point-hours: 离线率 12.5 %); today one, still open.
func kpiJournal(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	today := kpi.DayStart(time.Now())
	commit := func(tag, class string, day, hour int, dur time.Duration, cause string) {
		t.Helper()
		raised := today.AddDate(0, 0, -day).Add(time.Duration(hour) * time.Hour)
		acked, cleared := raised.Add(time.Minute), raised.Add(dur)
		a := alerting.Alarm{Site: "cz-demo-01", Tag: tag, Rule: class, Level: alerting.LevelH, Class: class, Severity: alerting.SeverityHigh,
			State: alerting.Normal, RaisedAt: raised, AckedAt: &acked, ClearedAt: &cleared, Count: 1, Message: class}
		if cause != "" {
			a.Disposal = &alerting.Disposal{Cause: cause, Measures: "现场复核", Person: "张三", At: raised.Add(10 * time.Minute), By: "ctrl-room"}
		}
		if _, err := f.journal.Commit(ctx, alerting.EventRaised, a, raised); err != nil {
			t.Fatal(err)
		}
	}
	commit("T101-LEL", "lel", 2, 10, 5*time.Minute, alerting.CauseFalseAlarm)
	commit("T101-LEL", "lel", 2, 11, 5*time.Minute, "")
	commit("T102-LEL", "lel", 2, 12, 5*time.Minute, "")
	commit("T101-LEL", "lel", 1, 9, 5*time.Minute, alerting.CauseLeak)
	commit("T102-LEL", alerting.ClassCommLoss, 1, 12, 6*time.Hour, "")
	// And one open now, raised today (however soon after midnight): the
	// shift report's.
	raised := time.Now().Add(-min(30*time.Minute, time.Since(today)/2))
	a := alerting.Alarm{Site: "cz-demo-01", Tag: "T102-LEL", Rule: "lel", Level: alerting.LevelHH, Class: "lel", Severity: alerting.SeverityCritical,
		State: alerting.ActiveUnacked, Active: true, RaisedAt: raised, Count: 1, Message: "2号罐区可燃气体 62 %LEL 超过二级报警值 50"}
	if _, err := f.journal.Commit(ctx, alerting.EventRaised, a, raised); err != nil {
		t.Fatal(err)
	}
}

// TestKPIConsoleInChromium opens the KPI tab as a viewer: seven bars, the
// figures of the fixture, thirty bars when asked, and the shift report in
// a new tab with its style applied under the console's policy.
func TestKPIConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	f := newFixture(t, testTokens)
	f.h.kpis = kpi.NewReader(f.journal.DB())
	f.h.shift = &shift.Builder{Site: "cz-demo-01", Unit: "演示化工有限公司", DB: f.journal.DB(), Tags: testTags(t)}
	kpiJournal(t, f)
	base := serveConsole(t, f)
	b := testenv.Browser(t, bin)

	day := func(n int) string { return kpi.DayStart(time.Now()).AddDate(0, 0, -n).Format(time.DateOnly) }
	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", tokenOf(RoleViewer)),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#app"),
		chromedp.Click(`nav button[data-tab="kpi"]`),
		chromedp.WaitVisible(`#kpi-rows tr[data-date="`+day(2)+`"]`),
	); err != nil {
		t.Fatalf("KPI tab: %v", err)
	}
	type figures struct {
		Bars, Guidance int
		Heading        string
		Values         []string
		Before, Last   []string // the table's rows of two days ago and yesterday
		Top            []string
	}
	read := `(() => {
		const row = (d) => [...document.querySelectorAll('#kpi-rows tr[data-date="' + d + '"] td')].map((e) => e.textContent);
		return {
			bars: document.querySelectorAll('#kpi-bars rect.bar').length,
			guidance: document.querySelectorAll('#kpi-bars line.guidance').length,
			heading: document.querySelector('nav button[data-tab="kpi"]').textContent,
			values: [...document.querySelectorAll('#kpi-bars text.bar-value')].map((e) => e.textContent),
			before: row('` + day(2) + `'), last: row('` + day(1) + `'),
			top: [...document.querySelectorAll('#kpi-top tr:first-child td')].map((e) => e.textContent),
		};
	})()`
	got, err := chromedp.Run(b, chromedp.Evaluate[figures](read))
	if err != nil {
		t.Fatal(err)
	}
	if got.Bars != 7 || got.Guidance != 1 || got.Heading != "指标" {
		t.Errorf("%d bars, %d guidance lines, tab %q; want 7, 1, 指标", got.Bars, got.Guidance, got.Heading)
	}
	// Bars oldest first: two days ago 3, yesterday 2, today 1.
	if want := []string{"0", "0", "0", "0", "3", "2", "1"}; !equal(got.Values, want) {
		t.Errorf("bar values %v, want %v", got.Values, want)
	}
	// 日期 报警次数 报警率 处置率 误报率 确认 处置 离线率 …
	if len(got.Before) < 8 || got.Before[1] != "3" || got.Before[2] != "1.50" || got.Before[3] != "33.3%" || got.Before[4] != "33.3%" || got.Before[7] != "0.0%" {
		t.Errorf("two days ago: %q", got.Before)
	}
	if len(got.Last) < 8 || got.Last[1] != "2" || got.Last[3] != "50.0%" || got.Last[5] != "1分" || got.Last[7] != "12.5%" {
		t.Errorf("yesterday: %q", got.Last)
	}
	if len(got.Top) < 5 || got.Top[1] != "T101-LEL" || got.Top[2] != "1号罐区可燃气体" || got.Top[3] != "3" {
		t.Errorf("top source %q", got.Top)
	}
	testenv.Screenshot(t, b, "console-kpi")

	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('kpi-days');
		s.value = '30'; return s.dispatchEvent(new Event('change')); })()`)); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(b, chromedp.Poll[int](`document.querySelectorAll('#kpi-bars rect.bar').length === 30 && 30`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || n != 30 {
		t.Errorf("30 days: %d bars (%v)", n, err)
	}
	// Every fifth day labelled, counting back from today.
	labels, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#kpi-bars text.day-label')].map((e) => e.textContent)`))
	if err != nil || len(labels) != 6 || labels[5] != day(0)[5:] {
		t.Errorf("30 days: labels %v (%v), want 6 ending with today", labels, err)
	}

	// 报警记录 downloads the alarm ledger of the period shown: the six
	// alarms of the fixture's days, a header and a row each. The download
	// is stood in for: the blob is read where the console makes it.
	catch := `(() => { window.saved = null;
		const made = URL.createObjectURL; // the page's CSP lets no fetch read a blob: URL back
		URL.createObjectURL = (blob) => { window.blob = blob; return made(blob); };
		HTMLAnchorElement.prototype.click = function () {
			const name = this.download;
			window.blob.text().then((txt) => { window.saved = { name, lines: txt.trim().split('\r\n').length }; });
		};
		return true; })()`
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](catch)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(document.getElementById('ledger-csv').click(), true)`)); err != nil {
		t.Fatal(err)
	}
	type saved struct {
		Name  string
		Lines int
	}
	got2, err := chromedp.Run(b, chromedp.Poll[saved](`window.saved`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !strings.HasPrefix(got2.Name, "alarms-cz-demo-01-") || !strings.HasSuffix(got2.Name, ".csv") || got2.Lines != 7 {
		t.Errorf("报警记录 saved %+v (%v), want alarms-cz-demo-01-….csv of a header and 6 alarms", got2, err)
	}

	// 交接班报表 opens the printable page in a new tab, styled: the console's
	// policy, which the page's blob inherits, allows its stylesheet. The tab
	// is stood in for, and the page shown in this one from the same blob.
	stub := `(() => { window.opened = '';
		window.open = () => { const w = { close() {} }; Object.defineProperty(w, 'location', { set(u) { window.opened = u; } }); return w; };
		return true; })()`
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](stub)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, chromedp.Click("#shift-html")); err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(b, chromedp.Poll[string](`window.opened`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !strings.HasPrefix(url, "blob:") {
		t.Fatalf("交接班报表 opened %q (%v), want a blob", url, err)
	}
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(location.href = window.opened, true)`)); err != nil {
		t.Fatal(err)
	}
	// chromedp's DOM queries lose track of a page navigated to a blob, so
	// the page is read by script, again while the old page's context goes.
	type page struct {
		Heading, Colour string
		Open            int // rows of 未关闭报警
	}
	var p page
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		p, err = chromedp.Run(b, chromedp.Evaluate[page](`document.querySelector('h2') ?
			{heading: document.querySelector('h1').textContent, colour: getComputedStyle(document.querySelector('h2')).borderLeftColor,
			 open: document.querySelectorAll('h2 + table')[0] ? document.querySelectorAll('h2 + table')[0].tBodies[0].rows.length : 0} : {}`))
		if err == nil && p.Heading != "" {
			break
		}
	}
	if p.Heading != "演示化工有限公司 交接班报表" || p.Open != 1 || p.Colour != "rgb(48, 84, 150)" {
		t.Errorf("report %+v: want its heading and its stylesheet's #305496 section marks", p)
	}
	testenv.Screenshot(t, b, "console-shift-report")
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
