package collector

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
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

// TestHistoryMatchesModel checks Range against the plain rule it keeps:
// of the samples consumed in order, the newest perTag, none older than
// window behind the newest, within [from, to). Chunk edges fall everywhere.
func TestHistoryMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano()
	for trial := range 300 {
		perTag := 1 + rng.IntN(300)
		window := time.Duration(1+rng.IntN(600)) * time.Second
		h := NewHistory(perTag, window)
		var kept []Sample // every sample Consume accepted, in order
		last := t0
		for range rng.IntN(1500) {
			last += rng.Int64N(int64(3 * time.Second))
			if rng.IntN(20) == 0 {
				last -= int64(5 * time.Second) // older than the newest: ignored
			}
			s := Sample{Tag: "A", Value: float64(rng.IntN(4)), Quality: Quality(rng.IntN(3)), Time: time.Unix(0, last)}
			if len(kept) == 0 || !s.Time.Before(kept[len(kept)-1].Time) {
				kept = append(kept, s)
			}
			h.Consume(context.Background(), []Sample{s})
		}
		from := time.Unix(0, t0+rng.Int64N(max(last-t0, 1)))
		to := from.Add(time.Duration(rng.Int64N(int64(2 * window))))
		var want []Sample
		if n := len(kept); n > 0 {
			cut := kept[n-1].Time.Add(-window)
			for _, s := range kept[max(n-perTag, 0):] {
				if !s.Time.Before(cut) && !s.Time.Before(from) && s.Time.Before(to) {
					want = append(want, s)
				}
			}
		}
		got := h.Range("A", from, to)
		if len(got) != len(want) {
			t.Fatalf("trial %d (perTag %d, window %s, %d kept): got %d samples, want %d", trial, perTag, window, len(kept), len(got), len(want))
		}
		for i := range got {
			if !got[i].Time.Equal(want[i].Time) || got[i].Value != want[i].Value || got[i].Quality != want[i].Quality {
				t.Fatalf("trial %d: sample %d = %+v, want %+v", trial, i, got[i], want[i])
			}
		}
	}
}

func TestChunkRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pts  []point
	}{
		{"one", []point{{t: 1_700_000_000_123_456_789, v: 0.25}}},
		{"steady poll", []point{{t: 1e18, v: 3}, {t: 1e18 + 1e9, v: 3}, {t: 1e18 + 2e9, v: 3}, {t: 1e18 + 3e9 + 17, v: 3.5}}},
		{"equal times", []point{{t: 5, v: 1}, {t: 5, v: 2}, {t: 5, v: 2}}},
		{"quality changes", []point{{t: 1, q: Bad}, {t: 2, q: Bad}, {t: 3, v: 7, q: Good}, {t: 4, v: 7, q: Uncertain}}},
		{"specials", []point{{t: 1, v: math.NaN()}, {t: 2, v: math.Inf(1)}, {t: 3, v: math.Inf(-1)}, {t: 4, v: math.Copysign(0, -1)}, {t: 5, v: math.MaxFloat64}, {t: 6, v: math.SmallestNonzeroFloat64}}},
		{"extreme times", []point{{t: math.MinInt64}, {t: -1}, {t: 0}, {t: math.MaxInt64}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w chunkWriter
			for _, p := range tt.pts {
				w.add(p)
			}
			open := w.chunk
			assertChunk(t, &open, tt.pts)
			sealed := w.seal()
			assertChunk(t, &sealed, tt.pts)
			if w.n != 0 || len(w.b) != 0 {
				t.Errorf("after seal the writer holds %d points, %d bytes", w.n, len(w.b))
			}
		})
	}
}

// assertChunk fails t unless c decodes to want, bit for bit.
func assertChunk(t *testing.T, c *chunk, want []point) {
	t.Helper()
	var got []point
	if err := c.each(func(p point) bool { got = append(got, p); return true }); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].t != want[i].t || math.Float64bits(got[i].v) != math.Float64bits(want[i].v) || got[i].q != want[i].q {
			t.Fatalf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(want) > 0 && (c.first != want[0].t || c.last != want[len(want)-1].t) {
		t.Errorf("first, last = %d, %d; want %d, %d", c.first, c.last, want[0].t, want[len(want)-1].t)
	}
}

// TestHistoryBytesPerPoint holds what the compression is for: a full tag's
// hour costs a few KiB, not the 17 KiB of plain points (24 bytes each).
func TestHistoryBytesPerPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		value func(i int) float64
		max   float64 // bytes per point held
	}{
		// A detector at 0 %LEL, now and then 1: what most tags look like.
		// The poll times' jitter of up to 2 ms, kept to the nanosecond, is
		// most of it.
		{"steady", func(i int) float64 { return float64(i / 100 % 2) }, 6.5},
		// bench/peers' readings: three random decimals every time.
		{"noise", func(int) float64 { return 0.2 + float64(rng.IntN(100))/1000 }, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(DefaultHistoryPerTag, DefaultHistoryWindow)
			at := t0
			for i := range 5 * DefaultHistoryPerTag {
				at = at.Add(time.Second + time.Duration(rng.IntN(2000))*time.Microsecond) // a poll's jitter
				h.Consume(context.Background(), []Sample{{Tag: "A", Value: tt.value(i), Time: at}})
			}
			r := h.tags["A"]
			held := cap(r.open.b)
			for _, c := range r.sealed {
				held += cap(c.b)
			}
			perPoint := float64(held) / float64(r.n)
			t.Logf("%d points held in %d bytes: %.1f bytes a point", r.n, held, perPoint)
			if r.n < DefaultHistoryPerTag || perPoint > tt.max {
				t.Errorf("%d points at %.1f bytes a point; want at least %d at most %.1f", r.n, perPoint, DefaultHistoryPerTag, tt.max)
			}
		})
	}
}

// FuzzHistoryChunk encodes the points the input makes and decodes them
// back; and decodes the input itself as a chunk, which must fail cleanly.
func FuzzHistoryChunk(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Add([]byte{0x81, 0x80, 0x80, 0x02, 0x37, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var w chunkWriter
		var pts []point
		tm := int64(0)
		for b := in; len(b) >= 9; b = b[9:] {
			tm += int64(int8(b[0])) * 1_000_003 // may step back: the codec does not care
			p := point{t: tm, v: math.Float64frombits(binary.LittleEndian.Uint64(b[1:9])), q: Quality(b[0] % 3)}
			w.add(p)
			pts = append(pts, p)
		}
		c := w.seal()
		assertChunk(t, &c, pts)
		raw := chunk{b: in, n: len(in)}
		_ = raw.each(func(point) bool { return true })
	})
}
