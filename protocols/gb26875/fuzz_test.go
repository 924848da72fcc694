package gb26875

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"hazgate/collector"
)

func seedFrames(f *testing.F) {
	for _, g := range golden {
		f.Add(unhex(f, g.hex))
	}
	for _, b := range published(f) {
		f.Add(b)
	}
}

// FuzzParse: Parse never panics, and a frame it accepts re-encodes to
// exactly its input.
func FuzzParse(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Append(nil, fr)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, re-encoded %x (%v)", b, again, err)
		}
	})
}

// FuzzReader: on any stream the reader ends only with the stream, every
// frame it returns is valid, and it never buffers past the largest frame.
func FuzzReader(f *testing.F) {
	seedFrames(f)
	f.Add(append([]byte("@@@@##\x00@@"), unhex(f, golden[0].hex)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		total := 0
		for {
			fr, err := r.Next()
			var fe *FrameError
			if errors.As(err, &fe) {
				continue
			}
			if err != nil {
				break
			}
			enc, err := Append(nil, fr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(enc); err != nil {
				t.Fatalf("reader returned a frame Parse refuses: %v", err)
			}
			if !bytes.Contains(b, enc) {
				t.Fatalf("reader returned a frame not in its input: %x", enc)
			}
			total += len(enc)
		}
		if r.Skipped()+uint64(total) > uint64(len(b)) {
			t.Fatalf("skipped %d + frames %d > input %d", r.Skipped(), total, len(b))
		}
	})
}

// FuzzDecodeUnit: DecodeUnit never panics; a decoded unit re-encodes to its
// input and its readings are well formed.
func FuzzDecodeUnit(f *testing.F) {
	for _, g := range golden {
		if fr, err := Parse(unhex(f, g.hex)); err == nil && len(fr.Data) > 0 {
			f.Add(fr.Data)
		}
	}
	f.Add([]byte{TypeComponentState, 1})
	f.Add([]byte{TypeAnalog, 1, 1, 1, 1, 1, 0, 1, 0, 200, 0, 0, 0, 0, 0, 1, 1, 25})
	// Bad time: 2099 and 2000 (a clock reset to its epoch) beside a sane object.
	f.Add([]byte{TypeUITDOperation, 3, 1, 0, 0, 0, 0, 31, 12, 99, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 30, 14, 8, 3, 25})
	now := time.Date(2025, 3, 8, 14, 30, 0, 0, Beijing)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUnit(b)
		if err != nil {
			return
		}
		again, err := u.Encode(nil)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, re-encoded %x (%v)", b, again, err)
		}
		rs, bad := readings(4660, &u, now, collector.TimeBounds{})
		for _, r := range rs {
			if r.tag.ID == "" || r.at.IsZero() || r.value != r.value {
				t.Fatalf("bad reading %+v", r)
			}
			if d := r.at.Sub(now); d > maxSkew || d < -maxSkew {
				t.Fatalf("reading at %v, %v from receipt", r.at, d)
			}
		}
		for _, b := range bad {
			if bt, err := b.time.Time(Beijing); err != nil || b.err == nil || (collector.TimeBounds{}).Check(bt, now) == nil {
				t.Fatalf("object counted as bad time for a time in bounds: %+v (%v)", b, err)
			}
		}
		if len(bad) > int(u.Count) {
			t.Fatalf("%d objects of bad time of %d", len(bad), u.Count)
		}
		for i := range u.Components {
			_ = u.Components[i].Text()
		}
	})
}

// FuzzObjectTime: for any time tag, clock and bounds objectTime does not
// panic, a time it keeps is the receipt or in bounds and near it, and a
// time it calls bad is replaced by the receipt.
func FuzzObjectTime(f *testing.F) {
	f.Add([]byte{0, 0, 0, 31, 12, 99}, int64(1741415400), int64(0), int64(0))
	f.Add([]byte{5, 0, 0, 1, 1, 0}, int64(1741415400), int64(time.Hour), int64(-1))
	f.Add([]byte{0, 0, 0, 1, 1, 100}, int64(-1<<62), int64(1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, tag []byte, nowSec, future, past int64) {
		var tt TimeTag
		copy(tt[:], tag)
		now := time.Unix(nowSec, 0)
		bounds := collector.TimeBounds{Future: time.Duration(future), Past: time.Duration(past)}
		got, err := objectTime(tt, now, bounds)
		if err != nil {
			if _, terr := tt.Time(Beijing); terr != nil {
				t.Fatalf("an unreadable tag %x called bad time (%v): it takes the receipt time quietly", tt[:], err)
			}
			if !got.Equal(now) {
				t.Fatalf("tag %x of bad time kept as %v, want the receipt %v", tt[:], got, now)
			}
			return
		}
		if got.Equal(now) {
			return
		}
		if d := got.Sub(now); d > maxSkew || d < -maxSkew || bounds.Check(got, now) != nil {
			t.Fatalf("tag %x kept as %v, %v from %v", tt[:], got, d, now)
		}
	})
}
