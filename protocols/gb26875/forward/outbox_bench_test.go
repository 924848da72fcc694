package forward

import (
	"context"
	"testing"
)

// One message per Put: one fsync each, the cost of a lone state change.
func BenchmarkOutboxPut(b *testing.B) {
	o := openBox(b, b.TempDir(), SpooledOptions{})
	m := msg(ClassAlarm, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Put(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// A batch of 100 in one Put: one fsync for all, per message reported.
func BenchmarkOutboxPutBatch100(b *testing.B) {
	o := openBox(b, b.TempDir(), SpooledOptions{})
	ms := make([]Message, 100)
	for i := range ms {
		ms[i] = msg(ClassAlarm, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Put(context.Background(), ms...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ms)), "ns/msg")
}

// Next of a frame's worth (22 component states) and their Done, from a
// backlog on disk.
func BenchmarkOutboxNextDone(b *testing.B) {
	o := openBox(b, b.TempDir(), SpooledOptions{})
	ms := make([]Message, 22*100)
	for i := range ms {
		ms[i] = msg(ClassAlarm, i)
	}
	ctx := context.Background()
	left := 0
	b.ReportAllocs()
	for b.Loop() {
		if left == 0 {
			b.StopTimer()
			if err := o.Put(ctx, ms...); err != nil {
				b.Fatal(err)
			}
			left = len(ms)
			b.StartTimer()
		}
		ps, err := o.Next(ctx, 22)
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Done(ps...); err != nil {
			b.Fatal(err)
		}
		left -= len(ps)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*22), "ns/msg")
}
