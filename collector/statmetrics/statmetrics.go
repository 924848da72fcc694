// Package statmetrics exports a component's Stats snapshot as Prometheus
// metrics, read once per scrape: components count with plain atomics and
// describe their series here, beside their Stats, while whoever serves
// /metrics only registers the collectors.
package statmetrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Stat is one metric read from a Stats snapshot.
type Stat[S any] struct {
	name, help string
	kind       prometheus.ValueType
	value      func(S) float64
}

// Counter is a counter read from a snapshot.
func Counter[S any](name, help string, value func(S) float64) Stat[S] {
	return Stat[S]{name, help, prometheus.CounterValue, value}
}

// Gauge is a gauge read from a snapshot.
func Gauge[S any](name, help string, value func(S) float64) Stat[S] {
	return Stat[S]{name, help, prometheus.GaugeValue, value}
}

// SplitStat is a metric broken down within a snapshot (by a subscription's
// topic, a reason): one value per row.
type SplitStat[S any] struct {
	name, help string
	kind       prometheus.ValueType
	by         []string // the breakdown's label names
	rows       func(S) []Row
}

// SplitCounter is a counter broken down by the labels by, one row a value.
func SplitCounter[S any](name, help string, by []string, rows func(S) []Row) SplitStat[S] {
	return SplitStat[S]{name, help, prometheus.CounterValue, by, rows}
}

// Row is one value of a SplitStat, with its values of SplitStat.By.
type Row struct {
	Labels []string
	Value  float64
}

// Collector reads a Stats snapshot once per scrape and reports each stat,
// labelled by source when there are several (one per webhook).
type Collector[S any] struct {
	label  string // "" for a single unlabelled source
	read   func() map[string]S
	stats  []Stat[S]
	splits []SplitStat[S]
	descs  []*prometheus.Desc // stats' then splits'
}

// New collects stats from the snapshots read returns, keyed by source; label
// names the source's label, or is "" for a single source (see One). A
// device's collector is unlabelled: the gateway adds the device label when it
// registers it.
func New[S any](label string, read func() map[string]S, stats ...Stat[S]) *Collector[S] {
	c := &Collector[S]{label: label, read: read, stats: stats}
	for _, s := range stats {
		c.descs = append(c.descs, prometheus.NewDesc(s.name, s.help, c.labels(), nil))
	}
	return c
}

func (c *Collector[S]) labels() []string {
	if c.label == "" {
		return nil
	}
	return []string{c.label}
}

// Split adds broken-down metrics, labelled by source and then by their own
// breakdown.
func (c *Collector[S]) Split(splits ...SplitStat[S]) *Collector[S] {
	for _, s := range splits {
		c.descs = append(c.descs, prometheus.NewDesc(s.name, s.help, append(c.labels(), s.by...), nil))
	}
	c.splits = append(c.splits, splits...)
	return c
}

func (c *Collector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *Collector[S]) Collect(ch chan<- prometheus.Metric) {
	for src, snap := range c.read() {
		var lv []string
		if c.label != "" {
			lv = []string{src}
		}
		for i, s := range c.stats {
			ch <- prometheus.MustNewConstMetric(c.descs[i], s.kind, s.value(snap), lv...)
		}
		for i, s := range c.splits {
			for _, r := range s.rows(snap) {
				ch <- prometheus.MustNewConstMetric(c.descs[len(c.stats)+i], s.kind, r.Value, append(slices.Clip(lv), r.Labels...)...)
			}
		}
	}
}

// One reads a single unlabelled source.
func One[S any](f func() S) func() map[string]S {
	return func() map[string]S { return map[string]S{"": f()} }
}

// ByID reads each source's Stats, keyed by its name.
func ByID[S any, P interface{ Stats() S }](sources map[string]P) func() map[string]S {
	return func() map[string]S {
		out := make(map[string]S, len(sources))
		for id, p := range sources {
			out[id] = p.Stats()
		}
		return out
	}
}

// Counts turns a breakdown map into rows, one label each.
func Counts(m map[string]uint64) []Row {
	out := make([]Row, 0, len(m))
	for k, n := range m {
		out = append(out, Row{Labels: []string{k}, Value: float64(n)})
	}
	return out
}

// Bool is 1 for true, for a gauge that says whether something holds.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
