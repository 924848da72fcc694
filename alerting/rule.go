package alerting

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

func init() {
	// `hazgate check` then reports what only the engine knows (presets,
	// gases, level order) at the rule's line.
	config.RegisterRuleCheck(func(c config.Rule) error {
		if _, problems := compileRule(c); len(problems) > 0 {
			return fmt.Errorf("rule %q: %s", c.Name, strings.Join(problems, "; "))
		}
		return nil
	})
}

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

// rule is one alarm condition compiled for evaluation: one configured rule
// compiles to one rule per level (hh, h, l, ll; rise, fall; each state), so
// every alarm belongs to exactly one. A new kind is a new file with a type
// implementing it; the engine owns the lifecycle, a rule only judges samples.
// Rules are called with the engine's lock held.
type rule interface {
	// meta names the rule and what its alarms are.
	meta() *ruleMeta
	// matches reports whether the rule applies to tag t.
	matches(t collector.Tag) bool
	// eval judges sample s of tag t; cond is the condition as last judged,
	// for hysteresis; sl is the rule's memory for this tag.
	eval(sl *slot, t *collector.Tag, s *collector.Sample, cond bool) verdict
	// worse reports whether v lies further beyond the limit than peak.
	worse(v, peak float64) bool
	// message describes the alarm raised by sample s.
	message(t *collector.Tag, s *collector.Sample) text
}

// timed is a rule whose condition can change without a sample (stale).
type timed interface {
	tick(ts *tagState, now time.Time) verdict
}

// ruleMeta is what every rule kind shares.
type ruleMeta struct {
	name     string
	level    string
	kind     string // limit, rate, stale, state, quality: a tag's own rule replaces general ones of its kind
	class    string
	severity string
	match    config.Match
	own      bool // match.tag names one tag exactly
	delay    time.Duration
	offDelay time.Duration
	chatter  config.Chatter // Count 0: no chattering detection
}

func (m *ruleMeta) meta() *ruleMeta { return m }

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
		ok, _ := path.Match(m.match.Tag, t.ID) // validated in compileRule
		return ok
	}
	return true
}

// severities are the accepted rule severities.
var severities = map[string]bool{
	SeverityLow: true, SeverityMedium: true, SeverityHigh: true, SeverityCritical: true,
}

// severityRank orders severities, 0 for an unknown one.
func severityRank(s string) int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// compileRules validates the configured rules and compiles them, reporting
// every problem, each naming its rule.
func compileRules(cfg []config.Rule) ([]rule, error) {
	var errs []error
	var out []rule
	seen := make(map[string]bool)
	for i, c := range cfg {
		if seen[c.Name] && c.Name != "" {
			errs = append(errs, fmt.Errorf("rule %q (#%d): duplicate rule name", c.Name, i+1))
			continue
		}
		seen[c.Name] = true
		rs, problems := compileRule(c)
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("rule %q (#%d): %s", c.Name, i+1, strings.Join(problems, "; ")))
			continue
		}
		out = append(out, rs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// compileRule turns one configured rule into one rule per level, or says
// every problem with it.
func compileRule(c config.Rule) ([]rule, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch {
	case c.Name == "":
		bad("name is required")
	case isQualityClass(c.Name):
		bad("name is reserved for the engine's own %s alarms", c.Name)
	}
	m := ruleMeta{name: c.Name, class: c.Class, severity: c.Severity, match: c.Match,
		delay: c.Delay, offDelay: c.OffDelay, chatter: c.Chatter}
	if m.class == "" {
		m.class = c.Name
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
		m.own = !strings.ContainsAny(c.Match.Tag, `*?[\`)
	}
	if c.Delay < 0 || c.OffDelay < 0 || c.Stale < 0 {
		bad("delay, off_delay and stale must not be negative")
	}
	if c.Chatter.Count > 0 && (c.Chatter.Window <= 0 || c.Chatter.Quiet <= 0) {
		bad("chatter.window and chatter.quiet must be positive")
	}
	if c.Deadband < 0 {
		bad("deadband %g must not be negative", c.Deadband)
	}

	var out []rule
	limits := c.Above != nil || c.Below != nil || c.HH != nil || c.H != nil || c.L != nil || c.LL != nil || c.Preset != ""
	kinds := 0
	for _, k := range []bool{limits, c.Rate != nil, c.Stale > 0, len(c.States) > 0} {
		if k {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		bad("needs above or below (or hh/h/l/ll, preset, rate, stale or states)")
	case kinds > 1:
		bad("limits, rate, stale and states are separate rules; split it")
	case limits:
		rs, err := newLimits(m, c)
		if err != nil {
			bad("%v", err)
		}
		out = rs
	case c.Rate != nil:
		rs, err := newRate(m, *c.Rate)
		if err != nil {
			bad("%v", err)
		}
		out = rs
	case c.Stale > 0:
		out = []rule{newStale(m, c.Stale)}
	default:
		rs, err := newStates(m, c.States)
		if err != nil {
			bad("%v", err)
		}
		out = rs
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
