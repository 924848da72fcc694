package collector

import (
	"context"
	"sync"
	"time"
)

// History keeps each tag's recent samples in memory, for trends on the
// console when there is no InfluxDB to ask. It is a Consumer: add it to the
// pipeline. Each tag keeps at most its newest perTag samples, none older
// than window behind the tag's newest, so memory is bounded by tags × perTag
// × 24 bytes whatever the poll rate.
type History struct {
	perTag int
	window time.Duration

	mu   sync.RWMutex
	tags map[string]*recent
}

// Defaults of NewHistory's bounds: an hour at 5 s polling, 12 minutes at
// 1 s; about 17 KiB per tag when full.
const (
	DefaultHistoryPerTag = 720
	DefaultHistoryWindow = time.Hour
)

// point is a sample without its tag and reason: what a trend needs.
type point struct {
	t int64 // Unix nanoseconds
	v float64
	q Quality
}

// recent is a tag's points, oldest first, in pts[start:]. Dropping the
// oldest moves start; the slice is compacted once half of it is dead, so
// each sample costs O(1) amortised and at most 2 × perTag points are held.
type recent struct {
	pts   []point
	start int
}

// NewHistory keeps up to perTag samples per tag within window of the tag's
// newest; values <= 0 take the defaults.
func NewHistory(perTag int, window time.Duration) *History {
	if perTag <= 0 {
		perTag = DefaultHistoryPerTag
	}
	if window <= 0 {
		window = DefaultHistoryWindow
	}
	return &History{perTag: perTag, window: window, tags: make(map[string]*recent)}
}

// Consume records the batch. A sample older than the tag's newest is
// ignored: the pipeline keeps each tag in order, so it can only be a
// replayed duplicate.
func (h *History) Consume(_ context.Context, batch []Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		r := h.tags[s.Tag]
		if r == nil {
			r = &recent{}
			h.tags[s.Tag] = r
		}
		p := point{t: s.Time.UnixNano(), v: s.Value, q: s.Quality}
		if n := len(r.pts); n > r.start && p.t < r.pts[n-1].t {
			continue
		}
		r.pts = append(r.pts, p)
		// Keep perTag points, and drop what fell out of the window so a
		// slowly polled tag still shows only the last window.
		cut := p.t - int64(h.window)
		for len(r.pts)-r.start > h.perTag || (len(r.pts)-r.start > 1 && r.pts[r.start].t < cut) {
			r.start++
		}
		if r.start >= 16 && r.start*2 >= len(r.pts) {
			n := copy(r.pts, r.pts[r.start:])
			r.pts, r.start = r.pts[:n], 0
		}
	}
}

// Range returns tag's samples with from <= time < to, oldest first; nil
// when the tag has none.
func (h *History) Range(tag string, from, to time.Time) []Sample {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.tags[tag]
	if r == nil {
		return nil
	}
	f, t := from.UnixNano(), to.UnixNano()
	var out []Sample
	for _, p := range r.pts[r.start:] {
		if p.t >= f && p.t < t {
			out = append(out, Sample{Tag: tag, Value: p.v, Quality: p.q, Time: time.Unix(0, p.t)})
		}
	}
	return out
}
