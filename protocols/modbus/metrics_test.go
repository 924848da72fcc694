package modbus

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats { return Stats{Polls: 5, Timeouts: 1} }
	statmetricstest.Scrape(t, metricsOf(stats), prometheus.Labels{"device": "gds-1"},
		`hazgate_modbus_polls_total{device="gds-1"} 5`,
		`hazgate_modbus_timeouts_total{device="gds-1"} 1`,
		`hazgate_modbus_last_success_timestamp_seconds{device="gds-1"} 0`,
	)
}
