package api

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting/hub"
	"hazgate/sim/testenv"
)

// Chromium finds the browser for the console's browser tests (these and
// api_test's): $HAZGATE_CHROMIUM, Debian's, or on the PATH. Without one
// the test is skipped, or fails under HAZGATE_INTEGRATION=1.
func Chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("HAZGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testenv.Missing(t, "chromium not found (apt-get install chromium)")
	return ""
}

// Browser starts a headless Chromium for the test, with a minute to work.
func Browser(t *testing.T, bin string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestHubConsoleInChromium opens a regulator hub's console (a real hub
// store on SQLite, hub.Ingest sending the commands) as the city bureau:
// the sites with the offline one marked, the cross-site alarms paged and
// filtered on the server, and 挂牌督办 of a 重大隐患 recorded as a command.
func TestHubConsoleInChromium(t *testing.T) {
	bin := Chromium(t)
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := Listen(ctx, "127.0.0.1:0", f.h, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + srv.Addr()
	b := Browser(t, bin)

	if err := chromedp.Do(b,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", "city-token-0123456789"),
		chromedp.Click("#login-btn"),
		chromedp.WaitVisible("#app"),
		// A hub opens on its sites.
		chromedp.WaitVisible(`#hs-rows tr[data-site="nj-03"]`),
	); err != nil {
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

	screenshot := func(name string) {
		t.Helper()
		shot, err := chromedp.Run(b, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(t.ArtifactDir(), name+"-"+strconv.Itoa(os.Getpid())+".png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	screenshot("hub-hazards")
	if err := chromedp.Do(b,
		chromedp.Click(`nav button[data-tab="hub-sites"]`),
		chromedp.WaitVisible(`#hs-rows tr.site-offline`),
	); err != nil {
		t.Fatal(err)
	}
	screenshot("hub-sites")
}
