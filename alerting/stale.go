package alerting

import (
	"time"

	"hazgate/collector"
)

// stale alarms when a tag has sent nothing at all for a while: a detector
// that went silent without even reporting Bad. Any sample, whatever its
// quality, clears it (a Bad one raises its quality alarm instead). It is
// judged by Engine.Tick, on the engine's clock, since a silent tag sends no
// sample to judge.
type stale struct {
	ruleMeta
	after time.Duration
}

func newStale(m ruleMeta, after time.Duration) *stale {
	m.kind, m.level = kindStale, LevelStale
	return &stale{ruleMeta: m, after: after}
}

func (r *stale) eval(*slot, *collector.Tag, *collector.Sample, bool) verdict { return verdictClear }

func (r *stale) tick(ts *tagState, now time.Time) verdict {
	if ts.lastSeen.IsZero() || now.Sub(ts.lastSeen) < r.after {
		return verdictHold
	}
	return verdictActive
}

func (r *stale) worse(float64, float64) bool { return false }

func (r *stale) message(t *collector.Tag, _ *collector.Sample) text { return staleText(t, r.after) }
