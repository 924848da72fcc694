package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// receipts remembers, on disk, the receipt time given to recent QoS 1/2
// messages whose readings carry no time of their own. After a kill -9 the
// broker redelivers (DUP, same packet identifier) what was durable here but
// not yet acknowledged; stamped again on receipt it would be a second point
// in InfluxDB. Given the time it had, it is the same point again and InfluxDB
// keeps one: exactly once in the store.
//
// A record must be on disk before the reading it stamps can be durable, so
// commit (one fsync for a whole batch) runs before the batch is emitted.
//
// The file is a ring of fixed-size slots after a header; a slot is
// sequence, key, time and a checksum, so a torn write costs that slot only.
type receipts struct {
	f       *os.File
	path    string
	slots   int
	seq     uint64           // sequence of the last record written
	old     map[uint64]int64 // key -> receipt time, as loaded at start
	pending []byte           // records added since the last commit
	first   int              // slot of the first pending record
}

const (
	receiptsMagic = "HZRCPT01"
	receiptSize   = 32 // seq, key, unix nanoseconds, crc32, padding
)

// openReceipts opens (or creates) the ring file at path with room for slots
// records and loads what it holds.
func openReceipts(path string, slots int) (*receipts, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("mqtt receipts %s: %w", path, err)
	}
	r := &receipts{f: f, path: path, slots: slots, old: make(map[uint64]int64)}
	if err := r.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("mqtt receipts %s: %w", path, err)
	}
	return r, nil
}

func (r *receipts) load() error {
	size := int64(len(receiptsMagic) + r.slots*receiptSize)
	buf := make([]byte, size)
	n, err := io.ReadFull(r.f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if n < len(receiptsMagic) || string(buf[:len(receiptsMagic)]) != receiptsMagic || n != len(buf) {
		// New, or of another size or version: start empty. What it held
		// only saves duplicates, never data.
		clear(buf)
		copy(buf, receiptsMagic)
		if _, err := r.f.WriteAt(buf, 0); err != nil {
			return err
		}
		if err := r.f.Truncate(size); err != nil {
			return err
		}
		return r.f.Sync()
	}
	last := -1
	for i := 0; i < r.slots; i++ {
		rec := buf[len(receiptsMagic)+i*receiptSize:][:receiptSize]
		seq, key, at, ok := decodeReceipt(rec)
		if !ok {
			continue
		}
		r.old[key] = at
		if seq > r.seq {
			r.seq, last = seq, i
		}
	}
	r.first = (last + 1) % r.slots
	return nil
}

// lookup returns the receipt time a message with key had in an earlier run.
func (r *receipts) lookup(key uint64) (time.Time, bool) {
	at, ok := r.old[key]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// add queues a record for the next commit.
func (r *receipts) add(key uint64, at time.Time) {
	r.seq++
	var rec [receiptSize]byte
	binary.LittleEndian.PutUint64(rec[0:], r.seq)
	binary.LittleEndian.PutUint64(rec[8:], key)
	binary.LittleEndian.PutUint64(rec[16:], uint64(at.UnixNano()))
	binary.LittleEndian.PutUint32(rec[24:], crc32.ChecksumIEEE(rec[:24]))
	r.pending = append(r.pending, rec[:]...)
}

// commit writes the pending records into their slots and syncs the file.
func (r *receipts) commit() error {
	if len(r.pending) == 0 {
		return nil
	}
	recs := r.pending
	// More than a ring's worth in one batch: only the newest fit.
	if max := r.slots * receiptSize; len(recs) > max {
		r.first = (r.first + (len(recs)-max)/receiptSize) % r.slots
		recs = recs[len(recs)-max:]
	}
	for len(recs) > 0 {
		n := min(len(recs)/receiptSize, r.slots-r.first)
		off := int64(len(receiptsMagic) + r.first*receiptSize)
		if _, err := r.f.WriteAt(recs[:n*receiptSize], off); err != nil {
			r.pending = r.pending[:0]
			return fmt.Errorf("mqtt receipts %s: %w", r.path, err)
		}
		recs = recs[n*receiptSize:]
		r.first = (r.first + n) % r.slots
	}
	r.pending = r.pending[:0]
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("mqtt receipts %s: %w", r.path, err)
	}
	return nil
}

func (r *receipts) Close() error { return r.f.Close() }

func decodeReceipt(rec []byte) (seq, key uint64, at int64, ok bool) {
	seq = binary.LittleEndian.Uint64(rec[0:])
	if seq == 0 || binary.LittleEndian.Uint32(rec[24:]) != crc32.ChecksumIEEE(rec[:24]) {
		return 0, 0, 0, false
	}
	return seq, binary.LittleEndian.Uint64(rec[8:]), int64(binary.LittleEndian.Uint64(rec[16:])), true
}

// receiptKey names one delivery: a redelivery keeps the packet identifier,
// topic and payload of the original (MQTT 3.1.1 §4.4). The hash is fixed,
// unlike maphash's, because it must match across runs.
func receiptKey(id uint16, topic string, payload []byte) uint64 {
	// FNV-1a, 64 bits, as hash/fnv computes it (the file keeps these
	// keys), without its allocations.
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	h = (h ^ uint64(byte(id>>8))) * prime
	h = (h ^ uint64(byte(id))) * prime
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint64(topic[i])) * prime
	}
	h *= prime // the 0 between topic and payload
	for _, c := range payload {
		h = (h ^ uint64(c)) * prime
	}
	return h
}
