package kpi

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting"
)

// BenchmarkDaily reads 30 days of a busy site: 300 alarms a day on 200
// points, a tenth of them Bad-quality, every other one disposed.
func BenchmarkDaily(b *testing.B) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(b.TempDir(), "alarms.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	start := bj(1, 0, 0)
	for i := range 30 * 300 {
		raised := start.Add(time.Duration(i) * 288 * time.Second)
		acked, cleared := raised.Add(time.Minute), raised.Add(20*time.Minute)
		a := alerting.Alarm{Site: "s1", Tag: fmt.Sprintf("T%03d", i%200), Rule: "lel", Level: alerting.LevelH, Class: "lel",
			Severity: alerting.SeverityHigh, State: alerting.Normal, RaisedAt: raised, AckedAt: &acked, ClearedAt: &cleared, Count: 1}
		if i%10 == 0 {
			a.Rule, a.Level, a.Class = "comm_loss", "", alerting.ClassCommLoss
		}
		if i%2 == 0 {
			a.Disposal = &alerting.Disposal{Cause: alerting.CauseProcessUpset, Measures: "调整", Person: "张三", At: raised.Add(5 * time.Minute)}
		}
		if _, err := j.Commit(ctx, alerting.EventRaised, a, raised); err != nil {
			b.Fatal(err)
		}
	}
	r := NewReader(j.DB())
	r.Now = func() time.Time { return start.AddDate(0, 0, 30) }
	b.ResetTimer()
	for b.Loop() {
		days, err := r.Daily(ctx, "s1", start, start.AddDate(0, 0, 30), 200)
		if err != nil || len(days) != 30 || days[0].Alarms != 300 {
			b.Fatalf("%d days, %v", len(days), err)
		}
	}
}
