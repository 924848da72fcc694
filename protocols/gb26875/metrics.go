package gb26875

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
	"hazgate/protocols"
)

var _ protocols.Metered = (*Listener)(nil)

// Metrics exports the listener's counters on /metrics; the gateway labels
// them with the device id.
func (l *Listener) Metrics() prometheus.Collector { return metricsOf(l.Stats) }

// metricsOf describes the series of a listener's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	type S = Stats
	return statmetrics.New("", statmetrics.One(stats), statmetrics.Fields[S]()...).Split(
		statmetrics.SplitCounter("hazgate_gb26875_unknown_units_total", "Information units of types not decoded (confirmed), by type.", []string{"type"},
			func(s S) []statmetrics.Row { return statmetrics.Counts(s.Unknown) }),
	)
}
