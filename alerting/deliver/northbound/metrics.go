package northbound

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the publisher's counters on /metrics.
func (n *Publisher) Metrics() prometheus.Collector { return metricsOf(n.Stats) }

// metricsOf describes the series of the publisher's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	type S = Stats
	return statmetrics.New("", statmetrics.One(stats),
		statmetrics.Counter("hazgate_northbound_published_total", "Alarm events the upstream broker acknowledged.", func(s S) float64 { return float64(s.Published) }),
		statmetrics.Counter("hazgate_northbound_retries_total", "Publishes sent again after no acknowledgement.", func(s S) float64 { return float64(s.Retries) }),
		statmetrics.Gauge("hazgate_northbound_last_seq", "Journal seq of the last acknowledged event.", func(s S) float64 { return float64(s.LastSeq) }),
	)
}
