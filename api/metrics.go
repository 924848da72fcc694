package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/collector/statmetrics"
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

// alarmStats is the alarm engine's counters with the bus's lag count.
type alarmStats struct {
	alerting.Stats
	lagged uint64
}

// AlarmCollector exports the alarm engine's counters (*alerting.Engine) and
// how often a bus subscriber fell behind (*alerting.Bus).
func AlarmCollector(engine interface{ Stats() alerting.Stats }, bus interface{ Lagged() uint64 }) prometheus.Collector {
	return statmetrics.New("", statmetrics.One(func() alarmStats { return alarmStats{engine.Stats(), bus.Lagged()} }),
		statmetrics.Counter("hazgate_alarms_raised_total", "Alarms raised and annunciated.", func(s alarmStats) float64 { return float64(s.Raised) }),
		statmetrics.Counter("hazgate_alarms_suppressed_total", "Alarms raised suppressed by design: their device's communication-loss alarm stood for them.", func(s alarmStats) float64 { return float64(s.Suppressed) }),
		statmetrics.Counter("hazgate_alarms_disposed_total", "Disposal records (报警处置) filed.", func(s alarmStats) float64 { return float64(s.Disposed) }),
		statmetrics.Counter("hazgate_alarms_escalated_total", "Escalations of alarms left unacknowledged past their severity's time.", func(s alarmStats) float64 { return float64(s.Escalated) }),
		statmetrics.Counter("hazgate_alarms_cleared_total", "Alarms cleared.", func(s alarmStats) float64 { return float64(s.Cleared) }),
		statmetrics.Counter("hazgate_alarms_acked_total", "Alarms acknowledged.", func(s alarmStats) float64 { return float64(s.Acked) }),
		statmetrics.Counter("hazgate_alarm_commit_errors_total", "Alarm transitions not committed: the journal was closed or refused their data (a failing store is retried, see hazgate_alarm_journal_retries_total).", func(s alarmStats) float64 { return float64(s.CommitErrors) }),
		statmetrics.Counter("hazgate_alarm_bus_lagged_total", "Times an event subscriber fell behind and caught up from the journal.", func(s alarmStats) float64 { return float64(s.lagged) }),
	)
}

// JournalCollector exports the alarm journal's group commit: what waits,
// and how the store keeps up (*alerting.Journal).
func JournalCollector(j interface{ WriterStats() alerting.WriterStats }) prometheus.Collector {
	type S = alerting.WriterStats
	return statmetrics.New("", statmetrics.One(j.WriterStats),
		statmetrics.Gauge("hazgate_alarm_journal_pending", "Alarm transitions judged and waiting to be committed (and published).", func(s S) float64 { return float64(s.Pending) }),
		statmetrics.Counter("hazgate_alarm_journal_commits_total", "Journal transactions committed, each holding one or more transitions.", func(s S) float64 { return float64(s.Groups) }),
		statmetrics.Counter("hazgate_alarm_journal_transitions_total", "Alarm transitions committed.", func(s S) float64 { return float64(s.Committed) }),
		statmetrics.Counter("hazgate_alarm_journal_retries_total", "Journal transactions the store failed and the writer tried again.", func(s S) float64 { return float64(s.Retries) }),
		statmetrics.Counter("hazgate_alarm_journal_refused_total", "Transitions the store refused for their data, or a user's action it failed.", func(s S) float64 { return float64(s.Refused) }),
		statmetrics.Gauge("hazgate_alarm_journal_last_commit_size", "Transitions in the last journal transaction.", func(s S) float64 { return float64(s.LastGroup) }),
	)
}

// InfluxCollector exports the InfluxDB sink's and its spool's counters
// (*collector.InfluxSink).
func InfluxCollector(sink interface{ Stats() collector.InfluxStats }) prometheus.Collector {
	type S = collector.InfluxStats
	return statmetrics.New("", statmetrics.One(sink.Stats),
		statmetrics.Counter("hazgate_influx_points_written_total", "Points InfluxDB accepted.", func(s S) float64 { return float64(s.PointsWritten) }),
		statmetrics.Counter("hazgate_influx_batches_written_total", "Batches InfluxDB accepted.", func(s S) float64 { return float64(s.BatchesWritten) }),
		statmetrics.Counter("hazgate_influx_write_errors_total", "Failed write requests.", func(s S) float64 { return float64(s.WriteErrors) }),
		statmetrics.Counter("hazgate_influx_batches_retried_total", "Write attempts repeated after a failure.", func(s S) float64 { return float64(s.BatchesRetried) }),
		statmetrics.Counter("hazgate_influx_points_dropped_total", "Points that will never be written.", func(s S) float64 { return float64(s.PointsDropped) }),
		statmetrics.Counter("hazgate_influx_points_rejected_total", "Points InfluxDB refused as bad data.", func(s S) float64 { return float64(s.PointsRejected) }),
		statmetrics.Gauge("hazgate_influx_queue_points", "Points accepted but neither written nor spooled.", func(s S) float64 { return float64(s.QueueLength) }),
		statmetrics.Gauge("hazgate_influx_down", "1 while writes fail and batches go to the spool.", func(s S) float64 { return statmetrics.Bool(s.Down) }),
		statmetrics.Counter("hazgate_spool_points_spooled_total", "Points put in the disk spool.", func(s S) float64 { return float64(s.PointsSpooled) }),
		statmetrics.Counter("hazgate_spool_points_replayed_total", "Points written from the disk spool.", func(s S) float64 { return float64(s.PointsReplayed) }),
		statmetrics.Gauge("hazgate_spool_bytes", "Size of the disk spool.", func(s S) float64 { return float64(s.SpoolBytes) }),
		statmetrics.Gauge("hazgate_spool_points", "Points in the disk spool not yet replayed.", func(s S) float64 { return float64(s.SpoolPoints) }),
		statmetrics.Gauge("hazgate_spool_oldest_age_seconds", "Age of the oldest spooled point.", func(s S) float64 { return s.SpoolOldestAge.Seconds() }),
		statmetrics.Counter("hazgate_spool_torn_records_total", "Torn or corrupt spool records skipped.", func(s S) float64 { return float64(s.SpoolTornRecords) }),
		statmetrics.Counter("hazgate_spool_overflow_points_total", "Points dropped because the spool was full.", func(s S) float64 { return float64(s.SpoolOverflowPoints) }),
	)
}
