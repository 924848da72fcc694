package hub

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/kpi"
)

// TestDailyKPIMatchesTheSite replays a site's journal to the hub: the
// hub's daily KPIs of the site are the site's own, on either store.
func TestDailyKPIMatchesTheSite(t *testing.T) {
	onEachStore(t, testDailyKPIMatchesTheSite)
}

func testDailyKPIMatchesTheSite(t *testing.T, s *Store) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "site.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bj := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, kpi.Beijing) }
	ptr := func(t time.Time) *time.Time { return &t }
	commit := func(typ string, a alerting.Alarm, at time.Time) alerting.Alarm {
		t.Helper()
		ev, err := j.Commit(ctx, typ, a, at)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Alarm
	}
	base := alerting.Alarm{Site: "s1", Rule: "lel", Level: alerting.LevelH, Class: "lel", Severity: alerting.SeverityHigh, Count: 1}
	// A false alarm on the 1st, acked after 2 minutes, closed and disposed.
	a := base
	a.Tag, a.State, a.Active, a.RaisedAt = "GT-1", alerting.ActiveUnacked, true, bj(1, 9, 0)
	a = commit(alerting.EventRaised, a, a.RaisedAt)
	a.State, a.Active, a.AckedAt, a.ClearedAt = alerting.Normal, false, ptr(bj(1, 9, 2)), ptr(bj(1, 9, 5))
	a.Disposal = &alerting.Disposal{Cause: alerting.CauseFalseAlarm, Measures: "复核", Person: "张三", At: bj(1, 9, 30), By: "op"}
	commit(alerting.EventClosed, a, bj(1, 9, 30))
	// Raised just before the 1st, re-raised in its first minutes.
	b := base
	b.Tag, b.State, b.Active, b.RaisedAt = "GT-2", alerting.ActiveUnacked, true, bj(0, 23, 58)
	b = commit(alerting.EventRaised, b, b.RaisedAt)
	b.Count = 2
	b = commit(alerting.EventRaised, b, bj(1, 0, 3))
	// Bad from the 1st 20:00 to the 2nd 04:00 on GT-3, overlapping a sensor
	// fault 22:00-23:00; and one suppressed by design.
	c := base
	c.Tag, c.Rule, c.Level, c.Class, c.State, c.Active, c.RaisedAt = "GT-3", "comm_loss", "", alerting.ClassCommLoss, alerting.ActiveUnacked, true, bj(1, 20, 0)
	c = commit(alerting.EventRaised, c, c.RaisedAt)
	c.State, c.Active, c.ClearedAt = alerting.ClearedUnacked, false, ptr(bj(2, 4, 0))
	commit(alerting.EventCleared, c, bj(2, 4, 0))
	f := c
	f.ID, f.Rule, f.Class, f.State, f.Active, f.RaisedAt, f.ClearedAt = 0, "sensor_fault", alerting.ClassSensorFault, alerting.ClearedUnacked, false, bj(1, 22, 0), ptr(bj(1, 23, 0))
	commit(alerting.EventRaised, f, f.RaisedAt)
	sup := base
	sup.Tag, sup.State, sup.Active, sup.Root, sup.RaisedAt = "GT-4", alerting.SuppressedByDesign, true, 99, bj(2, 10, 0)
	commit(alerting.EventRaised, sup, sup.RaisedAt)

	evs, err := j.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if _, err := s.ApplyAlarm(ctx, northbound.AlarmMessage{V: 1, Site: "s1", Event: ev}, bj(3, 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	now := bj(2, 12, 0)
	r := kpi.NewReader(j.DB())
	r.Now = func() time.Time { return now }
	want, err := r.Daily(ctx, "s1", bj(1, 0, 0), bj(3, 0, 0), 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DailyKPI(ctx, "s1", bj(1, 0, 0), bj(3, 0, 0), now, 4)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("hub days\n %s\nsite days\n %s", gj, wj)
	}
	// By hand: the 1st has GT-1, GT-3's two = 3 alarms (GT-2 was raised the
	// day before), 1 disposed as 误报; GT-3 Bad 4 h of 4 × 24.
	if d := got[0]; d.Alarms != 3 || d.FalseAlarms != 1 || d.Annunciations != 4 || d.BadPointHours != 4 {
		t.Errorf("the 1st: %s", gj)
	}
	if d := got[1]; d.Alarms != 0 || d.BadPointHours != 4 {
		t.Errorf("the 2nd (GT-4 suppressed): %s", gj)
	}
	if days, err := s.DailyKPI(ctx, "other", bj(1, 0, 0), bj(3, 0, 0), now, 4); err != nil || len(days) != 2 || days[0].Alarms != 0 {
		t.Errorf("another site: %+v %v", days, err)
	}
}
