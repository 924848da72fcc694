package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
)

// benchPayload is the single-reading message of bench/mqtt.
const benchPayload = `{"v":0.234,"ts":1732250000123}`

// BenchmarkDecodeJSON decodes one single-reading JSON payload, as
// bench/mqtt sends them: the worker's per-message decoding cost.
func BenchmarkDecodeJSON(b *testing.B) {
	sub := mustSub(b, Subscription{Topic: "bench/#", Tag: "HYD-{1}", Value: "v", Time: "ts"})
	topic := "bench/42"
	levels := strings.Split(topic, "/")
	payload := []byte(benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		rs, err := sub.decode(topic, levels, payload, recv)
		if err != nil || len(rs) != 1 || rs[0].value != 0.234 {
			b.Fatalf("%+v %v", rs, err)
		}
	}
}

// BenchmarkDecodeJSONArray decodes a payload with an array of readings and
// a tag template reading fields.
func BenchmarkDecodeJSONArray(b *testing.B) {
	sub := mustSub(b, Subscription{Topic: "hyd/+", Tag: "{dev}-{ch}", Value: "p", Time: "t", Array: "readings"})
	topic := "hyd/x"
	levels := strings.Split(topic, "/")
	payload := []byte(`{"dev":"HYD","readings":[{"ch":1,"p":0.3,"t":1732250000123},{"ch":2,"p":0.4,"t":1732250000124}]}`)
	b.ReportAllocs()
	for b.Loop() {
		rs, err := sub.decode(topic, levels, payload, recv)
		if err != nil || len(rs) != 2 {
			b.Fatalf("%+v %v", rs, err)
		}
	}
}

// BenchmarkHandle runs the worker's handling of a full batch of QoS 1
// messages (redelivery check, decoding, tag lookup, samples); ns/op is per
// message.
func BenchmarkHandle(b *testing.B) {
	c := newTestCollector(b, collector.NewRegistry(), &recorder{}, "tcp://127.0.0.1:1",
		Subscription{Topic: "bench/#", Tag: "HYD-{1}", Kind: "hydrant_pressure", Unit: "MPa", Value: "v", Time: "ts"})
	c.times = collector.TimeBounds{Past: 100 * 8760 * time.Hour}
	batch := make([]received, maxBatch)
	for i := range batch {
		batch[i] = received{m: &fakeMsg{topic: fmt.Sprintf("bench/%d", i%100), payload: []byte(benchPayload), qos: 1, id: uint16(i + 1)}, at: recv}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if got := c.handle(batch); len(got) != len(batch) {
			b.Fatalf("%d samples of %d messages", len(got), len(batch))
		}
		n += len(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}
