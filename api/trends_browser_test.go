package api_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hazgate/api"
	"hazgate/collector"
	"hazgate/sim/testenv"
)

// recordedHistory remembers what the history route asked its store.
type recordedHistory struct {
	api.PointHistory
	mu    sync.Mutex
	calls []historyCall
}

type historyCall struct {
	tag      string
	from, to time.Time
}

func (h *recordedHistory) Range(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, error) {
	h.mu.Lock()
	h.calls = append(h.calls, historyCall{tag, from, to})
	h.mu.Unlock()
	return h.PointHistory.Range(ctx, tag, from, to)
}

// last is the newest question, and how many there were.
func (h *recordedHistory) last() (historyCall, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) == 0 {
		return historyCall{}, 0
	}
	return h.calls[len(h.calls)-1], len(h.calls)
}

// trendLimit is a limit line as the page drew it.
type trendLimit struct {
	Level string  `json:"level"`
	Value float64 `json:"value"`
	Y     float64 `json:"y"`
	Label string  `json:"label"`
}

// TestTrendInChromium: an operator opens 点位, clicks a gas detector,
// chooses 24小时; the history is asked for the last 24 hours, and the
// trend shows the preset's 一级/二级报警值 as dashed lines at 25 and 50 on
// the same scale as the reading. The choice survives a reload; a week is
// labelled by day, and English names the limits in English.
func TestTrendInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	g := startGateway(t, true)
	g.gas.SetLEL(0, 12) // below level 1: a quiet detector, its limits far above it
	b := testenv.Browser(t, bin)
	poll := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(10*time.Second))
	}
	// The newest reading drawn is the detector's 12 %LEL: wait for it.
	const reading = `(() => { const l = [...document.querySelectorAll('#trend polyline')].pop();
		return l && l.getAttribute('points').trim().split(' ').pop(); })()`
	openTrend := []chromedp.Action[chromedp.Void]{
		chromedp.Click(`nav button[data-tab="tags"]`),
		chromedp.WaitVisible(`#tag-rows tr[data-tag="GT-101"]`),
		chromedp.Click(`#tag-rows tr[data-tag="GT-101"]`),
		poll(`document.querySelectorAll('#trend line.limit').length === 2 && ` + reading + ` !== undefined`),
	}
	if err := chromedp.Do(b, append(operatorLogin(g.base), openTrend...)...); err != nil {
		t.Fatalf("open the trend: %v", err)
	}
	checkRange := func(want time.Duration, after int) {
		t.Helper()
		var c historyCall
		n := 0
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if c, n = g.history.last(); n > after {
				break
			}
		}
		if n <= after {
			t.Fatalf("no history request after the %dth", after)
		}
		if c.tag != "GT-101" || c.to.Sub(c.from) != want || time.Since(c.to).Abs() > time.Minute {
			t.Errorf("history asked for %s from %s to %s, want GT-101's last %s", c.tag, c.from, c.to, want)
		}
	}
	checkRange(time.Hour, 0) // a first visit: one hour
	_, before := g.history.last()

	if err := chromedp.Do(b,
		chromedp.Click(`#trend-ranges button[data-range="24h"]`),
		chromedp.WaitVisible(`#trend-ranges button.active[data-range="24h"]`),
	); err != nil {
		t.Fatalf("choose 24小时: %v", err)
	}
	checkRange(24*time.Hour, before)
	if err := chromedp.Do(b, poll(`document.querySelectorAll('#trend line.limit').length === 2 && `+
		`document.querySelectorAll('#trend text.time').length >= 6`)); err != nil {
		t.Fatalf("the 24-hour trend: %v", err)
	}
	limits, err := chromedp.Run(b, chromedp.Evaluate[[]trendLimit](`[...document.querySelectorAll('#trend line.limit')].map((l) => ({
		level: l.dataset.level, value: +l.dataset.value, y: +l.getAttribute('y1'),
		label: document.querySelector('#trend text.label[data-level="' + l.dataset.level + '"]').textContent }))`))
	if err != nil {
		t.Fatal(err)
	}
	byLevel := map[string]trendLimit{}
	for _, l := range limits {
		byLevel[l.Level] = l
	}
	h, hh := byLevel["H"], byLevel["HH"]
	if h.Value != 25 || h.Label != "一级报警值 25" || hh.Value != 50 || hh.Label != "二级报警值 50" {
		t.Fatalf("limit lines %+v, want 一级报警值 25 (H) and 二级报警值 50 (HH)", limits)
	}
	// On the reading's scale: 12, 25 and 50 lie on one straight line, the
	// limits above the reading (SVG's y grows downwards).
	pt, err := chromedp.Run(b, chromedp.Evaluate[string](reading))
	if err != nil {
		t.Fatal(err)
	}
	var x, y12 float64
	if _, err := fmt.Sscanf(pt, "%g,%g", &x, &y12); err != nil {
		t.Fatalf("reading point %q: %v", pt, err)
	}
	perUnit := (h.Y - hh.Y) / 25
	if perUnit <= 0 || math.Abs((y12-h.Y)-perUnit*13) > 0.6 {
		t.Errorf("reading 12 at y=%g, 一级 25 at y=%g, 二级 50 at y=%g: not one scale", y12, h.Y, hh.Y)
	}
	labels, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#trend text.time')].map((e) => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		if len(l) != 5 || (l[2] != ':' && l[2] != '-') {
			t.Errorf("time axis labels %q, want HH:MM or MM-DD for a day's trend", labels)
			break
		}
	}
	shot, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), "trend-24h-"+strconv.Itoa(os.Getpid())+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// The browser remembers the range: after a reload the trend opens on 24小时.
	_, before = g.history.last()
	if err := chromedp.Do(b, append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(g.base + "/"),
		chromedp.WaitVisible("#app"),
		poll(`document.querySelector('#trend-ranges button.active').dataset.range === '24h'`),
	}, openTrend...)...); err != nil {
		t.Fatalf("reload: %v", err)
	}
	checkRange(24*time.Hour, before)

	// A week is labelled by day; in English the limits take the standard's
	// English words.
	_, before = g.history.last()
	if err := chromedp.Do(b,
		chromedp.Click(`#trend-ranges button[data-range="7d"]`),
		poll(`[...document.querySelectorAll('#trend text.time')].every((e) => /^\d\d-\d\d$/.test(e.textContent)) && `+
			`document.querySelectorAll('#trend text.time').length >= 6`),
		chromedp.Click(`#lang`),
		poll(`document.querySelector('#trend text.label[data-level="HH"]').textContent === 'level-2 alarm value 50'`),
	); err != nil {
		t.Fatalf("a week, in English: %v", err)
	}
	checkRange(7*24*time.Hour, before)
}
