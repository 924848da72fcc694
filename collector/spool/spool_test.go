package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 7, time.UTC)

func batch(i int) Batch {
	return Batch{
		Points: i%3 + 1,
		Oldest: t0.Add(time.Duration(i) * time.Second),
		Body:   fmt.Appendf(nil, "reading,tag=T%d value=%d %d\n", i, i, t0.Add(time.Duration(i)*time.Second).UnixNano()),
	}
}

func open(t *testing.T, opts Options) *Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func appendN(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append(batch(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// drain reads and commits up to max batches and returns their indexes,
// parsed back from the bodies.
func drain(t *testing.T, s *Spool, max int) []int {
	t.Helper()
	var got []int
	for len(got) < max {
		b, p, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		var i int
		if _, err := fmt.Sscanf(string(b.Body), "reading,tag=T%d", &i); err != nil {
			t.Fatalf("body %q: %v", b.Body, err)
		}
		want := batch(i)
		if !bytes.Equal(b.Body, want.Body) || b.Points != want.Points || !b.Oldest.Equal(want.Oldest) {
			t.Fatalf("batch %d came back as %+v, want %+v", i, b, want)
		}
		if err := s.Commit(p); err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	return got
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func points(from, to int) int {
	n := 0
	for i := from; i < to; i++ {
		n += batch(i).Points
	}
	return n
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestSpoolRoundTripInOrder(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, SegmentBytes: 200})
	appendN(t, s, 0, 20)
	st := s.Stats()
	if st.Points != points(0, 20) || st.Appended != uint64(points(0, 20)) || !st.Oldest.Equal(t0) {
		t.Errorf("stats after append %+v", st)
	}
	if n := len(segFiles(t, dir)); n < 3 {
		t.Errorf("%d segment files, want several with 200-byte segments", n)
	}
	// Next without Commit hands out the same batch again.
	b1, _, _, _ := s.Next()
	b2, _, _, _ := s.Next()
	if !bytes.Equal(b1.Body, b2.Body) {
		t.Error("Next moved on without Commit")
	}
	if got := drain(t, s, 100); !slices.Equal(got, seq(0, 20)) {
		t.Errorf("replayed %v", got)
	}
	st = s.Stats()
	if st.Points != 0 || st.Bytes != 0 || st.Replayed != uint64(points(0, 20)) || !st.Oldest.IsZero() {
		t.Errorf("stats after drain %+v", st)
	}
	// Only the segment still taking appends is left.
	if n := len(segFiles(t, dir)); n > 1 {
		t.Errorf("%d segment files left after replay", n)
	}
	// Appends after a full drain read back too.
	appendN(t, s, 20, 22)
	if got := drain(t, s, 100); !slices.Equal(got, seq(20, 22)) {
		t.Errorf("replayed %v", got)
	}
}

func TestSpoolResumesFromCursor(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, SegmentBytes: 150})
	appendN(t, s, 0, 10)
	if got := drain(t, s, 4); !slices.Equal(got, seq(0, 4)) {
		t.Fatalf("replayed %v", got)
	}
	_, p, _, _ := s.Next() // batch 4 in flight at the crash: not committed
	_ = p
	s.Close()

	s = open(t, Options{Dir: dir, SegmentBytes: 150})
	st := s.Stats()
	if st.Points != points(4, 10) || !st.Oldest.Equal(batch(4).Oldest) {
		t.Errorf("stats after reopen %+v, want %d points from batch 4", st, points(4, 10))
	}
	appendN(t, s, 10, 12)
	if got := drain(t, s, 100); !slices.Equal(got, seq(4, 12)) {
		t.Errorf("replayed %v, want 4..11", got)
	}
}

func TestSpoolTornTail(t *testing.T) {
	tests := []struct {
		name string
		tear func(data []byte) []byte
	}{
		{"last record cut short", func(d []byte) []byte { return d[:len(d)-5] }},
		{"header only", func(d []byte) []byte { return append(d, 40, 0, 0, 0, 1, 2) }},
		{"zero-filled tail", func(d []byte) []byte { return append(d, make([]byte, 64)...) }},
		{"bit flip in last record", func(d []byte) []byte { d[len(d)-3] ^= 0x10; return d }},
		{"length beyond the end", func(d []byte) []byte {
			r := appendRecord(nil, batch(99))
			r[0]++
			return append(d, r...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, Options{Dir: dir})
			appendN(t, s, 0, 3)
			s.Close()
			files := segFiles(t, dir)
			data, err := os.ReadFile(files[len(files)-1])
			if err != nil {
				t.Fatal(err)
			}
			torn := tt.tear(data)
			if err := os.WriteFile(files[len(files)-1], torn, 0o640); err != nil {
				t.Fatal(err)
			}
			wantBack := 3
			if len(torn) <= len(data) {
				wantBack = 2 // the damaged third record goes
			}

			s = open(t, Options{Dir: dir})
			st := s.Stats()
			if st.Skipped != 1 || st.Points != points(0, wantBack) {
				t.Errorf("stats %+v, want 1 skipped and %d points", st, points(0, wantBack))
			}
			appendN(t, s, 3, 5) // appends after a torn tail are readable
			want := append(seq(0, wantBack), 3, 4)
			if got := drain(t, s, 100); !slices.Equal(got, want) {
				t.Errorf("replayed %v, want %v", got, want)
			}
		})
	}
}

func TestSpoolCorruptRecordSkipsRestOfSegment(t *testing.T) {
	dir := t.TempDir()
	rec := int64(len(appendRecord(nil, batch(0))))
	// Three records per segment.
	s := open(t, Options{Dir: dir, SegmentBytes: 3 * rec})
	appendN(t, s, 0, 9)
	s.Close()
	files := segFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d segments, want 3", len(files))
	}
	// Rot in the middle record of the first segment: its checksum fails on
	// replay (Open checks only the last segment's tail).
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[rec+headerLen+10] ^= 0xff
	if err := os.WriteFile(files[0], data, 0o640); err != nil {
		t.Fatal(err)
	}

	s = open(t, Options{Dir: dir, SegmentBytes: 3 * rec})
	if got := drain(t, s, 100); !slices.Equal(got, append([]int{0}, seq(3, 9)...)) {
		t.Errorf("replayed %v, want 0 then 3..8", got)
	}
	if st := s.Stats(); st.Skipped != 1 || st.SkippedPoints != uint64(points(1, 3)) || st.Points != 0 {
		t.Errorf("stats %+v, want 1 skipped record and %d skipped points", st, points(1, 3))
	}
}

func TestSpoolOverflowDropsOldestSegment(t *testing.T) {
	dir := t.TempDir()
	rec := int64(len(appendRecord(nil, batch(0))))
	var calls []int
	// Two records per segment, room for six.
	s := open(t, Options{Dir: dir, SegmentBytes: 2 * rec, MaxBytes: 6*rec + 2,
		OnOverflow: func(n int) { calls = append(calls, n) }})
	appendN(t, s, 0, 6)
	if len(calls) != 0 {
		t.Fatalf("overflow before the spool is full: %v", calls)
	}
	// Batch 0 is being replayed when the bound drops its segment.
	_, inflight, _, _ := s.Next()
	appendN(t, s, 6, 7)
	if !slices.Equal(calls, []int{points(0, 2)}) {
		t.Errorf("overflow calls %v, want one for batches 0 and 1 (%d points)", calls, points(0, 2))
	}
	if err := s.Commit(inflight); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Dropped != uint64(points(0, 2)) || st.Bytes > 6*rec+2 || st.Points != points(2, 7) {
		t.Errorf("stats %+v", st)
	}
	if got := drain(t, s, 100); !slices.Equal(got, seq(2, 7)) {
		t.Errorf("replayed %v, want 2..6", got)
	}

	big := Batch{Points: 1, Body: make([]byte, 7*rec)}
	if err := s.Append(big); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("append larger than max bytes: %v", err)
	}
}

func TestSpoolUnreadableCursorReplaysFromStart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	appendN(t, s, 0, 4)
	drain(t, s, 2)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorName), []byte("garbage, not a cursor"), 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir})
	// Twice is harmless for InfluxDB; never skipping is the point.
	if got := drain(t, s, 100); !slices.Equal(got, seq(0, 4)) {
		t.Errorf("replayed %v, want all from the start", got)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("no dir: no error")
	}
	if _, err := Open(Options{Dir: t.TempDir(), MaxBytes: -1}); err == nil {
		t.Error("negative max bytes: no error")
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o640)
	if _, err := Open(Options{Dir: file}); err == nil {
		t.Error("dir is a file: no error")
	}
}

// FuzzReadRecord: any bytes either decode to a record that encodes back to
// exactly those bytes, or are refused; never a panic or a huge allocation.
func FuzzReadRecord(f *testing.F) {
	good := appendRecord(nil, batch(1))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(slices.Clone(good), good...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(appendRecord(nil, Batch{Points: 0, Oldest: time.Unix(0, -1)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		b, next, err := readRecord(r, 0, int64(len(data)))
		m, mnext, merr := readMeta(r, 0, int64(len(data)))
		if err != nil {
			return
		}
		if next > int64(len(data)) {
			t.Fatalf("next %d beyond %d bytes", next, len(data))
		}
		if again := appendRecord(nil, b); !bytes.Equal(again, data[:next]) {
			t.Fatalf("record %x decoded to %+v, which encodes as %x", data[:next], b, again)
		}
		if merr != nil || mnext != next || m.Points != b.Points || !m.Oldest.Equal(b.Oldest) {
			t.Fatalf("readMeta %+v %d %v disagrees with readRecord %+v %d", m, mnext, merr, b, next)
		}
	})
}

// FuzzSegmentTail: good records followed by any bytes, as a crash might
// leave them. The good records come back intact and first; garbage never
// comes back (only a tail with a valid length and checksum could).
func FuzzSegmentTail(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Add(appendRecord(nil, batch(7))[:20])
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		var data []byte
		for i := range 3 {
			data = appendRecord(data, batch(i))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016x%s", 1, segSuffix)), append(data, tail...), 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := 0; ; i++ {
			b, p, ok, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				if i < 3 {
					t.Fatalf("only %d of 3 good records came back", i)
				}
				return
			}
			if i < 3 {
				want := batch(i)
				if !bytes.Equal(b.Body, want.Body) || b.Points != want.Points {
					t.Fatalf("record %d came back as %+v", i, b)
				}
			} else if again := appendRecord(nil, b); !bytes.Contains(tail, again) {
				t.Fatalf("replayed %+v, which is not a whole record of the tail", b)
			}
			if err := s.Commit(p); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSpoolClosed(t *testing.T) {
	s := open(t, Options{})
	appendN(t, s, 0, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(batch(1)); err != ErrClosed {
		t.Errorf("Append after Close: %v", err)
	}
	if _, _, _, err := s.Next(); err != ErrClosed {
		t.Errorf("Next after Close: %v", err)
	}
	if st := s.Stats(); st.Points != 1 || !st.Oldest.IsZero() {
		t.Errorf("Stats after Close: %+v", st)
	}
}

// A segment begun after every earlier one was replayed and removed must
// not take a used id: the cursor already points past it, and the next Open
// would delete it as replayed.
func TestSpoolNewSegmentAfterAllRemovedSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 1})
	appendN(t, s, 0, 2) // each record closes its segment
	if got := drain(t, s, 10); !slices.Equal(got, seq(0, 2)) {
		t.Fatalf("drained %v, want %v", got, seq(0, 2))
	}
	appendN(t, s, 2, 4)
	s.Close()
	s = open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 1})
	if got := drain(t, s, 10); !slices.Equal(got, seq(2, 4)) {
		t.Fatalf("after reopen drained %v, want %v", got, seq(2, 4))
	}
}

func TestSpoolAppendAllAndNextAfter(t *testing.T) {
	for _, segBytes := range []int64{0, 1, 200} {
		t.Run(fmt.Sprint(segBytes), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: segBytes})
			var bs []Batch
			for i := range 10 {
				bs = append(bs, batch(i))
			}
			if err := s.AppendAll(bs[:6]); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendAll(bs[6:]); err != nil {
				t.Fatal(err)
			}
			// Read all ten ahead of the cursor, commit the first four.
			b, p, ok, err := s.Next()
			var ps []Pos
			for i := 0; ok; i++ {
				if err != nil || !bytes.Equal(b.Body, bs[i].Body) {
					t.Fatalf("batch %d: %q, %v; want %q", i, b.Body, err, bs[i].Body)
				}
				ps = append(ps, p)
				b, p, ok, err = s.NextAfter(p)
			}
			if len(ps) != 10 {
				t.Fatalf("read ahead %d batches, want 10", len(ps))
			}
			for _, p := range ps[:4] {
				if err := s.Commit(p); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			s = open(t, Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: segBytes})
			if got := drain(t, s, 20); !slices.Equal(got, seq(4, 10)) {
				t.Fatalf("after reopen drained %v, want %v", got, seq(4, 10))
			}
		})
	}
}

// Reading ahead stops at a corrupt record; once the reader has committed
// up to it, Next skips the rest of its segment as before.
func TestSpoolNextAfterStopsAtCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	rec := int64(len(appendRecord(nil, batch(0))))
	s := open(t, Options{Dir: dir, SegmentBytes: 3 * rec})
	appendN(t, s, 0, 9)
	s.Close()
	files := segFiles(t, dir)
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	data[rec+headerLen+10] ^= 0xff // record 4
	if err := os.WriteFile(files[1], data, 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir, SegmentBytes: 3 * rec})
	_, p, ok, err := s.Next()
	var ps []Pos
	for ok && err == nil {
		ps = append(ps, p)
		_, p, ok, err = s.NextAfter(p)
	}
	if err != nil || len(ps) != 4 {
		t.Fatalf("read ahead %d batches, %v; want 0..3, stopping at the corrupt one", len(ps), err)
	}
	for _, p := range ps {
		if err := s.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(t, s, 100); !slices.Equal(got, seq(6, 9)) {
		t.Fatalf("then drained %v, want 6..8", got)
	}
}
