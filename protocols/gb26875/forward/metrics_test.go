package forward

import (
	"testing"
	"time"

	"hazgate/collector/statmetrics/statmetricstest"
)

func TestOutboxMetrics(t *testing.T) {
	stats := func() OutboxStats {
		return OutboxStats{
			Alarm:  ClassStats{Depth: 3, Bytes: 210, Age: 1500 * time.Millisecond, Puts: 10, Dones: 7},
			Status: ClassStats{Depth: 40, Puts: 41, Dones: 1, Dropped: 2, Skipped: 1},
		}
	}
	statmetricstest.Scrape(t, outboxMetrics(stats), nil,
		`hazgate_forward_outbox_depth{class="alarm"} 3`,
		`hazgate_forward_outbox_depth{class="status"} 40`,
		`hazgate_forward_outbox_bytes{class="alarm"} 210`,
		`hazgate_forward_outbox_oldest_age_seconds{class="alarm"} 1.5`,
		`hazgate_forward_outbox_put_total{class="status"} 41`,
		`hazgate_forward_outbox_done_total{class="alarm"} 7`,
		`hazgate_forward_outbox_dropped_total{class="status"} 2`,
		`hazgate_forward_outbox_skipped_total{class="status"} 1`,
	)
}

func TestSourceMetrics(t *testing.T) {
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	src.st = SourceStats{Points: 2000, Alarms: 5, Statuses: 9, Snapshots: 4, PutErrors: 1, Collisions: 1, Analogs: 6, AnalogRefused: 2}
	statmetricstest.Scrape(t, src.Metrics(), nil,
		`hazgate_forward_source_points 2000`,
		`hazgate_forward_source_alarm_messages_total 5`,
		`hazgate_forward_source_status_messages_total 9`,
		`hazgate_forward_source_snapshots_total 4`,
		`hazgate_forward_source_put_errors_total 1`,
		`hazgate_forward_source_address_collisions_total 1`,
		`hazgate_forward_source_analog_messages_total 6`,
		`hazgate_forward_source_analog_refused_total 2`,
	)
}

// TestLinkMetrics: the latency histograms by class (cumulative buckets at
// GB 25506's 10 s and 100 s), the denied and timeout counters and the
// link's gauges, with values set apart so a swapped series shows.
func TestLinkMetrics(t *testing.T) {
	l, err := NewLink(LinkOptions{Centres: []string{"127.0.0.1:1"}, Outbox: newMemOutbox()})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{40 * time.Millisecond, 700 * time.Millisecond, 3 * time.Second, 12 * time.Second} {
		l.latency[ClassAlarm].observe(d)
	}
	l.latency[ClassStatus].observe(150 * time.Second)
	l.denied.Store(3)
	l.timeouts.Store(5)
	l.resends.Store(7)
	l.offset.Store(int64(-2 * time.Second))
	statmetricstest.Scrape(t, l.Metrics(), nil,
		`hazgate_forward_link_up 0`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="0.05"} 1`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="1"} 2`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="5"} 3`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="10"} 3`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="25"} 4`,
		`hazgate_forward_latency_seconds_bucket{class="alarm",le="+Inf"} 4`,
		`hazgate_forward_latency_seconds_sum{class="alarm"} 15.74`,
		`hazgate_forward_latency_seconds_count{class="alarm"} 4`,
		`hazgate_forward_latency_seconds_bucket{class="status",le="100"} 0`,
		`hazgate_forward_latency_seconds_bucket{class="status",le="+Inf"} 1`,
		`hazgate_forward_latency_seconds_count{class="status"} 1`,
		`hazgate_forward_denied_total 3`,
		`hazgate_forward_timeouts_total 5`,
		`hazgate_forward_resends_total 7`,
		`hazgate_forward_clock_offset_seconds -2`,
	)
}
