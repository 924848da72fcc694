package deliver

import (
	"slices"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
)

// Filter selects events; an empty list lets everything through on that
// count. Events a filter leaves out still move a follower's cursor, so they
// are not read again after a restart or reconnect.
type Filter struct {
	// Events are event types ("alarm.raised", "hazard.created") or whole
	// journals ("alarm.*", "hazard.*").
	Events []string
	Sites  []string
	// Severities are alarm severities; a severity filter leaves hazard
	// events in, severity being an alarm notion.
	Severities []string
	// Classes are alarm classes and hazard categories.
	Classes []string
	// Annunciated leaves out alarms suppressed by design, for receivers
	// that notify people (an SMS gateway): the device's root alarm is the
	// one to send. A journal copy (northbound) keeps them.
	Annunciated bool
}

// Keep reports whether ev passes.
func (f *Filter) Keep(ev Event) bool {
	if ev.Hazard != nil {
		return f.Hazard(ev.Hazard)
	}
	return f.Alarm(ev.Alarm)
}

// Alarm reports whether an alarm event passes.
func (f *Filter) Alarm(ev *alerting.Event) bool {
	if f.Annunciated && ev.Alarm.State == alerting.SuppressedByDesign {
		return false
	}
	if f.Annunciated && ev.Type == alerting.EventClosed && ev.Alarm.Root != 0 {
		return false // closed while suppressed: never announced
	}
	return f.event("alarm", ev.Type) && in(f.Sites, ev.Alarm.Site) && in(f.Severities, ev.Alarm.Severity) && in(f.Classes, ev.Alarm.Class)
}

// Hazard reports whether a hazard event passes.
func (f *Filter) Hazard(ev *hazard.Event) bool {
	return f.event("hazard", ev.Type) && in(f.Sites, ev.Hazard.Site) && in(f.Classes, ev.Hazard.Category)
}

func (f *Filter) event(journal, typ string) bool {
	return len(f.Events) == 0 || slices.Contains(f.Events, journal+".*") || slices.Contains(f.Events, journal+"."+typ)
}

func in(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
