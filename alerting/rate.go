package alerting

import (
	"errors"
	"math"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// rate alarms when a tag's value rises (or falls) faster than a limit: a
// hydrant main bursting or being tapped, a runaway reaction heating a tank.
// The rate is the least-squares slope of the samples in the window, so
// irregular sampling and a single noisy reading do not fake a trend.
type rate struct {
	ruleMeta
	limit  float64 // per second, positive
	rising bool
	per    time.Duration
	window time.Duration
}

// ringSize bounds the samples a rate rule keeps per tag. Samples closer
// together than window/(ringSize-8) replace the newest instead of adding
// one, so the ring always spans the window whatever the poll interval.
const ringSize = 32

// rateRing is a rate rule's memory for one tag: recent Good or Uncertain
// samples, oldest first from head.
type rateRing struct {
	t    [ringSize]int64 // unix ns
	v    [ringSize]float64
	head int
	n    int
}

func newRate(m ruleMeta, c config.Rate) ([]rule, error) {
	m.kind = kindRate
	if c.Rising < 0 || c.Falling < 0 {
		return nil, errors.New("rate: rising and falling are positive numbers (falling 0.05 means down by 0.05)")
	}
	if c.Rising == 0 && c.Falling == 0 {
		return nil, errors.New("rate: needs rising or falling")
	}
	if c.Per <= 0 || c.Window <= 0 {
		return nil, errors.New("rate: per and window must be positive")
	}
	var out []rule
	for _, x := range []struct {
		level  string
		limit  float64
		rising bool
	}{{LevelRise, c.Rising, true}, {LevelFall, c.Falling, false}} {
		if x.limit == 0 {
			continue
		}
		lm := m
		lm.level = x.level
		out = append(out, &rate{ruleMeta: lm, limit: x.limit / c.Per.Seconds(), rising: x.rising, per: c.Per, window: c.Window})
	}
	return out, nil
}

func (r *rate) eval(sl *slot, _ *collector.Tag, s *collector.Sample, _ bool) verdict {
	if s.Quality == collector.Bad || math.IsNaN(s.Value) || s.Time.IsZero() {
		return verdictHold
	}
	slope, ok := sl.ring.add(s.Time.UnixNano(), s.Value, r.window)
	if !ok {
		return verdictHold // too little history to judge a trend
	}
	if (r.rising && slope > r.limit) || (!r.rising && slope < -r.limit) {
		return verdictActive
	}
	return verdictClear
}

// add records a sample and returns the slope, per second, of the samples
// within window of it. ok is false until they span half the window.
func (g *rateRing) add(t int64, v float64, window time.Duration) (slope float64, ok bool) {
	w := int64(window)
	if g.n > 0 && t < g.t[g.idx(g.n-1)] {
		g.n = 0 // time went back: start over
	}
	for g.n > 0 && t-g.t[g.head] > w {
		g.head = (g.head + 1) % ringSize
		g.n--
	}
	switch {
	case g.n >= 2 && t-g.t[g.idx(g.n-2)] < w/(ringSize-8):
		g.n-- // too close to the one before: the newest moves on
	case g.n == ringSize:
		g.head = (g.head + 1) % ringSize
		g.n--
	}
	g.t[g.idx(g.n)], g.v[g.idx(g.n)] = t, v
	g.n++
	span := g.t[g.idx(g.n-1)] - g.t[g.head]
	if g.n < 2 || span < w/2 {
		return 0, false
	}
	// Least squares on times relative to the oldest, in seconds.
	t0 := g.t[g.head]
	var sx, sy, sxx, sxy float64
	for i := range g.n {
		k := g.idx(i)
		x := float64(g.t[k]-t0) / 1e9
		sx += x
		sy += g.v[k]
		sxx += x * x
		sxy += x * g.v[k]
	}
	n := float64(g.n)
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / den, true
}

func (g *rateRing) idx(i int) int { return (g.head + i) % ringSize }

func (r *rate) worse(v, peak float64) bool {
	if r.rising {
		return v > peak
	}
	return v < peak
}

func (r *rate) message(t *collector.Tag, s *collector.Sample) text {
	return rateText(t, s.Value, r.rising, r.limit*r.per.Seconds(), r.per, r.window)
}
