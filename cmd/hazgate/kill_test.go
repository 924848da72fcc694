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
	conf := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
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
`, filepath.Join(dir, "var"), influxURL, bucket, broker, run, run)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd { cmd, _ := startGatewayChild(t, conf); return cmd }

	const topics, perTag = 10, 800
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(run + "-pub").SetMaxReconnectInterval(time.Second))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)

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
