package collector

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// A chunk holds a run of one tag's points as byte-aligned deltas, in the
// spirit of Gorilla's (Pelkonen et al., VLDB 2015) but whole bytes, which
// are simpler to decode and nearly as small for what gateways poll:
//
//   - time: the uvarint of zigzag(delta of delta);
//   - a header byte: the count of leading zero bytes << 4 | trailing zero
//     bytes (0 to 7) of the value's bits XOR the previous value's, 8 << 4
//     when they are equal; bit 3 set when the quality changed;
//   - the new quality, if it changed;
//   - the XOR's bytes between its leading and trailing zero bytes.
//
// A value that holds, polled every second with a millisecond's jitter, is
// about 6 bytes a point (the jitter is kept to the nanosecond: nothing is
// rounded); three random decimals each time about 14; a plain point is 24.
type chunk struct {
	b           []byte
	n           int   // points in b
	first, last int64 // times of the first and last point, Unix ns
}

// unchangedValue is the header when the value equals the previous one;
// qualityChanged is or'ed in when the quality does not.
const (
	unchangedValue = 8 << 4
	qualityChanged = 1 << 3
)

// chunkState is what encoding and decoding carry from point to point.
type chunkState struct {
	t, d int64  // the previous point's time and the delta before it
	v    uint64 // the previous value's bits
	q    Quality
}

// chunkWriter appends points to its chunk.
type chunkWriter struct {
	chunk
	st chunkState
}

// add appends p, which must not be older than the last point.
func (w *chunkWriter) add(p point) {
	d := p.t - w.st.t
	if w.n == 0 {
		d = p.t // the first point's time in full; its delta before is 0
	}
	w.b = binary.AppendUvarint(w.b, zigzag(d-w.st.d))
	vb := math.Float64bits(p.v)
	x := vb ^ w.st.v
	h := byte(unchangedValue)
	if x != 0 {
		h = byte(bits.LeadingZeros64(x)/8<<4 | bits.TrailingZeros64(x)/8)
	}
	if p.q != w.st.q {
		h |= qualityChanged
	}
	w.b = append(w.b, h)
	if p.q != w.st.q {
		w.b = append(w.b, byte(p.q))
	}
	if x != 0 {
		lead, trail := int(h>>4), int(h&7)
		for i := 7 - lead; i >= trail; i-- {
			w.b = append(w.b, byte(x>>(8*i)))
		}
	}
	if w.n == 0 {
		w.first, d = p.t, 0
	}
	w.st = chunkState{t: p.t, d: d, v: vb, q: p.q}
	w.last = p.t
	w.n++
}

// seal returns the chunk so far in a buffer of its own size, and starts a
// new one in the same buffer.
func (w *chunkWriter) seal() chunk {
	c := w.chunk
	c.b = append([]byte(nil), w.b...)
	*w = chunkWriter{chunk: chunk{b: w.b[:0]}}
	return c
}

var errChunkCorrupt = errors.New("history chunk corrupt")

// each decodes c's points in order, stopping early when fn returns false.
// A chunk only this package wrote cannot be corrupt; the error is for the
// fuzzer, which feeds it anything.
func (c *chunk) each(fn func(point) bool) error {
	var st chunkState
	b := c.b
	for k := 0; k < c.n; k++ {
		dod, m := binary.Uvarint(b)
		if m <= 0 || m >= len(b) {
			return errChunkCorrupt
		}
		h := b[m]
		b = b[m+1:]
		d := st.d + unzigzag(dod)
		t := st.t + d
		if k == 0 {
			t, d = d, 0
		}
		if h&qualityChanged != 0 {
			if len(b) == 0 {
				return errChunkCorrupt
			}
			st.q, b = Quality(b[0]), b[1:]
		}
		if lead, trail := int(h>>4), int(h&7); lead != 8 || trail != 0 {
			if lead+trail >= 8 || len(b) < 8-lead-trail {
				return errChunkCorrupt
			}
			var x uint64
			for i := 7 - lead; i >= trail; i-- {
				x |= uint64(b[0]) << (8 * i)
				b = b[1:]
			}
			st.v ^= x
		}
		st.t, st.d = t, d
		if !fn(point{t: t, v: math.Float64frombits(st.v), q: st.q}) {
			return nil
		}
	}
	if len(b) != 0 {
		return errChunkCorrupt
	}
	return nil
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
