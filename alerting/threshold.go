package alerting

import (
	"fmt"
	"math"
	"strings"

	"hazgate/collector"
	"hazgate/config"
)

// Rule kinds, for a tag's own rule replacing the general ones of its kind.
const (
	kindLimit   = "limit"
	kindRate    = "rate"
	kindStale   = "stale"
	kindState   = "state"
	kindQuality = "quality"
)

// threshold is one limit of a limit rule: it alarms while the value is above
// (high) or below the limit, and clears only once the value is back inside
// by the deadband.
type threshold struct {
	ruleMeta
	limit    float64
	high     bool
	deadband float64
	words    limitWords
}

// levelSpec is one limit before compilation, with the key it came from for
// messages.
type levelSpec struct {
	level  string
	key    string
	l      config.Level
	preset bool // from the rule's preset, whose clause messages cite
}

// newLimits compiles a limit rule: the preset's levels, overridden by
// explicit hh/h/l/ll, with above and below as the single-level form of h
// and l.
func newLimits(m ruleMeta, c config.Rule) ([]rule, error) {
	m.kind = kindLimit
	specs := map[string]levelSpec{}
	if c.Preset != "" {
		levels, err := presetLevels(c)
		if err != nil {
			return nil, err
		}
		for lvl, l := range levels {
			specs[lvl] = levelSpec{lvl, c.Preset + " " + strings.ToLower(lvl), l, true}
		}
	}
	for _, x := range []struct {
		level, key string
		l          *config.Level
	}{{LevelHH, "hh", c.HH}, {LevelH, "h", c.H}, {LevelL, "l", c.L}, {LevelLL, "ll", c.LL}} {
		if x.l != nil {
			specs[x.level] = levelSpec{level: x.level, key: x.key, l: *x.l}
		}
	}
	for _, x := range []struct {
		level, key, same string
		v                *float64
		l                *config.Level
	}{{LevelH, "above", "h", c.Above, c.H}, {LevelL, "below", "l", c.Below, c.L}} {
		if x.v == nil {
			continue
		}
		if x.l != nil {
			return nil, fmt.Errorf("%s and %s are the same level; keep one", x.key, x.same)
		}
		specs[x.level] = levelSpec{level: x.level, key: x.key, l: config.Level{Value: *x.v, Severity: m.severity}}
	}
	// Lowest to highest; each limit must lie strictly above the one before,
	// or an alarm could never clear.
	var prev *levelSpec
	var out []rule
	for _, lvl := range []string{LevelLL, LevelL, LevelH, LevelHH} {
		sp, ok := specs[lvl]
		if !ok {
			continue
		}
		if math.IsNaN(sp.l.Value) || math.IsInf(sp.l.Value, 0) {
			return nil, fmt.Errorf("%s: limit %g is not a number", sp.key, sp.l.Value)
		}
		if prev != nil && sp.l.Value <= prev.l.Value {
			return nil, fmt.Errorf("%s (%g) must be less than %s (%g)", prev.key, prev.l.Value, sp.key, sp.l.Value)
		}
		prev = &sp
		lm := m
		lm.level = lvl
		lm.severity = sp.l.Severity
		if lm.severity == "" {
			lm.severity = m.severity
			if (lvl == LevelHH || lvl == LevelLL) && severityRank(lm.severity) < severityRank(SeverityHigh) {
				lm.severity = SeverityHigh
			}
		}
		if !severities[lm.severity] {
			return nil, fmt.Errorf("%s: severity %q is not one of low, medium, high, critical", sp.key, sp.l.Severity)
		}
		words := presetWords("", "", lvl)
		if sp.preset {
			words = presetWords(c.Preset, c.Hydrant, lvl)
		}
		out = append(out, &threshold{ruleMeta: lm, limit: sp.l.Value, high: lvl == LevelH || lvl == LevelHH, deadband: c.Deadband, words: words})
	}
	return out, nil
}

func (r *threshold) eval(_ *slot, _ *collector.Tag, s *collector.Sample, cond bool) verdict {
	// A Bad reading (or a NaN) is no evidence either way: a dead detector is
	// not clean air, so the alarm keeps its state. Uncertain values count.
	if s.Quality == collector.Bad || math.IsNaN(s.Value) {
		return verdictHold
	}
	lim := r.limit
	if cond { // hysteresis: an active condition ends only past the deadband
		if r.high {
			lim -= r.deadband
		} else {
			lim += r.deadband
		}
	}
	if (r.high && s.Value > lim) || (!r.high && s.Value < lim) {
		return verdictActive
	}
	return verdictClear
}

func (r *threshold) worse(v, peak float64) bool {
	if r.high {
		return v > peak
	}
	return v < peak
}

func (r *threshold) message(t *collector.Tag, s *collector.Sample) text {
	return limitText(t, s.Value, r.high, r.words, r.limit)
}
