package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/kpi"
	"hazgate/alerting/sqlstore"
)

// badLookback is how far before the first day DailyKPI looks for closed
// Bad-quality alarms that may still overlap it: the hub keeps no cleared_at
// column, so one closed after lasting longer than this is not counted.
const badLookback = 31 * 24 * time.Hour

// DailyKPI computes site's daily alarm KPIs (kpi.Day, per Beijing day
// overlapping [from, to)) from the alarms and raise events the hub holds of
// it, as the site's own gateway computes them from its journal; points is
// the site's point count.
func (s *Store) DailyKPI(ctx context.Context, site string, from, to, now time.Time, points int) ([]kpi.Day, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("hub daily KPIs of site %s: to must be after from", site)
	}
	first, end := kpi.DayStart(from), kpi.DayStart(to.Add(-time.Nanosecond)).AddDate(0, 0, 1)
	back := first.Add(-kpi.Bucket)
	rows, err := s.db.QueryContext(ctx, `SELECT alarm FROM hub_alarms WHERE site = $1 AND raised_at < $3 AND (raised_at >= $2
		OR id IN (SELECT alarm_id FROM hub_alarm_events WHERE site = $1 AND type = $4 AND time >= $5 AND time < $3)
		OR (class IN ($6, $7, $8) AND (state <> $9 OR raised_at >= $10)))`,
		site, s.d.Time(first), s.d.Time(end), alerting.EventRaised, s.d.Time(back),
		alerting.ClassCommLoss, alerting.ClassSensorFault, alerting.ClassBadQuality, string(alerting.Normal), s.d.Time(first.Add(-badLookback)))
	if err != nil {
		return nil, fmt.Errorf("hub daily KPIs of site %s: alarms: %w", site, err)
	}
	var alarms []alerting.Alarm
	for rows.Next() {
		var raw string
		var a alerting.Alarm
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hub daily KPIs of site %s: alarms: %w", site, err)
		}
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hub daily KPIs of site %s: alarm snapshot: %w", site, err)
		}
		alarms = append(alarms, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hub daily KPIs of site %s: alarms: %w", site, err)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT alarm_id, time FROM hub_alarm_events
		WHERE site = $1 AND type = $2 AND time >= $3 AND time < $4`, site, alerting.EventRaised, s.d.Time(back), s.d.Time(end))
	if err != nil {
		return nil, fmt.Errorf("hub daily KPIs of site %s: raises: %w", site, err)
	}
	defer rows.Close()
	var raises []kpi.Raise
	for rows.Next() {
		var r kpi.Raise
		if err := rows.Scan(&r.AlarmID, sqlstore.ScanTime(&r.Time)); err != nil {
			return nil, fmt.Errorf("hub daily KPIs of site %s: raises: %w", site, err)
		}
		raises = append(raises, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hub daily KPIs of site %s: raises: %w", site, err)
	}
	days, err := kpi.Compute(alarms, raises, from, to, now, points)
	if err != nil {
		return nil, fmt.Errorf("hub daily KPIs of site %s: %w", site, err)
	}
	return days, nil
}
