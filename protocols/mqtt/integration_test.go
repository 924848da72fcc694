package mqtt

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"hazgate/collector"
	"hazgate/protocols/mqtt/sparkplugpb"
	"hazgate/sim/testenv"
)

// uniq keeps topics of one test run apart from another's on the shared broker.
func uniq() string { return fmt.Sprintf("t%d", time.Now().UnixNano()) }

func byTag(ss []collector.Sample) map[string][]collector.Sample {
	m := make(map[string][]collector.Sample)
	for _, s := range ss {
		m[s.Tag] = append(m[s.Tag], s)
	}
	return m
}

func TestIntegrationFormats(t *testing.T) {
	url := testenv.MQTTURL(t)
	p := uniq()
	reg, rec := collector.NewRegistry(), &recorder{}
	c := newTestCollector(t, reg, rec, url,
		Subscription{Topic: p + "/hydrant/+/pressure", Tag: "HYD-{2}", Kind: "hydrant_pressure", Unit: "MPa", Value: "pressure", Time: "ts"},
		Subscription{Topic: p + "/box/+", Tag: "{dev}.CH{ch}", Value: "v", Time: "t", Array: "readings", Area: "{zone}"},
		Subscription{Topic: p + "/fas/+/event", Format: "fire_panel", Tag: "{2}.L{loop}.P{point}"},
		Subscription{Topic: p + "/num/+", Format: "number", Tag: "N{2}"},
	)
	status := make(chan string, 10)
	watcher := testClient(t, url, "", true, nil)
	watcher.Subscribe(StatusTopic("hazgate", "s1"), 1, func(_ paho.Client, m paho.Message) { status <- string(m.Payload()) }).Wait()
	stop := runCollector(t, c)

	dev := testClient(t, url, "", true, nil)
	publish(t, dev, p+"/hydrant/7/pressure", 1, false, `{"pressure":0.32,"ts":1732250000000}`)
	publish(t, dev, p+"/box/B1", 1, false, `{"dev":"IOT-1","zone":"罐区A","readings":[{"ch":1,"v":21.5,"t":1732250000000},{"ch":2,"v":22.5,"t":1732250001000}]}`)
	publish(t, dev, p+"/hydrant/8/pressure", 1, false, `not json`) // refused alone
	publish(t, dev, p+"/fas/FAS-1/event", 1, false, `{"loop":1,"point":23,"type":"fire","active":true,"ts":1732250000000}`)
	publish(t, dev, p+"/num/3", 0, false, "4.5")
	publish(t, dev, p+"/hydrant/7/pressure", 1, false, `{"pressure":0.35,"ts":1732250002000}`)

	waitFor(t, 10*time.Second, "six samples", func() bool { return len(rec.all()) >= 6 })
	got := byTag(rec.all())
	check := func(tag string, v float64, ms int64) {
		t.Helper()
		ss := got[tag]
		for _, s := range ss {
			if s.Value == v && s.Time.Equal(time.UnixMilli(ms)) && s.Quality == collector.Good {
				return
			}
		}
		t.Errorf("%s: samples %+v, want %v at %d", tag, ss, v, ms)
	}
	check("HYD-7", 0.32, 1732250000000)
	check("HYD-7", 0.35, 1732250002000)
	check("IOT-1.CH1", 21.5, 1732250000000)
	check("IOT-1.CH2", 22.5, 1732250001000)
	check("FAS-1.L1.P23.fire", 1, 1732250000000)
	if ss := got["N3"]; len(ss) != 1 || ss[0].Value != 4.5 {
		t.Errorf("N3 = %+v", ss)
	}
	if tag, _ := reg.Lookup("IOT-1.CH2"); tag.Area != "罐区A" || tag.Device != "iot-1" {
		t.Errorf("IOT-1.CH2 = %+v", tag)
	}
	if _, ok := reg.Lookup("FAS-1.L1.P23.feedback"); !ok {
		t.Error("fire panel point's state tags not all created")
	}
	if bad := c.Stats().Subscriptions[0].Bad; bad[ReasonNotJSON] != 1 {
		t.Errorf("bad payloads = %v, want one not_json", bad)
	}
	// Order per tag is kept.
	if hs := got["HYD-7"]; len(hs) != 2 || hs[0].Value != 0.32 {
		t.Errorf("HYD-7 order: %+v", hs)
	}

	stop()
	var seen []string
	waitFor(t, 5*time.Second, "online then offline on the status topic", func() bool {
		select {
		case s := <-status:
			seen = append(seen, s)
		default:
		}
		return len(seen) > 0 && seen[len(seen)-1] == StatusOffline
	})
}

func TestIntegrationSparkplug(t *testing.T) {
	url := testenv.MQTTURL(t)
	group := uniq()
	reg, rec := collector.NewRegistry(), &recorder{}
	c := newTestCollector(t, reg, rec, url, Subscription{Topic: "spBv1.0/" + group + "/#", Format: "sparkplug", Kind: "combustible_gas", Unit: "%LEL"})
	runCollector(t, c)
	edge := testClient(t, url, "", true, nil)
	topic := func(typ, device string) string {
		s := "spBv1.0/" + group + "/" + typ + "/E1"
		if device != "" {
			s += "/" + device
		}
		return s
	}
	const ts = 1732250000000
	publish(t, edge, topic("NBIRTH", ""), 1, false, spMsg(t, ts, withLong(metric("bdSeq", 0, 8), 0), withDouble(metric("Uptime", 1, 10), 5)))
	publish(t, edge, topic("DBIRTH", "GD-1"), 1, false, spMsg(t, ts, withDouble(metric("LEL", 2, 10), 0)))
	publish(t, edge, topic("DDATA", "GD-1"), 1, false, spMsg(t, ts+1000, withDouble(&sparkplugpb.Payload_Metric{Alias: proto.Uint64(2)}, 31.5)))
	publish(t, edge, topic("DDATA", "GD-1"), 1, false, spMsg(t, ts+1000, withDouble(&sparkplugpb.Payload_Metric{Alias: proto.Uint64(77)}, 1)))
	publish(t, edge, topic("NDEATH", ""), 1, false, spMsg(t, 0, withLong(metric("bdSeq", 0, 8), 0)))

	waitFor(t, 10*time.Second, "death samples", func() bool {
		ss := byTag(rec.all())["E1.GD-1.LEL"]
		return len(ss) == 3
	})
	ss := byTag(rec.all())
	lel := ss["E1.GD-1.LEL"]
	if lel[0].Value != 0 || lel[1].Value != 31.5 || !lel[1].Time.Equal(time.UnixMilli(ts+1000)) || lel[2].Quality != collector.Bad || lel[2].Reason != collector.ReasonCommLoss {
		t.Errorf("LEL samples %+v", lel)
	}
	if up := ss["E1.Uptime"]; len(up) != 2 || up[1].Quality != collector.Bad {
		t.Errorf("Uptime samples %+v", up)
	}
	if tag, ok := reg.Lookup("E1.GD-1.LEL"); !ok || tag.Kind != "combustible_gas" || tag.Unit != "%LEL" {
		t.Errorf("tag %+v %v", tag, ok)
	}
	if bad := c.Stats().Subscriptions[0].Bad; bad[ReasonUnknownAlias] != 1 {
		t.Errorf("bad = %v, want one unknown_alias", bad)
	}
}

// seqsOnce checks that every n in 1..total arrived exactly once on tag.
func seqsOnce(t *testing.T, ss []collector.Sample, total int) {
	t.Helper()
	count := make(map[int]int)
	for _, s := range ss {
		count[int(s.Value)]++
	}
	var missing, twice []int
	for n := 1; n <= total; n++ {
		switch count[n] {
		case 0:
			missing = append(missing, n)
		case 1:
		default:
			twice = append(twice, n)
		}
	}
	if len(missing) > 0 || len(twice) > 0 || len(ss) != total {
		t.Errorf("%d samples for %d messages: %d missing (first %v), %d more than once (first %v)",
			len(ss), total, len(missing), head(missing), len(twice), head(twice))
	}
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// TestIntegrationBrokerRestart stops the broker while the gateway is still
// draining a QoS 1 burst and publishes more after it is back: every message
// must be stored exactly once.
func TestIntegrationBrokerRestart(t *testing.T) {
	m := startMosquitto(t)
	rec := &recorder{delay: 20 * time.Millisecond} // a slow consumer keeps the broker's queue full
	c := newTestCollector(t, collector.NewRegistry(), rec, m.URL(), Subscription{Topic: "seq/+", Tag: "S{1}", Value: "n"})
	runCollector(t, c)

	const first, second = 5000, 2000
	pubAll := func(from, to int) {
		dev := testClient(t, m.URL(), "", true, nil)
		toks := make([]paho.Token, 0, to-from+1)
		for n := from; n <= to; n++ {
			toks = append(toks, dev.Publish("seq/a", 1, false, fmt.Sprintf(`{"n":%d}`, n)))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		dev.Disconnect(100)
	}
	pubAll(1, first)
	waitFor(t, 10*time.Second, "the first samples", func() bool { return len(rec.all()) >= 200 })
	mid := len(rec.all())
	m.Stop()
	if mid >= first {
		t.Fatalf("all %d messages arrived before the broker stopped; the test did not test a restart mid-stream", first)
	}
	t.Logf("broker stopped after %d of %d messages", mid, first)
	time.Sleep(300 * time.Millisecond)
	m.Start()
	pubAll(first+1, first+second)
	waitFor(t, 60*time.Second, "every message", func() bool { return len(rec.all()) >= first+second })
	time.Sleep(500 * time.Millisecond) // let any duplicate show up
	seqsOnce(t, byTag(rec.all())["Sa"], first+second)
	st := c.Stats()
	if st.Lost < 1 || st.Connects < 2 {
		t.Errorf("stats %+v: want a lost connection and a reconnect", st)
	}
	t.Logf("redeliveries dropped: %d", st.Duplicates)
}

// TestIntegrationGatewayRestart: messages published while the gateway is
// down wait in its persistent session and arrive when it is back.
func TestIntegrationGatewayRestart(t *testing.T) {
	url := testenv.MQTTURL(t)
	p := uniq()
	sub := Subscription{Topic: p + "/+", Tag: "G{1}", Value: "n"}
	clientID := "hazgate-test-" + p
	start := func(rec *recorder) func() {
		c := newTestCollector(t, collector.NewRegistry(), rec, url, sub)
		c.broker.clientID = clientID
		return runCollector(t, c)
	}
	rec1 := &recorder{}
	stop := start(rec1)
	dev := testClient(t, url, "", true, nil)
	for n := 1; n <= 300; n++ {
		publish(t, dev, p+"/x", 1, false, fmt.Sprintf(`{"n":%d}`, n))
	}
	waitFor(t, 10*time.Second, "first 300", func() bool { return len(rec1.all()) >= 300 })
	stop()
	for n := 301; n <= 800; n++ { // under mosquitto's default offline queue of 1000
		publish(t, dev, p+"/x", 1, false, fmt.Sprintf(`{"n":%d}`, n))
	}
	rec2 := &recorder{}
	start(rec2)
	waitFor(t, 10*time.Second, "the 500 queued while down", func() bool { return len(rec2.all()) >= 500 })
	time.Sleep(200 * time.Millisecond)
	seqsOnce(t, append(rec1.all(), rec2.all()...), 800)
}
