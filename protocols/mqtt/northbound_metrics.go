package mqtt

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the northbound publisher's counters on /metrics.
func (n *Northbound) Metrics() prometheus.Collector { return northboundMetricsOf(n.Stats) }

// northboundMetricsOf describes the series of the publisher's NorthboundStats.
func northboundMetricsOf(stats func() NorthboundStats) prometheus.Collector {
	type S = NorthboundStats
	return statmetrics.New("", statmetrics.One(stats),
		statmetrics.Counter("hazgate_northbound_published_total", "Alarm events the upstream broker acknowledged.", func(s S) float64 { return float64(s.Published) }),
		statmetrics.Counter("hazgate_northbound_retries_total", "Publishes sent again after no acknowledgement.", func(s S) float64 { return float64(s.Retries) }),
		statmetrics.Gauge("hazgate_northbound_last_seq", "Journal seq of the last acknowledged event.", func(s S) float64 { return float64(s.LastSeq) }),
	)
}
