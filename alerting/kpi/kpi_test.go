package kpi

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"hazgate/alerting"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// burst returns n raises from tag, one every gap from start.
func burst(start time.Time, n int, gap time.Duration, tag string) []raiseAt {
	out := make([]raiseAt, n)
	for i := range out {
		out[i] = raiseAt{start.Add(time.Duration(i) * gap), tag}
	}
	return out
}

func TestComputeKPI(t *testing.T) {
	hour := t0.Add(time.Hour)
	tests := []struct {
		name    string
		raises  []raiseAt
		from    time.Time
		to      time.Time
		alarms  int
		peak    int
		floods  int
		floodS  float64
		perTen  float64
		topTags []string
	}{
		{name: "quiet", from: t0, to: hour},
		{name: "ten in ten minutes is not a flood", raises: burst(t0.Add(time.Minute), 10, time.Second, "A"),
			from: t0, to: hour, alarms: 10, peak: 10, perTen: 10.0 / 6, topTags: []string{"A"}},
		// 11 raises a second apart: flood from the 11th (t+10 s) until fewer
		// than 5 remain in the window: the 7th leaves at t+6 s+10 min.
		{name: "eleven is a flood", raises: burst(t0.Add(time.Minute), 11, time.Second, "A"),
			from: t0, to: hour, alarms: 11, peak: 11, floods: 1, floodS: 596, perTen: 11.0 / 6, topTags: []string{"A"}},
		{name: "flood cut at the period's end", raises: burst(t0.Add(55*time.Minute), 11, time.Second, "A"),
			from: t0, to: hour, alarms: 11, peak: 11, floods: 1, floodS: 290, perTen: 11.0 / 6, topTags: []string{"A"}},
		// Raises before the period count toward the window, not the totals.
		{name: "window reaches back", raises: append(burst(t0.Add(-5*time.Minute), 10, time.Second, "A"), raiseAt{t0.Add(time.Second), "B"}),
			from: t0, to: hour, alarms: 1, peak: 11, floods: 1, floodS: 305, perTen: 1.0 / 6, topTags: []string{"B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := computeKPI(tt.raises, tt.from, tt.to)
			if k.Alarms != tt.alarms || k.PeakTenMinutes != tt.peak || k.Floods != tt.floods ||
				math.Abs(k.FloodSeconds-tt.floodS) > 1e-9 || math.Abs(k.PerTenMinutes-tt.perTen) > 1e-9 {
				t.Errorf("got alarms %d peak %d floods %d flood %gs per10 %g; want %d %d %d %gs %g",
					k.Alarms, k.PeakTenMinutes, k.Floods, k.FloodSeconds, k.PerTenMinutes,
					tt.alarms, tt.peak, tt.floods, tt.floodS, tt.perTen)
			}
			var tags []string
			for _, s := range k.TopSources {
				tags = append(tags, s.Tag)
			}
			if !reflect.DeepEqual(tags, tt.topTags) {
				t.Errorf("top sources %v, want %v", tags, tt.topTags)
			}
		})
	}
}

func TestComputeKPITopShare(t *testing.T) {
	var raises []raiseAt
	// 12 tags; tag i raises i+1 times, spread out so nothing floods.
	for i := range 12 {
		for n := range i + 1 {
			raises = append(raises, raiseAt{t0.Add(time.Duration(i*20+n) * time.Minute), fmt.Sprintf("T%02d", i)})
		}
	}
	k := computeKPI(sortRaises(raises), t0, t0.Add(24*time.Hour))
	if k.Alarms != 78 || len(k.TopSources) != 10 || k.TopSources[0] != (SourceCount{"T11", 12}) {
		t.Fatalf("kpi %+v", k)
	}
	if want := float64(78-1-2) / 78; math.Abs(k.TopShare-want) > 1e-9 {
		t.Errorf("top share %g, want %g", k.TopShare, want)
	}
}

func sortRaises(r []raiseAt) []raiseAt {
	out := append([]raiseAt(nil), r...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].t.Before(out[j-1].t); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestReaderKPI commits alarms to a real journal and reads the KPIs back.
func TestReaderKPI(t *testing.T) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "alarms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	commit := func(typ string, a alerting.Alarm, at time.Time) alerting.Alarm {
		t.Helper()
		ev, err := j.Commit(ctx, typ, a, at)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Alarm
	}
	// T1 raises three times and is flagged chattering, then clears; O2-1
	// raises once and stays active.
	t1 := alerting.Alarm{Site: "s1", Tag: "T1", Rule: "lel", Level: alerting.LevelH, Severity: alerting.SeverityHigh,
		State: alerting.ActiveUnacked, Active: true, Value: 30, Peak: 30, RaisedAt: t0.Add(time.Second), Count: 1}
	t1 = commit(alerting.EventRaised, t1, t1.RaisedAt)
	for n := 2; n <= 3; n++ {
		t1.Count, t1.Chattering = n, true
		t1 = commit(alerting.EventRaised, t1, t0.Add(time.Duration(2*n)*time.Second))
	}
	t1.State, t1.Active = alerting.Normal, false
	commit(alerting.EventClosed, t1, t0.Add(10*time.Second))
	o2 := alerting.Alarm{Site: "s1", Tag: "O2-1", Rule: "o2", Level: alerting.LevelL, Class: "oxygen", Severity: alerting.SeverityHigh,
		State: alerting.ActiveUnacked, Active: true, Value: 18, Peak: 18, RaisedAt: t0.Add(20 * time.Second), Count: 1}
	commit(alerting.EventRaised, o2, o2.RaisedAt)
	sh := alerting.Alarm{Site: "s1", Tag: "T2", Rule: "lel", Level: alerting.LevelH, Severity: alerting.SeverityHigh,
		State: alerting.ActiveUnacked, Active: true, RaisedAt: t0.Add(30 * time.Second), Count: 1}
	sh = commit(alerting.EventRaised, sh, sh.RaisedAt)
	sh.State, sh.Active = alerting.Shelved, false // shelved, then its condition went
	commit(alerting.EventShelved, sh, t0.Add(40*time.Second))
	// T3 is shelved while its condition still holds: shelved, not standing.
	held := alerting.Alarm{Site: "s1", Tag: "T3", Rule: "lel", Level: alerting.LevelH, Severity: alerting.SeverityHigh,
		State: alerting.ActiveUnacked, Active: true, RaisedAt: t0.Add(50 * time.Second), Count: 1}
	held = commit(alerting.EventRaised, held, held.RaisedAt)
	held.State = alerting.Shelved
	commit(alerting.EventShelved, held, t0.Add(55*time.Second))

	r := NewReader(j.DB())
	from, to := t0, t0.Add(time.Hour)
	k, err := r.KPI(ctx, "s1", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if k.Alarms != 6 || k.Chattering != 1 || k.Standing != 0 || k.Shelved != 2 || k.TopSources[0] != (SourceCount{"T1", 3}) {
		t.Errorf("kpi %+v", k)
	}
	// A day later the oxygen alarm is standing; the shelved ones, active or
	// not, are counted as shelved.
	if k, _ = r.KPI(ctx, "s1", from, t0.Add(25*time.Hour)); k.Standing != 1 {
		t.Errorf("standing %d, want 1", k.Standing)
	}
	if k, _ = r.KPI(ctx, "other-site", from, to); k.Alarms != 0 || k.Shelved != 0 {
		t.Errorf("another site's KPIs count %d alarms, %d shelved", k.Alarms, k.Shelved)
	}
	if _, err := r.KPI(ctx, "s1", to, from); err == nil {
		t.Error("reversed period accepted")
	}
}
