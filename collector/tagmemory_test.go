package collector

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTagMemoryRoundTrip: tags added on first sight and their newest
// samples are saved, and a new run recalls them into its registry, where
// their own device claims them again and another device still cannot.
func TestTagMemoryRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.json")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }

	reg := NewRegistry()
	m, err := OpenTagMemory(path, reg, TagMemoryOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Recall(func(string) bool { return true }, 0); len(got) != 0 {
		t.Fatalf("fresh memory recalled %d tags", len(got))
	}
	for _, tg := range []Tag{
		{ID: "H-1", Device: "iot", Kind: "hydrant_pressure", Unit: "MPa"},
		{ID: "G-1", Device: "iot", Kind: "combustible_gas", Unit: "%LEL"},
		{ID: "F-1", Device: "panel", Kind: "fire_panel"},
		{ID: "X-1", Device: "removed"},
	} {
		if err := m.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	m.Consume(context.Background(), []Sample{
		{Tag: "H-1", Value: 0.42, Time: t0.Add(-time.Second)},
		{Tag: "G-1", Value: math.NaN(), Quality: Bad, Reason: ReasonSensorFault, Time: t0},
		{Tag: "undeclared", Value: 1, Time: t0}, // not remembered: not added through the memory
	})
	clock = t0.Add(time.Minute)
	m.Consume(context.Background(), []Sample{
		{Tag: "H-1", Value: 0.40, Time: t0.Add(time.Minute)},
		{Tag: "H-1", Value: 9, Time: t0.Add(-time.Hour)}, // late history never replaces the newest
	})
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}

	reg2 := NewRegistry()
	if err := reg2.Add(Tag{ID: "F-1", Device: "panel-declared"}); err != nil { // config now declares it
		t.Fatal(err)
	}
	m2, err := OpenTagMemory(path, reg2, TagMemoryOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got := m2.Recall(func(dev string) bool { return dev != "removed" }, 0)
	byID := map[string]Recalled{}
	for _, r := range got {
		byID[r.Tag.ID] = r
	}
	if len(got) != 2 || byID["H-1"].Tag.Unit != "MPa" || byID["G-1"].Tag.Kind != "combustible_gas" {
		t.Fatalf("recalled %+v, want H-1 and G-1 with their metadata", got)
	}
	if h := byID["H-1"]; h.Last.Value != 0.40 || !h.Last.Time.Equal(t0.Add(time.Minute)) || !h.Seen.Equal(t0.Add(time.Minute)) {
		t.Errorf("H-1 recalled as %+v, want 0.40 at %s seen then", h, t0.Add(time.Minute))
	}
	if g := byID["G-1"]; !math.IsNaN(g.Last.Value) || g.Last.Quality != Bad || g.Last.Reason != ReasonSensorFault || !g.Seen.Equal(t0) {
		t.Errorf("G-1 recalled as %+v, want a Bad sensor_fault NaN seen at %s", g, t0)
	}
	if tg, ok := reg2.Lookup("F-1"); !ok || tg.Device != "panel-declared" {
		t.Errorf("F-1 is %+v, want the declared tag kept", tg)
	}
	if _, ok := reg2.Lookup("X-1"); ok {
		t.Error("X-1 of a device no longer configured was recalled")
	}
	if err := m2.Add(Tag{ID: "H-1", Device: "other"}); err == nil {
		t.Error("another device took a recalled tag")
	}
	if err := m2.Add(Tag{ID: "H-1", Device: "iot", Kind: "hydrant_pressure", Unit: "kPa"}); err != nil {
		t.Errorf("its own device could not claim a recalled tag: %v", err)
	}
	if tg, _ := reg2.Lookup("H-1"); tg.Unit != "kPa" {
		t.Errorf("claimed tag has unit %q, want today's kPa", tg.Unit)
	}
	if err := m2.Add(Tag{ID: "H-1", Device: "iot"}); err == nil {
		t.Error("a second Add of a claimed tag passed: the registry's duplicate check is gone")
	}
}

func TestTagMemoryForgets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.json")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := t0
	m, err := OpenTagMemory(path, NewRegistry(), TagMemoryOptions{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old", "recent"} {
		if err := m.Add(Tag{ID: id, Device: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	m.Consume(context.Background(), []Sample{{Tag: "old", Value: 1, Time: t0}})
	clock = t0.Add(20 * 24 * time.Hour)
	m.Consume(context.Background(), []Sample{{Tag: "recent", Value: 1, Time: clock}})
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(31 * 24 * time.Hour)
	reg := NewRegistry()
	m2, err := OpenTagMemory(path, reg, TagMemoryOptions{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	got := m2.Recall(func(string) bool { return true }, 30*24*time.Hour)
	if len(got) != 1 || got[0].Tag.ID != "recent" {
		t.Fatalf("recalled %+v, want only the tag seen within 30 days", got)
	}
	if _, ok := reg.Lookup("old"); ok {
		t.Error("forgotten tag is in the registry")
	}
}

// TestTagMemoryCorruptFile: an unreadable file is set aside and the
// gateway starts with an empty memory, which it saves afresh.
func TestTagMemoryCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"tags":[{"tag":{"id":"a"`,
		"other version": `{"version":99,"tags":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tags.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := OpenTagMemory(path, NewRegistry(), TagMemoryOptions{})
			if err != nil {
				t.Fatalf("corrupt file stopped the start: %v", err)
			}
			if got := m.Recall(func(string) bool { return true }, 0); len(got) != 0 {
				t.Errorf("recalled %d tags from a corrupt file", len(got))
			}
			if b, err := os.ReadFile(path + ".corrupt"); err != nil || string(b) != content {
				t.Errorf("corrupt file not set aside whole: %q, %v", b, err)
			}
			if err := m.Add(Tag{ID: "a", Device: "d"}); err != nil {
				t.Fatal(err)
			}
			if err := m.Save(); err != nil {
				t.Fatalf("save after a corrupt file: %v", err)
			}
		})
	}
}
