package config

import (
	"fmt"
	"path"
)

var severities = []string{"low", "medium", "high", "critical"}

// reservedRules are the classes the alarm engine raises by itself on every
// tag; a configured rule of the same name would be ambiguous in the journal.
var reservedRules = []string{"comm_loss", "sensor_fault", "bad_quality"}

// Rule raises an alarm when a tag's value crosses a limit.
type Rule struct {
	Name     string   `yaml:"name" required:"true" doc:"Unique rule name."`
	Match    Match    `yaml:"match" doc:"Which tags the rule applies to; empty matches all."`
	Above    *float64 `yaml:"above" doc:"Alarm while value > above."`
	Below    *float64 `yaml:"below" doc:"Alarm while value < below."`
	Severity string   `yaml:"severity" default:"medium" doc:"low, medium, high or critical."`
	Class    string   `yaml:"class" doc:"Alarm class. Default the rule name."`
}

// Match selects tags. Every non-empty field must match.
type Match struct {
	Tag    string `yaml:"tag" doc:"Tag id glob, for example T1*-LEL."`
	Kind   string `yaml:"kind" doc:"Tag kind."`
	Area   string `yaml:"area" doc:"Tag area."`
	Device string `yaml:"device" doc:"Device id."`
}

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
		if r.Above == nil && r.Below == nil {
			d.errorAt(p, "rule %q: needs above or below", r.Name)
		}
		if r.Above != nil && r.Below != nil && *r.Below >= *r.Above {
			d.errorAt(p+".below", "rule %q: below (%g) must be less than above (%g), or the alarm never clears", r.Name, *r.Below, *r.Above)
		}
		d.enum(p+".severity", "severity", r.Severity, severities)
		if r.Match.Tag != "" {
			if _, err := path.Match(r.Match.Tag, ""); err != nil {
				d.errorAt(p+".match.tag", "rule %q: bad tag glob %q: %v", r.Name, r.Match.Tag, err)
			}
		}
	}
}
