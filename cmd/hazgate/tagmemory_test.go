package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/api"
	"hazgate/sim/testenv"
)

// TestSilentAcrossRestartGoesStale: three hydrant sensors create their tags
// on first sight over MQTT; one falls silent, the gateway is killed with
// SIGKILL and started again while it stays silent. The restarted gateway
// lists the silent tag at once and raises its stale alarm at its last
// sample plus the rule's delay, as if it had never been down; the sensors
// that kept talking raise nothing.
func TestSilentAcrossRestartGoesStale(t *testing.T) {
	if os.Getenv("HAZGATE_KILL_CHILD") != "" {
		t.Skip("child side runs in TestKillNineChild")
	}
	broker := testenv.MQTTURL(t)
	run := fmt.Sprintf("mem%d", time.Now().UnixNano())
	dir := t.TempDir()
	const staleAfter = 12 * time.Second
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: mem-01}
data_dir: %s
http: {listen: "127.0.0.1:0"}
devices:
  - id: hydrants
    protocol: mqtt
    url: %s
    client_id: %s-gw
    subscriptions:
      - {topic: "%s/+/p", format: json, tag: "HP-{1}", kind: hydrant_pressure, unit: MPa, value: value}
rules:
  - {name: hydrant_silent, match: {kind: hydrant_pressure}, stale: %s}
`, filepath.Join(dir, "var"), broker, run, run, staleAfter))

	pub := mqttClient(t, broker, run+"-pub")
	var silent atomic.Bool
	var lastSilent atomic.Int64 // unix nanos of the silent sensor's last message
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k := 0; k < 3; k++ {
				if k == 0 && silent.Load() {
					continue
				}
				tok := pub.Publish(fmt.Sprintf("%s/%d/p", run, k), 1, false, fmt.Sprintf(`{"value": 0.%02d}`, 30+n%20))
				tok.WaitTimeout(5 * time.Second)
				if k == 0 {
					lastSilent.Store(time.Now().UnixNano())
				}
			}
		}
	}()

	gw, out := startGatewayChild(t, conf)
	base := waitRunning(t, out)
	waitPoints(t, base, 15*time.Second, "HP-0", "HP-1", "HP-2")
	silent.Store(true)
	time.Sleep(100 * time.Millisecond) // a publish in progress lands
	last := time.Unix(0, lastSilent.Load())
	// Longer than the memory's save interval, shorter than the stale delay.
	time.Sleep(7 * time.Second)
	for _, a := range getAlarms(t, base) {
		t.Errorf("alarm before the kill: %+v", a)
	}
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	time.Sleep(time.Second)

	gw, out = startGatewayChild(t, conf)
	base = waitRunning(t, out)
	if got := latestTags(t, base); !got["HP-0"] {
		t.Errorf("after the restart /points/latest lists %v, want the silent HP-0 at once", got)
	}
	a := waitAlarm(t, base, 20*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "HP-0" && a.Level == alerting.LevelStale
	})
	due := last.Add(staleAfter)
	// The engine ticks once a second; the memory saved after the last sample.
	if early, late := due.Sub(a.RaisedAt), a.RaisedAt.Sub(due); early > time.Second || late > 2*time.Second {
		t.Errorf("stale alarm raised at %s, due at %s (last sample %s + %s)", a.RaisedAt.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano), staleAfter)
	}
	time.Sleep(2 * time.Second)
	for _, a := range getAlarms(t, base) {
		if a.Tag != "HP-0" {
			t.Errorf("alarm for a sensor that kept talking: %+v", a)
		}
	}
	gw.Process.Signal(os.Interrupt)
	gw.Wait()
}

var runningRE = regexp.MustCompile(`msg="hazgate running".* api=(http://127\.0\.0\.1:\d+)`)

// waitRunning returns the API base URL a `hazgate run` child logged.
func waitRunning(t *testing.T, out *testenv.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := runningRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the gateway did not log that it is running")
	return ""
}

// latestTags is the set of tags /api/v1/points/latest lists.
func latestTags(t *testing.T, base string) map[string]bool {
	t.Helper()
	ps := latestPoints(t, base)
	got := make(map[string]bool, len(ps))
	for _, p := range ps {
		got[p.Tag] = true
	}
	return got
}

// latestPoints is what /api/v1/points/latest lists.
func latestPoints(t *testing.T, base string) []api.Point {
	t.Helper()
	var ps []api.Point
	if err := json.Unmarshal([]byte(getText(t, base+"/api/v1/points/latest")), &ps); err != nil {
		t.Fatalf("decode points: %v", err)
	}
	return ps
}

// getText GETs url and returns its body, failing the test on any status but 200.
func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

// waitPoints waits until /api/v1/points/latest lists every tag.
func waitPoints(t *testing.T, base string, within time.Duration, tags ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := latestTags(t, base)
		all := true
		for _, tag := range tags {
			all = all && got[tag]
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/points/latest lists %v, want %v", got, tags)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
