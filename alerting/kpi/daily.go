package kpi

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/sqlstore"
)

// Beijing is China Standard Time, UTC+8 all year: the regulators' day. It is
// a fixed zone so day boundaries never depend on the host's tz database.
var Beijing = time.FixedZone("CST", 8*3600)

const (
	// MaxDays bounds one Daily call: a year of rows.
	MaxDays = 366
	// DailyGuidance is EEMUA 191's acceptable alarm count for one operator
	// and day: about one alarm per 10 minutes, 144 in 24 hours.
	DailyGuidance = 144
)

// Day is one site's KPIs for one day in Beijing time, as the regulators read
// them beside EEMUA 191.
type Day struct {
	// Date is the day in Beijing time, 2025-03-01; [From, To) its bounds.
	Date string    `json:"date"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Points is the site's tag count the rates divide by.
	Points int `json:"points"`
	// Alarms (报警次数) counts the annunciated alarms raised this day: alarms
	// still suppressed by design (root_id set) were never shown and do not
	// count. AlarmRate (报警率) is Alarms per point.
	Alarms    int     `json:"alarms"`
	AlarmRate float64 `json:"alarm_rate"`
	// Disposed and DisposalRate (处置率): of this day's alarms, those with a
	// disposal record (filed on any day); FalseAlarms and FalseAlarmRate
	// (误报率): those disposed as false_alarm, over all this day's alarms.
	Disposed       int     `json:"disposed"`
	DisposalRate   float64 `json:"disposal_rate"`
	FalseAlarms    int     `json:"false_alarms"`
	FalseAlarmRate float64 `json:"false_alarm_rate"`
	// Median seconds from raise to acknowledgement and to disposal, of this
	// day's alarms that have one; null when none has.
	MedianAckSeconds     *float64 `json:"median_ack_seconds"`
	MedianDisposeSeconds *float64 `json:"median_dispose_seconds"`
	// BadPointHours: hours of this day the site's tags read Bad (comm loss,
	// sensor fault, bad quality; suppressed alarms included, a tag counted
	// once however many of its alarms overlap); OfflineRate (离线率) is
	// their share of Points × the day's hours (so far, for today).
	BadPointHours float64 `json:"bad_point_hours"`
	OfflineRate   float64 `json:"offline_rate"`
	// Annunciations counts raises and re-raises, what the flood figures
	// count, as Report.Alarms does.
	Annunciations  int           `json:"annunciations"`
	PeakTenMinutes int           `json:"peak_10_minutes"`
	Floods         int           `json:"floods"`
	FloodSeconds   float64       `json:"flood_seconds"`
	FloodShare     float64       `json:"flood_share"`
	TopSources     []SourceCount `json:"top_sources"`
	TopShare       float64       `json:"top_share"`
	Chattering     int           `json:"chattering"`
}

// DayStart is the start of t's day in Beijing time.
func DayStart(t time.Time) time.Time {
	y, m, d := t.In(Beijing).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, Beijing)
}

// dailyAlarm is one alarm row as the daily KPIs read it.
type dailyAlarm struct {
	raised          time.Time
	acked, disposed *time.Time
	cause           string
	hasDisposal     bool
}

// badSpan is one Bad alarm's interval on a tag; end nil while it lasts.
type badSpan struct {
	tag   string
	start time.Time
	end   *time.Time
}

// dailyRaise is one raise event with its alarm, for floods and chattering.
type dailyRaise struct {
	raiseAt
	alarm      int64
	chattering bool
}

// dailyInput is what Daily reads from a store, for computeDaily.
type dailyInput struct {
	alarms []dailyAlarm
	raises []dailyRaise // sorted by time, from 10 minutes before the first day
	bad    []badSpan
}

// Daily computes site's KPIs for each Beijing day that overlaps [from, to),
// oldest first; points is the site's tag count.
func (r *Reader) Daily(ctx context.Context, site string, from, to time.Time, points int) ([]Day, error) {
	first, end, err := dayRange(from, to)
	if err != nil {
		return nil, err
	}
	in, err := r.readDaily(ctx, site, first, end)
	if err != nil {
		return nil, fmt.Errorf("daily alarm KPIs of site %s: %w", site, err)
	}
	return computeDaily(in, first, end, r.now(), points), nil
}

// dayRange is the Beijing days that overlap [from, to): the first's
// midnight and the midnight after the last.
func dayRange(from, to time.Time) (first, end time.Time, err error) {
	if !to.After(from) {
		return first, end, fmt.Errorf("daily alarm KPIs: to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	first, end = DayStart(from), DayStart(to.Add(-time.Nanosecond)).AddDate(0, 0, 1)
	if n := int(end.Sub(first) / (24 * time.Hour)); n > MaxDays {
		return first, end, fmt.Errorf("daily alarm KPIs: %d days asked, at most %d", n, MaxDays)
	}
	return first, end, nil
}

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// badClasses are the alarm classes that mean a tag reads Bad.
var badClasses = []string{alerting.ClassCommLoss, alerting.ClassSensorFault, alerting.ClassBadQuality}

// levelDevice is the level of a device's communication-loss root alarm,
// whose tag is the device id: it is no point, so 离线率 leaves it out (its
// tags' own alarms, suppressed or not, count instead).
const levelDevice = "device"

func (r *Reader) readDaily(ctx context.Context, site string, first, end time.Time) (dailyInput, error) {
	var in dailyInput
	rows, err := r.db.QueryContext(ctx, `SELECT raised_at, acked_at, disposed_at, disposal_cause, disposal <> ''
		FROM alarms WHERE site = $1 AND root_id = 0 AND raised_at >= $2 AND raised_at < $3`,
		site, sqlstore.FormatTime(first), sqlstore.FormatTime(end))
	if err != nil {
		return in, fmt.Errorf("alarms: %w", err)
	}
	for rows.Next() {
		var a dailyAlarm
		var raised string
		var acked, disposed sql.NullString
		if err := rows.Scan(&raised, &acked, &disposed, &a.cause, &a.hasDisposal); err != nil {
			rows.Close()
			return in, fmt.Errorf("alarms: %w", err)
		}
		if a.raised, err = time.Parse(time.RFC3339Nano, raised); err == nil {
			if a.acked, err = sqlstore.ParseNullTime(acked); err == nil {
				a.disposed, err = sqlstore.ParseNullTime(disposed)
			}
		}
		if err != nil {
			rows.Close()
			return in, fmt.Errorf("alarms: %w", err)
		}
		in.alarms = append(in.alarms, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return in, fmt.Errorf("alarms: %w", err)
	}

	rows, err = r.db.QueryContext(ctx, `SELECT e.time, a.tag, a.id, a.chattering FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id
		WHERE a.site = $1 AND a.root_id = 0 AND e.type = $2 AND e.time >= $3 AND e.time < $4 ORDER BY e.time`,
		site, alerting.EventRaised, sqlstore.FormatTime(first.Add(-Bucket)), sqlstore.FormatTime(end))
	if err != nil {
		return in, fmt.Errorf("raises: %w", err)
	}
	for rows.Next() {
		var d dailyRaise
		var at string
		if err := rows.Scan(&at, &d.tag, &d.alarm, &d.chattering); err != nil {
			rows.Close()
			return in, fmt.Errorf("raises: %w", err)
		}
		if d.t, err = time.Parse(time.RFC3339Nano, at); err != nil {
			rows.Close()
			return in, fmt.Errorf("raises: event time %q: %w", at, err)
		}
		in.raises = append(in.raises, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return in, fmt.Errorf("raises: %w", err)
	}

	rows, err = r.db.QueryContext(ctx, `SELECT tag, raised_at, cleared_at FROM alarms
		WHERE site = $1 AND class IN ($2, $3, $4) AND level <> $5 AND raised_at < $6 AND (cleared_at IS NULL OR cleared_at > $7)`,
		site, badClasses[0], badClasses[1], badClasses[2], levelDevice, sqlstore.FormatTime(end), sqlstore.FormatTime(first))
	if err != nil {
		return in, fmt.Errorf("bad-quality alarms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b badSpan
		var raised string
		var cleared sql.NullString
		if err := rows.Scan(&b.tag, &raised, &cleared); err != nil {
			return in, fmt.Errorf("bad-quality alarms: %w", err)
		}
		if b.start, err = time.Parse(time.RFC3339Nano, raised); err == nil {
			b.end, err = sqlstore.ParseNullTime(cleared)
		}
		if err != nil {
			return in, fmt.Errorf("bad-quality alarms: %w", err)
		}
		in.bad = append(in.bad, b)
	}
	return in, rows.Err()
}

// computeDaily works out one Day per day from first to end (Beijing
// midnights); now ends open Bad intervals and today's hours.
func computeDaily(in dailyInput, first, end, now time.Time, points int) []Day {
	var days []Day
	for d := first; d.Before(end); d = d.AddDate(0, 0, 1) {
		next := d.AddDate(0, 0, 1)
		days = append(days, Day{Date: d.Format(time.DateOnly), From: d.UTC(), To: next.UTC(), Points: points, TopSources: []SourceCount{}})
	}
	dayOf := func(t time.Time) int {
		i := int(t.Sub(first) / (24 * time.Hour))
		if t.Before(first) || i >= len(days) {
			return -1
		}
		return i
	}

	acks := make([][]float64, len(days))
	disposals := make([][]float64, len(days))
	for _, a := range in.alarms {
		i := dayOf(a.raised)
		if i < 0 {
			continue
		}
		day := &days[i]
		day.Alarms++
		if a.hasDisposal {
			day.Disposed++
			if a.cause == alerting.CauseFalseAlarm {
				day.FalseAlarms++
			}
		}
		if a.acked != nil && !a.acked.Before(a.raised) {
			acks[i] = append(acks[i], a.acked.Sub(a.raised).Seconds())
		}
		if a.disposed != nil && !a.disposed.Before(a.raised) {
			disposals[i] = append(disposals[i], a.disposed.Sub(a.raised).Seconds())
		}
	}

	// Each day's floods see the raises from 10 minutes before it.
	raiseTimes := make([]raiseAt, len(in.raises))
	for i, r := range in.raises {
		raiseTimes[i] = r.raiseAt
	}
	for i := range days {
		day := &days[i]
		from, to := day.From, day.To
		lo := sort.Search(len(raiseTimes), func(k int) bool { return !raiseTimes[k].t.Before(from.Add(-Bucket)) })
		hi := sort.Search(len(raiseTimes), func(k int) bool { return !raiseTimes[k].t.Before(to) })
		k := computeKPI(raiseTimes[lo:hi], from, to)
		day.Annunciations, day.PeakTenMinutes, day.Floods = k.Alarms, k.PeakTenMinutes, k.Floods
		day.FloodSeconds, day.FloodShare, day.TopSources, day.TopShare = k.FloodSeconds, k.FloodShare, k.TopSources, k.TopShare
		chattering := map[int64]bool{}
		for _, r := range in.raises[lo:hi] {
			if r.chattering && !r.t.Before(from) {
				chattering[r.alarm] = true
			}
		}
		day.Chattering = len(chattering)
	}

	bad := badHours(in.bad, days, now)
	for i := range days {
		day := &days[i]
		if day.Alarms > 0 {
			day.DisposalRate = float64(day.Disposed) / float64(day.Alarms)
			day.FalseAlarmRate = float64(day.FalseAlarms) / float64(day.Alarms)
		}
		if points > 0 {
			day.AlarmRate = float64(day.Alarms) / float64(points)
			if hours := minTime(day.To, now).Sub(day.From).Hours(); hours > 0 {
				day.OfflineRate = bad[i] / (float64(points) * hours)
			}
		}
		day.BadPointHours = bad[i]
		day.MedianAckSeconds, day.MedianDisposeSeconds = median(acks[i]), median(disposals[i])
	}
	return days
}

// badHours sums, per day, the hours each tag spent in any Bad interval:
// a tag's intervals are merged first so overlapping alarms count once, and
// an interval still open ends now.
func badHours(spans []badSpan, days []Day, now time.Time) []float64 {
	out := make([]float64, len(days))
	if len(days) == 0 {
		return out
	}
	byTag := map[string][][2]time.Time{}
	for _, s := range spans {
		e := now
		if s.end != nil && s.end.Before(now) {
			e = *s.end
		}
		if e.After(s.start) {
			byTag[s.tag] = append(byTag[s.tag], [2]time.Time{s.start, e})
		}
	}
	for _, iv := range byTag {
		slices.SortFunc(iv, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
		merged := iv[:1]
		for _, x := range iv[1:] {
			last := &merged[len(merged)-1]
			if x[0].After(last[1]) {
				merged = append(merged, x)
			} else if x[1].After(last[1]) {
				last[1] = x[1]
			}
		}
		for _, m := range merged {
			for i, d := range days {
				a, b := maxTime(m[0], d.From), minTime(m[1], d.To)
				if b.After(a) {
					out[i] += b.Sub(a).Hours()
				}
			}
		}
	}
	return out
}

// median of xs, nil when empty.
func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	xs = slices.Clone(xs)
	slices.SortFunc(xs, cmp.Compare[float64])
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return &m
}

// Raise is one annunciation of an alarm, as a store other than the
// journal (a hub's) keeps its alarm events.
type Raise struct {
	Time    time.Time
	AlarmID int64
}

// Compute is Daily for alarms read from another store: alarms holds every
// alarm raised in the days and every Bad one that may overlap them, raises
// their raise events from 10 minutes before the first day (any order).
func Compute(alarms []alerting.Alarm, raises []Raise, from, to, now time.Time, points int) ([]Day, error) {
	first, end, err := dayRange(from, to)
	if err != nil {
		return nil, err
	}
	var in dailyInput
	byID := make(map[int64]*alerting.Alarm, len(alarms))
	for i := range alarms {
		a := &alarms[i]
		byID[a.ID] = a
		if a.Root == 0 && !a.RaisedAt.Before(first) && a.RaisedAt.Before(end) {
			d := dailyAlarm{raised: a.RaisedAt, acked: a.AckedAt, hasDisposal: a.Disposal != nil}
			if a.Disposal != nil {
				at := a.Disposal.At
				d.disposed, d.cause = &at, a.Disposal.Cause
			}
			in.alarms = append(in.alarms, d)
		}
		if slices.Contains(badClasses, a.Class) && a.Level != levelDevice && a.RaisedAt.Before(end) &&
			(a.ClearedAt == nil || a.ClearedAt.After(first)) {
			in.bad = append(in.bad, badSpan{tag: a.Tag, start: a.RaisedAt, end: a.ClearedAt})
		}
	}
	for _, r := range raises {
		a, ok := byID[r.AlarmID]
		if !ok || a.Root != 0 || r.Time.Before(first.Add(-Bucket)) || !r.Time.Before(end) {
			continue
		}
		in.raises = append(in.raises, dailyRaise{raiseAt: raiseAt{r.Time, a.Tag}, alarm: a.ID, chattering: a.Chattering})
	}
	slices.SortStableFunc(in.raises, func(a, b dailyRaise) int { return a.t.Compare(b.t) })
	return computeDaily(in, first, end, now, points), nil
}
