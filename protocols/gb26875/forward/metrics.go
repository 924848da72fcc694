package forward

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
)

// Metrics exports the outbox's figures on /metrics, labelled by class
// (alarm, status): depth, bytes, oldest age, puts, dones, dropped, skipped.
func (o *Spooled) Metrics() prometheus.Collector { return outboxMetrics(o.Stats) }

func outboxMetrics(stats func() OutboxStats) prometheus.Collector {
	return statmetrics.New("class", func() map[string]ClassStats {
		s := stats()
		return map[string]ClassStats{ClassAlarm.String(): s.Alarm, ClassStatus.String(): s.Status}
	}, statmetrics.Fields[ClassStats]()...)
}

// Metrics exports the source's figures on /metrics: points tracked and
// messages put by class.
func (s *Source) Metrics() prometheus.Collector {
	return statmetrics.New("", statmetrics.One(s.Stats), statmetrics.Fields[SourceStats]()...)
}
