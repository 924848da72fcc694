package gb26875

import (
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector/statmetrics"
	"hazgate/protocols"
)

var _ protocols.Metered = (*Listener)(nil)

// Metrics exports the listener's counters on /metrics; the gateway labels
// them with the device id.
func (l *Listener) Metrics() prometheus.Collector { return metricsOf(l.Stats) }

// metricsOf describes the series of a listener's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	type S = Stats
	return statmetrics.New("", statmetrics.One(stats),
		statmetrics.Counter("hazgate_gb26875_connections_accepted_total", "Connections accepted.", func(s S) float64 { return float64(s.Accepted) }),
		statmetrics.Counter("hazgate_gb26875_connections_refused_total", "Connections closed at once: max_connections reached.", func(s S) float64 { return float64(s.Refused) }),
		statmetrics.Counter("hazgate_gb26875_connections_rejected_total", "Connections closed: source address not allowed.", func(s S) float64 { return float64(s.Rejected) }),
		statmetrics.Counter("hazgate_gb26875_connections_refused_per_address_total", "Connections closed at once: max_connections_per_address reached.", func(s S) float64 { return float64(s.RefusedPerAddress) }),
		statmetrics.Counter("hazgate_gb26875_connections_handshake_timeout_total", "Connections closed: no valid frame within handshake_timeout.", func(s S) float64 { return float64(s.Handshake) }),
		statmetrics.Counter("hazgate_gb26875_frames_total", "Valid frames received.", func(s S) float64 { return float64(s.Frames) }),
		statmetrics.Counter("hazgate_gb26875_heartbeats_total", "Send-data frames without data.", func(s S) float64 { return float64(s.Heartbeats) }),
		statmetrics.Counter("hazgate_gb26875_confirms_total", "Confirms sent.", func(s S) float64 { return float64(s.Confirms) }),
		statmetrics.Counter("hazgate_gb26875_denies_total", "Denies sent.", func(s S) float64 { return float64(s.Denies) }),
		statmetrics.Counter("hazgate_gb26875_bad_checksum_total", "Frames denied for their checksum.", func(s S) float64 { return float64(s.BadChecksum) }),
		statmetrics.Counter("hazgate_gb26875_bad_length_total", "Frames denied for a length over 1024.", func(s S) float64 { return float64(s.BadLength) }),
		statmetrics.Counter("hazgate_gb26875_decode_errors_total", "Frames denied for application data that does not decode.", func(s S) float64 { return float64(s.DecodeErrors) }),
		statmetrics.Counter("hazgate_gb26875_garbage_bytes_total", "Bytes skipped between frames.", func(s S) float64 { return float64(s.Garbage) }),
		statmetrics.Counter("hazgate_gb26875_unexpected_frames_total", "Frames of a command a centre does not expect.", func(s S) float64 { return float64(s.Unexpected) }),
		statmetrics.Counter("hazgate_gb26875_foreign_readings_total", "Readings dropped: their tag belongs to another device.", func(s S) float64 { return float64(s.Foreign) }),
		statmetrics.Counter("hazgate_gb26875_overflow_readings_total", "Readings dropped: the listener's tag limit was reached.", func(s S) float64 { return float64(s.Overflow) }),
		statmetrics.Counter("hazgate_gb26875_bad_time_objects_total", "Objects whose time tag was outside time_bounds, stamped on receipt instead.", func(s S) float64 { return float64(s.BadTime) }),
		statmetrics.Counter("hazgate_gb26875_comm_loss_total", "Transmission devices that went silent.", func(s S) float64 { return float64(s.CommLoss) }),
	).Split(
		statmetrics.SplitCounter("hazgate_gb26875_unknown_units_total", "Information units of types not decoded (confirmed), by type.", []string{"type"},
			func(s S) []statmetrics.Row { return statmetrics.Counts(s.Unknown) }),
	)
}
