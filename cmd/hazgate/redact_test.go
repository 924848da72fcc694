package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// TestLogsHoldNoCredentials: a gateway whose every URL carries a credential
// (InfluxDB, an MQTT device, the northbound broker, a DingTalk-style webhook
// token) and whose secrets come from ${ENV} runs into failures that log each
// URL; the log names every URL, redacted, and holds none of the secrets.
func TestLogsHoldNoCredentials(t *testing.T) {
	broker := testenv.MQTTURL(t)
	dead := closedPort(t)
	secrets := map[string]string{
		"influx URL password":     "influx-secret-1",
		"mqtt URL password":       "mqtt-secret-2",
		"dead broker password":    "dead-secret-3",
		"northbound URL password": "nb-secret-4",
		"webhook access_token":    "hook-secret-5",
		"mqtt password from env":  "env-secret-6",
		"webhook signing secret":  "sign-secret-7",
	}
	t.Setenv("REDACT_MQTT_PASS", secrets["mqtt password from env"])
	t.Setenv("REDACT_HOOK_SECRET", secrets["webhook signing secret"])
	hostPort := strings.TrimPrefix(broker, "tcp://")
	run := fmt.Sprintf("redact%d", time.Now().UnixNano())
	dir := t.TempDir()
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: redact-01}
data_dir: %[1]s
http: {listen: "127.0.0.1:0"}
influxdb: {url: "http://influx:%[2]s@%[3]s", token: "user:pass", org: "", bucket: "db/rp"}
devices:
  - id: gds
    protocol: mqtt
    url: "tcp://gw:%[4]s@%[5]s"
    client_id: %[6]s-gw
    subscriptions:
      - {topic: "%[6]s/+/lel", format: json, tag: "R-{1}", kind: combustible_gas, unit: "%%LEL", value: value}
  - id: dead
    protocol: mqtt
    url: "tcp://gw:%[7]s@%[3]s"
    username: gw
    password: ${REDACT_MQTT_PASS}
    subscriptions:
      - {topic: "x/#", format: json, tag: "X-{1}", value: value}
northbound: {url: "tcp://nb:%[8]s@%[3]s"}
webhooks:
  - {name: ding, url: "http://%[3]s/robot/send?access_token=%[9]s", secret: "${REDACT_HOOK_SECRET}", min_backoff: 100ms, max_backoff: 200ms}
rules:
  - {name: lel_high, match: {kind: combustible_gas}, above: 50, severity: high}
`, filepath.Join(dir, "var"), secrets["influx URL password"], dead, secrets["mqtt URL password"], hostPort, run,
		secrets["dead broker password"], secrets["northbound URL password"], secrets["webhook access_token"]))
	gw, out := startGatewayChild(t, conf)
	waitRunning(t, out)
	pub := mqttClient(t, broker, run+"-pub")
	// The alarm goes to the unreachable webhook; its reading to the
	// unreachable InfluxDB.
	want := []string{
		"http://influx:xxxxx@" + dead,
		"tcp://gw:xxxxx@" + hostPort,
		"tcp://gw:xxxxx@" + dead,
		"tcp://nb:xxxxx@" + dead,
		"access_token=xxxxx",
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pub.Publish(run+"/1/lel", 1, false, `{"value": 80}`).WaitTimeout(time.Second)
		all := true
		for _, w := range want {
			all = all && strings.Contains(out.String(), w)
		}
		if all {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	gw.Process.Signal(os.Interrupt)
	gw.Wait()
	log := out.String()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("the log never names %s: the test did not see that URL logged", w)
		}
	}
	for what, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the %s:\n%s", what, grepLines(log, s))
		}
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
