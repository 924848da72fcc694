package deliver

import (
	"testing"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
)

func TestFilter(t *testing.T) {
	raised := AlarmEvent(&alerting.Event{Seq: 1, Type: alerting.EventRaised,
		Alarm: alerting.Alarm{Site: "s1", Severity: alerting.SeverityHigh, Class: "gas"}})
	created := HazardEvent(&hazard.Event{Seq: 1, Type: "created", Hazard: hazard.Hazard{Site: "s1", Category: "fire"}})
	cases := []struct {
		name            string
		f               Filter
		alarm, hazardOK bool
	}{
		{"empty keeps all", Filter{}, true, true},
		{"exact type", Filter{Events: []string{"alarm.raised"}}, true, false},
		{"other type", Filter{Events: []string{"alarm.cleared", "hazard.linked"}}, false, false},
		{"alarm glob", Filter{Events: []string{"alarm.*"}}, true, false},
		{"hazard glob", Filter{Events: []string{"hazard.*"}}, false, true},
		{"severity keeps hazards", Filter{Severities: []string{alerting.SeverityCritical}}, false, true},
		{"severity match", Filter{Severities: []string{alerting.SeverityHigh, alerting.SeverityCritical}}, true, true},
		{"site", Filter{Sites: []string{"s2"}}, false, false},
		{"site match", Filter{Sites: []string{"s2", "s1"}}, true, true},
		{"class is alarm class or hazard category", Filter{Classes: []string{"fire"}}, false, true},
		{"all counts at once", Filter{Events: []string{"alarm.*", "hazard.created"}, Sites: []string{"s1"}, Severities: []string{alerting.SeverityHigh}, Classes: []string{"gas", "fire"}}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.Keep(raised); got != c.alarm {
				t.Errorf("alarm.raised kept = %v, want %v", got, c.alarm)
			}
			if got := c.f.Keep(created); got != c.hazardOK {
				t.Errorf("hazard.created kept = %v, want %v", got, c.hazardOK)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	if id := AlarmEvent(&alerting.Event{Seq: 17}).ID(); id != "a17" {
		t.Errorf("alarm id %q", id)
	}
	if id := HazardEvent(&hazard.Event{Seq: 4}).ID(); id != "h4" {
		t.Errorf("hazard id %q", id)
	}
}

func TestFilterAnnunciated(t *testing.T) {
	ev := func(typ string, st alerting.State, root int64) Event {
		return AlarmEvent(&alerting.Event{Seq: 1, Type: typ, Alarm: alerting.Alarm{Site: "s1", State: st, Root: root}})
	}
	cases := []struct {
		name string
		ev   Event
		want bool
	}{
		{"a suppressed raise", ev(alerting.EventRaised, alerting.SuppressedByDesign, 7), false},
		{"closed while suppressed", ev(alerting.EventClosed, alerting.Normal, 7), false},
		{"released: announced", ev(alerting.EventRaised, alerting.ActiveUnacked, 0), true},
		{"an ordinary close", ev(alerting.EventClosed, alerting.Normal, 0), true},
	}
	for _, c := range cases {
		if got := (&Filter{Annunciated: true}).Keep(c.ev); got != c.want {
			t.Errorf("%s: kept %v, want %v", c.name, got, c.want)
		}
		if !(&Filter{}).Keep(c.ev) {
			t.Errorf("%s: a journal copy left it out", c.name)
		}
	}
}

// TestOverdueEventName: a record's 超期 reaches webhooks as hazard.overdue,
// which a webhook may select by name.
func TestOverdueEventName(t *testing.T) {
	ev := HazardEvent(&hazard.Event{Seq: 9, Type: hazard.EventOverdue, Hazard: hazard.Hazard{Site: "s1", Overdue: true}})
	if ev.Type != "hazard.overdue" {
		t.Errorf("type %q", ev.Type)
	}
	if f := (Filter{Events: []string{"hazard.overdue"}}); !f.Hazard(ev.Hazard) {
		t.Error("a hazard.overdue filter drops the overdue event")
	}
	if f := (Filter{Events: []string{"hazard.created"}}); f.Hazard(ev.Hazard) {
		t.Error("a hazard.created filter keeps the overdue event")
	}
}
