package alerting

import (
	"errors"
	"fmt"
	"path"

	"hazgate/collector"
	"hazgate/config"
)

// verdict is what a rule makes of one sample.
type verdict uint8

const (
	// verdictHold: the sample says nothing about the condition (a Bad reading for
	// a threshold); the alarm keeps its state.
	verdictHold verdict = iota
	// verdictClear: the condition does not hold.
	verdictClear
	// verdictActive: the condition holds.
	verdictActive
)

// rule is one kind of alarm rule compiled for evaluation. A new kind (rate,
// stale, discrete state) is a new file with a type implementing it; the
// engine owns the alarm lifecycle, a rule only judges samples. Rules are
// called with the engine's lock held, so a kind may keep per-tag memory.
type rule interface {
	// meta names the rule and what its alarms are.
	meta() *ruleMeta
	// matches reports whether the rule applies to tag t.
	matches(t collector.Tag) bool
	// eval judges sample s of tag t; isActive says whether the rule's alarm on
	// that tag is active now (for hysteresis).
	eval(t *collector.Tag, s *collector.Sample, isActive bool) verdict
	// worse reports whether v lies further beyond the limit than peak.
	worse(v, peak float64) bool
	// message describes the alarm raised by sample s.
	message(t *collector.Tag, s *collector.Sample) string
}

// ruleMeta is what every rule kind shares.
type ruleMeta struct {
	name     string
	class    string
	severity string
	match    config.Match
}

// matches applies the common match block: every non-empty field must match.
func (m *ruleMeta) matches(t collector.Tag) bool {
	if m.match.Kind != "" && m.match.Kind != t.Kind {
		return false
	}
	if m.match.Area != "" && m.match.Area != t.Area {
		return false
	}
	if m.match.Device != "" && m.match.Device != t.Device {
		return false
	}
	if m.match.Tag != "" {
		ok, _ := path.Match(m.match.Tag, t.ID) // validated in compileRules
		return ok
	}
	return true
}

// severities are the accepted rule severities.
var severities = map[string]bool{
	SeverityLow: true, SeverityMedium: true, SeverityHigh: true, SeverityCritical: true,
}

// compileRules validates the configured rules and compiles them, reporting
// every problem, each naming its rule.
func compileRules(cfg []config.Rule) ([]rule, error) {
	var errs []error
	var out []rule
	seen := make(map[string]bool)
	for i, c := range cfg {
		name := c.Name
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("rule %q (#%d): %s", name, i+1, fmt.Sprintf(format, args...)))
		}
		switch {
		case name == "":
			bad("name is required")
		case seen[name]:
			bad("duplicate rule name")
		case isQualityClass(name):
			bad("name is reserved for the engine's own %s alarms", name)
		}
		seen[name] = true
		m := ruleMeta{name: name, class: c.Class, severity: c.Severity, match: c.Match}
		if m.class == "" {
			m.class = name
		}
		if m.severity == "" {
			m.severity = SeverityMedium // the loader's default, for rules built in code
		}
		if !severities[m.severity] {
			bad("severity %q is not one of low, medium, high, critical", c.Severity)
		}
		if c.Match.Tag != "" {
			if _, err := path.Match(c.Match.Tag, ""); err != nil {
				bad("match.tag %q is not a valid glob: %v", c.Match.Tag, err)
			}
		}
		r, err := newThreshold(m, c)
		if err != nil {
			bad("%v", err)
			continue
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
