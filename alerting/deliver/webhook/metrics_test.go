package webhook

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats { return Stats{Delivered: 7, Failed: 2, Rejected: 1, Filtered: 9} }
	statmetricstest.Scrape(t, metricsOf(stats), prometheus.Labels{"webhook": "ops"},
		`hazgate_webhook_delivered_total{webhook="ops"} 7`,
		`hazgate_webhook_failed_total{webhook="ops"} 2`,
		`hazgate_webhook_rejected_total{webhook="ops"} 1`,
		`hazgate_webhook_filtered_total{webhook="ops"} 9`,
	)
}
