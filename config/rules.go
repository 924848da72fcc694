package config

import (
	"fmt"
	"path"
	"sort"
	"time"
)

var severities = []string{"low", "medium", "high", "critical"}

// reservedRules are the classes the alarm engine raises by itself on every
// tag; a configured rule of the same name would be ambiguous in the journal.
var reservedRules = []string{"comm_loss", "sensor_fault", "bad_quality", SpoolOverflowRule, ForwardLinkRule}

// SpoolOverflowRule is the gateway's own alarm when its InfluxDB spool is
// full and the oldest readings are dropped.
const SpoolOverflowRule = "spool_overflow"

// ForwardLinkRule is the control room's alarm when the link to the fire
// remote-monitoring centre fails (forward block).
const ForwardLinkRule = "forward_link"

// Rule raises alarms on the tags it matches. A rule is one kind: limits
// (above, below, hh/h/l/ll, or a preset that fills them), rate, stale or
// states.
type Rule struct {
	Name  string `yaml:"name" required:"true" doc:"Unique rule name."`
	Match Match  `yaml:"match" doc:"Which tags the rule applies to; empty matches all. A rule whose match.tag is one exact tag id is that tag's own and replaces the general rules of its kind on it."`
	// Above and Below are the single-level form: above is level H, below level L.
	Above    *float64 `yaml:"above" doc:"Alarm (level H) while value > above."`
	Below    *float64 `yaml:"below" doc:"Alarm (level L) while value < below."`
	HH       *Level   `yaml:"hh" doc:"High-high limit: alarm while value > hh.value. Severity default high."`
	H        *Level   `yaml:"h" doc:"High limit: alarm while value > h.value. Severity default the rule's."`
	L        *Level   `yaml:"l" doc:"Low limit: alarm while value < l.value. Severity default the rule's."`
	LL       *Level   `yaml:"ll" doc:"Low-low limit: alarm while value < ll.value. Severity default high."`
	Preset   string   `yaml:"preset" doc:"Limits from a standard: gb50493-combustible, gb50493-toxic, gb50493-oxygen, gb50974-hydrant. Explicit hh/h/l/ll override the preset's."`
	Gas      string   `yaml:"gas" doc:"For preset gb50493-toxic: H2S, NH3, Cl2, CO, SO2, NO2, HCN, C6H6 (benzene) or COCl2 (phosgene); limits in ppm."`
	Hydrant  string   `yaml:"hydrant" default:"municipal" doc:"For preset gb50974-hydrant: municipal (0.14 MPa working, 0.10 MPa minimum), indoor (0.25 MPa) or indoor-high-rise (0.35 MPa: high-rise, factories, warehouses)."`
	Severity string   `yaml:"severity" default:"medium" doc:"low, medium, high or critical."`
	Class    string   `yaml:"class" doc:"Alarm class. Default the rule name; for states, the state name."`
	// Deadband is hysteresis: a limit alarm clears only once the value is
	// back inside the limit by this much.
	Deadband float64       `yaml:"deadband" doc:"A limit alarm clears only after the value is back by this much. Default 0."`
	Delay    time.Duration `yaml:"delay" doc:"On-delay: the condition must hold this long before the alarm raises. Default 0."`
	OffDelay time.Duration `yaml:"off_delay" doc:"Off-delay: the condition must be gone this long before the alarm clears. Default 0."`
	Rate     *Rate         `yaml:"rate" doc:"Rate-of-change alarm: rising or falling faster than a limit."`
	// Stale alarms when a tag sends nothing at all, not even a Bad reading.
	Stale  time.Duration     `yaml:"stale" doc:"Alarm when the tag has had no sample for this long."`
	States map[string]string `yaml:"states" doc:"Discrete states to severities, for example {fire: high, fault: medium}; applies to tags whose id ends in .<state> and alarms while the value is non-zero."`
	// Chatter marks an alarm that raises and clears too often and holds it
	// active until it is quiet.
	Chatter Chatter `yaml:"chatter" doc:"Chattering detection."`
}

// Level is one limit of a rule.
type Level struct {
	Value    float64 `yaml:"value" required:"true" doc:"The limit."`
	Severity string  `yaml:"severity" doc:"low, medium, high or critical."`
}

// Rate configures a rate-of-change rule.
type Rate struct {
	Rising  float64       `yaml:"rising" doc:"Alarm when the value rises faster than this per 'per'."`
	Falling float64       `yaml:"falling" doc:"Alarm when the value falls faster than this per 'per' (a positive number)."`
	Per     time.Duration `yaml:"per" default:"1m" doc:"The time unit of rising and falling."`
	Window  time.Duration `yaml:"window" default:"1m" doc:"The rate is the slope of the samples over this window."`
}

// Chatter configures chattering detection (ISA-18.2): Count raises within
// Window mark the alarm chattering; it then stays active until its
// condition has been gone for Quiet.
type Chatter struct {
	Count  int           `yaml:"count" default:"3" doc:"Raise/clear cycles within window that make an alarm chattering."`
	Window time.Duration `yaml:"window" default:"60s" doc:"Window for count."`
	Quiet  time.Duration `yaml:"quiet" default:"60s" doc:"A chattering alarm clears only after its condition has been gone this long."`
}

// Match selects tags. Every non-empty field must match.
type Match struct {
	Tag    string `yaml:"tag" doc:"Tag id glob, for example T1*-LEL."`
	Kind   string `yaml:"kind" doc:"Tag kind."`
	Area   string `yaml:"area" doc:"Tag area."`
	Device string `yaml:"device" doc:"Device id."`
}

// ruleCheck validates what only the alarm engine knows (preset and gas
// names, level order); the alerting package registers it, so `hazgate check`
// reports those problems with their line too.
var ruleCheck func(Rule) error

// RegisterRuleCheck installs the alarm engine's validation of one rule.
func RegisterRuleCheck(check func(Rule) error) { ruleCheck = check }

func (d *decoder) validateRules(rs []Rule) {
	rules := make(map[string]string)
	for i := range rs {
		r := &rs[i]
		p := fmt.Sprintf("rules[%d]", i)
		if prev, dup := rules[r.Name]; dup {
			d.errorAt(p+".name", "duplicate rule name %q (first at %s)", r.Name, d.short(prev+".name"))
		} else {
			rules[r.Name] = p
		}
		if oneOf(r.Name, reservedRules) {
			d.errorAt(p+".name", "rule name %q is reserved for the engine's own quality alarms", r.Name)
		}
		limits := r.Above != nil || r.Below != nil || r.HH != nil || r.H != nil || r.L != nil || r.LL != nil || r.Preset != ""
		kinds := 0
		for _, k := range []bool{limits, r.Rate != nil, r.Stale > 0, len(r.States) > 0} {
			if k {
				kinds++
			}
		}
		switch {
		case kinds == 0:
			d.errorAt(p, "rule %q: needs above or below (or hh/h/l/ll, preset, rate, stale or states)", r.Name)
			continue
		case kinds > 1:
			d.errorAt(p, "rule %q: limits, rate, stale and states are separate rules; split it", r.Name)
			continue
		}
		d.enum(p+".severity", "severity", r.Severity, severities)
		for key, l := range map[string]*Level{"hh": r.HH, "h": r.H, "l": r.L, "ll": r.LL} {
			if l != nil && l.Severity != "" {
				d.enum(p+"."+key+".severity", "severity", l.Severity, severities)
			}
		}
		states := make([]string, 0, len(r.States))
		for s := range r.States {
			states = append(states, s)
		}
		sort.Strings(states)
		for _, s := range states {
			d.enum(p+".states["+s+"]", "severity", r.States[s], severities)
		}
		if r.Match.Tag != "" {
			if _, err := path.Match(r.Match.Tag, ""); err != nil {
				d.errorAt(p+".match.tag", "rule %q: bad tag glob %q: %v", r.Name, r.Match.Tag, err)
				continue
			}
		}
		if ruleCheck != nil {
			if err := ruleCheck(*r); err != nil {
				d.errorAt(p, "%v", err)
			}
		}
	}
}
