package api

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/deliver/webhook"
	"hazgate/collector"
	"hazgate/protocols/gb26875"
	"hazgate/protocols/modbus"
	"hazgate/protocols/mqtt"
)

// apiMetrics are the API's own metrics, registered on Options.Metrics.
type apiMetrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	authFailures  *prometheus.CounterVec
	connsRefused  prometheus.Counter
	streamClients prometheus.Gauge
	streamEvents  *prometheus.CounterVec
}

func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazgate_http_requests_total", Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hazgate_http_request_duration_seconds", Help: "Time to answer HTTP requests (the live stream excluded), by route pattern.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"route", "method"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazgate_http_auth_failures_total", Help: "Requests refused by authentication, by reason: missing token, invalid token (401), or a wrong token refused with 429 because its client is past the failure limit (limited).",
		}, []string{"reason"}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hazgate_http_connections_refused_total", Help: "Connections refused because their client address already held http.max_conns_per_client.",
		}),
		streamClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hazgate_stream_clients", Help: "Clients connected to the live event stream.",
		}),
		streamEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hazgate_stream_events_total", Help: "Events sent on the live stream, by kind (alarm, hazard).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authFailures, m.connsRefused, m.streamClients, m.streamEvents} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrument counts every request by its route pattern (never the raw
// path: ids would make the label set unbounded).
func (a *API) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		a.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		if route != streamPath {
			a.metrics.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		}
	})
}

func (a *API) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{a}, ErrorHandling: promhttp.ContinueOnError})
	return h.ServeHTTP
}

type slogPrinter struct{ a *API }

func (p slogPrinter) Println(v ...any) { p.a.log.Warn("api: metrics", "err", v) }

// stat is one metric read from a component's Stats snapshot.
type stat[S any] struct {
	name, help string
	kind       prometheus.ValueType
	value      func(S) float64
}

// splitStat is a metric broken down within a snapshot (by a subscription's
// topic, a reason): one value per row.
type splitStat[S any] struct {
	name, help string
	kind       prometheus.ValueType
	by         []string // the breakdown's label names
	rows       func(S) []row
}

// row is one value of a splitStat, with its values of splitStat.by.
type row struct {
	labels []string
	value  float64
}

// statsCollector reads a Stats snapshot once per scrape and reports each
// stat, labelled by source when there are several (one per device).
type statsCollector[S any] struct {
	label  string // "" for a single unlabelled source
	read   func() map[string]S
	stats  []stat[S]
	splits []splitStat[S]
	descs  []*prometheus.Desc // stats' then splits'
}

func newStatsCollector[S any](label string, read func() map[string]S, stats []stat[S]) *statsCollector[S] {
	c := &statsCollector[S]{label: label, read: read, stats: stats}
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	for _, s := range stats {
		c.descs = append(c.descs, prometheus.NewDesc(s.name, s.help, labels, nil))
	}
	return c
}

// split adds broken-down metrics, labelled by source and then by their own
// breakdown.
func (c *statsCollector[S]) split(splits ...splitStat[S]) *statsCollector[S] {
	for _, s := range splits {
		var labels []string
		if c.label != "" {
			labels = []string{c.label}
		}
		c.descs = append(c.descs, prometheus.NewDesc(s.name, s.help, append(labels, s.by...), nil))
	}
	c.splits = append(c.splits, splits...)
	return c
}

func (c *statsCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *statsCollector[S]) Collect(ch chan<- prometheus.Metric) {
	for src, snap := range c.read() {
		var lv []string
		if c.label != "" {
			lv = []string{src}
		}
		for i, s := range c.stats {
			ch <- prometheus.MustNewConstMetric(c.descs[i], s.kind, s.value(snap), lv...)
		}
		for i, s := range c.splits {
			for _, r := range s.rows(snap) {
				ch <- prometheus.MustNewConstMetric(c.descs[len(c.stats)+i], s.kind, r.value, append(slices.Clip(lv), r.labels...)...)
			}
		}
	}
}

func one[S any](f func() S) func() map[string]S {
	return func() map[string]S { return map[string]S{"": f()} }
}

// byID reads each source's Stats, keyed by device id or webhook name.
func byID[S any, P interface{ Stats() S }](sources map[string]P) func() map[string]S {
	return func() map[string]S {
		out := make(map[string]S, len(sources))
		for id, p := range sources {
			out[id] = p.Stats()
		}
		return out
	}
}

// counts turns a breakdown map into rows, one label each.
func counts(m map[string]uint64) []row {
	out := make([]row, 0, len(m))
	for k, n := range m {
		out = append(out, row{[]string{k}, float64(n)})
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// alarmStats is the alarm engine's counters with the bus's lag count.
type alarmStats struct {
	alerting.Stats
	lagged uint64
}

// AlarmCollector exports the alarm engine's counters (*alerting.Engine) and
// how often a bus subscriber fell behind (*alerting.Bus).
func AlarmCollector(engine interface{ Stats() alerting.Stats }, bus interface{ Lagged() uint64 }) prometheus.Collector {
	return newStatsCollector("", one(func() alarmStats { return alarmStats{engine.Stats(), bus.Lagged()} }), []stat[alarmStats]{
		{"hazgate_alarms_raised_total", "Alarms raised.", prometheus.CounterValue, func(s alarmStats) float64 { return float64(s.Raised) }},
		{"hazgate_alarms_cleared_total", "Alarms cleared.", prometheus.CounterValue, func(s alarmStats) float64 { return float64(s.Cleared) }},
		{"hazgate_alarms_acked_total", "Alarms acknowledged.", prometheus.CounterValue, func(s alarmStats) float64 { return float64(s.Acked) }},
		{"hazgate_alarm_commit_errors_total", "Alarm transitions the journal failed to commit (retried).", prometheus.CounterValue, func(s alarmStats) float64 { return float64(s.CommitErrors) }},
		{"hazgate_alarm_bus_lagged_total", "Times an event subscriber fell behind and caught up from the journal.", prometheus.CounterValue, func(s alarmStats) float64 { return float64(s.lagged) }},
	})
}

// InfluxCollector exports the InfluxDB sink's and its spool's counters
// (*collector.InfluxSink).
func InfluxCollector(sink interface{ Stats() collector.InfluxStats }) prometheus.Collector {
	type S = collector.InfluxStats
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	return newStatsCollector("", one(sink.Stats), []stat[S]{
		{"hazgate_influx_points_written_total", "Points InfluxDB accepted.", c, func(s S) float64 { return float64(s.PointsWritten) }},
		{"hazgate_influx_batches_written_total", "Batches InfluxDB accepted.", c, func(s S) float64 { return float64(s.BatchesWritten) }},
		{"hazgate_influx_write_errors_total", "Failed write requests.", c, func(s S) float64 { return float64(s.WriteErrors) }},
		{"hazgate_influx_batches_retried_total", "Write attempts repeated after a failure.", c, func(s S) float64 { return float64(s.BatchesRetried) }},
		{"hazgate_influx_points_dropped_total", "Points that will never be written.", c, func(s S) float64 { return float64(s.PointsDropped) }},
		{"hazgate_influx_points_rejected_total", "Points InfluxDB refused as bad data.", c, func(s S) float64 { return float64(s.PointsRejected) }},
		{"hazgate_influx_queue_points", "Points accepted but neither written nor spooled.", g, func(s S) float64 { return float64(s.QueueLength) }},
		{"hazgate_influx_down", "1 while writes fail and batches go to the spool.", g, func(s S) float64 { return b2f(s.Down) }},
		{"hazgate_spool_points_spooled_total", "Points put in the disk spool.", c, func(s S) float64 { return float64(s.PointsSpooled) }},
		{"hazgate_spool_points_replayed_total", "Points written from the disk spool.", c, func(s S) float64 { return float64(s.PointsReplayed) }},
		{"hazgate_spool_bytes", "Size of the disk spool.", g, func(s S) float64 { return float64(s.SpoolBytes) }},
		{"hazgate_spool_points", "Points in the disk spool not yet replayed.", g, func(s S) float64 { return float64(s.SpoolPoints) }},
		{"hazgate_spool_oldest_age_seconds", "Age of the oldest spooled point.", g, func(s S) float64 { return s.SpoolOldestAge.Seconds() }},
		{"hazgate_spool_torn_records_total", "Torn or corrupt spool records skipped.", c, func(s S) float64 { return float64(s.SpoolTornRecords) }},
		{"hazgate_spool_overflow_points_total", "Points dropped because the spool was full.", c, func(s S) float64 { return float64(s.SpoolOverflowPoints) }},
	})
}

// ModbusCollector exports each Modbus poller's counters (*modbus.Poller),
// by device id.
func ModbusCollector(pollers map[string]interface{ Stats() modbus.Stats }) prometheus.Collector {
	type S = modbus.Stats
	c := prometheus.CounterValue
	return newStatsCollector("device", byID(pollers), []stat[S]{
		{"hazgate_modbus_polls_total", "Poll cycles completed.", c, func(s S) float64 { return float64(s.Polls) }},
		{"hazgate_modbus_requests_total", "Requests sent, retries included.", c, func(s S) float64 { return float64(s.Requests) }},
		{"hazgate_modbus_errors_total", "Failed requests or connection attempts.", c, func(s S) float64 { return float64(s.Errors) }},
		{"hazgate_modbus_timeouts_total", "Requests without an answer in time.", c, func(s S) float64 { return float64(s.Timeouts) }},
		{"hazgate_modbus_exceptions_total", "Modbus exception responses.", c, func(s S) float64 { return float64(s.Exceptions) }},
		{"hazgate_modbus_decode_errors_total", "Values that could not be decoded.", c, func(s S) float64 { return float64(s.DecodeErrors) }},
		{"hazgate_modbus_reconnects_total", "Times a lost device answered again.", c, func(s S) float64 { return float64(s.Reconnects) }},
		{"hazgate_modbus_last_success_timestamp_seconds", "When the device last answered (Unix time; 0 never).", prometheus.GaugeValue, func(s S) float64 {
			if s.LastSuccess.IsZero() {
				return 0
			}
			return float64(s.LastSuccess.UnixNano()) / 1e9
		}},
	})
}

// MQTTCollector exports each MQTT device's counters (*mqtt.Collector), by
// device id, its subscriptions' by topic filter and bad payloads by reason.
func MQTTCollector(collectors map[string]interface{ Stats() mqtt.Stats }) prometheus.Collector {
	type S = mqtt.Stats
	c := prometheus.CounterValue
	// byTopic sums a subscription counter per topic filter: two
	// subscriptions to the same filter would otherwise clash.
	byTopic := func(v func(mqtt.SubscriptionStats) uint64) func(S) []row {
		return func(s S) []row {
			sum := map[string]uint64{}
			for _, sub := range s.Subscriptions {
				sum[sub.Topic] += v(sub)
			}
			return counts(sum)
		}
	}
	badByTopic := func(s S) []row {
		sum := map[[2]string]uint64{}
		for _, sub := range s.Subscriptions {
			for reason, n := range sub.Bad {
				sum[[2]string{sub.Topic, reason}] += n
			}
		}
		out := make([]row, 0, len(sum))
		for k, n := range sum {
			out = append(out, row{[]string{k[0], k[1]}, float64(n)})
		}
		return out
	}
	return newStatsCollector("device", byID(collectors), []stat[S]{
		{"hazgate_mqtt_connects_total", "Broker connections made with subscriptions in place.", c, func(s S) float64 { return float64(s.Connects) }},
		{"hazgate_mqtt_connections_lost_total", "Broker connections lost.", c, func(s S) float64 { return float64(s.Lost) }},
		{"hazgate_mqtt_duplicates_total", "Redeliveries of messages already handled, dropped.", c, func(s S) float64 { return float64(s.Duplicates) }},
		{"hazgate_mqtt_replayed_total", "Redeliveries after a restart, stored again with their first receipt time (so once).", c, func(s S) float64 { return float64(s.Replayed) }},
		{"hazgate_mqtt_unmatched_messages_total", "Messages no subscription matches (a stale session's).", c, func(s S) float64 { return float64(s.Unmatched) }},
	}).split(
		splitStat[S]{"hazgate_mqtt_messages_total", "Messages received, by subscription topic filter.", c, []string{"topic"},
			byTopic(func(s mqtt.SubscriptionStats) uint64 { return s.Messages })},
		splitStat[S]{"hazgate_mqtt_readings_total", "Readings decoded, by subscription topic filter.", c, []string{"topic"},
			byTopic(func(s mqtt.SubscriptionStats) uint64 { return s.Readings })},
		splitStat[S]{"hazgate_mqtt_bad_payloads_total", "Payloads refused, by subscription topic filter and reason.", c, []string{"topic", "reason"}, badByTopic},
	)
}

// NorthboundCollector exports the northbound MQTT publisher's counters
// (*northbound.Publisher).
func NorthboundCollector(nb interface{ Stats() northbound.Stats }) prometheus.Collector {
	type S = northbound.Stats
	return newStatsCollector("", one(nb.Stats), []stat[S]{
		{"hazgate_northbound_published_total", "Alarm events the upstream broker acknowledged.", prometheus.CounterValue, func(s S) float64 { return float64(s.Published) }},
		{"hazgate_northbound_retries_total", "Publishes sent again after no acknowledgement.", prometheus.CounterValue, func(s S) float64 { return float64(s.Retries) }},
		{"hazgate_northbound_last_seq", "Journal seq of the last acknowledged event.", prometheus.GaugeValue, func(s S) float64 { return float64(s.LastSeq) }},
	})
}

// GB26875Collector exports each GB/T 26875.3 listener's counters
// (*gb26875.Listener), by device id.
func GB26875Collector(listeners map[string]interface{ Stats() gb26875.Stats }) prometheus.Collector {
	type S = gb26875.Stats
	c := prometheus.CounterValue
	return newStatsCollector("device", byID(listeners), []stat[S]{
		{"hazgate_gb26875_connections_accepted_total", "Connections accepted.", c, func(s S) float64 { return float64(s.Accepted) }},
		{"hazgate_gb26875_connections_refused_total", "Connections closed at once: max_connections reached.", c, func(s S) float64 { return float64(s.Refused) }},
		{"hazgate_gb26875_connections_rejected_total", "Connections closed: source address not allowed.", c, func(s S) float64 { return float64(s.Rejected) }},
		{"hazgate_gb26875_connections_refused_per_address_total", "Connections closed at once: max_connections_per_address reached.", c, func(s S) float64 { return float64(s.RefusedPerAddress) }},
		{"hazgate_gb26875_connections_handshake_timeout_total", "Connections closed: no valid frame within handshake_timeout.", c, func(s S) float64 { return float64(s.Handshake) }},
		{"hazgate_gb26875_frames_total", "Valid frames received.", c, func(s S) float64 { return float64(s.Frames) }},
		{"hazgate_gb26875_heartbeats_total", "Send-data frames without data.", c, func(s S) float64 { return float64(s.Heartbeats) }},
		{"hazgate_gb26875_confirms_total", "Confirms sent.", c, func(s S) float64 { return float64(s.Confirms) }},
		{"hazgate_gb26875_denies_total", "Denies sent.", c, func(s S) float64 { return float64(s.Denies) }},
		{"hazgate_gb26875_bad_checksum_total", "Frames denied for their checksum.", c, func(s S) float64 { return float64(s.BadChecksum) }},
		{"hazgate_gb26875_bad_length_total", "Frames denied for a length over 1024.", c, func(s S) float64 { return float64(s.BadLength) }},
		{"hazgate_gb26875_decode_errors_total", "Frames denied for application data that does not decode.", c, func(s S) float64 { return float64(s.DecodeErrors) }},
		{"hazgate_gb26875_garbage_bytes_total", "Bytes skipped between frames.", c, func(s S) float64 { return float64(s.Garbage) }},
		{"hazgate_gb26875_unexpected_frames_total", "Frames of a command a centre does not expect.", c, func(s S) float64 { return float64(s.Unexpected) }},
		{"hazgate_gb26875_foreign_readings_total", "Readings dropped: their tag belongs to another device.", c, func(s S) float64 { return float64(s.Foreign) }},
		{"hazgate_gb26875_overflow_readings_total", "Readings dropped: the listener's tag limit was reached.", c, func(s S) float64 { return float64(s.Overflow) }},
		{"hazgate_gb26875_bad_time_objects_total", "Objects whose time tag was outside time_bounds, stamped on receipt instead.", c, func(s S) float64 { return float64(s.BadTime) }},
		{"hazgate_gb26875_comm_loss_total", "Transmission devices that went silent.", c, func(s S) float64 { return float64(s.CommLoss) }},
	}).split(
		splitStat[S]{"hazgate_gb26875_unknown_units_total", "Information units of types not decoded (confirmed), by type.", c, []string{"type"},
			func(s S) []row { return counts(s.Unknown) }},
	)
}

// WebhookCollector exports each webhook's counters (*webhook.Dispatcher),
// by webhook name.
func WebhookCollector(dispatchers map[string]interface{ Stats() webhook.Stats }) prometheus.Collector {
	type S = webhook.Stats
	c := prometheus.CounterValue
	return newStatsCollector("webhook", byID(dispatchers), []stat[S]{
		{"hazgate_webhook_delivered_total", "Events the receiver took (2xx).", c, func(s S) float64 { return float64(s.Delivered) }},
		{"hazgate_webhook_failed_total", "Attempts that failed and were retried.", c, func(s S) float64 { return float64(s.Failed) }},
		{"hazgate_webhook_rejected_total", "Events the receiver refused as bad (4xx but 408, 429), not retried.", c, func(s S) float64 { return float64(s.Rejected) }},
		{"hazgate_webhook_filtered_total", "Events the webhook's filters left out.", c, func(s S) float64 { return float64(s.Filtered) }},
	})
}
