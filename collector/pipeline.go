package collector

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Consumer receives every batch after the latest cache has it. Consume runs on
// the pipeline's goroutine, in emit order, so a consumer sees each tag's samples
// in order; it must return quickly (queue slow work of its own). The batch is
// not reused by the pipeline and may be kept. EnteredAt(ctx) is when the
// batch was emitted.
type Consumer interface {
	Consume(ctx context.Context, batch []Sample)
}

// Durable is a consumer whose Consume only queues (InfluxSink): it calls
// fn once everything it was given so far is safe on disk or stored.
type Durable interface {
	WhenDurable(fn func())
}

// Pipeline takes samples from protocols and hands them, in order, to the
// latest cache and then to each consumer.
type Pipeline struct {
	in        chan emitted
	latest    *Latest
	consumers []Consumer
	durable   []Durable // the consumers that say when a batch is safe
	stamps    Stamps    // owned by Run's goroutine
}

// DefaultQueue is how many batches may wait before Emit blocks the emitter.
const DefaultQueue = 1024

// NewPipeline returns a pipeline feeding latest and then consumers, in that order.
func NewPipeline(latest *Latest, consumers ...Consumer) *Pipeline {
	p := &Pipeline{in: make(chan emitted, DefaultQueue), latest: latest, consumers: consumers, stamps: make(Stamps)}
	for _, c := range consumers {
		if d, ok := c.(Durable); ok {
			p.durable = append(p.durable, d)
		}
	}
	return p
}

// Emit queues a batch. It blocks while the queue is full, so a burst slows
// the emitter rather than dropping readings, and returns ctx's error if ctx
// ends first.
func (p *Pipeline) Emit(ctx context.Context, batch []Sample) error {
	return p.EmitDurable(ctx, batch, nil)
}

// emitted is a batch, who waits for it to be durable, and when it was
// emitted.
type emitted struct {
	b    []Sample
	done func()
	at   time.Time
}

// enteredCtx carries a batch's emit time to its consumers: one allocation
// per batch (context.WithValue would box the time as well).
type enteredCtx struct {
	context.Context
	at time.Time
}

type enteredKey struct{}

func (c *enteredCtx) Value(key any) any {
	if key == (enteredKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// EnteredAt is when the batch a Consume call is given entered the
// pipeline (the Emit call, before any wait for queue space), so a consumer
// can measure latency from there rather than from its own turn; false for
// a ctx the pipeline did not pass.
func EnteredAt(ctx context.Context) (time.Time, bool) {
	if c, ok := ctx.Value(enteredKey{}).(*enteredCtx); ok {
		return c.at, true
	}
	return time.Time{}, false
}

// EmitDurable is Emit, and calls done once the batch is judged (its alarm
// transitions committed to the journal) and every Durable consumer holds
// it safely: what a device may be told was received (a QoS 1 PUBACK, a
// GB/T 26875.3 confirm). done runs on a pipeline or sink goroutine and must
// return quickly; it is not called if EmitDurable returns an error.
func (p *Pipeline) EmitDurable(ctx context.Context, batch []Sample, done func()) error {
	if len(batch) == 0 {
		if done != nil {
			done()
		}
		return nil
	}
	select {
	case p.in <- emitted{batch, done, time.Now()}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run dispatches batches until ctx ends, then hands on what is already queued
// so a shutdown loses nothing that was emitted.
func (p *Pipeline) Run(ctx context.Context) {
	for {
		select {
		case b := <-p.in:
			p.dispatch(ctx, b)
		case <-ctx.Done():
			for {
				select {
				case b := <-p.in:
					p.dispatch(context.WithoutCancel(ctx), b)
				default:
					return
				}
			}
		}
	}
}

func (p *Pipeline) dispatch(ctx context.Context, e emitted) {
	b := e.b
	for i := range b {
		b[i].Time = p.stamps.Separate(b[i].Tag, b[i].Time)
	}
	if p.latest != nil {
		p.latest.Update(b)
	}
	if len(p.consumers) > 0 {
		ctx = &enteredCtx{Context: ctx, at: e.at}
	}
	for _, c := range p.consumers {
		c.Consume(ctx, b)
	}
	if e.done != nil {
		p.whenDurable(e.done)
	}
}

// whenDurable calls done once every Durable consumer says so; the others
// are done when Consume returns.
func (p *Pipeline) whenDurable(done func()) {
	if len(p.durable) == 0 {
		done()
		return
	}
	left := atomic.Int32{}
	left.Store(int32(len(p.durable)))
	for _, d := range p.durable {
		d.WhenDurable(func() {
			if left.Add(-1) == 0 {
				done()
			}
		})
	}
}

// Stamps keeps, per series (a tag, an alarm's InfluxDB series), the last
// time a source gave (orig) and the time passed on for it (last), to keep
// points that share a clock tick apart. Not safe for concurrent use.
// Values are pointers so a point costs one map lookup, not a lookup and a
// store.
type Stamps map[string]*stamp

type stamp struct{ orig, last int64 }

// Separate returns t, moved 1 ns past the series' previous point when both
// carry the same clock tick: a batch stamped once, a device clock counting
// whole seconds (GB/T 26875.3), two state changes in one frame. InfluxDB
// keeps one point per series and time, so without this the later point
// silently overwrites the earlier. A time older than the series' last one
// (history a device sends late) is left as it is.
func (st Stamps) Separate(key string, t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	ns := t.UnixNano()
	prev := st[key]
	switch {
	case prev == nil:
		st[key] = &stamp{ns, ns}
	case ns > prev.last:
		*prev = stamp{ns, ns}
	case ns >= prev.orig:
		next := prev.last + 1
		*prev = stamp{ns, next}
		return t.Add(time.Duration(next - ns))
	}
	return t
}

// Latest keeps the newest sample of every tag, by pointer so that an update
// is one map lookup, not a lookup and a store.
type Latest struct {
	mu sync.RWMutex
	m  map[string]*Sample
}

// NewLatest returns an empty cache.
func NewLatest() *Latest { return &Latest{m: make(map[string]*Sample)} }

// Update records the batch; an older sample never replaces a newer one.
func (l *Latest) Update(b []Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range b {
		switch old := l.m[b[i].Tag]; {
		case old == nil:
			s := b[i]
			l.m[s.Tag] = &s
		case !b[i].Time.Before(old.Time):
			*old = b[i]
		}
	}
}

// Get returns the newest sample of tag.
func (l *Latest) Get(tag string) (Sample, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if s := l.m[tag]; s != nil {
		return *s, true
	}
	return Sample{}, false
}

// All returns the newest sample of every tag, in no particular order.
func (l *Latest) All() []Sample {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Sample, 0, len(l.m))
	for _, s := range l.m {
		out = append(out, *s)
	}
	return out
}
