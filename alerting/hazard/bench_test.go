package hazard

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
)

// BenchmarkApply judges a stream of alarm events on 100 gas detectors
// against the built-in rules, in batches of applyBatch as Run does: level-2
// raises and clears (recurrence bookkeeping, a record every third raise of
// a detector), and level-1 raises no rule wants. ns/op is per event.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(b.TempDir(), "hazgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	reg := collector.NewRegistry()
	for i := range 100 {
		if err := reg.Add(collector.Tag{ID: fmt.Sprintf("GT-%03d", i), Site: "cz01", Kind: "combustible_gas", Area: "罐区A"}); err != nil {
			b.Fatal(err)
		}
	}
	e, err := NewEngine(ctx, j.DB(), Options{Site: "cz01", Tags: reg})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)
	batch := make([]alerting.Event, 0, applyBatch)
	b.ResetTimer()
	for i := range b.N {
		at = at.Add(time.Second)
		a := alerting.Alarm{ID: int64(i/2 + 1), Site: "cz01", Tag: fmt.Sprintf("GT-%03d", (i/2)%100), Rule: "lel",
			Level: alerting.LevelHH, Class: "lel", State: alerting.ActiveUnacked, Active: true, Value: 60, RaisedAt: at}
		typ := alerting.EventRaised
		switch {
		case i%2 == 1:
			typ, a.State, a.Active, a.ClearedAt = alerting.EventCleared, alerting.ClearedUnacked, false, &at
		case i%4 == 2:
			a.Level = alerting.LevelH
		}
		batch = append(batch, alerting.Event{Seq: int64(i + 1), Type: typ, Time: at, Alarm: a})
		if len(batch) == applyBatch || i == b.N-1 {
			if err := e.Apply(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.StopTimer()
	hs, _ := e.List(ctx, Filter{})
	b.ReportMetric(float64(len(hs)), "records")
}
