package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting"
)

// AlarmView is an alarm as the control room reads it: with its point's
// name, area, kind and unit from the tag registry, so a list of thousands
// needs no second lookup per row. A device's root alarm has no point.
type AlarmView struct {
	alerting.Alarm
	// Value and Peak are left out where nothing was measured: a lost
	// device reads 0 and a panel state 1, which a list must not show as a
	// reading (see alerting.Alarm.Measured).
	Value *float64 `json:"value,omitempty"`
	Peak  *float64 `json:"peak,omitempty"`
	Point string   `json:"point,omitempty"` // PointName: area and name
	Name  string   `json:"name,omitempty"`
	Area  string   `json:"area,omitempty"`
	Kind  string   `json:"kind,omitempty"`
	Unit  string   `json:"unit,omitempty"`
}

func (a *API) view(al alerting.Alarm) AlarmView {
	v := AlarmView{Alarm: al}
	if al.Measured() {
		v.Value, v.Peak = &v.Alarm.Value, &v.Alarm.Peak
	}
	if t, ok := a.tags.Lookup(al.Tag); ok && al.Level != alerting.LevelDevice {
		v.Point, v.Name, v.Area, v.Kind, v.Unit = alerting.PointName(&t), t.Name, t.Area, t.Kind, t.Unit
	}
	return v
}

// knownStates are the states ?state= accepts, in lifecycle order.
var knownStates = alerting.States

// alarmQuery is GET /alarms's selection: what the journal filters, then
// what needs the registry (area, kind), the search, the order and the page.
type alarmQuery struct {
	alerting.AlarmFilter
	areas, severities, classes []string
	search                     string
	suppressed                 bool // include suppressed_by_design
	attention                  bool // sort=attention
	offset, limit              int
}

func parseAlarmFilter(r *http.Request) (alarmQuery, error) {
	qs := r.URL.Query()
	var q alarmQuery
	for _, s := range listParam(r, "state") {
		st := alerting.State(s)
		if !slices.Contains(knownStates, st) {
			names := make([]string, len(knownStates))
			for i, k := range knownStates {
				names[i] = string(k)
			}
			return q, fmt.Errorf("unknown alarm state %q (want one of %s)", s, strings.Join(names, ", "))
		}
		q.States = append(q.States, st)
		q.suppressed = q.suppressed || st == alerting.SuppressedByDesign
	}
	flag := func(key string) (bool, error) {
		v := qs.Get(key)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%q: want 1 or 0", key, v)
		}
		return b, nil
	}
	all, err := flag("all")
	if err != nil {
		return q, err
	}
	sup, err := flag("suppressed")
	if err != nil {
		return q, err
	}
	q.suppressed = q.suppressed || sup
	q.OpenOnly = len(q.States) == 0 && !all
	q.Tag = qs.Get("tag")
	q.areas, q.classes, q.search = listParam(r, "area"), listParam(r, "class"), strings.TrimSpace(qs.Get("q"))
	q.severities = listParam(r, "severity")
	for _, s := range q.severities {
		if !slices.Contains([]string{alerting.SeverityLow, alerting.SeverityMedium, alerting.SeverityHigh, alerting.SeverityCritical}, s) {
			return q, fmt.Errorf("severity=%q: want low, medium, high or critical", s)
		}
	}
	switch v := qs.Get("sort"); v {
	case "", "raised":
	case "attention":
		q.attention = true
	default:
		return q, fmt.Errorf("sort=%q: want raised (newest first) or attention (unacknowledged first)", v)
	}
	for _, p := range []struct {
		key string
		n   *int
		max int
	}{{"offset", &q.offset, 1 << 30}, {"limit", &q.limit, 1 << 30}} {
		v := qs.Get(p.key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (p.key == "limit" && n == 0) {
			return q, fmt.Errorf("%s=%q: want a non-negative integer (limit: positive)", p.key, v)
		}
		*p.n = n
	}
	if !q.suppressed {
		q.NotStates = []alerting.State{alerting.SuppressedByDesign} // its device's root alarm stands for it
	}
	// The journal limits only when nothing filters or orders after it.
	if len(q.areas)+len(q.severities)+len(q.classes) == 0 && q.search == "" && !q.attention && q.limit > 0 {
		q.Limit = q.offset + q.limit
	}
	return q, nil
}

// openAlarms is the engine's memory of every open alarm (*alerting.Engine),
// the same rows the journal holds as open, in the journal's order.
type openAlarms interface {
	Open() []alerting.Alarm
}

// openOnly reports whether q selects open alarms only, which the engine's
// memory answers.
func (q *alarmQuery) openOnly() bool {
	if q.OpenOnly {
		return true
	}
	for _, s := range q.States {
		if !s.Open() {
			return false
		}
	}
	return len(q.States) > 0
}

// pick applies the journal's part of q to open alarms.
func (q *alarmQuery) pick(open []alerting.Alarm) []alerting.Alarm {
	out := open[:0]
	for _, al := range open {
		if (len(q.States) > 0 && !slices.Contains(q.States, al.State)) || slices.Contains(q.NotStates, al.State) ||
			(q.Tag != "" && al.Tag != q.Tag) {
			continue
		}
		out = append(out, al)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out
}

// keep reports whether v passes the filters the journal cannot apply.
func (q *alarmQuery) keep(v *AlarmView) bool {
	if len(q.areas) > 0 && !slices.Contains(q.areas, v.Area) {
		return false
	}
	if len(q.severities) > 0 && !slices.Contains(q.severities, v.Severity) {
		return false
	}
	if len(q.classes) > 0 && !slices.Contains(q.classes, v.Class) {
		return false
	}
	if q.search != "" {
		hay := v.Tag + "\x00" + v.Point + "\x00" + v.Message + "\x00" + v.MessageEN
		if !strings.Contains(strings.ToLower(hay), strings.ToLower(q.search)) {
			return false
		}
	}
	return true
}

// attentionRank orders what needs an operator first: unacknowledged, then
// awaiting a disposal, then the rest.
func attentionRank(s alerting.State) int {
	switch {
	case s.Unacked():
		return 0
	case s == alerting.AwaitingDisposal:
		return 1
	}
	return 2
}

var severityOrder = map[string]int{alerting.SeverityCritical: 0, alerting.SeverityHigh: 1, alerting.SeverityMedium: 2, alerting.SeverityLow: 3}

// byAttention: unacknowledged first, the most severe first, and among
// those the one waiting longest first; the rest newest first.
func byAttention(a, b *AlarmView) int {
	ra, rb := attentionRank(a.State), attentionRank(b.State)
	if c := cmp.Compare(ra, rb); c != 0 {
		return c
	}
	if c := cmp.Compare(severityOrder[a.Severity], severityOrder[b.Severity]); c != 0 {
		return c
	}
	if ra == 0 {
		return cmp.Or(a.RaisedAt.Compare(b.RaisedAt), cmp.Compare(a.ID, b.ID))
	}
	return cmp.Or(b.RaisedAt.Compare(a.RaisedAt), cmp.Compare(b.ID, a.ID))
}

// alarmList answers GET /alarms: an array, as always; with offset or limit
// it is one page, and X-Total-Count says how many match.
func (a *API) alarmList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := parseAlarmFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var alarms []alerting.Alarm
		if mem, ok := a.control.(openAlarms); ok && q.openOnly() {
			alarms = q.pick(mem.Open()) // a flood's first page without reading the journal
		} else if alarms, err = a.alarms.List(r.Context(), q.AlarmFilter); err != nil {
			a.internalError(w, r, "listing alarms", err)
			return
		}
		views := make([]AlarmView, len(alarms))
		out := make([]*AlarmView, 0, len(alarms)) // sorted as pointers: a view is hundreds of bytes
		for i, al := range alarms {
			if views[i] = a.view(al); q.keep(&views[i]) {
				out = append(out, &views[i])
			}
		}
		if q.attention {
			slices.SortFunc(out, byAttention) // a total order: ties go by id
		}
		if q.Limit == 0 { // else the journal cut the list and cannot say how long it was
			w.Header().Set("X-Total-Count", strconv.Itoa(len(out)))
		}
		out = out[min(q.offset, len(out)):]
		if q.limit > 0 {
			out = out[:min(q.limit, len(out))]
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// disposalBody is the body of POST /alarms/{id}/dispose.
type disposalBody struct {
	Cause    string    `json:"cause"`
	Measures string    `json:"measures"`
	Person   string    `json:"person"`
	At       time.Time `json:"at"`
	Note     string    `json:"note"`
}

func (a *API) alarmDispose() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		var body disposalBody
		if !readBody(w, r, &body, false) {
			return
		}
		p, _ := principalFrom(r.Context())
		al, err := a.control.Dispose(r.Context(), id, p.Name, alerting.Disposal{
			Cause: body.Cause, Measures: body.Measures, Person: body.Person, At: body.At, Note: body.Note})
		if errors.Is(err, alerting.ErrInvalidDisposal) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.alarmResult(w, r, "disposed of", id, al, err)
	}
}

// alarmCauses lists the disposal causes a form offers.
func (a *API) alarmCauses() http.HandlerFunc {
	type cause struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	causes := make([]cause, len(alerting.DisposalCauses))
	for i, c := range alerting.DisposalCauses {
		causes[i] = cause{c.Code, c.Name}
	}
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, causes) }
}
