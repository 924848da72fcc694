package modbus

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/simonvetter/modbus"

	"hazgate/collector/statmetrics"
	"hazgate/protocols"
)

// Bounds are the upper bounds of the duration histograms' buckets; a last
// bucket counts everything slower. Loopback answers in tens of
// microseconds, an RS-485 bus at 9600 baud in tens of milliseconds.
var Bounds = []time.Duration{
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond,
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2500 * time.Millisecond, 5 * time.Second,
}

// Histogram counts durations by Bounds.
type Histogram struct {
	// Counts[i] counts durations at most Bounds[i]; the last element those
	// above every bound.
	Counts []uint64
	Sum    time.Duration
	Count  uint64
}

// Quantile estimates the q-quantile (0..1), interpolating linearly inside
// its bucket; past the last bound it answers that bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := q * float64(h.Count)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 || seen+float64(c) < rank {
			seen += float64(c)
			continue
		}
		if i == len(Bounds) {
			return Bounds[i-1]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = Bounds[i-1]
		}
		return lo + time.Duration(float64(Bounds[i]-lo)*(rank-seen)/float64(c))
	}
	return Bounds[len(Bounds)-1]
}

// hist is a Histogram as atomics.
type hist struct {
	counts     [18]atomic.Uint64 // len(Bounds)+1
	sum, count atomic.Uint64
}

func (h *hist) observe(d time.Duration) {
	i := 0
	for i < len(Bounds) && d > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(d))
	h.count.Add(1)
}

func (h *hist) snapshot() Histogram {
	s := Histogram{Counts: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load()), Count: h.count.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// Stats is one device's counters since it was made; the gateway exposes
// them on /metrics.
type Stats struct {
	Polls    uint64 `metric:"hazgate_modbus_polls_total" help:"Poll cycles completed."`              // poll cycles completed and handed to the emitter
	Requests uint64 `metric:"hazgate_modbus_requests_total" help:"Requests sent, retries included."` // requests sent, including retries and isolation re-reads
	// Errors is every failed request or connection attempt: the sum of
	// Timeouts, ConnErrors and FrameErrors. Exceptions are answers, not errors.
	Errors       uint64    `metric:"hazgate_modbus_errors_total" help:"Failed requests or connection attempts."`
	Timeouts     uint64    `metric:"hazgate_modbus_timeouts_total" help:"Requests without an answer in time."` // no answer within the timeout
	ConnErrors   uint64    // connect failed, connection dropped, or not tried while backing off
	FrameErrors  uint64    // garbled replies: bad CRC, short frame, wrong unit or transaction id
	Exceptions   uint64    `metric:"hazgate_modbus_exceptions_total" help:"Modbus exception responses."`          // Modbus exception responses (the device refused a read)
	DecodeErrors uint64    `metric:"hazgate_modbus_decode_errors_total" help:"Values that could not be decoded."` // values that could not be decoded (NaN, infinity)
	Reconnects   uint64    `metric:"hazgate_modbus_reconnects_total" help:"Times a lost device answered again."`  // times the device answered again after being lost
	RTT          Histogram // round trips of answered requests
	Cycles       Histogram // poll cycles, from start to the last answer
	LastSuccess  time.Time `metric:"hazgate_modbus_last_success_timestamp_seconds" help:"When the device last answered (Unix time; 0 never)."` // when the device last answered a request; zero if never
}

// errKind sorts a failed request for the counters and for the connection's
// decision to close.
type errKind uint8

const (
	kindNone errKind = iota
	kindException
	kindTimeout
	kindFrame
	kindConn
)

func classify(err error) errKind {
	switch {
	case err == nil:
		return kindNone
	case isException(err):
		return kindException
	case errors.Is(err, modbus.ErrRequestTimedOut):
		return kindTimeout
	case errors.Is(err, modbus.ErrBadCRC), errors.Is(err, modbus.ErrShortFrame),
		errors.Is(err, modbus.ErrProtocolError), errors.Is(err, modbus.ErrBadUnitId),
		errors.Is(err, modbus.ErrBadTransactionId), errors.Is(err, modbus.ErrUnknownProtocolId):
		return kindFrame
	}
	return kindConn
}

// metrics are Stats as atomics, written by the poller and read by anyone.
type metrics struct {
	polls, requests, timeouts, connErrs, frameErrs, exceptions, decodeErrs, reconnects atomic.Uint64
	rtt, cycles                                                                        hist
	lastSuccess                                                                        atomic.Int64 // unix nanoseconds
}

func (m *metrics) failed(k errKind) {
	switch k {
	case kindTimeout:
		m.timeouts.Add(1)
	case kindFrame:
		m.frameErrs.Add(1)
	case kindConn:
		m.connErrs.Add(1)
	case kindException:
		m.exceptions.Add(1)
	}
}

// answered records a reply (an exception is one too) at at after rtt.
func (m *metrics) answered(rtt time.Duration, at time.Time) {
	m.rtt.observe(rtt)
	m.lastSuccess.Store(at.UnixNano())
}

func (m *metrics) snapshot() Stats {
	s := Stats{
		Polls: m.polls.Load(), Requests: m.requests.Load(),
		Timeouts: m.timeouts.Load(), ConnErrors: m.connErrs.Load(), FrameErrors: m.frameErrs.Load(),
		Exceptions: m.exceptions.Load(), DecodeErrors: m.decodeErrs.Load(), Reconnects: m.reconnects.Load(),
		RTT: m.rtt.snapshot(), Cycles: m.cycles.snapshot(),
	}
	s.Errors = s.Timeouts + s.ConnErrors + s.FrameErrors
	if ns := m.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	return s
}

var _ protocols.Metered = (*Poller)(nil)

// Metrics exports the poller's counters on /metrics; the gateway labels
// them with the device id.
func (p *Poller) Metrics() prometheus.Collector { return metricsOf(p.Stats) }

// metricsOf describes the series of a poller's Stats.
func metricsOf(stats func() Stats) prometheus.Collector {
	return statmetrics.New("", statmetrics.One(stats), statmetrics.Fields[Stats]()...)
}
