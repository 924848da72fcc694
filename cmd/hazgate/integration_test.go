package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/collector"
	"hazgate/protocols/gb26875"
	"hazgate/protocols/modbus"
	"hazgate/protocols/modbus/modbustest"
	"hazgate/sim"
	"hazgate/sim/testenv"
)

// TestGatewayToInflux: the whole pipeline from a Modbus controller to a real
// InfluxDB. N completed polls give exactly N `reading` points per tag, read
// back through the v2 (Flux) query API, and the raised alarm lands in the
// `alarm` measurement.
func TestGatewayToInflux(t *testing.T) {
	influxURL := testenv.InfluxURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)

	ctrl := startGasController(t, 3)
	ctrl.SetLEL(0, 12.3)
	ctrl.SetLEL(1, 60)
	ctrl.SetLEL(2, 0)

	cfg := parseConfig(t, `
site: {id: it-01}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
influxdb: {url: "${URL}", token: "user:pass", org: "", bucket: "${BUCKET}", flush_interval: 100ms}
devices:
  - id: gds-1
    protocol: modbus
    url: tcp://${MODBUS}
    interval: 100ms
    tags:
      - {id: GT-1, kind: combustible_gas, unit: "%LEL", area: 罐区A, register: {table: input, address: 0, scale: 0.1}}
      - {id: GT-2, kind: combustible_gas, unit: "%LEL", area: 罐区A, register: {table: input, address: 1, scale: 0.1}}
      - {id: GT-3, kind: combustible_gas, unit: "%LEL", area: 罐区B, register: {table: input, address: 2, scale: 0.1}}
rules:
  - {name: lel-level-2, match: {kind: combustible_gas}, above: 50, severity: high}
`, map[string]string{"DIR": t.TempDir(), "URL": influxURL, "BUCKET": bucket, "MODBUS": ctrl.Addr()})

	start := time.Now()
	g, _, stop := startGateway(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for g.devices[0].(*modbus.Poller).Stats().Polls < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d polls in 20 s", g.devices[0].(*modbus.Poller).Stats().Polls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop() // flushes the sink before returning
	polls := g.devices[0].(*modbus.Poller).Stats().Polls
	if s := g.influx.Stats(); s.PointsDropped != 0 || s.PointsRejected != 0 {
		t.Fatalf("sink lost points: %+v", s)
	}

	client := influxdb2.NewClient(influxURL, "user:pass")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rng := fmt.Sprintf(`from(bucket:%q) |> range(start: %s)`, bucket, start.Add(-time.Second).UTC().Format(time.RFC3339Nano))

	res, err := client.QueryAPI("").Query(ctx, rng+` |> filter(fn: (r) => r._measurement == "reading" and r._field == "value")`)
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	counts := map[string]uint64{}
	want := map[string]float64{"GT-1": 12.3, "GT-2": 60, "GT-3": 0}
	for res.Next() {
		r := res.Record()
		tag, _ := r.ValueByKey("tag").(string)
		counts[tag]++
		if v, _ := r.Value().(float64); v != want[tag] {
			t.Errorf("%s at %v = %v, want %v", tag, r.Time(), r.Value(), want[tag])
		}
		if r.ValueByKey("site") != "it-01" || r.ValueByKey("device") != "gds-1" || r.ValueByKey("unit") != "%LEL" || r.ValueByKey("kind") != "combustible_gas" {
			t.Errorf("%s: metadata tags missing: %v", tag, r.Values())
		}
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux result: %v", err)
	}
	for tag := range want {
		if counts[tag] != polls {
			t.Errorf("%s: %d points in InfluxDB after %d polls", tag, counts[tag], polls)
		}
	}

	res, err = client.QueryAPI("").Query(ctx, rng+` |> filter(fn: (r) => r._measurement == "alarm" and r._field == "event")`)
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	var raised int
	for res.Next() {
		r := res.Record()
		if r.ValueByKey("tag") == "GT-2" && r.ValueByKey("rule") == "lel-level-2" && r.ValueByKey("severity") == "high" && r.Value() == alerting.EventRaised {
			raised++
		} else {
			t.Errorf("unexpected alarm point %v", r.Values())
		}
	}
	if raised != 1 {
		t.Errorf("%d raised events for GT-2 in the alarm measurement, want 1", raised)
	}
}

// TestCommLossFromPymodbus: a Modbus peer we did not write serves known
// registers; when it dies, comm_loss alarms appear in /api/v1/alarms within
// three poll intervals, and clear once it is back.
func TestCommLossFromPymodbus(t *testing.T) {
	peer := modbustest.StartPymodbus(t, modbustest.Values{Input: []string{"0=215", "1=int16:-40"}})
	const interval = 200 * time.Millisecond
	cfg := parseConfig(t, `
site: {id: it-02}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - id: hyd-1
    protocol: modbus
    url: ${URL}
    interval: 200ms
    timeout: 150ms
    tags:
      - {id: PT-1, kind: hydrant_pressure, unit: MPa, register: {table: input, address: 0, scale: 0.001}}
      - {id: TT-1, kind: temperature, unit: "°C", register: {table: input, address: 1, type: int16, scale: 0.1}}
rules:
  - {name: hydrant-low, match: {kind: hydrant_pressure}, below: 0.14, severity: medium}
`, map[string]string{"DIR": t.TempDir(), "URL": peer.URL()})
	g, base, _ := startGateway(t, cfg)

	waitLatest(t, g, "PT-1", func(s collector.Sample) bool { return s.Quality == collector.Good && s.Value == 0.215 })
	waitLatest(t, g, "TT-1", func(s collector.Sample) bool { return s.Quality == collector.Good && s.Value == -4 })
	if as := getAlarms(t, base); len(as) != 0 {
		t.Fatalf("alarms with a healthy peer: %+v", as)
	}

	// The device dies: one root-cause alarm for it, its tags' own
	// communication-loss alarms journalled but suppressed by design.
	peer.Kill()
	killed := time.Now()
	root := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "hyd-1" && a.Level == alerting.LevelDevice && a.Class == alerting.ClassCommLoss && a.State == alerting.ActiveUnacked
	})
	if lag := time.Since(killed); lag > 3*interval {
		t.Errorf("device comm_loss in the API %v after the peer died, want within 3 intervals (%v)", lag, 3*interval)
	}
	if root.RaisedAt.Before(killed.Add(-interval)) {
		t.Errorf("comm_loss raised at %v, before the peer died at %v", root.RaisedAt, killed)
	}
	for _, tag := range []string{"PT-1", "TT-1"} {
		waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
			return a.Tag == tag && a.Class == alerting.ClassCommLoss && a.State == alerting.SuppressedByDesign && a.Root == root.ID
		})
	}

	peer.Restart()
	waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.ID == root.ID && a.State == alerting.ClearedUnacked && a.ClearedAt != nil
	})
	for _, a := range getAlarms(t, base) {
		if a.Tag != "hyd-1" {
			t.Errorf("the device answers, yet %+v is open", a)
		}
	}
	waitLatest(t, g, "PT-1", func(s collector.Sample) bool { return s.Quality == collector.Good && s.Value == 0.215 })
}

func waitLatest(t *testing.T, g *gateway, tag string, ok func(collector.Sample) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s, found := g.latest.Get(tag); found && ok(s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := g.latest.Get(tag)
	t.Fatalf("%s never reached the expected sample; last %+v", tag, s)
}

// TestFirePanelOverMQTT: a fire panel and a hydrant sensor publish through a
// real Mosquitto; the gateway turns the fire event into a state alarm and low
// pressure into a GB 50974 alarm, and publishes both northbound.
func TestFirePanelOverMQTT(t *testing.T) {
	broker := testenv.MQTTURL(t)
	run := fmt.Sprintf("it%d", time.Now().UnixNano())
	cfg := parseConfig(t, `
site: {id: it-03}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - id: fas-bus
    protocol: mqtt
    url: ${MQTT}
    client_id: ${RUN}-collector
    subscriptions:
      - {topic: "${RUN}/fas/+/event", format: fire_panel, tag: "{2}.L{loop}.P{point}", kind: fire_panel, area: 1号楼}
      - {topic: "${RUN}/hyd/+/p", format: json, tag: "HYD-{2}", kind: hydrant_pressure, unit: MPa, value: p}
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical, fault: medium}}
  - {name: hydrant, match: {kind: hydrant_pressure}, preset: gb50974-hydrant}
northbound: {url: "${MQTT}", client_id: "${RUN}-northbound", topic_prefix: "${RUN}"}
`, map[string]string{"DIR": t.TempDir(), "MQTT": broker, "RUN": run})

	// The regulator's side: everything the gateway publishes northbound.
	north := make(chan alerting.Event, 16)
	client := mqttClient(t, broker, run+"-regulator")
	if tok := client.Subscribe(run+"/it-03/alarm", 1, func(_ paho.Client, m paho.Message) {
		var ev alerting.Event
		if err := json.Unmarshal(m.Payload(), &ev); err != nil {
			t.Errorf("northbound payload %q: %v", m.Payload(), err)
			return
		}
		north <- ev
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// The site's status: the contract's JSON, with the gateway's version
	// and counts (wired in openStores).
	status := make(chan northbound.Status, 4)
	if tok := client.Subscribe(run+"/it-03/status", 1, func(_ paho.Client, m paho.Message) {
		var st northbound.Status
		if err := json.Unmarshal(m.Payload(), &st); err != nil {
			t.Errorf("status payload %q: %v", m.Payload(), err)
			return
		}
		status <- st
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	_, base, _ := startGateway(t, cfg)
	select {
	case st := <-status:
		if st.V != northbound.ContractVersion || st.Site != "it-03" || st.State != northbound.SiteOnline || st.Version != version || st.Devices != 1 || st.Tags == 0 {
			t.Errorf("status %+v: want v1, online, version %q, 1 device and its tags", st, version)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no status from the gateway")
	}
	publish := func(topic, payload string) {
		t.Helper()
		if tok := client.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	// The collector subscribes once connected; repeat until its tags exist.
	deadline := time.Now().Add(10 * time.Second)
	for {
		publish(run+"/fas/FAS-1/event", `{"loop":1,"point":23,"type":"fire","active":true}`)
		publish(run+"/hyd/7/p", `{"p": 0.08}`)
		if as := getAlarms(t, base); len(as) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	fire := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "FAS-1.L1.P23.fire" && a.Rule == "fas" && a.Severity == alerting.SeverityCritical
	})
	low := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "HYD-7" && a.Rule == "hydrant" && a.State == alerting.ActiveUnacked
	})
	got := map[int64]bool{}
	timeout := time.After(10 * time.Second)
	for !got[fire.ID] || !got[low.ID] {
		select {
		case ev := <-north:
			if ev.Type == alerting.EventRaised {
				got[ev.Alarm.ID] = true
			}
		case <-timeout:
			t.Fatalf("northbound raised events for alarms %v, want %d and %d", got, fire.ID, low.ID)
		}
	}
}

func mqttClient(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestUITDFireToAlarm: a simulated 用户信息传输装置 reports a fire over GB/T
// 26875.3 to the gateway's listener; the state rule raises the alarm, named
// after the component's GB 18030 description, and the API lists the device.
// dialPanel connects a simulated transmission device (address 1234) to
// the gateway's first device, its GB/T 26875.3 listener.
func dialPanel(ctx context.Context, t *testing.T, g *gateway) *sim.UITD {
	t.Helper()
	addr, err := g.devices[0].(*gb26875.Listener).Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sim.DialUITD(ctx, addr.String(), sim.UITDOptions{Address: 1234, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func TestUITDFireToAlarm(t *testing.T) {
	cfg := parseConfig(t, `
site: {id: fire-centre}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: centre, protocol: gb26875, listen: "127.0.0.1:0", heartbeat: 1s}
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical, fault: medium}}
`, map[string]string{"DIR": t.TempDir()})
	g, base, _ := startGateway(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dev := dialPanel(ctx, t, g)
	const fire = 1 << 1 // component state bit 1
	if err := dev.Component(ctx, gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: 3, Position: 27}, fire, "三号楼二层烟感"); err != nil {
		t.Fatalf("send fire: %v", err)
	}
	a := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == "UITD-000000001234.S1-1.Z3-P27.fire" && a.Rule == "fas" && a.Severity == alerting.SeverityCritical
	})
	if tag, ok := g.registry.Lookup(a.Tag); !ok || tag.Name != "三号楼二层烟感" || tag.Kind != "fire_panel" {
		t.Errorf("tag metadata %+v, want the GB 18030 description as its name", tag)
	}
	resp, err := http.Get(base + "/api/v1/uitds")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "000000001234") {
		t.Errorf("GET /api/v1/uitds: %s %s", resp.Status, body)
	}
}
