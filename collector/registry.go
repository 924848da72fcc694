package collector

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Registry holds every known tag. Tags come from config at start-up and, for
// protocols with templates, on first sight, so it is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	tags map[string]Tag
	// recalled are tags restored from an earlier run (TagMemory) that their
	// device has not claimed again yet.
	recalled map[string]bool
	// version counts replacements of a registered tag's metadata, from 1,
	// so a reader can keep what it learnt of the tags it found while it
	// stays the same (InfluxSink's series keys). A new tag leaves it as it
	// is: nothing was learnt of an id Lookup did not find.
	version atomic.Uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{tags: make(map[string]Tag), recalled: make(map[string]bool)}
	r.version.Store(1)
	return r
}

// Version changes whenever a registered tag is replaced (a recalled tag
// claimed by its device with today's metadata), not when one is added.
func (r *Registry) Version() uint64 { return r.version.Load() }

// Add registers t. A second tag with the same id is an error: two devices
// writing one tag would interleave their readings. A tag recalled from an
// earlier run is the exception: its own device claims it again, with the
// metadata of today's config.
func (r *Registry) Add(t Tag) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.tags[t.ID]; ok {
		if !r.recalled[t.ID] || old.Device != t.Device {
			return fmt.Errorf("tag %q already registered by device %q", t.ID, old.Device)
		}
		delete(r.recalled, t.ID)
		r.version.Add(1)
	}
	r.tags[t.ID] = t
	return nil
}

// Recall registers a tag remembered from an earlier run, unless the id is
// taken. Its device's next Add of the same id succeeds.
func (r *Registry) Recall(t Tag) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tags[t.ID]; ok {
		return false
	}
	r.tags[t.ID] = t
	r.recalled[t.ID] = true
	return true
}

// Lookup returns the tag with the given id.
func (r *Registry) Lookup(id string) (Tag, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tags[id]
	return t, ok
}

// All returns every tag, sorted by id.
func (r *Registry) All() []Tag {
	r.mu.RLock()
	out := make([]Tag, 0, len(r.tags))
	for _, t := range r.tags {
		out = append(out, t)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
