package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// A record is: payload length (4 bytes, little endian), CRC-32C of the
// payload (4 bytes, little endian), payload. The payload is the point count
// (uvarint), the oldest timestamp in Unix ns (varint), then line protocol.
// Length and checksum together tell a torn or rotten record from a good one.
const (
	headerLen = 8
	// metaMax is the most bytes the two varints of a payload take.
	metaMax = 2 * binary.MaxVarintLen64
	// maxPayload bounds one record so a garbage length never allocates
	// gigabytes; a batch is a few MiB at most.
	maxPayload = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that is cut short or fails its checksum.
var errCorrupt = errors.New("torn or corrupt record")

// Batch is one write request's worth of points.
type Batch struct {
	Points int
	Oldest time.Time // oldest timestamp in Body, for the spool's age
	Body   []byte    // line protocol
}

// appendRecord appends b's record to dst.
func appendRecord(dst []byte, b Batch) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen)...)
	dst = binary.AppendUvarint(dst, uint64(b.Points))
	dst = binary.AppendVarint(dst, b.Oldest.UnixNano())
	dst = append(dst, b.Body...)
	payload := dst[start+headerLen:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

// readRecord reads and checks the record at off of a segment whose valid
// data ends at end. next is the offset of the following record.
func readRecord(r io.ReaderAt, off, end int64) (b Batch, next int64, err error) {
	n, err := readHeader(r, off, end)
	if err != nil {
		return Batch{}, 0, err
	}
	buf := make([]byte, headerLen+n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return Batch{}, 0, fmt.Errorf("read record at %d: %w", off, err)
	}
	payload := buf[headerLen:]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(buf[4:]) {
		return Batch{}, 0, fmt.Errorf("record at %d: checksum mismatch: %w", off, errCorrupt)
	}
	b, rest, err := decodeMeta(payload)
	if err != nil {
		return Batch{}, 0, fmt.Errorf("record at %d: %w", off, err)
	}
	b.Body = payload[len(payload)-rest:]
	return b, off + headerLen + n, nil
}

// readMeta reads the record at off without its body or checksum: enough to
// count points and skip ahead.
func readMeta(r io.ReaderAt, off, end int64) (b Batch, next int64, err error) {
	n, err := readHeader(r, off, end)
	if err != nil {
		return Batch{}, 0, err
	}
	buf := make([]byte, min(n, metaMax))
	if _, err := r.ReadAt(buf, off+headerLen); err != nil {
		return Batch{}, 0, fmt.Errorf("read record at %d: %w", off, err)
	}
	b, _, err = decodeMeta(buf)
	if err != nil {
		return Batch{}, 0, fmt.Errorf("record at %d: %w", off, err)
	}
	return b, off + headerLen + n, nil
}

// readHeader returns the payload length of the record at off, checking it
// fits before end.
func readHeader(r io.ReaderAt, off, end int64) (int64, error) {
	if end-off < headerLen {
		return 0, fmt.Errorf("record at %d: %d bytes left, want a %d-byte header: %w", off, end-off, headerLen, errCorrupt)
	}
	var h [headerLen]byte
	if _, err := r.ReadAt(h[:], off); err != nil {
		return 0, fmt.Errorf("read record header at %d: %w", off, err)
	}
	n := int64(binary.LittleEndian.Uint32(h[:]))
	if n < 2 || n > maxPayload {
		return 0, fmt.Errorf("record at %d: payload length %d: %w", off, n, errCorrupt)
	}
	if n > end-off-headerLen {
		return 0, fmt.Errorf("record at %d: payload of %d bytes, %d left: %w", off, n, end-off-headerLen, errCorrupt)
	}
	return n, nil
}

// decodeMeta parses the point count and oldest time at the start of a
// payload and returns how many bytes follow them.
func decodeMeta(p []byte) (Batch, int, error) {
	points, n := binary.Uvarint(p)
	if n <= 0 || points > maxPayload {
		return Batch{}, 0, fmt.Errorf("bad point count: %w", errCorrupt)
	}
	oldest, m := binary.Varint(p[n:])
	if m <= 0 {
		return Batch{}, 0, fmt.Errorf("bad timestamp: %w", errCorrupt)
	}
	return Batch{Points: int(points), Oldest: time.Unix(0, oldest)}, len(p) - n - m, nil
}
