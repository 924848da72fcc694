// Package kpi measures an alarm system the way ISA-18.2 (IEC 62682) and
// EEMUA 191 do: alarm rates, floods, top sources, chattering, standing and
// suppressed alarms, read from the alarm journal's tables.
package kpi

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/sqlstore"
)

// Alarm-system performance as ISA-18.2 (IEC 62682) and EEMUA 191 measure it.
const (
	// Bucket is the period alarm rates are counted over.
	Bucket = 10 * time.Minute
	// FloodStart: a flood begins when more than this many alarms were raised
	// in the last 10 minutes, and ends when fewer than FloodEnd were.
	FloodStart = 10
	FloodEnd   = 5
	// StandingAfter: an alarm active this long is standing (ISA-18.2's stale
	// alarm).
	StandingAfter = 24 * time.Hour
	// topSources is how many of the most frequent tags TopShare covers.
	topSources = 10
)

// Report is one site's alarm-system health over [From, To).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Alarms counts annunciations (raises and re-raises) in the period.
	Alarms int `json:"alarms"`
	// PerTenMinutes is the average rate; ISA-18.2 calls about 1 (at most 2)
	// per operator manageable.
	PerTenMinutes float64 `json:"per_10_minutes"`
	// PeakTenMinutes is the most alarms raised in any 10 minutes.
	PeakTenMinutes int `json:"peak_10_minutes"`
	// Floods and FloodSeconds: periods with more than 10 alarms in 10 minutes,
	// each ending when fewer than 5 were; FloodShare is their part of the period.
	Floods       int     `json:"floods"`
	FloodSeconds float64 `json:"flood_seconds"`
	FloodShare   float64 `json:"flood_share"`
	// TopSources are the tags raising most, TopShare their part of all
	// alarms (ISA-18.2: the top 10 should be a small share).
	TopSources []SourceCount `json:"top_sources"`
	TopShare   float64       `json:"top_share"`
	// Chattering counts alarms raised in the period that were chattering.
	Chattering int `json:"chattering"`
	// Standing counts alarms annunciated as active now for more than 24
	// hours (a shelved, out-of-service or design-suppressed alarm whose
	// condition holds is counted as what it is, not as standing), Shelved and
	// OutOfService those suppressed now.
	Standing     int `json:"standing"`
	Shelved      int `json:"shelved"`
	OutOfService int `json:"out_of_service"`
}

// SourceCount is how many alarms one tag raised.
type SourceCount struct {
	Tag   string `json:"tag"`
	Count int    `json:"count"`
}

// raiseAt is one annunciation, for the rate KPIs.
type raiseAt struct {
	t   time.Time
	tag string
}

// Reader computes KPIs from the alarm journal's tables.
type Reader struct {
	db *sql.DB
	// Now ends intervals still open (today's 离线率); nil is time.Now.
	Now func() time.Time
}

// NewReader reads the journal in db (alerting.Journal.DB).
func NewReader(db *sql.DB) *Reader { return &Reader{db: db} }

// KPI computes site's alarm-system KPIs over [from, to).
func (r *Reader) KPI(ctx context.Context, site string, from, to time.Time) (Report, error) {
	if !to.After(from) {
		return Report{}, fmt.Errorf("alarm KPIs: to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	// Raises from 10 minutes earlier count toward the rate at the start.
	// Alarms suppressed by design were never annunciated.
	rows, err := r.db.QueryContext(ctx, `SELECT e.time, a.tag FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id
		WHERE a.site = $1 AND a.root_id = 0 AND e.type = $2 AND e.time >= $3 AND e.time < $4 ORDER BY e.time`,
		site, alerting.EventRaised, sqlstore.FormatTime(from.Add(-Bucket)), sqlstore.FormatTime(to))
	if err != nil {
		return Report{}, fmt.Errorf("alarm KPIs: %w", err)
	}
	defer rows.Close()
	var raises []raiseAt
	for rows.Next() {
		var at string
		var r raiseAt
		if err := rows.Scan(&at, &r.tag); err != nil {
			return Report{}, fmt.Errorf("alarm KPIs: %w", err)
		}
		if r.t, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return Report{}, fmt.Errorf("alarm KPIs: event time %q: %w", at, err)
		}
		raises = append(raises, r)
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("alarm KPIs: %w", err)
	}
	k := computeKPI(raises, from, to)

	err = r.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT a.id) FROM alarms a JOIN alarm_events e ON e.alarm_id = a.id
		WHERE a.site = $1 AND a.root_id = 0 AND a.chattering AND e.type = $2 AND e.time >= $3 AND e.time < $4`,
		site, alerting.EventRaised, sqlstore.FormatTime(from), sqlstore.FormatTime(to)).Scan(&k.Chattering)
	if err != nil {
		return Report{}, fmt.Errorf("alarm KPIs: chattering: %w", err)
	}
	err = r.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state IN ($6, $7) AND raised_at <= $2 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = $3 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = $4 THEN 1 ELSE 0 END), 0)
		FROM alarms WHERE site = $1 AND state <> $5`,
		site, sqlstore.FormatTime(to.Add(-StandingAfter)), string(alerting.Shelved), string(alerting.OutOfService), string(alerting.Normal),
		string(alerting.ActiveUnacked), string(alerting.ActiveAcked)).
		Scan(&k.Standing, &k.Shelved, &k.OutOfService)
	if err != nil {
		return Report{}, fmt.Errorf("alarm KPIs: standing: %w", err)
	}
	return k, nil
}

// computeKPI works out the rate KPIs from raises sorted by time, which may
// start up to 10 minutes before from.
func computeKPI(raises []raiseAt, from, to time.Time) Report {
	k := Report{From: from.UTC(), To: to.UTC(), TopSources: []SourceCount{}}
	bySource := map[string]int{}
	for _, r := range raises {
		if !r.t.Before(from) && r.t.Before(to) {
			k.Alarms++
			bySource[r.tag]++
		}
	}
	k.PerTenMinutes = float64(k.Alarms) / (float64(to.Sub(from)) / float64(Bucket))

	// Sweep raises (+1) and their leaving the 10-minute window (-1) in time
	// order; at one instant, leaving comes first, as the window is (t-10m, t].
	type step struct {
		t time.Time
		d int
	}
	steps := make([]step, 0, 2*len(raises))
	for _, r := range raises {
		steps = append(steps, step{r.t, +1}, step{r.t.Add(Bucket), -1})
	}
	slices.SortStableFunc(steps, func(a, b step) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	n := 0
	var floodFrom time.Time
	inFlood := false
	addFlood := func(a, b time.Time) {
		a, b = maxTime(a, from), minTime(b, to)
		if b.After(a) { // a flood counts if any of it lies in the period
			k.Floods++
			k.FloodSeconds += b.Sub(a).Seconds()
		}
	}
	for _, s := range steps {
		if !s.t.Before(to) {
			break
		}
		n += s.d
		if !s.t.Before(from) {
			k.PeakTenMinutes = max(k.PeakTenMinutes, n)
		}
		switch {
		case !inFlood && n > FloodStart:
			inFlood, floodFrom = true, s.t
		case inFlood && n < FloodEnd:
			inFlood = false
			addFlood(floodFrom, s.t)
		}
	}
	if inFlood {
		addFlood(floodFrom, to)
	}
	k.FloodShare = k.FloodSeconds / to.Sub(from).Seconds()

	for tag, c := range bySource {
		k.TopSources = append(k.TopSources, SourceCount{tag, c})
	}
	slices.SortFunc(k.TopSources, func(a, b SourceCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Tag, b.Tag)
	})
	if len(k.TopSources) > topSources {
		k.TopSources = k.TopSources[:topSources]
	}
	top := 0
	for _, s := range k.TopSources {
		top += s.Count
	}
	if k.Alarms > 0 {
		k.TopShare = float64(top) / float64(k.Alarms)
	}
	return k
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
