package collector

import (
	"context"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name     string
		perTag   int
		window   time.Duration
		secs     []int // sample times of tag A, value = the second
		from, to int
		want     []int
	}{
		{"all within bounds", 10, time.Hour, []int{0, 1, 2, 3}, 0, 100, []int{0, 1, 2, 3}},
		{"range is half-open", 10, time.Hour, []int{0, 1, 2, 3}, 1, 3, []int{1, 2}},
		{"count bound keeps newest", 3, time.Hour, []int{0, 1, 2, 3, 4}, 0, 100, []int{2, 3, 4}},
		{"window bound", 100, 10 * time.Second, []int{0, 5, 12, 20}, 0, 100, []int{12, 20}},
		{"older sample ignored", 10, time.Hour, []int{0, 5, 3, 6}, 0, 100, []int{0, 5, 6}},
		{"newest kept even alone past the window", 10, time.Second, []int{0, 100}, 0, 1000, []int{100}},
		{"many samples wrap and compact", 50, time.Hour, seq(0, 1000), 0, 10000, seq(950, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(tt.perTag, tt.window)
			for _, s := range tt.secs {
				// One sample per batch, with another tag interleaved.
				h.Consume(context.Background(), []Sample{{Tag: "A", Value: float64(s), Time: at(s)}, {Tag: "B", Value: -1, Time: at(s)}})
			}
			got := h.Range("A", at(tt.from), at(tt.to))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d samples %v, want %v", len(got), got, tt.want)
			}
			for i, s := range got {
				if s.Tag != "A" || s.Value != float64(tt.want[i]) || !s.Time.Equal(at(tt.want[i])) {
					t.Errorf("sample %d = %+v, want value and second %d", i, s, tt.want[i])
				}
			}
		})
	}
	if got := NewHistory(0, 0).Range("none", t0, at(1)); got != nil {
		t.Errorf("unknown tag: %v", got)
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestHistoryKeepsQuality(t *testing.T) {
	h := NewHistory(0, 0)
	now := time.Now()
	h.Consume(context.Background(), []Sample{{Tag: "A", Quality: Bad, Reason: ReasonCommLoss, Time: now}})
	got := h.Range("A", now.Add(-time.Second), now.Add(time.Second))
	if len(got) != 1 || got[0].Quality != Bad {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkHistoryConsume(b *testing.B) {
	h := NewHistory(DefaultHistoryPerTag, DefaultHistoryWindow)
	batch := make([]Sample, 100)
	t0 := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = Sample{Tag: string(rune('A' + j%50)), Value: float64(i), Time: t0.Add(time.Duration(i) * time.Second)}
		}
		h.Consume(context.Background(), batch)
	}
}
