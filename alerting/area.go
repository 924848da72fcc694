package alerting

import (
	"slices"
	"strings"

	"hazgate/collector"
)

// AreaState is what an area's colour on the console shows: its most urgent
// active alarm.
type AreaState struct {
	Area string `json:"area"`
	// Level is 2 for a level-2 alarm (HH, LL, a fire panel's fire), 1 for
	// any other active alarm.
	Level int `json:"level"`
	// Colour: red for level 2, orange for level 1, yellow when the worst is
	// a fault (comm_loss, sensor_fault, bad_quality, stale).
	Colour string `json:"colour"`
	Alarm  Alarm  `json:"alarm"`
	// Active counts the area's active alarms.
	Active int `json:"active"`
}

// Area colours of the site overview, after the 红橙黄蓝 four-colour scheme
// of Chinese risk maps. The console styles them as colour-<name>.
const (
	ColourRed    = "red"    // a level-2 alarm (HH, LL, fire) or an open 重大隐患
	ColourOrange = "orange" // a level-1 alarm
	ColourYellow = "yellow" // an equipment fault alarm, or an open 一般隐患
	ColourBlue   = "blue"   // nothing open
)

var colourRank = map[string]int{ColourBlue: 0, ColourYellow: 1, ColourOrange: 2, ColourRed: 3}

// Area is one area of the site overview.
type Area struct {
	Area   string `json:"area"`
	Colour string `json:"colour"`
	// Alarm is the alarm that sets the colour, if one does.
	Alarm *Alarm `json:"alarm,omitempty"`
	// ActiveAlarms counts the area's active alarms, OpenHazards its hazard
	// records not closed or dismissed.
	ActiveAlarms int `json:"active_alarms"`
	OpenHazards  int `json:"open_hazards"`
	MajorHazards int `json:"major_hazards"`
}

// AreaHazard is an open hazard record as its area's colour sees it; the
// hazard package builds on this one, so its records come in this form.
type AreaHazard struct {
	Area  string
	Major bool // 重大隐患: red; else 一般隐患: yellow
}

// TagLister is a TagLookup that also lists every tag (collector.Registry).
type TagLister interface {
	TagLookup
	All() []collector.Tag
}

// Overview colours every area of tags by its most urgent open alarm (see
// AreaStatus) or open hazard record, whichever is the more urgent colour;
// an area with nothing open is blue. Hazards of areas no tag is in are left
// out. The most urgent areas come first, then by name.
func Overview(tags TagLister, open []Alarm, hazards []AreaHazard) []Area {
	byArea := map[string]*Area{}
	for _, t := range tags.All() {
		if t.Area != "" && byArea[t.Area] == nil {
			byArea[t.Area] = &Area{Area: t.Area, Colour: ColourBlue}
		}
	}
	for name, st := range AreaStatus(open, tags) {
		ar := byArea[name]
		if ar == nil {
			ar = &Area{Area: name}
			byArea[name] = ar
		}
		al := st.Alarm
		ar.Alarm, ar.ActiveAlarms, ar.Colour = &al, st.Active, st.Colour
	}
	for _, h := range hazards {
		ar := byArea[h.Area]
		if ar == nil || h.Area == "" {
			continue
		}
		ar.OpenHazards++
		c := ColourYellow
		if h.Major {
			ar.MajorHazards++
			c = ColourRed
		}
		if colourRank[c] > colourRank[ar.Colour] {
			ar.Colour = c
		}
	}
	out := make([]Area, 0, len(byArea))
	for _, ar := range byArea {
		out = append(out, *ar)
	}
	slices.SortFunc(out, func(x, y Area) int {
		if d := colourRank[y.Colour] - colourRank[x.Colour]; d != 0 {
			return d
		}
		return strings.Compare(x.Area, y.Area)
	})
	return out
}

// AreaStatus returns, per area, the alarm that sets the area's colour among
// open and active ones (shelved and out-of-service alarms do not count).
// Following GB/T 50493-2019, when several alarms are active in one area the
// more severe wins: level 2 before level 1, and at the same level toxic gas
// before combustible gas (then oxygen, then everything else), then the
// higher severity, then the earlier raise. Tags without an area are left out.
func AreaStatus(open []Alarm, tags TagLookup) map[string]AreaState {
	out := map[string]AreaState{}
	for _, a := range open {
		if !a.State.Active() {
			continue
		}
		t, ok := tags.Lookup(a.Tag)
		if !ok || t.Area == "" {
			continue
		}
		cur, seen := out[t.Area]
		st := AreaState{Area: t.Area, Level: alarmLevel(a), Alarm: a, Active: cur.Active + 1}
		if seen && !outranks(a, t.Kind, cur.Alarm, kindOf(tags, cur.Alarm)) {
			cur.Active++
			out[t.Area] = cur
			continue
		}
		st.Colour = ColourOrange
		switch {
		case st.Level == 2:
			st.Colour = ColourRed
		case isFault(a):
			st.Colour = ColourYellow
		}
		out[t.Area] = st
	}
	return out
}

// alarmLevel is 2 for level-2 limits and a fire panel's fire, else 1.
func alarmLevel(a Alarm) int {
	if a.Level == LevelHH || a.Level == LevelLL || a.Level == StateFire {
		return 2
	}
	return 1
}

// isFault reports an alarm about the equipment rather than the plant.
func isFault(a Alarm) bool {
	return isQualityClass(a.Rule) || a.Level == LevelStale || a.Level == StateFault
}

// gasRank orders tag kinds at one level: toxic first (GB/T 50493-2019).
func gasRank(kind string) int {
	switch kind {
	case "toxic_gas":
		return 3
	case "combustible_gas":
		return 2
	case "oxygen":
		return 1
	}
	return 0
}

func kindOf(tags TagLookup, a Alarm) string {
	t, _ := tags.Lookup(a.Tag)
	return t.Kind
}

// outranks reports whether alarm a (on a tag of kind ka) sets the colour
// rather than b.
func outranks(a Alarm, ka string, b Alarm, kb string) bool {
	if fa, fb := isFault(a), isFault(b); fa != fb {
		return fb // a real condition before a fault
	}
	if la, lb := alarmLevel(a), alarmLevel(b); la != lb {
		return la > lb
	}
	if ga, gb := gasRank(ka), gasRank(kb); ga != gb {
		return ga > gb
	}
	if sa, sb := severityRank(a.Severity), severityRank(b.Severity); sa != sb {
		return sa > sb
	}
	return a.RaisedAt.Before(b.RaisedAt)
}
