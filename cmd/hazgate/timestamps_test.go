package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"hazgate/api"
	"hazgate/protocols/mqtt"
	"hazgate/sim/testenv"
)

// TestMQTTReadingsKeepTheirTime: readings whose payload carries no time are
// stamped on receipt, one time per message, so a burst of messages for the
// same tags stores every one of them in InfluxDB. Counted per tag in the
// real InfluxDB, for a QoS 0 burst and for a QoS 1 backlog the broker kept
// while the gateway was down.
func TestMQTTReadingsKeepTheirTime(t *testing.T) {
	influxURL := testenv.InfluxURL(t)
	broker := testenv.MQTTURL(t)
	run := fmt.Sprintf("ts%d", time.Now().UnixNano())

	cases := []struct {
		name           string
		qos            byte
		topics, perTag int
		whileDown      bool // publish before the gateway (re)connects: the broker's queue
	}{
		{name: "qos0 burst", qos: 0, topics: 100, perTag: 200},
		{name: "qos1 backlog", qos: 1, topics: 10, perTag: 500, whileDown: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bucket := testenv.InfluxDatabase(t, influxURL)
			dir := t.TempDir()
			prefix := fmt.Sprintf("%s/%d", run, i)
			cfg := parseConfig(t, `
site: {id: ts-01}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
influxdb: {url: "${URL}", token: "user:pass", org: "", bucket: "${BUCKET}", flush_interval: 100ms}
devices:
  - id: iot
    protocol: mqtt
    url: ${MQTT}
    client_id: ${PREFIX}-gw
    qos: ${QOS}
    subscriptions:
      - {topic: "${PREFIX}/+/v", format: json, tag: "S-{2}", kind: pipe_pressure, unit: MPa, value: value}
`, map[string]string{"DIR": dir, "URL": influxURL, "BUCKET": bucket, "MQTT": broker, "PREFIX": prefix,
				"QOS": fmt.Sprint(tc.qos)})

			pub := mqttClient(t, broker, prefix+"-pub")
			publish := func() {
				var last paho.Token
				for n := 0; n < tc.perTag; n++ {
					for k := 0; k < tc.topics; k++ {
						last = pub.Publish(fmt.Sprintf("%s/%d/v", prefix, k), tc.qos, false, fmt.Sprintf(`{"value": %d}`, n))
						if tc.qos > 0 {
							last.Wait() // paho's in-flight window; order is kept either way
						}
					}
				}
				if !last.WaitTimeout(30 * time.Second) {
					t.Fatal("publish did not finish")
				}
			}

			if tc.whileDown {
				// A first run makes the broker keep the gateway's session
				// (clean_session false), then the messages queue for it.
				_, _, stop := startGateway(t, cfg)
				time.Sleep(300 * time.Millisecond)
				stop()
				publish()
			}
			g, _, stop := startGateway(t, cfg)
			if !tc.whileDown {
				waitConnected(t, g.devices[0].(*mqtt.Collector))
				publish()
			}
			want := uint64(tc.topics * tc.perTag)
			deadline := time.Now().Add(60 * time.Second)
			for readings(g.devices[0].(*mqtt.Collector)) < want && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			stop()
			if got := readings(g.devices[0].(*mqtt.Collector)); got != want && !tc.whileDown {
				t.Fatalf("collector decoded %d readings, want %d", got, want)
			}

			counts := countReadings(t, influxURL, bucket)
			for k := 0; k < tc.topics; k++ {
				tag := fmt.Sprintf("S-%d", k)
				if counts[tag] != uint64(tc.perTag) {
					t.Errorf("%s: %d points in InfluxDB, want %d", tag, counts[tag], tc.perTag)
				}
			}
			if s := g.influx.Stats(); s.PointsDropped != 0 {
				t.Errorf("sink dropped %d points", s.PointsDropped)
			}
		})
	}
}

func waitConnected(t *testing.T, c *mqtt.Collector) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Connects == 0 {
		if time.Now().After(deadline) {
			t.Fatal("mqtt collector not connected within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readings(c *mqtt.Collector) uint64 {
	var n uint64
	for _, s := range c.Stats().Subscriptions {
		n += s.Readings
	}
	return n
}

// countReadings counts the `value` points of every tag in bucket.
func countReadings(t *testing.T, influxURL, bucket string) map[string]uint64 {
	t.Helper()
	client := influxdb2.NewClient(influxURL, "user:pass")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.QueryAPI("").Query(ctx, fmt.Sprintf(
		`from(bucket:%q) |> range(start: 2020-01-01T00:00:00Z) |> filter(fn: (r) => r._measurement == "reading" and r._field == "value") |> group(columns: ["tag"]) |> count()`, bucket))
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	counts := map[string]uint64{}
	for res.Next() {
		r := res.Record()
		tag, _ := r.ValueByKey("tag").(string)
		n, _ := r.Value().(int64)
		counts[tag] = uint64(n)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux result: %v", err)
	}
	return counts
}

// TestMQTTRefusesBadTime: on the real broker and InfluxDB, a reading stamped
// in 2100 and one stamped in 1990 are refused as bad time, counted on
// /metrics and logged with the device and topic; the good reading after
// them is the tag's latest value and the only point stored.
func TestMQTTRefusesBadTime(t *testing.T) {
	influxURL := testenv.InfluxURL(t)
	broker := testenv.MQTTURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)
	prefix := fmt.Sprintf("badtime%d", time.Now().UnixNano())
	dir := t.TempDir()
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: ts-02}
data_dir: %s
http: {listen: "127.0.0.1:0"}
influxdb: {url: "%s", token: "user:pass", org: "", bucket: "%s", flush_interval: 100ms}
devices:
  - id: iot
    protocol: mqtt
    url: %s
    client_id: %s-gw
    subscriptions:
      - {topic: "%s/+/v", format: json, tag: "B-{1}", kind: pipe_pressure, unit: MPa, value: v, time: ts}
`, filepath.Join(dir, "var"), influxURL, bucket, broker, prefix, prefix))
	gw, out := startGatewayChild(t, conf)
	base := waitRunning(t, out)
	time.Sleep(time.Second) // subscribed
	pub := mqttClient(t, broker, prefix+"-pub")
	topic := prefix + "/1/v"
	for _, payload := range []string{
		`{"v":1,"ts":4102444800000}`, // 2100-01-01
		`{"v":2,"ts":631152000000}`,  // 1990-01-01
		fmt.Sprintf(`{"v":3,"ts":%d}`, time.Now().UnixMilli()),
	} {
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	var p api.Point
	isGood := func(p api.Point) bool { return p.Value != nil && *p.Value == 3 }
	for time.Now().Before(deadline) && !isGood(p) {
		for _, q := range latestPoints(t, base) {
			if q.Tag == "B-1" {
				p = q
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !isGood(p) {
		t.Errorf("latest B-1 %+v, want the good reading 3", p)
	}
	metrics := getText(t, base+"/metrics")
	if !regexp.MustCompile(`hazgate_mqtt_bad_payloads_total\{[^}]*reason="bad_time"[^}]*\} 2\n`).MatchString(metrics) {
		t.Errorf("/metrics does not count 2 bad_time payloads:\n%s", grepLines(metrics, "bad_payloads"))
	}
	time.Sleep(500 * time.Millisecond) // flush_interval
	gw.Process.Signal(os.Interrupt)
	gw.Wait()
	if n := countReadings(t, influxURL, bucket)["B-1"]; n != 1 {
		t.Errorf("%d points of B-1 in InfluxDB, want only the good one", n)
	}
	logged := regexp.MustCompile(`msg="bad mqtt payload".*device=iot.*topic=` + regexp.QuoteMeta(topic) + `.*reason=bad_time`)
	if !logged.MatchString(out.String()) {
		t.Errorf("no log line naming device, topic and bad_time:\n%s", grepLines(out.String(), "bad mqtt payload"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
