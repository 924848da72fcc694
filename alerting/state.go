package alerting

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"hazgate/collector"
)

// Fire-panel states. Protocols emit one 0/1 tag per point and state, named
// <point>.<state> (kind fire_panel): 火警 fire, 故障 fault, 监管 supervisory,
// 屏蔽 disabled, 启动 start, 反馈 feedback.
const (
	StateFire        = "fire"
	StateFault       = "fault"
	StateSupervisory = "supervisory"
	StateDisabled    = "disabled"
	StateStart       = "start"
	StateFeedback    = "feedback"
)

// discrete alarms while a state tag (<point>.<state>) reads non-zero. A
// configured `states` map compiles to one per state; its level and class
// are the state's name.
type discrete struct {
	ruleMeta
	suffix string // "." + state
}

func newStates(m ruleMeta, states map[string]string) ([]rule, error) {
	m.kind = kindState
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, s)
	}
	sort.Strings(names)
	var out []rule
	for _, s := range names {
		if s == "" || strings.ContainsAny(s, ". ") {
			return nil, fmt.Errorf("states: %q is not a state name", s)
		}
		sev := states[s]
		if !severities[sev] {
			return nil, fmt.Errorf("states[%s]: severity %q is not one of low, medium, high, critical", s, sev)
		}
		lm := m
		lm.level, lm.severity = s, sev
		if lm.class == lm.name { // no class configured
			lm.class = s
		}
		out = append(out, &discrete{ruleMeta: lm, suffix: "." + s})
	}
	return out, nil
}

func (r *discrete) matches(t collector.Tag) bool {
	return strings.HasSuffix(t.ID, r.suffix) && r.ruleMeta.matches(t)
}

func (r *discrete) eval(_ *slot, _ *collector.Tag, s *collector.Sample, _ bool) verdict {
	if s.Quality == collector.Bad || math.IsNaN(s.Value) {
		return verdictHold
	}
	if s.Value != 0 {
		return verdictActive
	}
	return verdictClear
}

func (r *discrete) worse(float64, float64) bool { return false }

func (r *discrete) message(t *collector.Tag, _ *collector.Sample) text {
	return stateText(t, strings.TrimSuffix(t.ID, r.suffix), r.level)
}
