package config

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// HazardRule opens a hazard record (隐患) when alarm history shows one. A
// rule is one kind: persistence (for), recurrence (count and within) or
// immediate. It looks at the alarms its selectors pick (class, classes,
// rule, alarm_levels: any listed value; the selectors and the tag match
// must all hold).
type HazardRule struct {
	Name  string `yaml:"name" required:"true" doc:"Unique hazard rule name."`
	Match Match  `yaml:"match" doc:"Which tags' alarms the rule looks at; empty matches all."`
	// Kinds widens match.kind to several kinds (tank level, pressure and
	// temperature under one rule).
	Kinds []string `yaml:"kinds" doc:"Tag kinds, any of which matches (besides match.kind)."`
	// MajorHazard keeps the rule to tags of a 重大危险源 (tags with hazard_source).
	MajorHazard bool     `yaml:"major_hazard" doc:"Only tags with a hazard_source (重大危险源编码)."`
	Class       string   `yaml:"class" doc:"Alarm class to look for, for example comm_loss, or an alarm rule's class."`
	Classes     []string `yaml:"classes" doc:"Alarm classes, any of which counts (with class)."`
	Rule        string   `yaml:"rule" doc:"Alarm rule name to look for, for example lel-level-2."`
	AlarmLevels []string `yaml:"alarm_levels" doc:"Alarm levels to look for (HH, H, L, LL, rise, fall, stale or a state); empty: any."`

	For       time.Duration `yaml:"for" doc:"Persistence: a hazard once a matching alarm has stayed active this long."`
	Count     int           `yaml:"count" doc:"Recurrence: a hazard once this many matching alarms are raised on the same tag (or area) within 'within'."`
	Within    time.Duration `yaml:"within" doc:"Recurrence: the window of count."`
	Immediate bool          `yaml:"immediate" doc:"A hazard as soon as a matching alarm is raised."`
	By        string        `yaml:"by" default:"tag" doc:"What one record covers: tag (one open record per tag) or area (per area)."`

	Category string `yaml:"category" required:"true" doc:"隐患类别: 重大危险源, 重点监管危险化工工艺, 重点监管危险化学品, 火灾自动报警系统, 消防给水及消火栓, 自动喷水灭火, 压力管道 or 城镇燃气."`
	Level    string `yaml:"level" default:"一般隐患" doc:"Proposed 隐患等级: 一般隐患 or 重大隐患."`
	// Description is a template: {point} (name and tag id), {tag}, {name},
	// {area}, {device}, {class}, {level}, {value}, {peak}, {count}, {for}, {within}.
	Description string        `yaml:"description" doc:"隐患描述 template; placeholders {point} {tag} {name} {area} {device} {class} {level} {value} {peak} {count} {for} {within}."`
	Basis       string        `yaml:"basis" required:"true" doc:"判定依据: the document and clause, for example 《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》第十二项."`
	Measures    string        `yaml:"measures" doc:"Default 整改措施."`
	Responsible string        `yaml:"responsible" doc:"Default 责任单位."`
	Deadline    time.Duration `yaml:"deadline" default:"72h" doc:"整改期限: the deadline is this long after the hazard is found."`
	// NormalFor is how long the linked alarms must have been clear before
	// the record shows the condition as restored, for the verifier.
	NormalFor time.Duration `yaml:"normal_for" default:"24h" doc:"How long the linked alarms must have been clear for verification to show the condition as restored."`
}

// HazardCategories are the accepted hazard categories: 两重点一重大, fire
// protection systems, pressure piping and town gas.
var HazardCategories = []string{"重大危险源", "重点监管危险化工工艺", "重点监管危险化学品",
	"火灾自动报警系统", "消防给水及消火栓", "自动喷水灭火", "压力管道", "城镇燃气"}

// HazardLevels are the accepted hazard levels.
var HazardLevels = []string{"一般隐患", "重大隐患"}

// CheckHazardRule returns what is wrong with one rule, each problem as
// key: message. The hazard engine calls it on rules that did not come from a
// file (its built-in set), so both agree on what a valid rule is.
func CheckHazardRule(r HazardRule) []string {
	var ps []string
	add := func(key, format string, args ...any) {
		ps = append(ps, key+": "+fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(r.Name) == "" {
		add("name", "must not be empty")
	}
	kinds := 0
	if r.For != 0 {
		kinds++
		if r.For < 0 {
			add("for", "must be positive")
		}
	}
	if r.Count != 0 || r.Within != 0 {
		kinds++
		if r.Count < 2 {
			add("count", "a recurrence needs count of at least 2 (got %d); use immediate for one", r.Count)
		}
		if r.Within <= 0 {
			add("within", "a recurrence needs a positive window")
		}
	}
	if r.Immediate {
		kinds++
	}
	switch {
	case kinds == 0:
		add("for", "hazard rule %q needs for (persistence), count and within (recurrence) or immediate: true", r.Name)
	case kinds > 1:
		add("for", "hazard rule %q: for, count/within and immediate are separate rules; split it", r.Name)
	}
	if r.Class == "" && len(r.Classes) == 0 && r.Rule == "" && len(r.AlarmLevels) == 0 {
		add("class", "hazard rule %q needs class, classes, rule or alarm_levels: which alarms are evidence", r.Name)
	}
	if !oneOf(r.By, []string{"tag", "area"}) {
		add("by", "unknown value %q (one of tag, area)", r.By)
	}
	if !oneOf(r.Category, HazardCategories) {
		add("category", "unknown category %q (one of %s)", r.Category, strings.Join(HazardCategories, ", "))
	}
	if !oneOf(r.Level, HazardLevels) {
		add("level", "unknown level %q (one of %s)", r.Level, strings.Join(HazardLevels, ", "))
	}
	if strings.TrimSpace(r.Basis) == "" {
		add("basis", "hazard rule %q needs its 判定依据", r.Name)
	}
	if r.Deadline <= 0 {
		add("deadline", "must be positive")
	}
	if r.NormalFor < 0 {
		add("normal_for", "must not be negative")
	}
	if r.Match.Tag != "" {
		if _, err := path.Match(r.Match.Tag, ""); err != nil {
			add("match.tag", "bad tag glob %q: %v", r.Match.Tag, err)
		}
	}
	return ps
}

// validateHazardRules checks hazard rules, each problem at its key's line.
func (d *decoder) validateHazardRules(rs []HazardRule) {
	names := make(map[string]string)
	for i, r := range rs {
		p := fmt.Sprintf("hazard_rules[%d]", i)
		if prev, dup := names[r.Name]; dup {
			d.errorAt(p+".name", "duplicate hazard rule name %q (first at %s)", r.Name, d.short(prev+".name"))
		} else {
			names[r.Name] = p
		}
		for _, problem := range CheckHazardRule(r) {
			key, msg, _ := strings.Cut(problem, ": ")
			d.errorAt(p+"."+key, "%s.%s: %s", p, key, msg)
		}
	}
}
