package alerting

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// benchRules are three rules on every tag: a limit, a rate and a stale
// rule. With the three quality rules every tag has, a sample is six rule
// evaluations.
var benchRules = []config.Rule{
	{Name: "high", Match: config.Match{Kind: "pipe_pressure"}, Above: ptr(1.6), Deadband: 0.05, Delay: time.Second},
	{Name: "fall", Match: config.Match{Kind: "pipe_pressure"}, Rate: &config.Rate{Falling: 0.05, Per: time.Minute, Window: 10 * time.Second}},
	{Name: "silent", Match: config.Match{Kind: "pipe_pressure"}, Stale: 30 * time.Second},
}

// BenchmarkEngineEvaluate is the hot path at scale: 10,000 tags, one
// sample each per round, no transitions. Run with -cpu 1: the engine
// evaluates under one lock, so this is per core.
func BenchmarkEngineEvaluate(b *testing.B) {
	const n = 10000
	var tags []collector.Tag
	batch := make([]collector.Sample, n)
	for i := range n {
		id := fmt.Sprintf("PT-%05d", i)
		tags = append(tags, collector.Tag{ID: id, Kind: "pipe_pressure", Unit: "MPa", Area: "A", Device: "rtu-1"})
		batch[i] = collector.Sample{Tag: id, Value: 0.4}
	}
	j := openTestJournal(b, "")
	e, err := NewEngine("s1", benchRules, testRegistry(b, tags...), j, NewBus(j, discard), discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	at := t0
	round := func() {
		at = at.Add(time.Second)
		for i := range batch {
			batch[i].Time = at
		}
		e.Consume(ctx, batch)
	}
	for range 20 { // learn the tags, fill the rate windows
		round()
	}
	evals := len(e.state["PT-00000"].slots)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		round()
	}
	samples := float64(b.N) * n
	b.ReportMetric(samples*float64(evals)/b.Elapsed().Seconds(), "evals/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(samples*float64(evals)), "ns/eval")
	if s := e.Stats(); s.Raised != 0 {
		b.Fatalf("quiet benchmark raised %d alarms", s.Raised)
	}
}

// BenchmarkSampleToEvent measures, in process, the time from handing the
// engine a sample that crosses a limit to a bus subscriber receiving the
// committed transition: evaluation, the journal's fsync'd commit, publish.
// 10,000 quiet tags share the engine.
func BenchmarkSampleToEvent(b *testing.B) {
	const n = 10000
	var tags []collector.Tag
	for i := range n {
		tags = append(tags, collector.Tag{ID: fmt.Sprintf("PT-%05d", i), Kind: "pipe_pressure"})
	}
	j := openTestJournal(b, "")
	bus := NewBus(j, discard)
	high := []config.Rule{{Name: "high", Match: config.Match{Kind: "pipe_pressure"}, Above: ptr(1.6)}}
	e, err := NewEngine("s1", high, testRegistry(b, tags...), j, bus, discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	quiet := make([]collector.Sample, n)
	for i := range quiet {
		quiet[i] = collector.Sample{Tag: tags[i].ID, Value: 0.4, Time: t0}
	}
	e.Consume(ctx, quiet)
	last, _ := j.LastSeq(ctx)
	sub := bus.Subscribe(ctx, last)
	defer sub.Close()
	lat := make([]time.Duration, 0, b.N)
	v := []float64{2, 0.4} // raise, clear (the same alarm re-raises until acked)
	at := t0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		at = at.Add(time.Second)
		s := []collector.Sample{{Tag: "PT-00042", Value: v[i%2], Time: at}}
		start := time.Now()
		e.Consume(ctx, s)
		<-sub.C
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkTick is the time-driven pass over 10,000 tags with the three
// rules: what Run costs every interval.
func BenchmarkTick(b *testing.B) {
	const n = 10000
	var tags []collector.Tag
	batch := make([]collector.Sample, n)
	for i := range n {
		id := fmt.Sprintf("PT-%05d", i)
		tags = append(tags, collector.Tag{ID: id, Kind: "pipe_pressure"})
		batch[i] = collector.Sample{Tag: id, Value: 0.4, Time: t0}
	}
	j := openTestJournal(b, "")
	e, err := NewEngine("s1", benchRules, testRegistry(b, tags...), j, NewBus(j, discard), discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e.now = func() time.Time { return t0 }
	e.Consume(ctx, batch)
	b.ReportAllocs()
	for b.Loop() {
		e.Tick(ctx, t0.Add(time.Second))
	}
}

// BenchmarkDeviceDown is a plant losing its controllers: 50 devices of 40
// tags each go silent in one poll and come back in the next. With designed
// suppression the operator gets 50 alarms, not 2,000; every tag's alarm is
// still journalled, so the cost is the journal's either way.
func BenchmarkDeviceDown(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("suppression=%v", on), func(b *testing.B) {
			const devices, per = 50, 40
			var tags []collector.Tag
			down := make([]collector.Sample, 0, devices*per)
			for d := range devices {
				for i := range per {
					id := fmt.Sprintf("D%02d-T%02d", d, i)
					tags = append(tags, collector.Tag{ID: id, Kind: "combustible_gas", Device: fmt.Sprintf("gds-%02d", d)})
					down = append(down, collector.Sample{Tag: id})
				}
			}
			up := slices.Clone(down)
			j := openTestJournal(b, "")
			e, err := NewEngine("s1", nil, testRegistry(b, tags...), j, NewBus(j, discard), discard)
			if err != nil {
				b.Fatal(err)
			}
			e.SetHandling(config.AlarmHandling{DeviceSuppression: on})
			ctx := context.Background()
			at := t0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				at = at.Add(time.Second)
				for i := range down {
					down[i] = collector.Sample{Tag: down[i].Tag, Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: at}
					up[i] = collector.Sample{Tag: up[i].Tag, Value: 1, Time: at.Add(time.Millisecond)}
				}
				e.Consume(ctx, down)
				e.Consume(ctx, up)
				for _, a := range e.Open() { // the roots wait for their acknowledgement
					if _, err := e.Ack(ctx, a.ID, "op"); err != nil {
						b.Fatal(err)
					}
				}
			}
			if len(e.Open()) != 0 {
				b.Fatal("alarms left open")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices*per), "ns/tag")
			b.ReportMetric(float64(e.Stats().Raised)/float64(b.N), "annunciated/cycle")
		})
	}
}
