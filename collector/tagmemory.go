package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// TagMemory keeps the tags devices create on first sight (MQTT subscription
// tags, Sparkplug metrics, GB/T 26875.3 points) in a file, with each one's
// newest sample and when it arrived. After a restart the registry, the
// latest-value cache and the stale rules know them before they speak again:
// the sensor that died while the gateway was down is the one that most needs
// its stale alarm.
//
// Protocols reach it as their TagAdder; the pipeline feeds it as a Consumer.
// It saves every SaveInterval and when Run stops, so a kill -9 loses at most
// one interval of last-seen times: a stale alarm after such a restart comes
// at most that much early, never late.
type TagMemory struct {
	path string
	reg  *Registry
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	tags   map[string]*remembered
	loaded []memoryRecord // as read from the file, until Recall
	dirty  bool
}

type remembered struct {
	tag  Tag
	last Sample
	seen time.Time // the gateway's clock when last arrived; zero before any
}

// Recalled is a tag remembered from an earlier run.
type Recalled struct {
	Tag  Tag
	Last Sample    // its newest sample then; Time is zero if it never sent one
	Seen time.Time // the gateway's clock when Last arrived
}

// TagMemoryOptions configure a TagMemory; zero fields take defaults.
type TagMemoryOptions struct {
	Log *slog.Logger
	Now func() time.Time
}

// SaveInterval is how often Run writes the file when something changed.
const SaveInterval = 5 * time.Second

// tagMemoryVersion is the file's format; a file of another version is set
// aside, not misread.
const tagMemoryVersion = 1

type memoryFile struct {
	Version int            `json:"version"`
	Saved   time.Time      `json:"saved"`
	Tags    []memoryRecord `json:"tags"`
}

type memoryRecord struct {
	Tag  Tag           `json:"tag"`
	Last *memorySample `json:"last,omitempty"`
	Seen time.Time     `json:"seen"`
}

// memorySample is a Sample in JSON: Value is null when not finite, as
// JSON has no NaN (a Bad reading's value).
type memorySample struct {
	Value   *float64  `json:"value"`
	Quality Quality   `json:"quality"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
}

// OpenTagMemory reads the file at path, if there is one. A file that cannot
// be parsed is renamed to path+".corrupt" and logged: the gateway must start
// without its memory rather than not at all. Only a file that exists but
// cannot be read is an error.
func OpenTagMemory(path string, reg *Registry, o TagMemoryOptions) (*TagMemory, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &TagMemory{path: path, reg: reg, log: o.Log, now: o.Now, tags: make(map[string]*remembered)}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tag memory %s: %w", path, err)
	}
	var f memoryFile
	if err = json.Unmarshal(b, &f); err == nil && f.Version != tagMemoryVersion {
		err = fmt.Errorf("version %d, want %d", f.Version, tagMemoryVersion)
	}
	if err != nil {
		aside := path + ".corrupt"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("tag memory %s: %v, and it cannot be set aside: %w", path, err, rerr)
		}
		m.log.Error("tag memory unreadable, set aside; tags created on first sight are known again when they next send",
			"file", path, "moved_to", aside, "err", err)
		return m, nil
	}
	m.loaded = f.Tags
	return m, nil
}

// Recall registers the remembered tags of devices keep accepts (the
// configured ones) and returns them with their last samples. Tags of
// devices no longer configured, tags unseen for longer than forgetAfter and
// ids that config now declares are dropped, and logged as a count.
func (m *TagMemory) Recall(keep func(device string) bool, forgetAfter time.Duration) []Recalled {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Recalled
	var gone, stale, taken int
	for _, r := range m.loaded {
		switch {
		case !keep(r.Tag.Device):
			gone++
			continue
		case forgetAfter > 0 && now.Sub(r.Seen) > forgetAfter:
			stale++
			continue
		case !m.reg.Recall(r.Tag):
			taken++
			continue
		}
		rec := Recalled{Tag: r.Tag, Seen: r.Seen, Last: Sample{Tag: r.Tag.ID, Value: math.NaN()}}
		if l := r.Last; l != nil {
			rec.Last.Quality, rec.Last.Reason, rec.Last.Time = l.Quality, l.Reason, l.Time
			if l.Value != nil {
				rec.Last.Value = *l.Value
			}
		}
		m.tags[r.Tag.ID] = &remembered{tag: r.Tag, last: rec.Last, seen: r.Seen}
		out = append(out, rec)
	}
	m.loaded = nil
	if gone+stale+taken > 0 {
		m.log.Info("tag memory: some remembered tags dropped", "device_not_configured", gone,
			"unseen_longer_than", forgetAfter.String(), "unseen", stale, "declared_in_config", taken)
		m.dirty = true
	}
	return out
}

// Add registers t in the registry and remembers it; protocols call it for a
// tag on first sight.
func (m *TagMemory) Add(t Tag) error {
	if err := m.reg.Add(t); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.tags[t.ID]
	if r == nil {
		r = &remembered{}
		m.tags[t.ID] = r
	}
	r.tag = t // today's metadata over what was remembered
	m.dirty = true
	return nil
}

// Consume notes the newest sample of every remembered tag.
func (m *TagMemory) Consume(_ context.Context, batch []Sample) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range batch {
		r := m.tags[batch[i].Tag]
		if r == nil || batch[i].Time.Before(r.last.Time) {
			continue
		}
		r.last, r.seen = batch[i], now
		m.dirty = true
	}
}

// Run saves every interval while something changed, and once more when ctx
// ends (after the pipeline has stopped, so the last samples are in).
func (m *TagMemory) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := m.Save(); err != nil {
				m.log.Error("tag memory not saved at stop", "file", m.path, "err", err)
			}
			return
		case <-t.C:
			if err := m.Save(); err != nil {
				m.log.Error("tag memory not saved", "file", m.path, "err", err)
			}
		}
	}
}

// Save writes the file if something changed since the last save: a
// temporary file, fsynced, renamed over the old one, so a crash leaves
// either the old file or the new one.
func (m *TagMemory) Save() error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	f := memoryFile{Version: tagMemoryVersion, Saved: m.now(), Tags: make([]memoryRecord, 0, len(m.tags))}
	for _, r := range m.tags {
		rec := memoryRecord{Tag: r.tag, Seen: r.seen}
		if !r.last.Time.IsZero() {
			s := &memorySample{Quality: r.last.Quality, Reason: r.last.Reason, Time: r.last.Time}
			if v := r.last.Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
				s.Value = &v
			}
			rec.Last = s
		}
		f.Tags = append(f.Tags, rec)
	}
	m.dirty = false
	m.mu.Unlock()

	sort.Slice(f.Tags, func(i, j int) bool { return f.Tags[i].Tag.ID < f.Tags[j].Tag.ID })
	b, err := json.Marshal(f)
	if err == nil {
		err = ReplaceFile(m.path, b)
	}
	if err != nil {
		m.mu.Lock()
		m.dirty = true // try again next time
		m.mu.Unlock()
		return fmt.Errorf("tag memory %s: %w", m.path, err)
	}
	return nil
}

// ReplaceFile writes b to a temporary file beside path, syncs it, renames
// it over path and syncs the directory: after a crash or a power cut path
// holds either its old content or b, never a part.
func ReplaceFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
