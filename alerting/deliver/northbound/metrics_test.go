package northbound

import (
	"testing"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats { return Stats{Published: 40, Retries: 3, LastSeq: 812} }
	statmetricstest.Scrape(t, metricsOf(stats), nil,
		`hazgate_northbound_published_total 40`,
		`hazgate_northbound_retries_total 3`,
		`hazgate_northbound_last_seq 812`,
	)
}
