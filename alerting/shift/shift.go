// Package shift builds the 交接班 (shift handover) report: the alarms open
// at the end of a shift, those handled during it (who, when, with the
// disposal), the hazard records that changed and the devices offline, read
// from the alarm journal and the hazard records, and writes it as XLSX and
// as a printable HTML page.
package shift

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/alerting/sqlstore"
	"hazgate/collector"
)

const (
	// DefaultLength is a shift: three a day.
	DefaultLength = 8 * time.Hour
	// MaxLength bounds one report: a week of handovers is an audit, not a
	// handover.
	MaxLength = 7 * 24 * time.Hour
	// maxRows caps each section; Truncated says when one was cut.
	maxRows = 5000
	// hazardPage is how many hazard events one read asks for.
	hazardPage = 500
)

// Tags names the points (collector.Registry).
type Tags interface {
	Lookup(id string) (collector.Tag, bool)
}

// HazardLog reads the hazard records' events in seq order (*hazard.Engine).
type HazardLog interface {
	EventsAfter(ctx context.Context, seq int64, limit int) ([]hazard.Event, error)
}

// Builder reads what a report needs.
type Builder struct {
	// Site and Unit (the enterprise's name, 单位名称) head the report.
	Site, Unit string
	// DB is the alarm journal's database (alerting.Journal.DB).
	DB *sql.DB
	// Tags names points and finds their devices; nil shows tag ids only.
	Tags Tags
	// Hazards reads the hazard records' changes; nil leaves that section
	// empty.
	Hazards HazardLog
	// Now stamps the report; nil is time.Now.
	Now func() time.Time
}

// Report is one shift's handover.
type Report struct {
	Site      string    `json:"site"`
	Unit      string    `json:"unit"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Generated time.Time `json:"generated"`
	// Open: the alarms open at To, as they stood then (most severe, then
	// oldest, first); alarms suppressed by design are left to their device's
	// root alarm.
	Open []Alarm `json:"open"`
	// Handled: acknowledgements, disposals and closings in [From, To), in order.
	Handled []Handled `json:"handled"`
	// Hazards: hazard records created or whose status changed in [From, To).
	Hazards []hazard.Event `json:"hazards"`
	// Offline: communication-loss alarms active at To, a device's root
	// alarm standing for its tags.
	Offline []Offline `json:"offline"`
	// Truncated names the sections cut at maxRows.
	Truncated []string `json:"truncated,omitempty"`
}

// Alarm is an alarm with its point's name, area and unit.
type Alarm struct {
	alerting.Alarm
	Name string `json:"name,omitempty"`
	Area string `json:"area,omitempty"`
	Unit string `json:"unit,omitempty"`
}

// Handled is one operator action on an alarm during the shift.
type Handled struct {
	Type  string    `json:"type"` // acked, disposed, closed
	Time  time.Time `json:"time"`
	By    string    `json:"by"`
	Alarm Alarm     `json:"alarm"`
}

// Offline is a device or point without communication at the end.
type Offline struct {
	Device string    `json:"device"`
	Tag    string    `json:"tag,omitempty"` // empty for a device's root alarm
	Name   string    `json:"name,omitempty"`
	Since  time.Time `json:"since"`
	// Suppressed is how many of the device's alarms its root alarm stands for.
	Suppressed int   `json:"suppressed,omitempty"`
	AlarmID    int64 `json:"alarm_id"`
}

// handledTypes are the alarm events a handover lists as handled.
var handledTypes = []string{alerting.EventAcked, alerting.EventDisposed, alerting.EventClosed}

// Build reads the report for [from, to).
func (b *Builder) Build(ctx context.Context, from, to time.Time) (Report, error) {
	if !to.After(from) {
		return Report{}, fmt.Errorf("shift report: to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	r := Report{Site: b.Site, Unit: b.Unit, From: from.UTC(), To: to.UTC(), Generated: now().UTC(),
		Open: []Alarm{}, Handled: []Handled{}, Hazards: []hazard.Event{}, Offline: []Offline{}}
	open, err := b.openAt(ctx, to)
	if err != nil {
		return Report{}, fmt.Errorf("shift report: alarms open at %s: %w", to.Format(time.RFC3339), err)
	}
	for _, a := range open {
		if a.Class == alerting.ClassCommLoss && a.Active && a.State != alerting.SuppressedByDesign {
			o := Offline{Device: a.Tag, Since: a.RaisedAt, Suppressed: a.Suppressed, AlarmID: a.ID}
			if a.Level != alerting.LevelDevice {
				o.Tag, o.Name, o.Device = a.Tag, a.Name, ""
				if b.Tags != nil {
					if t, ok := b.Tags.Lookup(a.Tag); ok {
						o.Device = t.Device
					}
				}
			}
			r.Offline = append(r.Offline, o)
		}
		if a.State != alerting.SuppressedByDesign {
			r.Open = append(r.Open, a)
		}
	}
	if len(r.Open) > maxRows {
		r.Open, r.Truncated = r.Open[:maxRows], append(r.Truncated, "open")
	}
	if r.Handled, err = b.handled(ctx, from, to); err != nil {
		return Report{}, fmt.Errorf("shift report: handled alarms: %w", err)
	}
	if len(r.Handled) > maxRows {
		r.Handled, r.Truncated = r.Handled[:maxRows], append(r.Truncated, "handled")
	}
	if b.Hazards != nil {
		if r.Hazards, err = b.hazards(ctx, from, to); err != nil {
			return Report{}, fmt.Errorf("shift report: hazard changes: %w", err)
		}
		if len(r.Hazards) > maxRows {
			r.Hazards, r.Truncated = r.Hazards[:maxRows], append(r.Truncated, "hazards")
		}
	}
	return r, nil
}

// openAt returns the alarms open at t, each as its last transition before t
// left it: an alarm closed since is still listed, one raised since is not.
func (b *Builder) openAt(ctx context.Context, t time.Time) ([]Alarm, error) {
	at := sqlstore.FormatTime(t)
	// Only an alarm open now or changed since t can have been open at t.
	rows, err := b.DB.QueryContext(ctx, `SELECT e.alarm FROM alarm_events e WHERE e.seq IN (
		SELECT MAX(x.seq) FROM alarm_events x JOIN alarms a ON a.id = x.alarm_id
		WHERE a.site = $1 AND x.time < $2
		AND (a.state <> $3 OR a.id IN (SELECT alarm_id FROM alarm_events WHERE time >= $2))
		GROUP BY x.alarm_id)`, b.Site, at, string(alerting.Normal))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var snap string
		if err := rows.Scan(&snap); err != nil {
			return nil, err
		}
		var a alerting.Alarm
		if err := json.Unmarshal([]byte(snap), &a); err != nil {
			return nil, fmt.Errorf("alarm snapshot: %w", err)
		}
		if a.State.Open() {
			out = append(out, b.named(a))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y Alarm) int {
		if c := cmp.Compare(severityRank(y.Severity), severityRank(x.Severity)); c != 0 {
			return c
		}
		if c := x.RaisedAt.Compare(y.RaisedAt); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out, nil
}

func (b *Builder) handled(ctx context.Context, from, to time.Time) ([]Handled, error) {
	rows, err := b.DB.QueryContext(ctx, `SELECT e.type, e.time, e.actor, e.alarm FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id
		WHERE a.site = $1 AND e.type IN ($2, $3, $4) AND e.time >= $5 AND e.time < $6 ORDER BY e.seq LIMIT $7`,
		b.Site, handledTypes[0], handledTypes[1], handledTypes[2], sqlstore.FormatTime(from), sqlstore.FormatTime(to), maxRows+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Handled{}
	for rows.Next() {
		var h Handled
		var at, snap string
		if err := rows.Scan(&h.Type, &at, &h.By, &snap); err != nil {
			return nil, err
		}
		if h.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("event time %q: %w", at, err)
		}
		var a alerting.Alarm
		if err := json.Unmarshal([]byte(snap), &a); err != nil {
			return nil, fmt.Errorf("alarm snapshot: %w", err)
		}
		// The engine's own closings (an acked alarm clearing) have no actor:
		// the one who acknowledged is who handled it.
		if h.By == "" && h.Type == alerting.EventClosed {
			h.By = a.AckedBy
		}
		h.Alarm = b.named(a)
		out = append(out, h)
	}
	return out, rows.Err()
}

// hazards pages through the hazard events for those in [from, to) that
// created a record or changed its status (not evidence merely linked).
func (b *Builder) hazards(ctx context.Context, from, to time.Time) ([]hazard.Event, error) {
	out := []hazard.Event{}
	var seq int64
	for {
		evs, err := b.Hazards.EventsAfter(ctx, seq, hazardPage)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Time.Before(from) || !ev.Time.Before(to) || ev.Type == hazard.EventLinked {
				continue
			}
			out = append(out, ev)
		}
		if len(evs) < hazardPage || len(out) > maxRows {
			return out, nil
		}
		seq = evs[len(evs)-1].Seq
	}
}

func (b *Builder) named(a alerting.Alarm) Alarm {
	out := Alarm{Alarm: a}
	if b.Tags != nil {
		if t, ok := b.Tags.Lookup(a.Tag); ok {
			out.Name, out.Area, out.Unit = t.Name, t.Area, t.Unit
		}
	}
	return out
}

func severityRank(s string) int {
	switch s {
	case alerting.SeverityCritical:
		return 4
	case alerting.SeverityHigh:
		return 3
	case alerting.SeverityMedium:
		return 2
	case alerting.SeverityLow:
		return 1
	}
	return 0
}
