package hub

import (
	"testing"
	"time"
)

func TestAvailability(t *testing.T) {
	bj := time.FixedZone("CST", 8*3600)
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, bj) }
	ptr := func(t time.Time) *time.Time { return &t }
	outages := []Outage{
		{Since: day(1, 23, 0), Until: ptr(day(2, 1, 0)), Reason: "silent"}, // across midnight: 1 h each day
		{Since: day(2, 12, 0), Until: ptr(day(2, 12, 30)), Reason: "lost"},
		{Since: day(3, 6, 0), Reason: "lost"}, // still offline
	}
	now := day(3, 12, 0)
	got := Availability(outages, day(1, 0, 0), day(4, 0, 0), now, bj)
	want := []Day{
		{Date: "2026-12-01", OfflineSeconds: 3600, Online: 1 - 3600.0/86400, Outages: 1},
		{Date: "2026-12-02", OfflineSeconds: 5400, Online: 1 - 5400.0/86400, Outages: 1},
		{Date: "2026-12-03", OfflineSeconds: 6 * 3600, Online: 0.5, Outages: 1}, // 6 of the 12 h so far
	}
	if len(got) != len(want) {
		t.Fatalf("days %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("day %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
