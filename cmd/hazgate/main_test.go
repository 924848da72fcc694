package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/alerting/selfalarm"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/sim"
	"hazgate/sim/testenv"
)

func TestCheck(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "user:pass")
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderrRE []string
	}{
		{"valid", []string{"-config", "../../protocols/modbus/testdata/foundation.yaml"}, 0,
			"foundation.yaml: ok: site cz-demo-01, 1 devices, 1 tags, 2 rules", nil},
		{"deploy example", []string{"-config", "../../deploy/examples/site.yaml"}, 0,
			"site.yaml: ok: site cz-demo-01, 1 devices, 2 tags, 2 rules", nil},
		{"every problem with its position", []string{"-config", "testdata/bad.yaml"}, 1, "", []string{
			`^testdata/bad\.yaml:4:3: unknown key "listn" in http \(did you mean "listen"\?\)$`,
			`^testdata/bad\.yaml:9:15: devices\[0\]\.interval: bad duration "fast"`,
			`^testdata/bad\.yaml:12:43: devices\[0\]\.tags\[0\]\.register\.address: expected an integer`,
			`^testdata/bad\.yaml:15:15: devices\[0\]\.tags\[1\]\.unit: environment variable HAZGATE_TEST_UNSET is not set$`,
		}},
		{"missing file", []string{"-config", "testdata/nope.yaml"}, 1, "", []string{`nope\.yaml: no such file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := mainArgs(append([]string{"check"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errb.String())
			}
			if tt.stdout != "" && !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", out.String(), tt.stdout)
			}
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if len(tt.stderrRE) > 1 && len(lines) != len(tt.stderrRE) {
				t.Errorf("stderr has %d lines, want %d:\n%s", len(lines), len(tt.stderrRE), errb.String())
			}
			for i, re := range tt.stderrRE {
				if i >= len(lines) || !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("stderr line %d does not match %s:\n%s", i, re, errb.String())
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := mainArgs([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "hazgate ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
}

// TestDemo plays the demo scenario ten times faster through the real
// pipeline and watches the API: GT-103 reaches level 2 and recovers, GT-106
// goes silent, raises comm_loss and becomes a 重大隐患 within the demo's
// first two minutes of scenario time, and the console is told the timing is
// the demo's.
func TestDemo(t *testing.T) {
	const speed = 10
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdDemo(ctx, []string{"-listen", "127.0.0.1:0", "-speed", strconv.Itoa(speed), "-data-dir", t.TempDir()}, &out, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("demo did not stop within 10 s of cancel")
		}
	})

	base := waitAPI(t, &out, &logs)
	start := time.Now() // the scenario starts once the API is up
	waitAlarm(t, base, 30*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "GT-103" && a.Rule == "lel" && a.Level == alerting.LevelHH && a.State == alerting.ClearedUnacked && a.Peak > 50
	})
	waitAlarm(t, base, 30*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "GT-106" && a.Class == alerting.ClassCommLoss
	})
	for _, a := range getAlarms(t, base) {
		if a.Tag != "GT-103" && a.Tag != "GT-106" {
			t.Errorf("unexpected alarm %+v", a)
		}
	}
	// Two minutes of scenario time, in real time at this speed.
	within := time.Until(start.Add(2 * time.Minute / speed))
	var major hazard.Hazard
	testenv.Poll(t, within, 100*time.Millisecond, "a 重大隐患 within the demo's first two minutes", func() bool {
		var hs []hazard.Hazard
		getJSON(t, base+"/api/v1/hazards?level="+url.QueryEscape(hazard.LevelMajor), &hs)
		for _, h := range hs {
			if h.Rule == "gas-detector-down" && h.Tag == "GT-106" {
				major = h
				return true
			}
		}
		return false
	})
	t.Logf("%s after %s of scenario time: %s", major.Number, time.Since(start)*speed, major.Description)
	var who struct{ Notice string }
	getJSON(t, base+"/api/v1/whoami", &who)
	if !strings.Contains(who.Notice, "演示") || !strings.Contains(who.Notice, "1 分钟") {
		t.Errorf("whoami notice %q: the console must say the demo's timing is shortened", who.Notice)
	}
	if !strings.Contains(out.String(), who.Notice) {
		t.Errorf("the banner does not carry the notice:\n%s", out.String())
	}
}

var apiRE = regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/api/v1/alarms`)

// waitAPI returns the base URL the command printed.
func waitAPI(t *testing.T, out, logs *testenv.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := apiRE.FindStringSubmatch(out.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no API address printed; stdout:\n%s\nlogs:\n%s", out.String(), logs.String())
	return ""
}

func getAlarms(t *testing.T, base string) []alerting.Alarm {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/alarms?suppressed=1") // every open alarm, those suppressed by design too
	if err != nil {
		t.Fatalf("GET alarms: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alarms: %s", resp.Status)
	}
	var as []alerting.Alarm
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatalf("decode alarms: %v", err)
	}
	return as
}

// waitAlarm polls the API until an open alarm satisfies ok.
func waitAlarm(t *testing.T, base string, within time.Duration, ok func(alerting.Alarm) bool) alerting.Alarm {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []alerting.Alarm
	for time.Now().Before(deadline) {
		last = getAlarms(t, base)
		for _, a := range last {
			if ok(a) {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no matching alarm within %v; open alarms: %+v", within, last)
	return alerting.Alarm{}
}

// startGasController runs a simulated gas controller of n detectors on a
// loopback Modbus TCP port until the test ends.
func startGasController(t *testing.T, n int) *sim.GasController {
	t.Helper()
	ctrl, err := sim.NewGasController("127.0.0.1:0", n)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	return ctrl
}

// startGateway runs a gateway for cfg until the test ends and returns its API base URL.
func startGateway(t *testing.T, cfg *config.Config) (*gateway, string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs testenv.Buffer
	g, err := newGateway(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		cancel()
		t.Fatalf("newGateway: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- g.run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("gateway: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("gateway did not stop within 15 s")
			}
			if t.Failed() {
				t.Logf("gateway log:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(stop)
	return g, "http://" + g.server.Addr(), stop
}

// parseConfig builds a config from YAML text the way `hazgate run` does.
func parseConfig(t *testing.T, text string, vars map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text), func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("config:\n%v", err)
	}
	return cfg
}

// limitValues is what /api/v1/points/{tag}/limits answers for tag: the
// limits' values, lowest first.
func limitValues(t *testing.T, base, tag string) []float64 {
	t.Helper()
	var ls []alerting.Limit
	getJSON(t, base+"/api/v1/points/"+tag+"/limits", &ls)
	vs := []float64{}
	for _, l := range ls {
		vs = append(vs, l.Value)
	}
	return vs
}

// TestReloadRules: SIGHUP's reload applies a changed rule to the running
// gateway (and to the limits its trends draw) and keeps the old rules when
// the file has problems.
func TestReloadRules(t *testing.T) {
	ctrl := startGasController(t, 1)
	ctrl.SetLEL(0, 30)

	file := filepath.Join(t.TempDir(), "site.yaml")
	write := func(rules string) {
		t.Helper()
		text := fmt.Sprintf(`site: {id: reload}
data_dir: %s
http: {listen: "127.0.0.1:0"}
devices:
  - id: gds-1
    protocol: modbus
    url: tcp://%s
    interval: 100ms
    tags:
      - {id: GT-1, kind: combustible_gas, unit: "%%LEL", register: {table: input, address: 0, scale: 0.1}}
rules:
%s`, filepath.Dir(file), ctrl.Addr(), rules)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  - {name: lel, match: {kind: combustible_gas}, above: 50}\n")
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, base, _ := startGateway(t, cfg)
	waitLatest(t, g, "GT-1", func(s collector.Sample) bool { return s.Value == 30 })
	if as := getAlarms(t, base); len(as) != 0 {
		t.Fatalf("alarms at 30 %%LEL with the limit at 50: %+v", as)
	}
	if got := limitValues(t, base, "GT-1"); !slices.Equal(got, []float64{50}) {
		t.Errorf("limits %v, want [50]", got)
	}

	write("  - {name: lel, match: {kind: combustible_gas}, above: 25}\n")
	if err := g.reloadRules(context.Background()); err != nil {
		t.Fatal(err)
	}
	raised := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "GT-1" && a.Rule == "lel" && a.State == alerting.ActiveUnacked
	})
	if got := limitValues(t, base, "GT-1"); !slices.Equal(got, []float64{25}) {
		t.Errorf("limits after the reload %v, want [25]", got)
	}

	// A broken file changes nothing: the alarm stays active through more polls.
	write("  - {name: lel, match: {kind: combustible_gas}, above: bogus}\n")
	if err := g.reloadRules(context.Background()); err == nil || !strings.Contains(err.Error(), "site.yaml:12:") {
		t.Errorf("reload of a broken file: %v, want its problem at file:line", err)
	}
	polls := g.devices[0].(*modbus.Poller).Stats().Polls
	for g.devices[0].(*modbus.Poller).Stats().Polls < polls+3 {
		time.Sleep(20 * time.Millisecond)
	}
	waitAlarm(t, base, time.Second, func(a alerting.Alarm) bool { return a.ID == raised.ID && a.State == alerting.ActiveUnacked })

	write("  - {name: lel, match: {kind: combustible_gas}, above: 50}\n")
	if err := g.reloadRules(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool { return a.ID == raised.ID && a.State == alerting.ClearedUnacked })
}

// TestSpoolOverflowAlarm: when the InfluxDB spool drops readings, the loss is
// an alarm an operator must acknowledge, with the dropped count as its peak.
func TestSpoolOverflowAlarm(t *testing.T) {
	ctrl := startGasController(t, 1)
	cfg := parseConfig(t, `
site: {id: self}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: gds-1, protocol: modbus, url: "tcp://${MODBUS}", tags: [{id: GT-1, register: {table: input, address: 0}}]}
`, map[string]string{"DIR": t.TempDir(), "MODBUS": ctrl.Addr()})
	g, base, _ := startGateway(t, cfg)
	g.spoolOverflowed(1234)
	a := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Rule == config.SpoolOverflowRule && a.State == alerting.ClearedUnacked
	})
	if a.Tag != selfalarm.SpoolOverflowTag || a.Peak != 1234 || a.Severity != alerting.SeverityHigh {
		t.Errorf("spool_overflow alarm = %+v, want tag %s, peak 1234, severity high", a, selfalarm.SpoolOverflowTag)
	}
}

// TestGatewayFeeds: the wiring of issue 8 in a running gateway. One alarm
// reaches a webhook and the live stream, /metrics counts it beside the Modbus
// device's requests, and the console is served.
func TestGatewayFeeds(t *testing.T) {
	ctrl := startGasController(t, 1)

	hooks := make(chan string, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks <- r.Header.Get("X-Hazgate-Event")
	}))
	t.Cleanup(receiver.Close)

	cfg := parseConfig(t, `
site: {id: feeds}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: gds-1, protocol: modbus, url: "tcp://${MODBUS}", interval: 100ms, tags: [{id: GT-1, kind: combustible_gas, register: {table: input, address: 0, scale: 0.1}}]}
rules:
  - {name: lel, match: {kind: combustible_gas}, preset: gb50493-combustible}
hazard_rules:
  - {name: gas-alarm, match: {kind: combustible_gas}, rule: lel, immediate: true, category: 重大危险源, basis: "test basis"}
webhooks:
  - {name: platform, url: "${HOOK}"}
`, map[string]string{"DIR": t.TempDir(), "MODBUS": ctrl.Addr(), "HOOK": receiver.URL})
	_, base, _ := startGateway(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/stream", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	ctrl.SetLEL(0, 30) // level 1: an alarm, and the immediate hazard rule opens a record
	want := map[string]bool{"alarm.raised": false, "hazard.created": false}
	for !want["alarm.raised"] || !want["hazard.created"] {
		select {
		case ev := <-hooks:
			want[ev] = true
		case <-ctx.Done():
			t.Fatalf("webhook deliveries %v, want an alarm and a hazard", want)
		}
	}
	lines := bufio.NewScanner(stream.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data:") && strings.Contains(lines.Text(), `"GT-1"`) {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the live stream did not carry the alarm")
	}

	body := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	metrics := body("/metrics")
	for _, want := range []string{"hazgate_alarms_raised_total 1", `hazgate_modbus_requests_total{device="gds-1"}`, `hazgate_webhook_delivered_total{webhook="platform"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if page := body("/"); !strings.Contains(page, "<html") {
		t.Errorf("console page: %.200s", page)
	}
}
