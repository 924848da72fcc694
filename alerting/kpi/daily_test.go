package kpi

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"hazgate/alerting"
)

// fixtureAlarm is one alarm of testdata/daily.json, its times written in
// Beijing time so the expectations below can be worked out by hand.
type fixtureAlarm struct {
	Name, Site, Tag, Rule, Level, Class string
	Raised                              time.Time
	Reraised                            []time.Time
	Acked, Cleared                      *time.Time
	Chattering                          bool
	Root                                string // the name of the device alarm suppressing this one
	Disposal                            *alerting.Disposal
}

// loadJournal commits testdata/daily.json to a fresh journal: each alarm's
// raise, re-raises, then one transition to its final state.
func loadJournal(t *testing.T, file string) *alerting.Journal {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fx []fixtureAlarm
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "alarms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	ids := map[string]int64{}
	for _, f := range fx {
		a := alerting.Alarm{Site: f.Site, Tag: f.Tag, Rule: f.Rule, Level: f.Level, Class: f.Class, Severity: alerting.SeverityHigh,
			State: alerting.ActiveUnacked, Active: true, RaisedAt: f.Raised, Count: 1, Message: f.Name}
		if a.Site == "" {
			a.Site = "s1"
		}
		if f.Root != "" {
			a.State, a.Root = alerting.SuppressedByDesign, ids[f.Root]
		}
		ev, err := j.Commit(ctx, alerting.EventRaised, a, f.Raised)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		a = ev.Alarm
		for _, at := range f.Reraised {
			a.Count++
			a.Chattering = f.Chattering
			if ev, err = j.Commit(ctx, alerting.EventRaised, a, at); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
		}
		a.AckedAt, a.ClearedAt, a.Disposal, a.Active = f.Acked, f.Cleared, f.Disposal, f.Cleared == nil
		switch {
		case f.Root != "":
		case f.Acked != nil && f.Cleared != nil:
			a.State = alerting.Normal
		case f.Acked != nil:
			a.State = alerting.ActiveAcked
		case f.Cleared != nil:
			a.State = alerting.ClearedUnacked
		}
		if ev, err = j.Commit(ctx, alerting.EventClosed, a, f.Raised.Add(time.Hour)); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		ids[f.Name] = ev.Alarm.ID
	}
	return j
}

func bj(day, h, m int) time.Time { return time.Date(2025, 3, day, h, m, 0, 0, Beijing) }

func ptr(f float64) *float64 { return &f }

// TestDaily reads testdata/daily.json (4 points). By hand, in Beijing time:
//
// 03-01: alarms A0 (00:30; "before" at 02-28 23:59 belongs to the day
// before), A1, A3, R, S1, B1, A2 (23:50, acked and disposed after
// midnight) = 7; A4 and T4c are suppressed by design. Disposed A1 (误报),
// A2: 2/7, false 1/7. Acks 60 (A1), 300 (A3), 600 (R), 1200 (A2) s:
// median 450; disposals 600 (A1), 4200 (A2): median 2400. Bad: T4 12:30-14:30
// (suppressed, counted) 2 h; T1 20:00-23:00 and 22:00-02:00 merge to
// 20:00-02:00, 4 h on this day; R is a device, not a point: 6 h / 96 h.
// Raises 7 + A3's 2 re-raises = 9, peak 3 (A3 at 12:00-12:02); top T1 3,
// T3 3, T2 2, dev-1 1; A3 chattering.
//
// 03-02: A5, C3 = 2; A5 disposed (泄漏), acked after 120 s, disposed after
// 1800 s. Bad: T1 00:00-02:00, T3 from 18:00 on: 8 h / 96 h.
//
// 03-03 (today, now 12:00): F1 raised at 09:00 and re-raised every 30 s
// to 09:05:30 = 1 alarm, 12 raises, acked after 600 s. A flood: the 11th
// raise (09:05:00) makes 11 in 10 minutes; from 09:10:00 the raises leave
// the window one per 30 s, and at 09:13:30 4 remain (fewer than 5): 510 s
// of the day's 86400. T3 Bad all 12 hours so far: 12 h / (4 × 12 h).
func TestDaily(t *testing.T) {
	j := loadJournal(t, filepath.Join("testdata", "daily.json"))
	r := NewReader(j.DB())
	r.Now = func() time.Time { return bj(3, 12, 0) }
	days, err := r.Daily(context.Background(), "s1", bj(1, 0, 0), bj(4, 0, 0), 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []Day{
		{Date: "2025-03-01", From: bj(1, 0, 0).UTC(), To: bj(2, 0, 0).UTC(), Points: 4,
			Alarms: 7, AlarmRate: 7.0 / 4, Disposed: 2, DisposalRate: 2.0 / 7, FalseAlarms: 1, FalseAlarmRate: 1.0 / 7,
			MedianAckSeconds: ptr(450), MedianDisposeSeconds: ptr(2400), BadPointHours: 6, OfflineRate: 6.0 / 96,
			Annunciations: 9, PeakTenMinutes: 3, TopShare: 1, Chattering: 1,
			TopSources: []SourceCount{{"T1", 3}, {"T3", 3}, {"T2", 2}, {"dev-1", 1}}},
		{Date: "2025-03-02", From: bj(2, 0, 0).UTC(), To: bj(3, 0, 0).UTC(), Points: 4,
			Alarms: 2, AlarmRate: 0.5, Disposed: 1, DisposalRate: 0.5,
			MedianAckSeconds: ptr(120), MedianDisposeSeconds: ptr(1800), BadPointHours: 8, OfflineRate: 8.0 / 96,
			Annunciations: 2, PeakTenMinutes: 1, TopShare: 1,
			TopSources: []SourceCount{{"T2", 1}, {"T3", 1}}},
		{Date: "2025-03-03", From: bj(3, 0, 0).UTC(), To: bj(4, 0, 0).UTC(), Points: 4,
			Alarms: 1, AlarmRate: 0.25, MedianAckSeconds: ptr(600), BadPointHours: 12, OfflineRate: 12.0 / 48,
			Annunciations: 12, PeakTenMinutes: 12, Floods: 1, FloodSeconds: 510, FloodShare: 510.0 / 86400,
			TopSources: []SourceCount{{"T1", 12}}, TopShare: 1},
	}
	if len(days) != len(want) {
		t.Fatalf("%d days, want %d: %+v", len(days), len(want), days)
	}
	for i := range want {
		if !sameDay(days[i], want[i]) {
			got, _ := json.Marshal(days[i])
			exp, _ := json.Marshal(want[i])
			t.Errorf("day %d:\n got %s\nwant %s", i, got, exp)
		}
	}
}

// sameDay compares days with the rates to 1e-9.
func sameDay(a, b Day) bool {
	rates := [][2]float64{{a.AlarmRate, b.AlarmRate}, {a.DisposalRate, b.DisposalRate}, {a.FalseAlarmRate, b.FalseAlarmRate},
		{a.BadPointHours, b.BadPointHours}, {a.OfflineRate, b.OfflineRate}, {a.TopShare, b.TopShare}, {a.FloodShare, b.FloodShare}}
	for _, r := range rates {
		if math.Abs(r[0]-r[1]) > 1e-9 {
			return false
		}
	}
	a.AlarmRate, a.DisposalRate, a.FalseAlarmRate, a.BadPointHours, a.OfflineRate, a.TopShare, a.FloodShare = 0, 0, 0, 0, 0, 0, 0
	b.AlarmRate, b.DisposalRate, b.FalseAlarmRate, b.BadPointHours, b.OfflineRate, b.TopShare, b.FloodShare = 0, 0, 0, 0, 0, 0, 0
	return reflect.DeepEqual(a, b)
}

func TestDailyPeriods(t *testing.T) {
	j := loadJournal(t, filepath.Join("testdata", "daily.json"))
	r := NewReader(j.DB())
	r.Now = func() time.Time { return bj(3, 12, 0) }
	ctx := context.Background()
	tests := []struct {
		name     string
		site     string
		from, to time.Time
		points   int
		dates    []string
		alarms   []int
		wantErr  bool
	}{
		// A period inside days covers the whole of each day it touches.
		{name: "partial days", site: "s1", from: bj(1, 15, 0), to: bj(2, 1, 0), points: 4,
			dates: []string{"2025-03-01", "2025-03-02"}, alarms: []int{7, 2}},
		// 02-28 16:00 UTC is 03-01 00:00 in Beijing.
		{name: "UTC bounds", site: "s1", from: time.Date(2025, 2, 28, 16, 0, 0, 0, time.UTC), to: time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC), points: 4,
			dates: []string{"2025-03-01"}, alarms: []int{7}},
		{name: "the day before", site: "s1", from: bj(0, 0, 0), to: bj(1, 0, 0), points: 4,
			dates: []string{"2025-02-28"}, alarms: []int{1}},
		{name: "another site", site: "s2", from: bj(1, 0, 0), to: bj(2, 0, 0), points: 1,
			dates: []string{"2025-03-01"}, alarms: []int{1}},
		{name: "no points", site: "s1", from: bj(1, 0, 0), to: bj(2, 0, 0),
			dates: []string{"2025-03-01"}, alarms: []int{7}},
		{name: "reversed", site: "s1", from: bj(2, 0, 0), to: bj(1, 0, 0), wantErr: true},
		{name: "too long", site: "s1", from: bj(1, 0, 0), to: bj(1, 0, 0).AddDate(1, 1, 0), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			days, err := r.Daily(ctx, tt.site, tt.from, tt.to, tt.points)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; days %+v", days)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var dates []string
			var alarms []int
			for _, d := range days {
				dates, alarms = append(dates, d.Date), append(alarms, d.Alarms)
				if tt.points == 0 && (d.AlarmRate != 0 || d.OfflineRate != 0) {
					t.Errorf("%s: rates %g, %g without points", d.Date, d.AlarmRate, d.OfflineRate)
				}
			}
			if !reflect.DeepEqual(dates, tt.dates) || !reflect.DeepEqual(alarms, tt.alarms) {
				t.Errorf("days %v alarms %v, want %v %v", dates, alarms, tt.dates, tt.alarms)
			}
		})
	}
}

func TestBadHoursMergesPerTag(t *testing.T) {
	day := []Day{{From: bj(1, 0, 0), To: bj(2, 0, 0)}}
	end := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name  string
		spans []badSpan
		want  float64
	}{
		{"nested", []badSpan{{"T1", bj(1, 1, 0), end(bj(1, 5, 0))}, {"T1", bj(1, 2, 0), end(bj(1, 3, 0))}}, 4},
		{"touching", []badSpan{{"T1", bj(1, 1, 0), end(bj(1, 2, 0))}, {"T1", bj(1, 2, 0), end(bj(1, 3, 0))}}, 2},
		{"two tags overlap apart", []badSpan{{"T1", bj(1, 1, 0), end(bj(1, 3, 0))}, {"T2", bj(1, 2, 0), end(bj(1, 3, 0))}}, 3},
		{"open ends now", []badSpan{{"T1", bj(1, 20, 0), nil}}, 2},
		{"cleared after now", []badSpan{{"T1", bj(1, 20, 0), end(bj(2, 5, 0))}}, 2},
		{"from the day before", []badSpan{{"T1", bj(0, 20, 0), end(bj(1, 1, 30))}}, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := badHours(tt.spans, day, bj(1, 22, 0)); math.Abs(got[0]-tt.want) > 1e-9 {
				t.Errorf("%g hours, want %g", got[0], tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	if median(nil) != nil {
		t.Error("median of nothing is not nil")
	}
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := *median(tt.xs); got != tt.want {
			t.Errorf("median %v = %g, want %g", tt.xs, got, tt.want)
		}
	}
}

// TestComputeMatchesDaily: the days computed from the alarms and their
// raise events (as a hub keeps them) are the journal's days.
func TestComputeMatchesDaily(t *testing.T) {
	j := loadJournal(t, filepath.Join("testdata", "daily.json"))
	ctx := context.Background()
	now := bj(3, 12, 0)
	r := NewReader(j.DB())
	r.Now = func() time.Time { return now }
	from, to := bj(1, 0, 0), bj(4, 0, 0)
	want, err := r.Daily(ctx, "s1", from, to, 4)
	if err != nil {
		t.Fatal(err)
	}
	alarms, err := j.List(ctx, alerting.AlarmFilter{Site: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := j.History(ctx, alerting.HistoryFilter{Site: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	var raises []Raise
	for _, ev := range evs {
		if ev.Type == alerting.EventRaised {
			raises = append(raises, Raise{ev.Time, ev.Alarm.ID})
		}
	}
	got, err := Compute(alarms, raises, from, to, now, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d days, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameDay(got[i], want[i]) {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want[i])
			t.Errorf("day %d:\n got %s\nwant %s", i, g, w)
		}
	}
	if _, err := Compute(alarms, raises, to, from, now, 4); err == nil {
		t.Error("reversed period accepted")
	}
}

// TestKPIExcludesSuppressedByDesign: the period KPIs count annunciations,
// which alarms suppressed by design never were (A4, T4c on 03-01).
func TestKPIExcludesSuppressedByDesign(t *testing.T) {
	j := loadJournal(t, filepath.Join("testdata", "daily.json"))
	k, err := NewReader(j.DB()).KPI(context.Background(), "s1", bj(1, 0, 0), bj(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if k.Alarms != 9 || k.Chattering != 1 {
		t.Errorf("03-01: %d annunciations, %d chattering; want 9, 1", k.Alarms, k.Chattering)
	}
}
