package hub

import (
	"encoding/json"
	"testing"

	"hazgate/alerting"
	"hazgate/config"
)

// BenchmarkDecodeAlarm is the ingest's per-message work before the store:
// the topic, the checks and the JSON.
func BenchmarkDecodeAlarm(b *testing.B) {
	in, err := New(config.Hub{TopicPrefix: "hazgate", MaxPayload: 1 << 20}, Options{Store: &Store{}, Name: "b"})
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(alarmMsg("s1", 42, 7, alerting.EventRaised, alerting.ActiveUnacked))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.decode("hazgate/s1/alarm", payload); err != nil {
			b.Fatal(err)
		}
	}
}
