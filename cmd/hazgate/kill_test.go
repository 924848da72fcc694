package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/sim/testenv"
)

// TestKillNineLosesNothingAcknowledged: a QoS 1 stream of a few thousand
// messages a second into a gateway that InfluxDB keeps up with; the gateway
// is killed with SIGKILL mid-stream and started again on the same data_dir.
// Every message the broker handed over (all of them, as the publisher's
// PUBACKs say) is in InfluxDB, counted per tag: what was acknowledged was
// durable, and what was not is redelivered by the broker. Exactly once: a
// message durable but not yet acknowledged at the kill comes again (DUP)
// and is given the receipt time it had, so it is the same point again.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	if os.Getenv("HAZGATE_KILL_CHILD") != "" {
		t.Skip("child side runs in TestKillNineChild")
	}
	influxURL := testenv.InfluxURL(t)
	broker := testenv.MQTTURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)
	run := fmt.Sprintf("kill%d", time.Now().UnixNano())
	dir := t.TempDir()
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: kill-01}
data_dir: %s
http: {listen: "127.0.0.1:0"}
influxdb: {url: "%s", token: "user:pass", org: "", bucket: "%s"}
devices:
  - id: iot
    protocol: mqtt
    url: %s
    client_id: %s-gw
    subscriptions:
      - {topic: "%s/+/v", format: json, tag: "K-{1}", kind: pipe_pressure, unit: MPa, value: value}
`, filepath.Join(dir, "var"), influxURL, bucket, broker, run, run))
	start := func() *exec.Cmd { cmd, _ := startGatewayChild(t, conf); return cmd }

	const topics, perTag = 10, 800
	pub := mqttClient(t, broker, run+"-pub")

	gw := start()
	time.Sleep(2 * time.Second) // connected and subscribed (a persistent session from here on)
	var sent atomic.Int64
	pubDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; n < perTag; n++ {
			<-tick.C // about 3 messages a millisecond at most: a few thousand a second
			for k := 0; k < topics; k++ {
				tok := pub.Publish(fmt.Sprintf("%s/%d/v", run, k), 1, false, fmt.Sprintf(`{"value": %d}`, n))
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					pubDone <- fmt.Errorf("publish %d/%d: %v", k, n, tok.Error())
					return
				}
				sent.Add(1)
			}
		}
		pubDone <- nil
	}()
	for sent.Load() < topics*perTag/3 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	killedAt := sent.Load()
	time.Sleep(300 * time.Millisecond)
	gw = start()
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d of %d messages", killedAt, topics*perTag)

	want := uint64(perTag)
	deadline := time.Now().Add(60 * time.Second)
	var counts map[string]uint64
	for {
		counts = countReadings(t, influxURL, bucket)
		done := true
		for k := 0; k < topics; k++ {
			done = done && counts[fmt.Sprintf("K-%d", k)] >= want
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	gw.Process.Signal(os.Interrupt)
	gw.Wait()
	var wrong []string
	for k := 0; k < topics; k++ {
		tag := fmt.Sprintf("K-%d", k)
		if n := counts[tag]; n != want {
			wrong = append(wrong, fmt.Sprintf("%s %d", tag, n))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("points in InfluxDB per tag, want exactly %d: %s", want, strings.Join(wrong, ", "))
	}
}

// writeSite writes a site file into dir for a `hazgate run` child.
func writeSite(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startGatewayChild runs `hazgate run -config conf` in a child process
// (TestKillNineChild), which the test may kill with SIGKILL. Its output is
// logged if the test fails.
func startGatewayChild(t *testing.T, conf string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HAZGATE_KILL_CHILD="+conf)
	out := new(testenv.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", out.String())
		}
	})
	return cmd, out
}

// TestKillNineChild is the gateway process TestKillNineLosesNothingAcknowledged kills.
func TestKillNineChild(t *testing.T) {
	conf := os.Getenv("HAZGATE_KILL_CHILD")
	if conf == "" {
		t.Skip("run by TestKillNineLosesNothingAcknowledged")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := cmdRun(ctx, []string{"-config", conf}, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// TestKillNineKeepsEveryAlarm: 3,000 gas detectors cross their limit once,
// at QoS 1, and the gateway is killed with SIGKILL a second later, with
// most transitions still to commit. For an event that is never repeated
// nothing but the broker's redelivery can bring an alarm back, so every
// detector must have exactly one alarm after the restart: none lost (the
// PUBACK waited for the commit), none raised twice (the redelivery of a
// committed one finds its alarm open).
func TestKillNineKeepsEveryAlarm(t *testing.T) {
	if os.Getenv("HAZGATE_KILL_CHILD") != "" {
		t.Skip("child side runs in TestKillNineChild")
	}
	influxURL := testenv.InfluxURL(t)
	broker := testenv.MQTTURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)
	run := fmt.Sprintf("alarmkill%d", time.Now().UnixNano())
	dir := t.TempDir()
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: kill-02}
data_dir: %s
http: {listen: "127.0.0.1:0"}
influxdb: {url: "%s", token: "user:pass", org: "", bucket: "%s"}
devices:
  - id: gds
    protocol: mqtt
    url: %s
    client_id: %s-gw
    subscriptions:
      - {topic: "%s/+/lel", format: json, tag: "A-{1}", kind: combustible_gas, unit: "%%LEL", value: value}
rules:
  - {name: lel_high, match: {kind: combustible_gas}, above: 50, severity: high}
`, filepath.Join(dir, "var"), influxURL, bucket, broker, run, run))
	const detectors = 3000
	pub := mqttClient(t, broker, run+"-pub")

	gw, out := startGatewayChild(t, conf)
	waitRunning(t, out)
	time.Sleep(time.Second) // subscribed: a persistent session from here on
	pubDone := make(chan error, 1)
	go func() {
		toks := make([]paho.Token, 0, detectors)
		for k := range detectors {
			toks = append(toks, pub.Publish(fmt.Sprintf("%s/%d/lel", run, k), 1, false, `{"value": 80}`))
		}
		for k, tok := range toks {
			if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
				pubDone <- fmt.Errorf("publish %d: %v", k, tok.Error())
				return
			}
		}
		pubDone <- nil
	}()
	time.Sleep(time.Second)
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	before := alarmsInJournal(t, filepath.Join(dir, "var", "hazgate.db"))
	t.Logf("alarms committed before the kill: %d of %d", before, detectors)

	gw, out = startGatewayChild(t, conf)
	base := waitRunning(t, out)
	var got []alerting.Alarm
	deadline := time.Now().Add(90 * time.Second)
	for {
		got = getAlarms(t, base)
		if len(got) >= detectors || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // late redeliveries would raise a second alarm now
	got = getAlarms(t, base)
	gw.Process.Signal(os.Interrupt)
	gw.Wait()

	per := make(map[string]int, len(got))
	for _, a := range got {
		per[a.Tag]++
		if a.Count != 1 {
			t.Errorf("alarm %s raised %d times, want once", a.Tag, a.Count)
		}
	}
	var missing, twice []string
	for k := range detectors {
		tag := fmt.Sprintf("A-%d", k)
		switch per[tag] {
		case 1:
		case 0:
			missing = append(missing, tag)
		default:
			twice = append(twice, tag)
		}
	}
	if len(missing) > 0 || len(twice) > 0 {
		t.Errorf("%d open alarms for %d detectors: %d missing (%s), %d more than once (%s)",
			len(got), detectors, len(missing), head(missing), len(twice), head(twice))
	}
}

// alarmsInJournal counts the alarms a stopped gateway's database holds.
func alarmsInJournal(t *testing.T, path string) int {
	t.Helper()
	j, err := alerting.OpenJournal(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	as, err := j.List(context.Background(), alerting.AlarmFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(as)
}

func head(tags []string) string {
	if len(tags) > 5 {
		return strings.Join(tags[:5], ", ") + ", ..."
	}
	return strings.Join(tags, ", ")
}
