package northbound

import (
	"testing"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats {
		return Stats{Published: 40, Retries: 3, LastSeq: 812, HazardPublished: 6, HazardLastSeq: 19, Summaries: 55}
	}
	statmetricstest.Scrape(t, metricsOf(stats), nil,
		`hazgate_northbound_published_total 40`,
		`hazgate_northbound_retries_total 3`,
		`hazgate_northbound_last_seq 812`,
		`hazgate_northbound_hazard_published_total 6`,
		`hazgate_northbound_hazard_last_seq 19`,
		`hazgate_northbound_summaries_total 55`,
	)
}
