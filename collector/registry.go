package collector

import (
	"fmt"
	"sort"
	"sync"
)

// Registry holds every known tag. Tags come from config at start-up and, for
// protocols with templates, on first sight, so it is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	tags map[string]Tag
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{tags: make(map[string]Tag)} }

// Add registers t. A second tag with the same id is an error: two devices
// writing one tag would interleave their readings.
func (r *Registry) Add(t Tag) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.tags[t.ID]; ok {
		return fmt.Errorf("tag %q already registered by device %q", t.ID, old.Device)
	}
	r.tags[t.ID] = t
	return nil
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
