package mqtt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

// fakeMsg is a received message, for unit tests of the worker's decoding.
type fakeMsg struct {
	topic   string
	payload []byte
	qos     byte
	dup     bool
	id      uint16
	acked   bool
}

func (m *fakeMsg) Duplicate() bool   { return m.dup }
func (m *fakeMsg) Qos() byte         { return m.qos }
func (m *fakeMsg) Retained() bool    { return false }
func (m *fakeMsg) Topic() string     { return m.topic }
func (m *fakeMsg) MessageID() uint16 { return m.id }
func (m *fakeMsg) Payload() []byte   { return m.payload }
func (m *fakeMsg) Ack()              { m.acked = true }

// recorder is an Emitter that keeps every sample.
type recorder struct {
	mu      sync.Mutex
	samples []collector.Sample
	delay   time.Duration // per batch, to make a slow consumer
}

func (r *recorder) Emit(ctx context.Context, b []collector.Sample) error {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	r.samples = append(r.samples, b...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []collector.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]collector.Sample(nil), r.samples...)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestCollector(t testing.TB, reg *collector.Registry, em protocols.Emitter, url string, subs ...Subscription) *Collector {
	t.Helper()
	dev := config.Device{ID: "iot-1", Protocol: "mqtt", URL: url, Timeout: time.Second,
		Block: &Config{QoS: 1, KeepAlive: 5 * time.Second, Subscriptions: subs}}
	for i := range subs {
		if subs[i].Format == "" {
			subs[i].Format = "json"
		}
	}
	// The fixtures are stamped in November 2024: let the past bound reach them.
	times := collector.TimeBounds{Past: 100 * 8760 * time.Hour}
	c, err := New(protocols.Env{Site: "s1", Emit: em, Tags: reg, Log: quiet(), Times: times}, dev)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandle(t *testing.T) {
	reg := collector.NewRegistry()
	if err := reg.Add(collector.Tag{ID: "HYD-9", Device: "other"}); err != nil {
		t.Fatal(err)
	}
	c := newTestCollector(t, reg, &recorder{}, "tcp://127.0.0.1:1",
		Subscription{Topic: "hydrant/+/pressure", Tag: "HYD-{1}", Kind: "hydrant_pressure", Unit: "MPa", Value: "p"},
		Subscription{Topic: "hydrant/+/pressure", Tag: "HYD-{1}-BAT", Kind: "battery", Value: "bat"},
		Subscription{Topic: "fas/+/event", Format: "fire_panel", Tag: "{1}.L{loop}.P{point}"},
	)
	msgs := []*fakeMsg{
		{topic: "hydrant/1/pressure", payload: []byte(`{"p":0.31,"bat":3.6}`), qos: 1},
		{topic: "hydrant/1/pressure", payload: []byte(`{"p":0.31,"bat":3.6}`), qos: 1, dup: true}, // redelivery: dropped
		{topic: "hydrant/2/pressure", payload: []byte(`{"p":"high"}`), qos: 1},                    // bad: both subscriptions refuse it
		{topic: "hydrant/9/pressure", payload: []byte(`{"p":0.2,"bat":3.1}`), qos: 0},             // HYD-9 is another device's
		{topic: "fas/FAS-1/event", payload: []byte(`{"loop":1,"point":23,"type":"fire","active":true}`), qos: 1},
		{topic: "elsewhere", payload: []byte(`1`), qos: 1},
	}
	batch := make([]received, len(msgs))
	for i, m := range msgs {
		batch[i] = received{m: m, at: recv.Add(time.Duration(i) * time.Millisecond)}
	}
	got := c.handle(batch)
	tags := make([]string, len(got))
	for i, s := range got {
		tags[i] = s.Tag
	}
	want := "HYD-1 HYD-1-BAT HYD-9-BAT FAS-1.L1.P23.fire"
	if strings.Join(tags, " ") != want {
		t.Errorf("samples %v, want %s", tags, want)
	}
	if tag, ok := reg.Lookup("HYD-1"); !ok || tag.Kind != "hydrant_pressure" || tag.Unit != "MPa" || tag.Device != "iot-1" || tag.Site != "s1" {
		t.Errorf("HYD-1 registered as %+v, %v", tag, ok)
	}
	for _, st := range fireStates {
		if tag, ok := reg.Lookup("FAS-1.L1.P23." + st); !ok || tag.Kind != "fire_panel" {
			t.Errorf("fire panel state tag %s: %+v %v", st, tag, ok)
		}
	}
	st := c.Stats()
	if st.Duplicates != 1 || st.Unmatched != 1 {
		t.Errorf("stats %+v", st)
	}
	p := st.Subscriptions[0]
	if p.Messages != 3 || p.Readings != 1 || p.Bad[ReasonWrongType] != 1 || p.Bad[ReasonTagConflict] != 1 {
		t.Errorf("first subscription stats %+v", p)
	}
	if b := st.Subscriptions[1]; b.Bad[ReasonMissingField] != 1 || b.Readings != 2 {
		t.Errorf("second subscription stats %+v", b)
	}
	// Seen again: no second Add (it would fail), samples still flow.
	got = c.handle([]received{{m: &fakeMsg{topic: "hydrant/1/pressure", payload: []byte(`{"p":0.5,"bat":3.5}`), qos: 1}, at: recv}})
	if len(got) != 2 || got[0].Value != 0.5 {
		t.Errorf("second message: %+v", got)
	}
}

func TestRecentSet(t *testing.T) {
	r := newRecentSet(3)
	hs := []uint64{receiptKey(1, "a", []byte("1")), receiptKey(1, "a", []byte("2")), receiptKey(1, "b", []byte("1")), receiptKey(2, "a", []byte("1"))}
	if hs[0] == hs[2] {
		t.Fatal("topic not in the hash")
	}
	for _, h := range hs[:3] {
		r.add(h)
	}
	if !r.has(hs[0]) || r.has(hs[3]) {
		t.Error("membership wrong")
	}
	r.add(hs[3]) // pushes out hs[0]
	if r.has(hs[0]) || !r.has(hs[3]) {
		t.Error("oldest not forgotten")
	}
	r.add(hs[1])
	r.add(hs[1]) // twice in the ring: once forgotten, still there
	if !r.has(hs[1]) {
		t.Error("repeated hash lost")
	}
}

func TestNewRefuses(t *testing.T) {
	env := protocols.Env{Site: "s", Emit: &recorder{}, Tags: collector.NewRegistry()}
	for name, dev := range map[string]config.Device{
		"no subscriptions": {ID: "d", URL: "tcp://h:1"},
		"bad format":       {ID: "d", URL: "tcp://h:1", Block: &Config{Subscriptions: []Subscription{{Topic: "a", Format: "xml", Tag: "x"}}}},
		"bad filter":       {ID: "d", URL: "tcp://h:1", Block: &Config{Subscriptions: []Subscription{{Topic: "a/#/b", Format: "json", Tag: "x"}}}},
		"missing ca":       {ID: "d", URL: "ssl://h:1", TLS: &config.TLS{CA: "/nonexistent.pem"}, Block: &Config{Subscriptions: []Subscription{{Topic: "a", Format: "json", Tag: "x"}}}},
	} {
		if _, err := New(env, dev); err == nil || !strings.Contains(err.Error(), "device d") {
			t.Errorf("%s: err = %v, want one naming the device", name, err)
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add("hyd/7", []byte(`{"dev":"HYD","readings":[{"ch":1,"p":0.3,"t":1732250000123},{"ch":2,"p":0.4,"t":"2024-11-22T04:33:20Z"}]}`))
	f.Add("hyd/8", []byte(`{"dev":"X","readings":[{"ch":"a","p":true}]}`))
	f.Add("fas/1", []byte(`{"loop":1,"point":23,"type":"fire","active":true,"ts":1732250000000}`))
	f.Add("fas/1", []byte(`{"type":"复位"}`))
	f.Add("x", []byte(`[1,2`))
	subs := []*subscription{
		mustSub(f, Subscription{Topic: "hyd/+", Tag: "{dev}-{ch}-{1}", Value: "p", Time: "t", Array: "readings", Area: "{zone.name}"}),
		mustSub(f, Subscription{Topic: "fas/+", Format: "fire_panel", Tag: "{1}.L{loop}.P{point}"}),
		mustSub(f, Subscription{Topic: "#", Tag: "{0}/{a[0].b}", Value: "[0]", Array: "."}),
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		levels := strings.Split(topic, "/")
		for _, s := range subs {
			if !s.matches(levels) {
				continue
			}
			rs, err := s.decode(topic, levels, payload, recv)
			for _, r := range rs {
				if checkTagID(r.tag) != nil || math.IsNaN(r.value) || math.IsInf(r.value, 0) || r.time.IsZero() {
					t.Fatalf("bad reading %+v from %q", r, payload)
				}
			}
			if err != nil && reasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
		}
	})
}

// holdingEmitter keeps each batch's done until the test releases it.
type holdingEmitter struct {
	recorder
	dones chan func()
}

func (h *holdingEmitter) EmitDurable(ctx context.Context, b []collector.Sample, done func()) error {
	if err := h.Emit(ctx, b); err != nil {
		return err
	}
	h.dones <- done
	return nil
}

// ackMsg is a fakeMsg whose acknowledgement may come from another goroutine.
type ackMsg struct {
	fakeMsg
	acks atomic.Int32
}

func (m *ackMsg) Ack() { m.acks.Add(1) }

// TestCollectorAcksOnlyWhatIsDurable: a QoS 1 message is acknowledged once
// the pipeline says its samples are durable, never before, and in the order
// the messages came even when a later batch is durable first.
func TestCollectorAcksOnlyWhatIsDurable(t *testing.T) {
	em := &holdingEmitter{dones: make(chan func(), 4)}
	c := newTestCollector(t, collector.NewRegistry(), em, "tcp://127.0.0.1:1",
		Subscription{Topic: "hydrant/+/pressure", Tag: "HYD-{1}", Value: "p"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.work(ctx) })
	wg.Go(func() { c.ack(ctx) })
	defer func() { cancel(); wg.Wait() }()

	var msgs []*ackMsg
	var dones []func()
	for i := range 2 {
		m := &ackMsg{fakeMsg: fakeMsg{topic: fmt.Sprintf("hydrant/%d/pressure", i), payload: []byte(`{"p":0.3}`), qos: 1}}
		msgs = append(msgs, m)
		c.queue <- received{m: m, at: time.Now()}
		select {
		case d := <-em.dones:
			dones = append(dones, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not emitted", i)
		}
	}
	dones[1]() // the later batch is durable first: it must wait for the first
	time.Sleep(50 * time.Millisecond)
	if a, b := msgs[0].acks.Load(), msgs[1].acks.Load(); a != 0 || b != 0 {
		t.Fatalf("acks %d, %d before the first batch was durable", a, b)
	}
	dones[0]()
	waitFor(t, 5*time.Second, "both acknowledged once", func() bool { return msgs[0].acks.Load() == 1 && msgs[1].acks.Load() == 1 })
}

// TestCollectorRefusesBadTime: a reading stamped in 2100 would freeze its
// tag in the latest cache, one from 1990 is older than any store keeps; each
// is refused as bad_time and counted, in JSON and in Sparkplug B, and the
// good reading beside it still goes through.
func TestCollectorRefusesBadTime(t *testing.T) {
	now := time.Now()
	future := uint64(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	past := uint64(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	good := uint64(now.UnixMilli())
	jsonSub := Subscription{Topic: "s/+", Format: "json", Tag: "S-{1}", Value: "v", Time: "ts"}
	spSub := Subscription{Topic: "spBv1.0/#", Format: "sparkplug", Tag: "{node}:{metric}"}
	js := func(v int, ts uint64) []byte { return []byte(fmt.Sprintf(`{"v":%d,"ts":%d}`, v, ts)) }
	sp := func(v float64, ts uint64) []byte {
		m := withDouble(metric("P", 0, 10), v)
		m.Timestamp = &ts
		return spMsg(t, ts, m)
	}
	tests := []struct {
		name  string
		sub   Subscription
		topic string
		bad   []byte
		good  []byte
	}{
		{"json 2100", jsonSub, "s/1", js(1, future), js(2, good)},
		{"json 1990", jsonSub, "s/1", js(1, past), js(2, good)},
		{"sparkplug 2100", spSub, "spBv1.0/g/NBIRTH/n1", sp(1, future), sp(2, good)},
		{"sparkplug 1990", spSub, "spBv1.0/g/NBIRTH/n1", sp(1, past), sp(2, good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := config.Device{ID: "iot-1", Protocol: "mqtt", URL: "tcp://127.0.0.1:1", Timeout: time.Second,
				Block: &Config{QoS: 1, Subscriptions: []Subscription{tt.sub}}}
			c, err := New(protocols.Env{Site: "s1", Emit: &recorder{}, Tags: collector.NewRegistry(), Log: quiet()}, dev)
			if err != nil {
				t.Fatal(err)
			}
			got := c.handle([]received{
				{m: &fakeMsg{topic: tt.topic, payload: tt.bad, qos: 1, id: 1}, at: now},
				{m: &fakeMsg{topic: tt.topic, payload: tt.good, qos: 1, id: 2}, at: now},
			})
			if len(got) != 1 || got[0].Value != 2 {
				t.Fatalf("samples %+v, want only the reading stamped now", got)
			}
			if st := c.Stats().Subscriptions[0]; st.Bad[ReasonBadTime] != 1 {
				t.Errorf("bad payloads %v, want one %s", st.Bad, ReasonBadTime)
			}
		})
	}
}

// TestInboundFreeStore: received PUBLISH packets are not kept (the
// collector acknowledges QoS 1 itself, so they would never be deleted);
// what paho resumes after a reconnect is.
func TestInboundFreeStore(t *testing.T) {
	s := newInboundFreeStore()
	s.Open()
	defer s.Close()
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.Qos, pub.MessageID = 1, 7
	rel := packets.NewControlPacket(packets.Pubrel).(*packets.PubrelPacket)
	rel.MessageID = 8
	s.Put("i.7", pub)
	s.Put("i.8", rel)
	s.Put("o.9", pub)
	if got := s.All(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"i.8", "o.9"}) {
		t.Fatalf("store holds %v, want the inbound PUBREL and the outbound PUBLISH", got)
	}
	s.Del("i.7") // paho deletes after its own PUBACK: a miss is fine
}

func TestSplitLevels(t *testing.T) {
	for _, topic := range []string{"", "a", "a/b", "/a/", "//", "spBv1.0/g/DDATA/n/d"} {
		if got, want := splitLevels(nil, topic), strings.Split(topic, "/"); !slices.Equal(got, want) {
			t.Errorf("splitLevels(%q) = %q, want %q", topic, got, want)
		}
	}
}
