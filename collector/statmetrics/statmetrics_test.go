package statmetrics_test

import (
	"testing"

	"hazgate/collector/statmetrics"
	"hazgate/collector/statmetrics/statmetricstest"
)

type pump struct {
	runs  uint64
	on    bool
	trips map[string]uint64
}

func (p pump) Stats() pump { return p }

// Sources by name, a gauge from a bool and a breakdown whose rows carry
// their own label after the source's.
func TestCollector(t *testing.T) {
	pumps := map[string]pump{"p1": {runs: 3, on: true, trips: map[string]uint64{"overload": 2}}, "p2": {}}
	c := statmetrics.New("pump", statmetrics.ByID(pumps),
		statmetrics.Counter("test_runs_total", "Runs.", func(p pump) float64 { return float64(p.runs) }),
		statmetrics.Gauge("test_on", "1 while on.", func(p pump) float64 { return statmetrics.Bool(p.on) }),
	).Split(statmetrics.SplitCounter("test_trips_total", "Trips, by cause.", []string{"cause"},
		func(p pump) []statmetrics.Row { return statmetrics.Counts(p.trips) }))
	statmetricstest.Scrape(t, c, nil,
		`test_runs_total{pump="p1"} 3`, `test_runs_total{pump="p2"} 0`,
		`test_on{pump="p1"} 1`, `test_on{pump="p2"} 0`,
		`test_trips_total{cause="overload",pump="p1"} 2`)
	one := statmetrics.New("", statmetrics.One(pumps["p1"].Stats),
		statmetrics.Counter("test_runs_total", "Runs.", func(p pump) float64 { return float64(p.runs) }))
	statmetricstest.Scrape(t, one, nil, `test_runs_total 3`)
}
