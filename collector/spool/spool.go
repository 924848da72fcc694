// Package spool keeps write batches on disk while their destination is
// unreachable: append-only segment files of checksummed records, fsynced one
// batch at a time, read back in order from a persisted cursor, and bounded in
// size by dropping the oldest segment.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned by Append and Next after Close.
var ErrClosed = errors.New("spool closed")

// DefaultMaxBytes bounds a spool whose Options leave MaxBytes zero.
const DefaultMaxBytes = 1 << 30

const (
	segSuffix  = ".seg"
	cursorName = "cursor"
	cursorLen  = 20 // segment id, offset, CRC-32C of both
)

// Options configure a spool.
type Options struct {
	// Dir holds the segment files and the read cursor; created if missing.
	Dir string
	// MaxBytes bounds the segment files on disk (default 1 GiB). An append
	// that would pass it first drops the oldest segment.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// begun: the unit the bound drops (default MaxBytes/16, at most 64 MiB).
	SegmentBytes int64
	// OnOverflow, if set, is told how many unsent points each drop lost.
	OnOverflow func(droppedPoints int)
	Log        *slog.Logger
}

// Stats describe the spool now and count since Open.
type Stats struct {
	Bytes  int64     // segment files on disk
	Points int       // spooled and not yet committed
	Oldest time.Time // oldest timestamp of the next batch to replay; zero if empty

	Appended uint64 // points appended
	Replayed uint64 // points committed
	// Skipped counts torn or corrupt records (a torn tail found at Open, a
	// failed checksum on replay); SkippedPoints the points known lost with them.
	Skipped       uint64
	SkippedPoints uint64
	Dropped       uint64 // points dropped by the MaxBytes bound
}

// Pos names a batch handed out by Next, for Commit.
type Pos struct {
	seg       uint64
	off, next int64
	points    int
}

type segment struct {
	id     uint64
	size   int64 // bytes of whole records
	points int   // points not yet committed
}

// Spool is safe for concurrent use; batches come back in Append order.
type Spool struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	segs   []*segment // oldest first
	w      *os.File   // the last segment, while it takes appends
	r      *os.File   // segs[0], for reading
	rID    uint64
	off    int64 // read offset in segs[0]
	cursor *os.File
	bytes  int64
	points int
	// nextID names the next segment: past every segment and the cursor, so
	// a segment begun after all were removed is not mistaken at the next
	// Open for one the cursor has passed.
	nextID uint64
	ra     *os.File // a segment after the head, for NextAfter
	raID   uint64
	buf    []byte
	st     Stats
}

// Open opens (or creates) the spool in opts.Dir and resumes from its cursor.
// A torn record at the end of a segment, left by a crash during a write, is
// cut off and counted in Stats.Skipped.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("spool %s: max bytes %d, segment bytes %d: must not be negative", opts.Dir, opts.MaxBytes, opts.SegmentBytes)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = max(min(opts.MaxBytes/16, 64<<20), 1)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, log: opts.Log.With("spool", opts.Dir)}
	var err error
	if s.cursor, err = os.OpenFile(filepath.Join(opts.Dir, cursorName), os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.load(); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool %s: %w", opts.Dir, err)
	}
	return s, nil
}

// load finds the segments, drops those the cursor has passed, and counts
// the rest.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if id, err := strconv.ParseUint(name, 16, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	curID, curOff := s.readCursor()
	s.nextID = max(curID, 1)
	if len(ids) > 0 {
		s.nextID = max(s.nextID, ids[len(ids)-1]+1)
	}
	for i, id := range ids {
		path := s.segPath(id)
		if id < curID {
			// Replayed; the crash came between cursor and remove.
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		from := int64(0)
		if id == curID {
			from = curOff
		}
		seg, start, err := s.loadSegment(id, from, i == len(ids)-1)
		if err != nil {
			return err
		}
		if seg.size == 0 {
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		if len(s.segs) == 0 {
			s.off = start
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.points += seg.points
	}
	if len(s.segs) > 0 {
		s.log.Info("spool resumed", "segments", len(s.segs), "bytes", s.bytes, "points", s.points)
	}
	return s.writeCursor()
}

// loadSegment scans one segment from the start and counts the points at or
// after from, where reading starts (0 if from is not a record boundary). Only the last segment can hold a torn record from a crash, so
// only it is checksummed here; the others are checked as they replay.
func (s *Spool) loadSegment(id uint64, from int64, last bool) (seg *segment, start int64, err error) {
	f, err := os.OpenFile(s.segPath(id), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	seg = &segment{id: id}
	var off int64
	var before int
	onBoundary := from == 0
	for off < size {
		var b Batch
		var next int64
		if last {
			b, next, err = readRecord(f, off, size)
		} else {
			b, next, err = readMeta(f, off, size)
		}
		if errors.Is(err, errCorrupt) {
			s.log.Warn("spool: cutting off a torn record (a write cut short by a crash)", "segment", f.Name(), "offset", off, "bytes", size-off, "err", err)
			if err := f.Truncate(off); err != nil {
				return nil, 0, err
			}
			s.st.Skipped++
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if off < from {
			before += b.Points
		}
		seg.points += b.Points
		off = next
		onBoundary = onBoundary || off == from
	}
	seg.size = off
	if !onBoundary || from > off {
		// Replaying twice is harmless (InfluxDB keeps one point per series
		// and timestamp); skipping unsent points is not.
		s.log.Warn("spool: cursor is not at a record; replaying the segment from its start", "segment", f.Name(), "cursor", from)
		return seg, 0, nil
	}
	seg.points -= before
	return seg, from, nil
}

// Append writes b as one record and fsyncs it. If the spool would pass
// MaxBytes, the oldest segments go first and OnOverflow is told.
func (s *Spool) Append(b Batch) error {
	return s.AppendAll([]Batch{b})
}

// AppendAll writes bs as consecutive records, each read back on its own,
// with one fsync for all: many small records cost one disk flush.
func (s *Spool) AppendAll(bs []Batch) error {
	if len(bs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.cursor == nil {
		s.mu.Unlock()
		return ErrClosed
	}
	s.buf = s.buf[:0]
	points := 0
	for _, b := range bs {
		s.buf = appendRecord(s.buf, b)
		points += b.Points
	}
	if n := int64(len(s.buf)); n > s.opts.MaxBytes {
		s.mu.Unlock()
		return fmt.Errorf("spool %s: a batch of %d bytes does not fit in max bytes %d", s.opts.Dir, n, s.opts.MaxBytes)
	}
	dropped := s.makeRoom(int64(len(s.buf)))
	err := s.appendLocked(points)
	s.mu.Unlock()
	if dropped > 0 && s.opts.OnOverflow != nil {
		s.opts.OnOverflow(dropped)
	}
	return err
}

func (s *Spool) appendLocked(points int) error {
	if s.w == nil {
		id := max(s.nextID, 1)
		f, err := os.OpenFile(s.segPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		// The new name must survive a power cut as well as its contents.
		if err := syncDir(s.opts.Dir); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("spool: %w", err)
		}
		s.w = f
		s.nextID = id + 1
		s.segs = append(s.segs, &segment{id: id})
	}
	seg := s.segs[len(s.segs)-1]
	n := int64(len(s.buf))
	_, err := s.w.WriteAt(s.buf, seg.size)
	if err == nil {
		err = s.w.Sync()
	}
	if err != nil {
		// Leave no half record behind, and no more writes to a file that
		// failed an fsync.
		s.w.Truncate(seg.size)
		s.closeWriter()
		return fmt.Errorf("spool: %w", err)
	}
	seg.size += n
	seg.points += points
	s.bytes += n
	s.points += points
	s.st.Appended += uint64(points)
	if seg.size >= s.opts.SegmentBytes {
		s.closeWriter()
	}
	return nil
}

// makeRoom drops the oldest segments until n more bytes fit, and returns
// the unsent points it dropped.
func (s *Spool) makeRoom(n int64) (dropped int) {
	segs := 0
	for s.bytes+n > s.opts.MaxBytes && len(s.segs) > 0 {
		if s.writing(s.segs[0]) {
			s.closeWriter()
		}
		dropped += s.segs[0].points
		s.removeHead()
		segs++
	}
	if segs > 0 {
		s.st.Dropped += uint64(dropped)
		s.log.Warn("spool full: dropped the oldest segments", "segments", segs, "points", dropped, "max_bytes", s.opts.MaxBytes)
	}
	return dropped
}

// Next returns the oldest batch not yet committed, and the same one again
// until Commit; ok is false when there is none. A record that fails its
// checksum ends its segment: the rest of that segment is skipped and counted.
func (s *Spool) Next() (b Batch, p Pos, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor == nil {
		return Batch{}, Pos{}, false, ErrClosed
	}
	for len(s.segs) > 0 {
		head := s.segs[0]
		if s.off >= head.size {
			if s.writing(head) {
				return Batch{}, Pos{}, false, nil
			}
			s.removeHead()
			continue
		}
		if err := s.openReader(); err != nil {
			return Batch{}, Pos{}, false, err
		}
		b, next, err := readRecord(s.r, s.off, head.size)
		if errors.Is(err, errCorrupt) {
			s.log.Error("spool: corrupt record; skipping the rest of its segment", "segment", s.r.Name(), "points", head.points, "err", err)
			s.st.Skipped++
			s.st.SkippedPoints += uint64(head.points)
			if s.writing(head) {
				s.closeWriter()
			}
			s.removeHead()
			continue
		}
		if err != nil {
			return Batch{}, Pos{}, false, fmt.Errorf("spool: %w", err)
		}
		return b, Pos{seg: head.id, off: s.off, next: next, points: b.Points}, true, nil
	}
	return Batch{}, Pos{}, false, nil
}

// NextAfter returns the batch after the one at p, which Next or NextAfter
// handed out, without committing either: a reader may look ahead of the
// cursor and Commit in order later. ok is false when nothing follows yet or
// the next record is corrupt (Next skips it once it is the head). If the
// bound dropped p's segment, it returns the head, as Next does.
func (s *Spool) NextAfter(p Pos) (b Batch, q Pos, ok bool, err error) {
	s.mu.Lock()
	if s.cursor == nil {
		s.mu.Unlock()
		return Batch{}, Pos{}, false, ErrClosed
	}
	i := slices.IndexFunc(s.segs, func(g *segment) bool { return g.id == p.seg })
	if i < 0 {
		head := len(s.segs) > 0 && p.seg < s.segs[0].id
		s.mu.Unlock()
		if head {
			return s.Next()
		}
		return Batch{}, Pos{}, false, nil
	}
	defer s.mu.Unlock()
	off := p.next
	for ; i < len(s.segs); i, off = i+1, 0 {
		seg := s.segs[i]
		if off >= seg.size {
			continue
		}
		f, err := s.readerOf(i)
		if err != nil {
			return Batch{}, Pos{}, false, err
		}
		b, next, err := readRecord(f, off, seg.size)
		if errors.Is(err, errCorrupt) {
			return Batch{}, Pos{}, false, nil
		}
		if err != nil {
			return Batch{}, Pos{}, false, fmt.Errorf("spool: %w", err)
		}
		return b, Pos{seg: seg.id, off: off, next: next, points: b.Points}, true, nil
	}
	return Batch{}, Pos{}, false, nil
}

// readerOf returns a file to read segment i from: the head's reader, or
// one kept for the segment being read ahead.
func (s *Spool) readerOf(i int) (*os.File, error) {
	if i == 0 {
		if err := s.openReader(); err != nil {
			return nil, err
		}
		return s.r, nil
	}
	id := s.segs[i].id
	if s.ra != nil && s.raID == id {
		return s.ra, nil
	}
	if s.ra != nil {
		s.ra.Close()
		s.ra = nil
	}
	f, err := os.Open(s.segPath(id))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.ra, s.raID = f, id
	return f, nil
}

// Commit marks the batch at p as delivered. A batch the bound dropped after
// Next handed it out is already gone; committing it does nothing.
func (s *Spool) Commit(p Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor == nil {
		return ErrClosed
	}
	if len(s.segs) == 0 || s.segs[0].id != p.seg || s.off != p.off {
		return nil
	}
	head := s.segs[0]
	s.off = p.next
	head.points -= p.points
	s.points -= p.points
	s.st.Replayed += uint64(p.points)
	if s.off >= head.size {
		if !s.writing(head) {
			return s.removeHead()
		}
		// All replayed while still taking appends: start it over rather
		// than keep replayed bytes on disk. If the truncation is lost to a
		// power cut, the cursor at 0 only replays them twice.
		if err := s.w.Truncate(0); err == nil {
			s.bytes -= head.size
			head.size, s.off = 0, 0
		}
	}
	return s.writeCursor()
}

// Stats returns the current figures.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Bytes = s.bytes
	st.Points = s.points
	if s.cursor != nil && len(s.segs) > 0 && s.off < s.segs[0].size && s.openReader() == nil {
		if b, _, err := readMeta(s.r, s.off, s.segs[0].size); err == nil {
			st.Oldest = b.Oldest
		}
	}
	return st
}

// Close releases the files; the spool stays on disk for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeWriter()
	for _, f := range []**os.File{&s.r, &s.ra} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	var err error
	if s.cursor != nil {
		err = s.cursor.Close()
		s.cursor = nil
	}
	return err
}

func (s *Spool) writing(seg *segment) bool {
	return s.w != nil && seg == s.segs[len(s.segs)-1]
}

func (s *Spool) closeWriter() {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

func (s *Spool) openReader() error {
	head := s.segs[0]
	if s.r != nil && s.rID == head.id {
		return nil
	}
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	f, err := os.Open(s.segPath(head.id))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.r, s.rID = f, head.id
	return nil
}

// removeHead deletes the oldest segment, replayed or dropped, and moves the
// cursor to the next.
func (s *Spool) removeHead() error {
	head := s.segs[0]
	if s.r != nil && s.rID == head.id {
		s.r.Close()
		s.r = nil
	}
	if s.ra != nil && s.raID == head.id {
		s.ra.Close()
		s.ra = nil
	}
	s.segs[0] = nil
	s.segs = s.segs[1:]
	s.bytes -= head.size
	s.points -= head.points
	s.off = 0
	// The cursor first: a segment left behind is removed at the next Open.
	err := s.writeCursorAt(head.id+1, 0)
	if rerr := os.Remove(s.segPath(head.id)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		s.log.Warn("spool: cannot remove a finished segment", "err", rerr)
	}
	return err
}

func (s *Spool) writeCursor() error {
	if len(s.segs) == 0 {
		return nil // the cursor already points past the last removed segment
	}
	return s.writeCursorAt(s.segs[0].id, s.off)
}

// writeCursorAt records the read position in place, without fsync: a
// process crash keeps it (page cache); a power cut may lose the latest
// moves, which only replays a few batches twice.
func (s *Spool) writeCursorAt(id uint64, off int64) error {
	var b [cursorLen]byte
	binary.LittleEndian.PutUint64(b[0:], id)
	binary.LittleEndian.PutUint64(b[8:], uint64(off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	if _, err := s.cursor.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("spool cursor: %w", err)
	}
	return nil
}

// readCursor returns the saved position, or the start when there is none.
func (s *Spool) readCursor() (uint64, int64) {
	var b [cursorLen]byte
	n, _ := s.cursor.ReadAt(b[:], 0)
	if n == 0 {
		return 0, 0
	}
	if n < cursorLen || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		s.log.Warn("spool: cursor unreadable; replaying from the oldest segment")
		return 0, 0
	}
	return binary.LittleEndian.Uint64(b[0:]), int64(binary.LittleEndian.Uint64(b[8:]))
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016x%s", id, segSuffix))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
