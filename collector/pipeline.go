package collector

import (
	"context"
	"sync"
)

// Consumer receives every batch after the latest cache has it. Consume runs on
// the pipeline's goroutine, in emit order, so a consumer sees each tag's samples
// in order; it must return quickly (queue slow work of its own). The batch is
// not reused by the pipeline and may be kept.
type Consumer interface {
	Consume(ctx context.Context, batch []Sample)
}

// Pipeline takes samples from protocols and hands them, in order, to the
// latest cache and then to each consumer.
type Pipeline struct {
	in        chan []Sample
	latest    *Latest
	consumers []Consumer
}

// DefaultQueue is how many batches may wait before Emit blocks the emitter.
const DefaultQueue = 1024

// NewPipeline returns a pipeline feeding latest and then consumers, in that order.
func NewPipeline(latest *Latest, consumers ...Consumer) *Pipeline {
	return &Pipeline{in: make(chan []Sample, DefaultQueue), latest: latest, consumers: consumers}
}

// Emit queues a batch. It blocks while the queue is full, so a burst slows
// the emitter rather than dropping readings, and returns ctx's error if ctx
// ends first.
func (p *Pipeline) Emit(ctx context.Context, batch []Sample) error {
	if len(batch) == 0 {
		return nil
	}
	select {
	case p.in <- batch:
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

func (p *Pipeline) dispatch(ctx context.Context, b []Sample) {
	if p.latest != nil {
		p.latest.Update(b)
	}
	for _, c := range p.consumers {
		c.Consume(ctx, b)
	}
}

// Latest keeps the newest sample of every tag.
type Latest struct {
	mu sync.RWMutex
	m  map[string]Sample
}

// NewLatest returns an empty cache.
func NewLatest() *Latest { return &Latest{m: make(map[string]Sample)} }

// Update records the batch; an older sample never replaces a newer one.
func (l *Latest) Update(b []Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range b {
		if old, ok := l.m[s.Tag]; ok && s.Time.Before(old.Time) {
			continue
		}
		l.m[s.Tag] = s
	}
}

// Get returns the newest sample of tag.
func (l *Latest) Get(tag string) (Sample, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.m[tag]
	return s, ok
}

// All returns the newest sample of every tag, in no particular order.
func (l *Latest) All() []Sample {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Sample, 0, len(l.m))
	for _, s := range l.m {
		out = append(out, s)
	}
	return out
}
