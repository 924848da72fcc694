package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the ingest's counters on /metrics.
func (in *Ingest) Metrics() prometheus.Collector {
	return statmetrics.New("", statmetrics.One(in.Stats), statmetrics.Fields[Stats]()...)
}
