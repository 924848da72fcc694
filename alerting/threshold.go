package alerting

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"hazgate/collector"
	"hazgate/config"
)

// threshold alarms while the value is above its upper limit or below its
// lower one.
type threshold struct {
	ruleMeta
	above, below       float64
	hasAbove, hasBelow bool
}

func newThreshold(m ruleMeta, c config.Rule) (*threshold, error) {
	r := &threshold{ruleMeta: m}
	if c.Above == nil && c.Below == nil {
		return nil, errors.New("needs above or below")
	}
	if c.Above != nil {
		r.above, r.hasAbove = *c.Above, true
	}
	if c.Below != nil {
		r.below, r.hasBelow = *c.Below, true
	}
	if r.hasAbove && r.hasBelow && r.below >= r.above {
		return nil, fmt.Errorf("below (%g) must be less than above (%g)", r.below, r.above)
	}
	return r, nil
}

func (r *threshold) meta() *ruleMeta { return &r.ruleMeta }

func (r *threshold) eval(_ *collector.Tag, s *collector.Sample, _ bool) verdict {
	// A Bad reading (or a NaN) is no evidence either way: a dead detector is
	// not clean air, so the alarm keeps its state. Uncertain values count.
	if s.Quality == collector.Bad || math.IsNaN(s.Value) {
		return verdictHold
	}
	if (r.hasAbove && s.Value > r.above) || (r.hasBelow && s.Value < r.below) {
		return verdictActive
	}
	return verdictClear
}

// excess is how far v lies beyond the nearer violated limit.
func (r *threshold) excess(v float64) float64 {
	e := math.Inf(-1)
	if r.hasAbove {
		e = v - r.above
	}
	if r.hasBelow {
		e = max(e, r.below-v)
	}
	return e
}

func (r *threshold) worse(v, peak float64) bool { return r.excess(v) > r.excess(peak) }

func (r *threshold) message(t *collector.Tag, s *collector.Sample) string {
	v := s.Value
	var b strings.Builder
	b.WriteString(t.ID)
	b.WriteByte(' ')
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	if t.Unit != "" {
		b.WriteByte(' ')
		b.WriteString(t.Unit)
	}
	if r.hasAbove && v > r.above {
		fmt.Fprintf(&b, " above %g", r.above)
	} else {
		fmt.Fprintf(&b, " below %g", r.below)
	}
	return b.String()
}
