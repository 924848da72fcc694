package api

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/hub"
	"hazgate/collector"
	"hazgate/sim/testenv"
)

// hubLogin signs in to the console at base with token and waits for the
// hub's site list to show site.
func hubLogin(base, token, site string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", token),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible(`#hs-rows tr[data-site="` + site + `"]`),
	}
}

// serveConsole serves f's API and console on a free loopback port until
// the test ends, and returns its base URL.
func serveConsole(t *testing.T, f *fixture) string { return serveHandler(t, f.h) }

// TestHubConsoleInChromium opens a regulator hub's console (a real hub
// store on SQLite, hub.Ingest sending the commands) as the city bureau:
// the sites with the offline one marked, the cross-site alarms paged and
// filtered on the server, and 挂牌督办 of a 重大隐患 recorded as a command.
func TestHubConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	base := serveConsole(t, f)
	b := testenv.Browser(t, bin)

	// A hub opens on its sites.
	if err := chromedp.Do(b, hubLogin(base, "city-token-0123456789", "nj-03")...); err != nil {
		t.Fatalf("login: %v", err)
	}
	type siteRow struct {
		Site, Class, Dot, Text string
	}
	rows, err := chromedp.Run(b, chromedp.Evaluate[[]siteRow](`[...document.querySelectorAll('#hs-rows tr')].map(r =>
		({site: r.dataset.site, class: r.className, dot: r.querySelector('.dot').className, text: r.textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("sites table: %+v, want 3 rows", rows)
	}
	for _, r := range rows {
		offline := r.Site == "nj-02"
		if (r.Class == "site-offline") != offline {
			t.Errorf("site %s row class %q", r.Site, r.Class)
		}
		if offline && !strings.Contains(r.Text, "离线") {
			t.Errorf("offline site %s reads %q: want 离线 and how long", r.Site, r.Text)
		}
		if r.Dot != "dot colour-orange" { // fillHub's summaries: one open high alarm each
			t.Errorf("site %s dot %q", r.Site, r.Dot)
		}
	}

	// Alarms across sites: six open, paged by the server.
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	change := func(id, value string) chromedp.Action[chromedp.Void] {
		js := `(() => { const e = document.getElementById(` + strconv.Quote(id) + `); e.value = ` + strconv.Quote(value) +
			`; e.dispatchEvent(new Event('change')); return true; })()`
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](js)(ctx, tg)
			return chromedp.Void{}, err
		}
	}
	rowCount := func(n int) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.querySelectorAll('#ha-rows tr').length === `+strconv.Itoa(n),
			chromedp.WithPollingTimeout(10*time.Second))
	}
	if err := chromedp.Do(b,
		chromedp.Click(`nav button[data-tab="hub-alarms"]`),
		chromedp.WaitVisible(`#ha-rows tr`),
		rowCount(6),
	); err != nil {
		t.Fatalf("alarms: %v", err)
	}
	if got := text("#ha-count"); got != "共 6 条" {
		t.Errorf("alarm count %q, want 共 6 条", got)
	}
	stale, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#ha-rows tr.stale')].map(r => r.dataset.site + ' ' + r.querySelector('.stale-note').textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 2 || stale[0] != "nj-02 站点离线，状态截至最后一次通信" {
		t.Errorf("stale rows %q, want nj-02's two with the note", stale)
	}
	if err := chromedp.Do(b, change("ha-limit", "4"), rowCount(4)); err != nil {
		t.Fatalf("limit 4: %v", err)
	}
	if got := text("#ha-page"); got != "第 1/2 页" {
		t.Errorf("page %q, want 第 1/2 页", got)
	}
	if err := chromedp.Do(b, chromedp.Click("#ha-next"), rowCount(2)); err != nil {
		t.Fatalf("next page: %v", err)
	}
	if got := text("#ha-page") + " " + text("#ha-count"); got != "第 2/2 页 共 6 条" {
		t.Errorf("second page reads %q", got)
	}
	if err := chromedp.Do(b, change("ha-region", "江宁区"), rowCount(2)); err != nil {
		t.Fatalf("region: %v", err)
	}
	if got := text("#ha-count") + " " + text("#ha-page"); got != "共 2 条 第 1/1 页" {
		t.Errorf("江宁区 reads %q, want 共 2 条 on one page", got)
	}
	sites, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#ha-rows tr')].map(r => r.dataset.site)`))
	if err != nil || len(sites) != 2 || sites[0] != "nj-03" || sites[1] != "nj-03" {
		t.Errorf("江宁区 rows are of sites %v (%v), want nj-03's", sites, err)
	}

	// 挂牌督办 of nj-01's 重大隐患: the 督办意见 and the deadline by prompt().
	answers := `(() => { const a = ['限期整改，报送整改方案', '2026-12-31']; window.prompt = () => a.shift(); return true; })()`
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](answers)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b,
		chromedp.Click(`nav button[data-tab="hub-hazards"]`),
		chromedp.WaitVisible(`#hh-rows tr[data-site="nj-01"] button.supervise`),
		chromedp.Click(`#hh-rows tr[data-site="nj-01"] button.supervise`),
		chromedp.WaitVisible(`#hc-rows tr[data-site="nj-01"].cmd-pending`),
	); err != nil {
		t.Fatalf("supervise: %v", err)
	}
	cmds, err := f.hub.Commands(context.Background(), nil, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 31, 15, 59, 59, 0, time.UTC)
	if len(cmds) != 1 || cmds[0].Site != "nj-01" || cmds[0].Hazard != 1 || cmds[0].Type != hub.CommandSupervise ||
		cmds[0].By != "市应急局" || cmds[0].Note != "限期整改，报送整改方案" || cmds[0].Deadline == nil || !cmds[0].Deadline.Equal(want) {
		t.Fatalf("commands after the click: %+v", cmds)
	}
	if got := text(`#hc-rows tr[data-site="nj-01"]`); !strings.Contains(got, "挂牌督办") || !strings.Contains(got, "待下发") || !strings.Contains(got, "未确认") {
		t.Errorf("command row reads %q", got)
	}
	// Not twice while the site has not answered.
	if err := chromedp.Do(b, chromedp.WaitVisible(`#hh-rows tr[data-site="nj-01"] .supervise-pending`)); err != nil {
		t.Fatalf("pending 督办: %v", err)
	}
	if n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#hh-rows button.supervise').length`)); err != nil || n != 2 {
		t.Errorf("%d 挂牌督办 buttons left (%v), want nj-02's and nj-03's", n, err)
	}

	screenshot := func(name string) { t.Helper(); testenv.Screenshot(t, b, name) }
	screenshot("hub-hazards")
	if err := chromedp.Do(b,
		chromedp.Click(`nav button[data-tab="hub-sites"]`),
		chromedp.WaitVisible(`#hs-rows tr.site-offline`),
	); err != nil {
		t.Fatal(err)
	}
	screenshot("hub-sites")
}

// fillReadings gives nj-01 three readings (one of them T101-LEL, whose
// trend the test's history holds) and nj-03 one, which nj-01's
// drill-down must not show.
func fillReadings(t *testing.T, s *hub.Store) {
	t.Helper()
	now := time.Now().UTC()
	msg := func(site string, rs ...northbound.Reading) hub.Message {
		return hub.Message{Site: site, Readings: &northbound.ReadingMessage{V: 1, Site: site, Time: now, Seq: 1, Readings: rs}}
	}
	if _, err := s.Apply(context.Background(), []hub.Message{
		msg("nj-01",
			northbound.Reading{Tag: "T101-LEL", Kind: "combustible_gas", Unit: "%LEL", Value: 12.5, Quality: "good", Time: now.Add(-10 * time.Second)},
			northbound.Reading{Tag: "T201-O2", Kind: "oxygen", Unit: "%VOL", Value: 20.9, Quality: "good", Time: now.Add(-20 * time.Second)},
			northbound.Reading{Tag: "T301-TEMP", Kind: "temperature", Unit: "℃", Value: 41, Quality: "bad", Time: now.Add(-30 * time.Second)}),
		msg("nj-03", northbound.Reading{Tag: "X-OTHER", Kind: "smoke", Value: 1, Quality: "good", Time: now}),
	}, now); err != nil {
		t.Fatal(err)
	}
}

// lastHour is an hour of T101-LEL readings a minute apart, with a bad one
// that breaks the line, for the hub's trends.
func lastHour() PointHistory {
	h := collector.NewHistory(0, 0)
	now := time.Now()
	var batch []collector.Sample
	for i := 59; i >= 0; i-- {
		s := collector.Sample{Tag: "T101-LEL", Quality: collector.Good, Value: 10 + 5*math.Sin(float64(i)/6), Time: now.Add(-time.Duration(i) * time.Minute)}
		if i == 20 {
			s.Quality = collector.Bad
		}
		batch = append(batch, s)
	}
	h.Consume(context.Background(), batch)
	return MemoryHistory(h)
}

// TestHubSiteDrillDownInChromium opens 甲化工 (nj-01) from 监管总览 as the
// city bureau: its header, seven days of 在线率, its own alarms only, its
// hazards with one's history, its readings, a reading's trend drawn from
// the central InfluxDB, and back to the table. A hub without InfluxDB says
// so instead of drawing.
func TestHubSiteDrillDownInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	f := newFixtureWith(t, scopedTokens, func(o *Options) { o.HubTrends = trendsOf{lastHour()} })
	fillHub(t, f.hub)
	fillReadings(t, f.hub)
	b := testenv.Browser(t, bin)
	poll := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(10*time.Second))
	}
	login := func(base string) {
		t.Helper()
		if err := chromedp.Do(b, append(hubLogin(base, "city-token-0123456789", "nj-01"),
			chromedp.Click(`#hs-rows tr[data-site="nj-01"] strong`), // the site's name
			chromedp.WaitVisible("#hs-detail"),
			poll(`document.querySelectorAll('#sd-readings tr[data-tag]').length === 3`))...,
		); err != nil {
			t.Fatalf("open nj-01: %v", err)
		}
	}
	login(serveConsole(t, f))

	type detail struct {
		ListHidden             bool
		Title, Meta, State     string
		Days                   []string
		Alarms                 []string
		Hazards, Readings      []string
		AlarmCount, HazardHead string
		KPIDays                []string // date, alarms, 处置率
		KPIBars                int
		KPISummary             string
	}
	read := func() detail {
		t.Helper()
		d, err := chromedp.Run(b, chromedp.Evaluate[detail](`(() => {
			const txt = (sel) => [...document.querySelectorAll(sel)].map((r) => r.textContent);
			return { listHidden: document.getElementById('hs-list').hidden,
				title: document.getElementById('sd-title').textContent, meta: document.getElementById('sd-meta').textContent,
				state: document.getElementById('sd-state').textContent,
				days: [...document.querySelectorAll('#sd-days tr')].map((r) => r.dataset.date + ' ' + r.querySelector('.pct').textContent),
				alarms: [...document.querySelectorAll('#sd-alarms tr')].map((r) => r.dataset.site + ' ' + r.dataset.id),
				hazards: txt('#sd-hazards tr'), readings: [...document.querySelectorAll('#sd-readings tr')].map((r) => [...r.cells].map((c) => c.textContent).join('|')),
				alarmCount: document.getElementById('sd-alarm-count').textContent, hazardHead: document.getElementById('sd-hazard-count').textContent,
				kpiDays: [...document.querySelectorAll('#sd-kpi-rows tr')].map((r) => r.dataset.date + '|' + r.querySelector('.kpi-alarms').textContent + '|' + r.querySelector('.kpi-disposal').textContent),
				kpiBars: document.querySelectorAll('#sd-kpi-bars rect.bar').length, kpiSummary: document.getElementById('sd-kpi-summary').textContent };
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := read()
	if !d.ListHidden || d.Title != "甲化工" || d.Meta != "nj-01 · 江北新区 · 危化品生产" || !strings.HasPrefix(d.State, "在线") {
		t.Errorf("header: %+v", d)
	}
	if len(d.Days) != 7 {
		t.Errorf("在线率: %d days %q, want 7", len(d.Days), d.Days)
	}
	today := time.Now().In(hazard.Beijing).Format("2006-01-02")
	if len(d.Days) > 0 && !strings.HasPrefix(d.Days[len(d.Days)-1], today+" ") {
		t.Errorf("在线率 ends on %q, want today in Beijing (%s)", d.Days[len(d.Days)-1], today)
	}
	for _, day := range d.Days {
		if !strings.HasSuffix(day, "%") {
			t.Errorf("day %q: want a percentage", day)
		}
	}
	// The site's alarm KPIs, its own seven Beijing days: two alarms raised
	// 30 and 60 minutes ago (yesterday, near midnight), none disposed.
	if len(d.KPIDays) != 7 || d.KPIBars != 7 || !strings.HasPrefix(d.KPIDays[0], today+"|") {
		t.Errorf("KPIs: %d rows %q and %d bars, want 7 newest first from %s", len(d.KPIDays), d.KPIDays, d.KPIBars, today)
	}
	alarms := 0
	for _, day := range d.KPIDays {
		f := strings.Split(day, "|")
		n, _ := strconv.Atoi(f[1])
		alarms += n
		if want := map[bool]string{true: "0.0%", false: "–"}[n > 0]; f[2] != want {
			t.Errorf("KPI day %q: 处置率 %q, want %q", day, f[2], want)
		}
	}
	if alarms != 2 || !strings.Contains(d.KPISummary, "共 2 次报警，3 个点位") {
		t.Errorf("KPIs count %d alarms, summary %q; want 2 on 3 points", alarms, d.KPISummary)
	}
	if strings.Join(d.Alarms, ",") != "nj-01 1,nj-01 2" && strings.Join(d.Alarms, ",") != "nj-01 2,nj-01 1" {
		t.Errorf("alarms %q, want nj-01's two only", d.Alarms)
	}
	if d.AlarmCount != "共 2 条" {
		t.Errorf("alarm count %q", d.AlarmCount)
	}
	if len(d.Hazards) != 1 || !strings.Contains(d.Hazards[0], "nj-01-20261203-0001") || !strings.Contains(d.Hazards[0], "重大隐患") {
		t.Errorf("hazards %q, want nj-01's 重大隐患", d.Hazards)
	}
	wantReadings := []string{"T101-LEL|combustible_gas|12.5 %LEL|正常|", "T201-O2|oxygen|20.9 %VOL|正常|", "T301-TEMP|temperature|41 ℃|故障|"}
	if len(d.Readings) != len(wantReadings) {
		t.Fatalf("readings %q", d.Readings)
	}
	for i, w := range wantReadings {
		if !strings.HasPrefix(d.Readings[i], w) || !strings.Contains(d.Readings[i], time.Now().In(hazard.Beijing).Format("2006/01/02")) {
			t.Errorf("reading %d reads %q, want %q and a Beijing time", i, d.Readings[i], w)
		}
	}

	// A hazard's history, then a reading's trend: the line broken by the bad reading.
	if err := chromedp.Do(b,
		chromedp.Click(`#sd-hazards tr[data-id="1"]`),
		poll(`document.querySelectorAll('#sd-hz-events tr').length === 1`),
		chromedp.Click(`#sd-readings tr[data-tag="T101-LEL"]`),
		poll(`document.querySelectorAll('#sd-trend polyline').length === 2`),
	); err != nil {
		t.Fatalf("hazard history and trend: %v", err)
	}
	if got, err := chromedp.Run(b, chromedp.Text("#sd-hz-events")); err != nil || !strings.Contains(got, "登记") {
		t.Errorf("hazard history reads %q (%v), want its 登记", got, err)
	}
	if got, err := chromedp.Run(b, chromedp.Text("#sd-trend-title")); err != nil || got != "T101-LEL combustible_gas (%LEL)" {
		t.Errorf("trend title %q (%v)", got, err)
	}
	testenv.Screenshot(t, b, "hub-site-detail")

	// The language toggle keeps the drill-down open, in English.
	if err := chromedp.Do(b, chromedp.Click("#lang"), poll(`document.getElementById('sd-back').textContent === '‹ Back to sites'`),
		chromedp.Click("#lang"), poll(`document.getElementById('sd-back').textContent === '‹ 返回监管总览'`)); err != nil {
		t.Fatalf("language: %v", err)
	}
	if d := read(); !d.ListHidden || d.Title != "甲化工" || len(d.Readings) != 3 {
		t.Errorf("after the language toggle: %+v", d)
	}
	// Back to the table.
	if err := chromedp.Do(b, chromedp.Click("#sd-back"), chromedp.WaitVisible(`#hs-rows tr[data-site="nj-02"]`)); err != nil {
		t.Fatalf("back: %v", err)
	}
	if hidden, err := chromedp.Run(b, chromedp.Evaluate[bool](`document.getElementById('hs-detail').hidden`)); err != nil || !hidden {
		t.Errorf("drill-down still shown after 返回 (%v)", err)
	}

	// A hub without a central InfluxDB: the trend route answers 501.
	g := newFixtureWith(t, scopedTokens, func(o *Options) { o.HubTrends = nil })
	fillHub(t, g.hub)
	fillReadings(t, g.hub)
	login(serveConsole(t, g))
	if err := chromedp.Do(b,
		chromedp.Click(`#sd-readings tr[data-tag="T201-O2"]`),
		chromedp.WaitVisible("#sd-trend-note.trend-unavailable"),
	); err != nil {
		t.Fatalf("trend without InfluxDB: %v", err)
	}
	if got, err := chromedp.Run(b, chromedp.Text("#sd-trend-note")); err != nil || got != "趋势需要中心InfluxDB" {
		t.Errorf("trend note %q (%v)", got, err)
	}
	if n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#sd-trend polyline').length`)); err != nil || n != 0 {
		t.Errorf("%d polylines without InfluxDB (%v)", n, err)
	}
}

// TestScopedHubConsoleInChromium: a district bureau's token (regions:
// 江北新区) sees only the hub's views, and in them only its region's sites.
func TestScopedHubConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	base := serveConsole(t, f)
	b := testenv.Browser(t, bin)
	if err := chromedp.Do(b, hubLogin(base, "region-token-0123456789", "nj-01")...); err != nil {
		t.Fatalf("login: %v", err)
	}
	type view struct {
		Sites       []string
		PlantHidden bool
		HubShown    bool
	}
	v, err := chromedp.Run(b, chromedp.Evaluate[view](`({
		sites: [...document.querySelectorAll('#hs-rows tr')].map(r => r.dataset.site),
		plantHidden: [...document.querySelectorAll('nav button:not(.hub-only)')].every(b => b.hidden),
		hubShown: [...document.querySelectorAll('nav button.hub-only')].every(b => !b.hidden)})`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Sites, ",") != "nj-01,nj-02" || !v.PlantHidden || !v.HubShown {
		t.Errorf("scoped console: %+v; want sites nj-01,nj-02, the plant tabs hidden, the hub tabs shown", v)
	}
}
