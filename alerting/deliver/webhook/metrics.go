package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the dispatcher's counters on /metrics; the gateway adds
// the webhook label, as it adds a device's.
func (d *Dispatcher) Metrics() prometheus.Collector { return metricsOf(d.Stats) }

// metricsOf describes the series of a dispatcher's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	type S = Stats
	return statmetrics.New("", statmetrics.One(stats),
		statmetrics.Counter("hazgate_webhook_delivered_total", "Events the receiver took (2xx).", func(s S) float64 { return float64(s.Delivered) }),
		statmetrics.Counter("hazgate_webhook_failed_total", "Attempts that failed and were retried.", func(s S) float64 { return float64(s.Failed) }),
		statmetrics.Counter("hazgate_webhook_rejected_total", "Events the receiver refused as bad (4xx but 408, 429), not retried.", func(s S) float64 { return float64(s.Rejected) }),
		statmetrics.Counter("hazgate_webhook_filtered_total", "Events the webhook's filters left out.", func(s S) float64 { return float64(s.Filtered) }),
	)
}
