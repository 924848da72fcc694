package mqtt

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
	"hazgate/protocols"
)

var _ protocols.Metered = (*Collector)(nil)

// Metrics exports the device's counters on /metrics, its subscriptions' by
// topic filter and bad payloads by reason; the gateway labels them with the
// device id.
func (c *Collector) Metrics() prometheus.Collector { return metricsOf(c.Stats) }

// metricsOf describes the series of an MQTT device's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	type S = Stats
	// byTopic sums a subscription counter per topic filter: two
	// subscriptions to the same filter would otherwise clash.
	byTopic := func(v func(SubscriptionStats) uint64) func(S) []statmetrics.Row {
		return func(s S) []statmetrics.Row {
			sum := map[string]uint64{}
			for _, sub := range s.Subscriptions {
				sum[sub.Topic] += v(sub)
			}
			return statmetrics.Counts(sum)
		}
	}
	badByTopic := func(s S) []statmetrics.Row {
		sum := map[[2]string]uint64{}
		for _, sub := range s.Subscriptions {
			for reason, n := range sub.Bad {
				sum[[2]string{sub.Topic, reason}] += n
			}
		}
		out := make([]statmetrics.Row, 0, len(sum))
		for k, n := range sum {
			out = append(out, statmetrics.Row{Labels: []string{k[0], k[1]}, Value: float64(n)})
		}
		return out
	}
	return statmetrics.New("", statmetrics.One(stats), statmetrics.Fields[S]()...).Split(
		statmetrics.SplitCounter("hazgate_mqtt_messages_total", "Messages received, by subscription topic filter.", []string{"topic"},
			byTopic(func(s SubscriptionStats) uint64 { return s.Messages })),
		statmetrics.SplitCounter("hazgate_mqtt_readings_total", "Readings decoded, by subscription topic filter.", []string{"topic"},
			byTopic(func(s SubscriptionStats) uint64 { return s.Readings })),
		statmetrics.SplitCounter("hazgate_mqtt_bad_payloads_total", "Payloads refused, by subscription topic filter and reason.", []string{"topic", "reason"}, badByTopic),
	)
}
