package hazard

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
)

// kind is what makes a rule fire.
type kind uint8

const (
	persistence kind = iota + 1 // a matching alarm active for cfg.For
	recurrence                  // cfg.Count raises within cfg.Within
	immediate                   // one raise
)

// rule is one hazard rule ready to judge alarms.
type rule struct {
	cfg  config.HazardRule
	kind kind
}

// compileRules checks and compiles rules; nil means the built-in set,
// an empty list none.
func compileRules(cfgs []config.HazardRule) ([]*rule, error) {
	if cfgs == nil {
		cfgs = DefaultRules()
	}
	var errs []error
	seen := make(map[string]bool)
	out := make([]*rule, 0, len(cfgs))
	for i, c := range cfgs {
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("hazard rule %q (#%d): duplicate name", c.Name, i+1))
			continue
		}
		seen[c.Name] = true
		if ps := config.CheckHazardRule(c); len(ps) > 0 {
			errs = append(errs, fmt.Errorf("hazard rule %q (#%d): %s", c.Name, i+1, strings.Join(ps, "; ")))
			continue
		}
		r := &rule{cfg: c, kind: persistence}
		switch {
		case c.Immediate:
			r.kind = immediate
		case c.Count > 0:
			r.kind = recurrence
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// selects reports whether alarm a on tag t is evidence for the rule.
func (r *rule) selects(a *alerting.Alarm, t *collector.Tag) bool {
	c := &r.cfg
	if c.Class != "" || len(c.Classes) > 0 {
		if a.Class != c.Class && !slices.Contains(c.Classes, a.Class) {
			return false
		}
	}
	if c.Rule != "" && a.Rule != c.Rule {
		return false
	}
	if len(c.AlarmLevels) > 0 && !slices.Contains(c.AlarmLevels, a.Level) {
		return false
	}
	m := c.Match
	if m.Kind != "" || len(c.Kinds) > 0 {
		if t.Kind != m.Kind && !slices.Contains(c.Kinds, t.Kind) {
			return false
		}
	}
	if c.MajorHazard && t.HazardSource == "" {
		return false
	}
	if (m.Area != "" && m.Area != t.Area) || (m.Device != "" && m.Device != t.Device) {
		return false
	}
	if m.Tag != "" {
		ok, _ := path.Match(m.Tag, t.ID) // checked by config.CheckHazardRule
		return ok
	}
	return true
}

// scope is what one record of the rule covers for tag t: the tag, or its
// area (the tag itself when it has none).
func (r *rule) scope(t *collector.Tag) string {
	if r.cfg.By == "area" && t.Area != "" {
		return "area:" + t.Area
	}
	return "tag:" + t.ID
}

// describe fills the description template.
func (r *rule) describe(t *collector.Tag, a *alerting.Alarm, count int) string {
	point := t.ID
	if t.Name != "" {
		point = t.Name + "（" + t.ID + "）"
	}
	rep := strings.NewReplacer(
		"{point}", point, "{tag}", t.ID, "{name}", t.Name, "{area}", t.Area, "{device}", t.Device,
		"{class}", a.Class, "{level}", a.Level,
		"{value}", strconv.FormatFloat(a.Value, 'f', -1, 64)+t.Unit,
		"{peak}", strconv.FormatFloat(a.Peak, 'f', -1, 64)+t.Unit,
		"{count}", strconv.Itoa(count), "{for}", alerting.SpanZH(r.cfg.For), "{within}", alerting.SpanZH(r.cfg.Within))
	tmpl := r.cfg.Description
	if tmpl == "" {
		tmpl = "{area}{point}：{class}报警（规则 " + r.cfg.Name + "）"
	}
	// "{area}{point}" is where the hazard is: the area and the point, apart
	// (罐区A 1号储罐可燃气体, not 罐区A1号储罐), and the area once when the
	// point's name already starts with it (泵房可燃气体, not 泵房泵房可燃气体).
	place := point
	if t.Area != "" && !strings.HasPrefix(t.Name, t.Area) {
		place = t.Area + " " + point
	}
	return rep.Replace(strings.ReplaceAll(tmpl, "{area}{point}", place))
}
