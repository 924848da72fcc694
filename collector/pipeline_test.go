package collector

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestStampsSeparate(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ns := func(n int) time.Time { return t0.Add(time.Duration(n)) }
	cases := []struct {
		name string
		in   []Sample
		want []time.Time
	}{
		{"one tick, three readings", []Sample{{Tag: "a", Time: t0}, {Tag: "a", Time: t0}, {Tag: "a", Time: t0}},
			[]time.Time{t0, ns(1), ns(2)}},
		{"other tags keep their time", []Sample{{Tag: "a", Time: t0}, {Tag: "b", Time: t0}, {Tag: "a", Time: t0}},
			[]time.Time{t0, t0, ns(1)}},
		{"a real reading inside the moved span moves on too", []Sample{{Tag: "a", Time: t0}, {Tag: "a", Time: t0}, {Tag: "a", Time: t0}, {Tag: "a", Time: ns(1)}},
			[]time.Time{t0, ns(1), ns(2), ns(3)}},
		{"later readings keep their time", []Sample{{Tag: "a", Time: t0}, {Tag: "a", Time: t0}, {Tag: "a", Time: ns(10)}},
			[]time.Time{t0, ns(1), ns(10)}},
		{"late history is left alone", []Sample{{Tag: "a", Time: t0}, {Tag: "a", Time: t0.Add(-time.Hour)}, {Tag: "a", Time: t0.Add(-time.Hour)}},
			[]time.Time{t0, t0.Add(-time.Hour), t0.Add(-time.Hour)}},
		{"second-resolution device clock", []Sample{{Tag: "f", Time: t0}, {Tag: "f", Time: t0}, {Tag: "f", Time: t0.Add(time.Second)}},
			[]time.Time{t0, ns(1), t0.Add(time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := make(Stamps)
			for i := range tc.in {
				tc.in[i].Time = st.Separate(tc.in[i].Tag, tc.in[i].Time)
				if !tc.in[i].Time.Equal(tc.want[i]) {
					t.Errorf("sample %d (%s): time %s, want %s", i, tc.in[i].Tag, tc.in[i].Time.Format(time.RFC3339Nano), tc.want[i].Format(time.RFC3339Nano))
				}
			}
		})
	}
}

// TestPipelineSeparatesTicks: every consumer sees the same, separated times.
func TestPipelineSeparatesTicks(t *testing.T) {
	t0 := time.Now()
	var got []Sample
	p := NewPipeline(NewLatest(), consumerFunc(func(_ context.Context, b []Sample) { got = append(got, b...) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	if err := p.Emit(ctx, []Sample{{Tag: "a", Value: 1, Time: t0}, {Tag: "a", Value: 2, Time: t0}}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if len(got) != 2 || !got[1].Time.After(got[0].Time) {
		t.Fatalf("consumer saw %+v", got)
	}
	if l, _ := p.latest.Get("a"); l.Value != 2 || !l.Time.Equal(got[1].Time) {
		t.Errorf("latest %+v, want the second reading at %s", l, got[1].Time)
	}
}

type consumerFunc func(context.Context, []Sample)

func (f consumerFunc) Consume(ctx context.Context, b []Sample) { f(ctx, b) }

// TestEnteredAtCountsTheQueue: a batch queued behind a slow consumer
// reaches the next consumer with the time it was emitted, not the time
// its turn came; a ctx the pipeline did not pass has none.
func TestEnteredAtCountsTheQueue(t *testing.T) {
	const hold = 200 * time.Millisecond
	release := make(chan struct{})
	type seen struct{ entered, consumed time.Time }
	var got []seen
	slow := consumerFunc(func(_ context.Context, b []Sample) {
		if b[0].Tag == "first" {
			<-release
		}
	})
	rec := consumerFunc(func(ctx context.Context, b []Sample) {
		at, ok := EnteredAt(ctx)
		if !ok {
			t.Error("no EnteredAt in the ctx given to Consume")
		}
		got = append(got, seen{at, time.Now()})
	})
	p := NewPipeline(nil, slow, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	if err := p.Emit(ctx, []Sample{{Tag: "first", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := p.Emit(ctx, []Sample{{Tag: "second", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	time.Sleep(hold)
	close(release)
	cancel()
	<-done
	if len(got) != 2 {
		t.Fatalf("consumer saw %d batches", len(got))
	}
	if e := got[1].entered; e.Before(before) || e.After(after) {
		t.Errorf("second batch entered at %s, want between its Emit's %s and %s", e.Format(time.StampMicro), before.Format(time.StampMicro), after.Format(time.StampMicro))
	}
	if q := got[1].consumed.Sub(got[1].entered); q < hold {
		t.Errorf("second batch queued %v by EnteredAt, want at least the %v the slow consumer held it", q, hold)
	}
	if _, ok := EnteredAt(context.Background()); ok {
		t.Error("EnteredAt of a plain ctx")
	}
}

// TestDispatchAllocatesOncePerBatch: carrying the entry time costs one
// allocation a batch, whatever its size.
func TestDispatchAllocatesOncePerBatch(t *testing.T) {
	p := NewPipeline(nil, consumerFunc(func(ctx context.Context, _ []Sample) { EnteredAt(ctx) }))
	b := make([]Sample, 100)
	for i := range b {
		b[i] = Sample{Tag: "a", Value: float64(i)}
	}
	e := emitted{b: b, at: time.Now()}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { p.dispatch(ctx, e) }); n > 1 {
		t.Errorf("%v allocations a batch of %d, want 1", n, len(b))
	}
}

// BenchmarkDispatch is the pipeline's own work on bench/peers' Modbus poll
// of 8,000 tags (200 devices × 40 registers), in batches of one device, a
// second apart: time separation and the latest values, no consumers.
func BenchmarkDispatch(b *testing.B) {
	const devices, regs = 200, 40
	p := NewPipeline(NewLatest())
	batches := make([][]Sample, devices)
	for d := range batches {
		for r := range regs {
			batches[d] = append(batches[d], Sample{Tag: fmt.Sprintf("m%03dr%02d", d, r), Value: float64(r)})
		}
	}
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, batch := range batches {
			for j := range batch {
				batch[j].Time = t0.Add(time.Duration(i) * time.Second)
			}
			p.dispatch(ctx, emitted{b: batch})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices*regs), "ns/sample")
}
