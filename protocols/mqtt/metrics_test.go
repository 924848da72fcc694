package mqtt

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats {
		return Stats{Connects: 2, Lost: 1, Unmatched: 4, Subscriptions: []SubscriptionStats{
			{Topic: "site/+/gas", Messages: 10, Readings: 30, Bad: map[string]uint64{"json": 2, "range": 1}},
			{Topic: "site/+/gas", Messages: 5, Readings: 5, Bad: map[string]uint64{"json": 1}}, // same filter twice: summed
			{Topic: "panel/fire", Messages: 3},
		}}
	}
	body := statmetricstest.Scrape(t, metricsOf(stats), prometheus.Labels{"device": "mqtt-1"},
		`hazgate_mqtt_connects_total{device="mqtt-1"} 2`,
		`hazgate_mqtt_connections_lost_total{device="mqtt-1"} 1`,
		`hazgate_mqtt_unmatched_messages_total{device="mqtt-1"} 4`,
		`hazgate_mqtt_messages_total{device="mqtt-1",topic="site/+/gas"} 15`,
		`hazgate_mqtt_messages_total{device="mqtt-1",topic="panel/fire"} 3`,
		`hazgate_mqtt_readings_total{device="mqtt-1",topic="site/+/gas"} 35`,
		`hazgate_mqtt_bad_payloads_total{device="mqtt-1",reason="json",topic="site/+/gas"} 3`,
		`hazgate_mqtt_bad_payloads_total{device="mqtt-1",reason="range",topic="site/+/gas"} 1`,
	)
	// A subscription with no bad payloads has no bad series, not a zero one.
	if strings.Contains(body, `hazgate_mqtt_bad_payloads_total{device="mqtt-1",reason="",`) {
		t.Error("empty reason series")
	}
}
