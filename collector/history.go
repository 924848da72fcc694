package collector

import (
	"context"
	"slices"
	"sync"
	"time"
)

// History keeps each tag's recent samples in memory, for trends on the
// console when there is no InfluxDB to ask, or while it is down. It is a
// Consumer: add it to the pipeline. Each tag keeps at most its newest perTag
// samples, none older than window behind the tag's newest, whatever the poll
// rate. Samples are held compressed in chunks (history_chunk.go), dropped a
// whole chunk at a time: a tag holds at most perTag + one chunk of points,
// about 6 bytes each for a steady polled value, 14 for noise (24 plain).
type History struct {
	perTag, chunkPoints int
	window              time.Duration

	mu   sync.RWMutex
	tags map[string]*recent
}

// Defaults of NewHistory's bounds: an hour at 5 s polling, 12 minutes at
// 1 s.
const (
	DefaultHistoryPerTag = 720
	DefaultHistoryWindow = time.Hour
)

// maxChunkPoints caps a chunk: more would only delay dropping the oldest.
const maxChunkPoints = 120

// point is a sample without its tag and reason: what a trend needs.
type point struct {
	t int64 // Unix nanoseconds
	v float64
	q Quality
}

// recent is a tag's points: sealed chunks, oldest first, then the open one.
type recent struct {
	sealed []chunk
	open   chunkWriter
	n      int // points in sealed and open
}

// newest is the time of the tag's newest point; r holds at least one.
func (r *recent) newest() int64 {
	if r.open.n > 0 {
		return r.open.last
	}
	return r.sealed[len(r.sealed)-1].last
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
	// Six chunks or so per tag: the memory past perTag stays a sixth.
	chunkPoints := min(max(perTag/6, 8), maxChunkPoints)
	return &History{perTag: perTag, chunkPoints: chunkPoints, window: window, tags: make(map[string]*recent)}
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
		if r.n > 0 && p.t < r.newest() {
			continue
		}
		r.open.add(p)
		r.n++
		if r.open.n >= h.chunkPoints {
			r.sealed = append(r.sealed, r.open.seal())
		}
		// Drop the oldest chunk once every point in it is past a bound; Range
		// hides the points past them in the chunks kept.
		cut := p.t - int64(h.window)
		for len(r.sealed) > 0 && (r.n-r.sealed[0].n >= h.perTag || r.sealed[0].last < cut) {
			r.n -= r.sealed[0].n
			r.sealed = slices.Delete(r.sealed, 0, 1)
		}
	}
}

// Range returns tag's samples with from <= time < to, oldest first; nil
// when the tag has none.
func (h *History) Range(tag string, from, to time.Time) []Sample {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.tags[tag]
	if r == nil || r.n == 0 {
		return nil
	}
	f, t := from.UnixNano(), to.UnixNano()
	f = max(f, r.newest()-int64(h.window))
	skip := r.n - h.perTag // the oldest points, past the count bound
	var out []Sample
	scan := func(c *chunk) {
		if skip >= c.n || c.last < f || c.first >= t {
			skip -= c.n
			return
		}
		_ = c.each(func(p point) bool {
			if skip > 0 {
				skip--
				return true
			}
			if p.t >= f && p.t < t {
				out = append(out, Sample{Tag: tag, Value: p.v, Quality: p.q, Time: time.Unix(0, p.t)})
			}
			return p.t < t
		}) // written here: not corrupt
		skip = 0
	}
	for i := range r.sealed {
		scan(&r.sealed[i])
	}
	scan(&r.open.chunk)
	return out
}
