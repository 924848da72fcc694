package northbound

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// TagLookup finds a tag's metadata (*collector.Registry).
type TagLookup interface {
	Lookup(id string) (collector.Tag, bool)
}

// readings gathers the readings that go north: a collector.Consumer on
// the pipeline, so it sees every sample; it never blocks the pipeline and
// keeps at most pendingCap readings waiting for the broker, dropping the
// oldest (a later refresh carries the state again).
type readings struct {
	cfg   config.NorthboundReadings
	tags  TagLookup
	kinds map[string]bool

	mu      sync.Mutex
	last    map[string]sent // per tag: what went north last
	pending []Reading
	dropped uint64
	seq     int64
}

// sent is the last reading of a tag that went north.
type sent struct {
	value   float64
	quality collector.Quality
	at      time.Time // the gateway's clock when it went
}

func newReadings(cfg config.NorthboundReadings, tags TagLookup, start time.Time) *readings {
	r := &readings{cfg: cfg, tags: tags, kinds: map[string]bool{}, last: map[string]sent{}, seq: start.UnixMilli()}
	for _, k := range cfg.Kinds {
		r.kinds[k] = true
	}
	return r
}

func (r *readings) pendingCap() int { return 20 * r.cfg.MaxBatch }

// Consume keeps the samples that are due: moved past the deadband, changed
// quality, or not sent for a refresh.
func (r *readings) Consume(_ context.Context, batch []collector.Sample) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range batch {
		t, ok := r.tags.Lookup(s.Tag)
		if !ok || !r.kinds[t.Kind] {
			continue
		}
		prev, seen := r.last[s.Tag]
		if seen && prev.quality == s.Quality && now.Sub(prev.at) < r.cfg.Refresh &&
			(math.Abs(s.Value-prev.value) <= r.cfg.Deadband || (r.cfg.Deadband == 0 && s.Value == prev.value)) {
			continue
		}
		r.last[s.Tag] = sent{value: s.Value, quality: s.Quality, at: now}
		r.pending = append(r.pending, Reading{Tag: s.Tag, Kind: t.Kind, Unit: t.Unit, Value: s.Value, Quality: s.Quality.String(), Time: s.Time.UTC()})
	}
	if over := len(r.pending) - r.pendingCap(); over > 0 {
		r.pending = slices.Delete(r.pending, 0, over)
		r.dropped += uint64(over)
	}
}

// refreshDue re-queues the last value of every tag not sent for a refresh:
// a quiet tag (a level that does not move) still shows it is alive.
func (r *readings) refreshDue(now time.Time, latest func(tag string) (collector.Sample, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for tag, prev := range r.last {
		if now.Sub(prev.at) < r.cfg.Refresh {
			continue
		}
		s, ok := latest(tag)
		if !ok {
			continue
		}
		t, _ := r.tags.Lookup(tag)
		r.last[tag] = sent{value: s.Value, quality: s.Quality, at: now}
		r.pending = append(r.pending, Reading{Tag: tag, Kind: t.Kind, Unit: t.Unit, Value: s.Value, Quality: s.Quality.String(), Time: s.Time.UTC()})
	}
}

// next takes up to MaxBatch pending readings as a message; put gives them
// back (the broker did not take them), ahead of newer ones.
func (r *readings) next(site string, now time.Time) (ReadingMessage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return ReadingMessage{}, false
	}
	n := min(len(r.pending), r.cfg.MaxBatch)
	batch := slices.Clone(r.pending[:n])
	r.pending = slices.Delete(r.pending, 0, n)
	r.seq++
	return ReadingMessage{V: ContractVersion, Site: site, Time: now.UTC(), Seq: r.seq, Readings: batch}, true
}

func (r *readings) put(m ReadingMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(m.Readings, r.pending...)
	if over := len(r.pending) - r.pendingCap(); over > 0 {
		r.pending = slices.Delete(r.pending, 0, over) // the oldest go: a newer reading of the tag follows
		r.dropped += uint64(over)
	}
}

// droppedCount is how many readings were dropped; 0 on a nil feed.
func (r *readings) droppedCount() uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}
