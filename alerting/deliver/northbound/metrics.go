package northbound

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the publisher's counters on /metrics.
func (n *Publisher) Metrics() prometheus.Collector { return metricsOf(n.Stats) }

// metricsOf describes the series of the publisher's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	return statmetrics.New("", statmetrics.One(stats), statmetrics.Fields[Stats]()...)
}
