package api

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"hazgate/collector"
)

// HistorySourceHeader names, on a history answer, the store that answered:
// "influxdb" or "memory". "memory" after a FallbackHistory's primary failed
// means the trend covers only the in-memory window (about an hour).
const HistorySourceHeader = "X-Hazgate-History-Source"

// historySource is how the handler learns which store answered.
type historySource interface {
	rangeFrom(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, string, error)
}

// namedHistory is a PointHistory that names itself for HistorySourceHeader
// (collector.InfluxHistory: "influxdb").
type namedHistory interface{ Source() string }

func (memoryHistory) Source() string { return "memory" }

// sourceName names h for HistorySourceHeader; "" when unknown.
func sourceName(h PointHistory) string {
	if n, ok := h.(namedHistory); ok {
		return n.Source()
	}
	return ""
}

// FallbackHistory answers from primary (InfluxDB) and, while primary fails,
// from fallback (the in-memory window), so a trend still shows the last hour
// when InfluxDB is down. It logs once when primary starts failing and once
// when it answers again, not per request.
func FallbackHistory(primary, fallback PointHistory, log *slog.Logger) PointHistory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fallbackHistory{primary: primary, fallback: fallback, log: log}
}

type fallbackHistory struct {
	primary, fallback PointHistory
	log               *slog.Logger
	down              atomic.Bool
}

func (f *fallbackHistory) Range(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, error) {
	s, _, err := f.rangeFrom(ctx, tag, from, to)
	return s, err
}

func (f *fallbackHistory) rangeFrom(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, string, error) {
	s, err := f.primary.Range(ctx, tag, from, to)
	if err == nil {
		if f.down.CompareAndSwap(true, false) {
			f.log.Info("history: primary store answers again", "source", sourceName(f.primary))
		}
		return s, sourceName(f.primary), nil
	}
	if ctx.Err() != nil {
		// The client left or timed out: no outage, and nobody to answer.
		return nil, "", err
	}
	if f.down.CompareAndSwap(false, true) {
		f.log.Warn("history: primary store failing; answering from the fallback until it recovers",
			"source", sourceName(f.primary), "fallback", sourceName(f.fallback), "err", err)
	}
	s, ferr := f.fallback.Range(ctx, tag, from, to)
	if ferr != nil {
		return nil, "", errors.Join(err, ferr)
	}
	return s, sourceName(f.fallback), nil
}
