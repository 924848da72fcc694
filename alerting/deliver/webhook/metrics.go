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
	return statmetrics.New("", statmetrics.One(stats), statmetrics.Fields[Stats]()...)
}
