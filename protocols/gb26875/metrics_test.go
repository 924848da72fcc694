package gb26875

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestMetrics(t *testing.T) {
	stats := func() Stats {
		return Stats{Accepted: 3, RefusedPerAddress: 5, Handshake: 6, Frames: 120, BadChecksum: 2, Garbage: 17, BadTime: 8, Unknown: map[string]uint64{"21": 4}}
	}
	statmetricstest.Scrape(t, metricsOf(stats), prometheus.Labels{"device": "uitd-a"},
		`hazgate_gb26875_connections_accepted_total{device="uitd-a"} 3`,
		`hazgate_gb26875_connections_refused_per_address_total{device="uitd-a"} 5`,
		`hazgate_gb26875_connections_handshake_timeout_total{device="uitd-a"} 6`,
		`hazgate_gb26875_frames_total{device="uitd-a"} 120`,
		`hazgate_gb26875_bad_checksum_total{device="uitd-a"} 2`,
		`hazgate_gb26875_garbage_bytes_total{device="uitd-a"} 17`,
		`hazgate_gb26875_bad_time_objects_total{device="uitd-a"} 8`,
		`hazgate_gb26875_unknown_units_total{device="uitd-a",type="21"} 4`,
	)
}
