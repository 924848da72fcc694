package collector

import (
	"testing"
	"time"
)

func TestTimeBoundsCheck(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b := TimeBounds{Future: 5 * time.Minute, Past: 8760 * time.Hour}
	tests := []struct {
		name string
		b    TimeBounds
		t    time.Time
		ok   bool
	}{
		{"now", b, now, true},
		{"within skew", b, now.Add(4 * time.Minute), true},
		{"beyond skew", b, now.Add(6 * time.Minute), false},
		{"year 2100", b, time.UnixMilli(4102444800000), false},
		{"days old backfill", b, now.Add(-72 * time.Hour), true},
		{"beyond max age", b, now.Add(-8761 * time.Hour), false},
		{"before int64 ns", TimeBounds{Past: 1 << 62}, time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"after int64 ns", TimeBounds{Future: 1 << 62}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"zero takes defaults", TimeBounds{}, now.Add(6 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Check(tt.t, now)
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%s) = %v, want ok=%v", tt.t, err, tt.ok)
			}
		})
	}
}
