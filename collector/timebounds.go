package collector

import (
	"fmt"
	"math"
	"time"
)

// TimeBounds refuses device-supplied times a store or the latest cache
// cannot use: a clock far ahead would freeze a tag in Latest (older samples
// never replace newer ones), and InfluxDB holds only int64 nanoseconds.
// A zero field takes its default.
type TimeBounds struct {
	Future time.Duration // how far ahead of the gateway's clock a time may be
	Past   time.Duration // how far behind; devices backfill after outages
}

// Defaults of TimeBounds, also the config defaults.
const (
	DefaultFutureSkew = 5 * time.Minute
	DefaultPastAge    = 8760 * time.Hour
)

// Check returns an error saying how far out t is, or nil.
func (b TimeBounds) Check(t, now time.Time) error {
	future, past := b.Future, b.Past
	if future <= 0 {
		future = DefaultFutureSkew
	}
	if past <= 0 {
		past = DefaultPastAge
	}
	// InfluxDB line protocol: int64 ns since 1970, so 1677-09-21 to 2262-04-11.
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return fmt.Errorf("time %s is outside InfluxDB's range (1677-09-21 to 2262-04-11)", t.UTC().Format(time.RFC3339))
	}
	if d := t.Sub(now); d > future {
		return fmt.Errorf("time %s is %s ahead of the gateway clock (max %s)", t.UTC().Format(time.RFC3339), d.Round(time.Second), future)
	}
	if d := now.Sub(t); d > past {
		return fmt.Errorf("time %s is %s behind the gateway clock (max %s)", t.UTC().Format(time.RFC3339), d.Round(time.Second), past)
	}
	return nil
}
