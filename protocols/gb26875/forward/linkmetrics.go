package forward

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the link on /metrics: whether it is up, its counters,
// and per class the latency from a change entering the gateway to the
// centre's confirm as a histogram whose buckets include GB 25506's 10 s and
// 100 s, so an alert can say how often the promise was kept.
func (l *Link) Metrics() prometheus.Collector { return linkCollector{l} }

type linkCollector struct{ l *Link }

var (
	linkUp      = prometheus.NewDesc("hazgate_forward_link_up", "1 while a connection to a monitoring centre is open.", nil, nil)
	linkLatency = prometheus.NewDesc("hazgate_forward_latency_seconds",
		"From a change entering the gateway to the centre's confirm, by class (alarm: GB 25506's 10 s, status: 100 s).", []string{"class"}, nil)
	linkOffset  = prometheus.NewDesc("hazgate_forward_clock_offset_seconds", "The centre's clock minus the gateway's, from its last clock sync.", nil, nil)
	linkRTT     = prometheus.NewDesc("hazgate_forward_round_trip_seconds", "The last confirmed frame's write to its confirm.", nil, nil)
	linkCounter = map[string]*prometheus.Desc{}
)

// linkCounters name the Stats counters exported, with their help.
var linkCounters = []struct {
	name, help string
	get        func(*Stats) uint64
}{
	{"frames_sent", "Frames sent to the centre, resends included.", func(s *Stats) uint64 { return s.FramesSent }},
	{"confirmed", "Frames the centre confirmed.", func(s *Stats) uint64 { return s.Confirmed }},
	{"denied", "Frames the centre denied.", func(s *Stats) uint64 { return s.Denied }},
	{"timeouts", "Sends without a confirm within confirm_timeout.", func(s *Stats) uint64 { return s.Timeouts }},
	{"resends", "Frames sent again after a deny or a timeout.", func(s *Stats) uint64 { return s.Resends }},
	{"reconnects", "Connections to a centre dialled again.", func(s *Stats) uint64 { return s.Reconnects }},
	{"messages", "Outbox messages the centre confirmed.", func(s *Stats) uint64 { return s.Messages }},
	{"rejected", "Messages no frame can carry, dropped.", func(s *Stats) uint64 { return s.Rejected }},
	{"bad_frames", "Frames from the centre refused (checksum, malformed).", func(s *Stats) uint64 { return s.BadFrames }},
	{"duty_checks", "查岗 received from the centre.", func(s *Stats) uint64 { return s.DutyChecks }},
	{"duty_answered", "查岗 answered.", func(s *Stats) uint64 { return s.DutyAnswered }},
	{"duty_unanswered", "查岗 not answered within their minutes.", func(s *Stats) uint64 { return s.DutyUnanswered }},
	{"clock_syncs", "Clock syncs from the centre.", func(s *Stats) uint64 { return s.ClockSyncs }},
}

func init() {
	for _, c := range linkCounters {
		linkCounter[c.name] = prometheus.NewDesc("hazgate_forward_"+c.name+"_total", c.help, nil, nil)
	}
}

func (linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{linkUp, linkLatency, linkOffset, linkRTT} {
		ch <- d
	}
	for _, c := range linkCounters {
		ch <- linkCounter[c.name]
	}
}

func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	up := 0.0
	if st.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(linkUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(linkOffset, prometheus.GaugeValue, st.ClockOffset.Seconds())
	ch <- prometheus.MustNewConstMetric(linkRTT, prometheus.GaugeValue, st.LastRoundTrip.Seconds())
	for _, k := range linkCounters {
		ch <- prometheus.MustNewConstMetric(linkCounter[k.name], prometheus.CounterValue, float64(k.get(&st)))
	}
	for _, class := range []Class{ClassAlarm, ClassStatus} {
		h := st.Latency[class]
		buckets := make(map[float64]uint64, len(LatencyBuckets))
		var cum uint64
		for i, b := range LatencyBuckets {
			cum += h.Counts[i]
			buckets[b.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(linkLatency, h.Count, h.Sum.Seconds(), buckets, class.String())
	}
}
