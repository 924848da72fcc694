package config

import (
	"fmt"
	"slices"
	"time"
)

// AlarmHandling is what a site asks of its control room beyond
// acknowledging an alarm: a disposal record (报警处置) before it closes,
// escalation when no one answers, and one root-cause alarm for a silent
// device.
type AlarmHandling struct {
	RequireDisposal []string                 `yaml:"require_disposal" doc:"Severities (low, medium, high, critical) whose alarms, once cleared and acknowledged, stay open as awaiting_disposal (待处置) until a disposal record (报警处置: cause, measures, person, time) is filed. Default none: a disposal may be filed on any open alarm but none is required."`
	Escalate        map[string]time.Duration `yaml:"escalate" doc:"Per severity, how long an alarm may wait unacknowledged before it escalates: its severity rises one step (a critical one stays critical), the event alarm.escalated goes to webhooks, northbound and the console, and the wait starts again at the new severity's time. For example {critical: 5m, high: 10m, medium: 30m}. Default none."`
	// DeviceSuppression is ISA-18.2's designed suppression: a device that
	// stops answering is one alarm, not one per tag.
	DeviceSuppression bool `yaml:"device_suppression" default:"true" doc:"A device's communication loss is one root-cause alarm (tag: the device id, rule comm_loss, level device) that suppresses its tags' own communication-loss, stale and process alarms while it is active; a device whose tags go stale together (nothing from any tag for half a tag's stale time) raises the same root; they are counted (hazgate_alarms_suppressed_total, and the root alarm's suppressed count) and judged afresh when the device answers. false raises one communication-loss alarm per tag."`
}

// Requires reports whether alarms of severity sev need a disposal to close.
func (h AlarmHandling) Requires(sev string) bool { return slices.Contains(h.RequireDisposal, sev) }

func (d *decoder) validateAlarmHandling(h *AlarmHandling) {
	for i, s := range h.RequireDisposal {
		d.enum(fmt.Sprintf("alarm_handling.require_disposal[%d]", i), "severity", s, severities)
	}
	for s, after := range h.Escalate {
		p := fmt.Sprintf("alarm_handling.escalate[%s]", s)
		d.enum(p, "severity", s, severities)
		if after <= 0 {
			d.errorAt(p, "%s: %s must be positive", p, after)
		}
	}
}
