package api

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/alerting/hazard"
	"hazgate/sim/testenv"
)

// serveHandler serves an API on a free loopback port until the test ends
// and returns its base URL.
func serveHandler(t *testing.T, a *API) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := Listen(ctx, "127.0.0.1:0", a, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + srv.Addr()
}

// TestHazardConsoleInChromium: a verifier opens a 重大隐患 whose detector is
// still silent, tries 销号, sees the refusal, and closes it after stating
// why; then an operator enters a hazard found on a walk-round with the
// 新增隐患 form, and a viewer opening it is offered no action. The page
// carries http.notice under its header.
// Screenshots in Chinese at each step.
func TestHazardConsoleInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	f := newEngineFixture(t)
	ctx := context.Background()
	for _, req := range []hazard.TransitionRequest{{To: hazard.InProgress, Person: "张三"}, {To: hazard.PendingVerification, Comment: "已更换探测器"}} {
		if _, err := f.eng.Transition(ctx, f.major, hazard.Actor{Name: "ctrl-room", Rectify: true}, req); err != nil {
			t.Fatal(err)
		}
	}
	if g, _ := f.eng.Get(ctx, f.major); !g.ConditionActive {
		t.Fatalf("fixture: the major record's condition should hold: %+v", g)
	}
	a := f.h.(*API)
	a.notice = "演示: 重大隐患判定时长缩短为 1 分钟（标准为 1 天），仅用于演示" // as hazgate demo sets http.notice
	base := serveHandler(t, a)
	b := testenv.Browser(t, bin)
	poll := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(10*time.Second))
	}
	login := func(role Role) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.WaitVisible("#token"),
			chromedp.SendKeys("#token", tokenOf(role)),
			chromedp.Click("#login-btn"),
			chromedp.WaitVisible("#app"),
			chromedp.Click(`nav button[data-tab="hazards"]`),
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	row := `#hz-rows tr[data-id="` + strconv.FormatInt(f.major, 10) + `"]`

	// The verifier's 销号 while the detector is silent: refused, and the
	// form asks why.
	if err := chromedp.Do(b, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/")}, append(login(RoleVerifier),
		chromedp.WaitVisible(row),
		chromedp.Click(row),
		chromedp.WaitVisible("#hz-detail button.to-closed"),
		chromedp.SendKeys("#hz-comment", "验收合格"),
		chromedp.Click("#hz-detail button.to-closed"),
		chromedp.WaitVisible("#hz-error"),
		chromedp.WaitVisible("#hz-override"),
	)...)...); err != nil {
		t.Fatalf("销号 attempt: %v", err)
	}
	if got := text("#notice"); got != a.notice {
		t.Errorf("notice reads %q, want http.notice", got)
	}
	if got := text("#hz-error"); !strings.Contains(got, "报警仍在，不能销号") {
		t.Errorf("refusal reads %q", got)
	}
	detail := text("#hz-detail")
	for _, want := range []string{"判定依据", "整改措施", "责任人", "张三", "整改时限", "整改资金", "备注", "报警仍在", "处理记录", "待验收"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the detail lacks %q:\n%s", want, detail)
		}
	}
	if g, _ := f.eng.Get(ctx, f.major); g.Status != hazard.PendingVerification {
		t.Fatalf("after the refusal the record is %s", g.Status)
	}
	testenv.Screenshot(t, b, "hazard-close-refused")

	const reason = "探测器已整体更换，旧点位通信中断报警待平台清除"
	if err := chromedp.Do(b,
		chromedp.SendKeys("#hz-override", reason),
		chromedp.Click("#hz-detail button.to-closed"),
		chromedp.WaitVisible("#hz-detail dd.status-closed"),
		poll(`[...document.querySelectorAll('#hz-events tr')].some((r) => r.textContent.includes(`+strconv.Quote(reason)+`))`),
	); err != nil {
		t.Fatalf("销号 with a reason: %v", err)
	}
	hist, err := f.eng.History(ctx, f.major)
	if err != nil {
		t.Fatal(err)
	}
	if last := hist[len(hist)-1]; last.To != hazard.Closed || last.By != "checker" || last.OverrideReason != reason || last.Comment != "验收合格" {
		t.Errorf("closing event %+v", last)
	}
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#hz-error').length`)); n != 0 {
		t.Error("the refusal is still shown after closing")
	}
	testenv.Screenshot(t, b, "hazard-closed-with-reason")

	// The operator enters a walk-round finding (排查) by the form.
	// Log out, and in as the operator on the same page: the field no
	// longer holds the verifier's token.
	if err := chromedp.Do(b, append([]chromedp.Action[chromedp.Void]{chromedp.Click("#logout")}, login(RoleOperator)...)...); err != nil {
		testenv.Screenshot(t, b, "debug")
		t.Fatalf("operator login: %v", err)
	}
	if err := chromedp.Do(b, chromedp.WaitVisible("#hz-new")); err != nil {
		testenv.Screenshot(t, b, "debug")
		t.Fatalf("new button: %v", err)
	}
	if err := chromedp.Do(b,
		chromedp.Click("#hz-new"),
		chromedp.WaitVisible("#hz-new-form"),
		chromedp.SendKeys("#hzn-description", "东门消防通道堆放杂物，影响消防车通行"),
		chromedp.SendKeys("#hzn-area", "厂区"),
		chromedp.SendKeys("#hzn-point", "东门消防通道"),
		chromedp.SendKeys("#hzn-person", "李四"),
		chromedp.SendKeys("#hzn-funds", "500"),
		chromedp.SendKeys("#hzn-measures", "清理杂物，设置禁止占用标识"),
		chromedp.SendKeys("#hzn-remarks", "夜班巡检发现"),
		chromedp.Click("#hzn-submit"),
		chromedp.WaitVisible("#hz-detail"),
		poll(`document.getElementById('hz-new-form').hidden && document.getElementById('hz-detail').textContent.includes('现场排查录入')`),
	); err != nil {
		testenv.Screenshot(t, b, "debug")
		t.Fatalf("manual entry: %v", err)
	}
	hs, err := f.eng.List(ctx, hazard.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var manual *hazard.Hazard
	for i := range hs {
		if hs[i].Source == hazard.SourceManual {
			manual = &hs[i]
		}
	}
	if manual == nil || manual.Person != "李四" || manual.TagName != "东门消防通道" || manual.Funds == nil || *manual.Funds != 500 ||
		manual.Level != hazard.LevelGeneral || manual.Remarks != "夜班巡检发现" {
		t.Fatalf("manual record %+v", manual)
	}
	if got := text("#hz-events"); !strings.Contains(got, "ctrl-room") || !strings.Contains(got, "登记") {
		t.Errorf("the new record's history reads %q, want its 登记 by ctrl-room", got)
	}
	testenv.Screenshot(t, b, "hazard-manual-entry")

	// The same record's actions: the operator has some, a viewer none (only
	// the detail's close button), and no 新增隐患.
	acts := `[...document.querySelectorAll('#hz-detail button')].filter((e) => !e.classList.contains('hz-close')).map((e) => e.className)`
	if got, err := chromedp.Run(b, chromedp.Evaluate[[]string](acts)); err != nil || len(got) == 0 {
		t.Fatalf("the operator has no actions on the new record: %v %v", got, err)
	}
	mrow := `#hz-rows tr[data-id="` + strconv.FormatInt(manual.ID, 10) + `"]`
	if err := chromedp.Do(b, append(append([]chromedp.Action[chromedp.Void]{chromedp.Click("#logout")}, login(RoleViewer)...),
		chromedp.WaitVisible(mrow),
		chromedp.Click(mrow),
		chromedp.WaitVisible("#hz-detail button.hz-close"),
		poll(`document.getElementById('hz-detail').textContent.includes('东门消防通道')`),
	)...); err != nil {
		testenv.Screenshot(t, b, "debug")
		t.Fatalf("viewer: %v", err)
	}
	if got, err := chromedp.Run(b, chromedp.Evaluate[[]string](acts)); err != nil || len(got) != 0 {
		t.Errorf("a viewer is offered %v (%v)", got, err)
	}
	if n, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#hz-detail textarea, #hz-detail input').length`)); n != 0 {
		t.Errorf("a viewer is given %d fields to fill", n)
	}
	if hidden, _ := chromedp.Run(b, chromedp.Evaluate[bool](`document.getElementById('hz-new').hidden`)); !hidden {
		t.Error("a viewer is offered 新增隐患")
	}
	testenv.Screenshot(t, b, "hazard-viewer")
}
