package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"hazgate/collector/spool"
	"hazgate/protocols/gb26875"
)

// ErrClosed is returned by the outbox's methods after Close.
var ErrClosed = errors.New("forward outbox closed")

// DefaultOutboxMaxBytes bounds each class's spool: at about 70 bytes a
// component state, some 3.5 million messages per class, far beyond any
// outage a control room sits through unnoticed.
const DefaultOutboxMaxBytes = 256 << 20

// recordVersion leads every record so the format can change.
const recordVersion = 1

// SpooledOptions configure a Spooled outbox.
type SpooledOptions struct {
	// Dir holds one spool per class (Dir/alarm, Dir/status); for the
	// gateway, <data_dir>/forward.
	Dir string
	// MaxBytes bounds each class's spool on disk (default
	// DefaultOutboxMaxBytes). Past it the oldest messages are dropped,
	// logged and counted in ClassStats.Dropped.
	MaxBytes int64
	Log      *slog.Logger
	// Now is the clock for ages in Stats (default time.Now).
	Now func() time.Time
}

// Spooled is the durable Outbox: one collector/spool per class, one record
// per message, so the cursor moves message by message as the centre
// confirms, and a restart sends again exactly what was not confirmed.
type Spooled struct {
	opts   SpooledOptions
	log    *slog.Logger
	q      [2]*classQueue // by Class
	wake   chan struct{}  // a Put happened; capacity 1
	closed chan struct{}

	mu     sync.Mutex // guards the queues' windows and nextID
	nextID uint64
	once   sync.Once
}

// classQueue is one class's spool and the messages read from it ahead of
// its cursor, not yet committed, oldest first.
type classQueue struct {
	class Class
	sp    *spool.Spool
	win   []entry
	done  uint64 // messages committed since Open
	bad   uint64 // records that did not decode, committed and skipped
}

type entry struct {
	id   uint64
	pos  spool.Pos
	msg  Message
	done bool
}

// OpenSpooled opens (or creates) the outbox in opts.Dir. Messages left by
// an earlier run come back first, in order.
func OpenSpooled(opts SpooledOptions) (*Spooled, error) {
	if opts.Dir == "" {
		return nil, errors.New("forward outbox: no directory")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("forward outbox %s: max bytes %d must not be negative", opts.Dir, opts.MaxBytes)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultOutboxMaxBytes
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := &Spooled{opts: opts, log: opts.Log.With("component", "forward outbox"),
		wake: make(chan struct{}, 1), closed: make(chan struct{})}
	for _, c := range []Class{ClassAlarm, ClassStatus} {
		dir := filepath.Join(opts.Dir, c.String())
		sp, err := spool.Open(spool.Options{
			Dir: dir, MaxBytes: opts.MaxBytes, Log: o.log,
			// A dropped fire alarm is a failure of the device's one job:
			// say so loudly; Stats counts it.
			OnOverflow: func(n int) {
				o.log.Error("forward outbox full: oldest messages dropped unsent", "class", c, "messages", n, "max_bytes", opts.MaxBytes)
			},
		})
		if err != nil {
			o.closeSpools()
			return nil, fmt.Errorf("forward outbox %s: %w", c, err)
		}
		o.q[c] = &classQueue{class: c, sp: sp}
	}
	return o, nil
}

// Put writes msgs to disk, one fsync per class, and returns once they are
// there; a message of an unknown class goes as status.
func (o *Spooled) Put(ctx context.Context, msgs ...Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var recs [2][]spool.Batch
	// One buffer for every body: a spreading fire's thousands of messages
	// cost a few allocations. Growing it leaves earlier bodies valid.
	var buf []byte
	for i := range msgs {
		m := &msgs[i]
		c := m.Class
		if c != ClassAlarm {
			c = ClassStatus
		}
		if cap(buf)-len(buf) < 128 {
			buf = make([]byte, 0, 80*(len(msgs)-i)+48) // a component state's record is about 70
		}
		start := len(buf)
		var err error
		if buf, err = encodeRecord(buf, m); err != nil {
			return fmt.Errorf("forward outbox: message %d of %d (type %d): %w", i+1, len(msgs), m.Unit.Type, err)
		}
		recs[c] = append(recs[c], spool.Batch{Points: 1, Oldest: m.Entered, Body: buf[start:len(buf):len(buf)]})
	}
	for c, rs := range recs {
		if err := o.q[c].sp.AppendAll(rs); err != nil {
			if errors.Is(err, spool.ErrClosed) {
				err = ErrClosed
			}
			return fmt.Errorf("forward outbox %s: %w", Class(c), err)
		}
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Next blocks until a message waits, then returns up to max of the most
// urgent class that has any, all of the first one's unit type, oldest
// first. Until Done, the same messages come back.
func (o *Spooled) Next(ctx context.Context, max int) ([]Pending, error) {
	if max <= 0 {
		max = 1
	}
	for {
		o.mu.Lock()
		ps, err := o.nextLocked(max)
		o.mu.Unlock()
		if err != nil || len(ps) > 0 {
			return ps, err
		}
		select {
		case <-o.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-o.closed:
			return nil, ErrClosed
		}
	}
}

func (o *Spooled) nextLocked(max int) ([]Pending, error) {
	select {
	case <-o.closed:
		return nil, ErrClosed
	default:
	}
	for _, q := range o.q {
		if err := o.fill(q, max); err != nil {
			return nil, err
		}
		var out []Pending
		for i := range q.win {
			e := &q.win[i]
			if e.done {
				continue
			}
			if len(out) > 0 && e.msg.Unit.Type != out[0].Unit.Type {
				break
			}
			out = append(out, Pending{Message: e.msg, ID: e.id})
			if len(out) == max {
				break
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// fill reads ahead of q's cursor until the window holds max messages not
// yet done, or nothing more is on disk.
func (o *Spooled) fill(q *classQueue, max int) error {
	open := 0
	for _, e := range q.win {
		if !e.done {
			open++
		}
	}
	for open < max {
		var b spool.Batch
		var p spool.Pos
		var ok bool
		var err error
		if len(q.win) == 0 {
			b, p, ok, err = q.sp.Next()
		} else {
			b, p, ok, err = q.sp.NextAfter(q.win[len(q.win)-1].pos)
		}
		if err != nil {
			if errors.Is(err, spool.ErrClosed) {
				err = ErrClosed
			}
			return fmt.Errorf("forward outbox %s: %w", q.class, err)
		}
		if !ok {
			return nil
		}
		o.nextID++
		e := entry{id: o.nextID, pos: p}
		if e.msg, err = decodeRecord(b.Body); err != nil {
			// Its checksum held, so this is a format this build does not
			// read; it cannot be sent, and must not block what follows.
			o.log.Error("forward outbox: skipping a message that does not decode", "class", q.class, "err", err)
			q.bad++
			e.done = true
			q.win = append(q.win, e)
			if err := o.commitHead(q); err != nil {
				return err
			}
			continue
		}
		q.win = append(q.win, e)
		open++
	}
	return nil
}

// Done marks messages as confirmed by the centre; those at the head of
// their class are committed, so they are never handed out again. IDs the
// outbox does not hold (already done) are ignored.
func (o *Spooled) Done(ps ...Pending) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.closed:
		return ErrClosed
	default:
	}
	var touched [2]bool
	for _, p := range ps {
		for c, q := range o.q {
			if i := q.find(p.ID); i >= 0 {
				q.win[i].done = true
				touched[c] = true
				break
			}
		}
	}
	for c, q := range o.q {
		if touched[c] {
			if err := o.commitHead(q); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *classQueue) find(id uint64) int {
	for i := range q.win {
		if q.win[i].id == id {
			return i
		}
	}
	return -1
}

// commitHead commits the done messages at the head of q's window, in order.
func (o *Spooled) commitHead(q *classQueue) error {
	n := 0
	for n < len(q.win) && q.win[n].done {
		if err := q.sp.Commit(q.win[n].pos); err != nil {
			q.win = q.win[n:]
			return fmt.Errorf("forward outbox %s: commit: %w", q.class, err)
		}
		n++
	}
	q.done += uint64(n)
	clear(q.win[:n])
	q.win = q.win[n:]
	return nil
}

// Close releases the files and wakes a waiting Next with ErrClosed.
func (o *Spooled) Close() error {
	var err error
	o.once.Do(func() {
		close(o.closed)
		o.mu.Lock()
		defer o.mu.Unlock()
		err = o.closeSpools()
	})
	return err
}

func (o *Spooled) closeSpools() error {
	var errs []error
	for _, q := range o.q {
		if q != nil {
			errs = append(errs, q.sp.Close())
		}
	}
	return errors.Join(errs...)
}

// ClassStats describe one class's queue.
type ClassStats struct {
	Depth   int           `json:"depth" metric:"hazgate_forward_outbox_depth" help:"Messages waiting for the centre's confirm, by class."`
	Bytes   int64         `json:"bytes" metric:"hazgate_forward_outbox_bytes" help:"Bytes of the class's outbox on disk."`
	Age     time.Duration `json:"oldest_age" metric:"hazgate_forward_outbox_oldest_age_seconds" help:"Age of the oldest waiting message since it entered the gateway; 0 if none."`
	Oldest  time.Time     `json:"oldest"` // when the oldest waiting message entered the gateway
	Puts    uint64        `json:"puts" metric:"hazgate_forward_outbox_put_total" help:"Messages put in the outbox."`
	Dones   uint64        `json:"dones" metric:"hazgate_forward_outbox_done_total" help:"Messages the centre confirmed, removed from the outbox."`
	Dropped uint64        `json:"dropped" metric:"hazgate_forward_outbox_dropped_total" help:"Messages dropped unsent: the outbox reached its max bytes."`
	// Skipped counts torn or corrupt records on disk with the messages
	// known lost with them, and records this build cannot decode.
	Skipped uint64 `json:"skipped" metric:"hazgate_forward_outbox_skipped_total" help:"Torn or corrupt records in the outbox on disk and the messages known lost with them."`
}

// OutboxStats are the outbox's figures by class, for /metrics.
type OutboxStats struct {
	Alarm, Status ClassStats
}

// Class returns c's figures.
func (s OutboxStats) Class(c Class) ClassStats {
	if c == ClassAlarm {
		return s.Alarm
	}
	return s.Status
}

// Stats returns the current figures.
func (o *Spooled) Stats() OutboxStats {
	now := o.opts.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out [2]ClassStats
	for c, q := range o.q {
		st := q.sp.Stats()
		cs := ClassStats{Depth: st.Points, Bytes: st.Bytes, Oldest: st.Oldest, Puts: st.Appended,
			Dones: q.done, Dropped: st.Dropped, Skipped: st.SkippedPoints + st.Skipped + q.bad}
		if !st.Oldest.IsZero() {
			cs.Age = max(now.Sub(st.Oldest), 0)
		}
		out[c] = cs
	}
	return OutboxStats{Alarm: out[ClassAlarm], Status: out[ClassStatus]}
}

// A record is: version, class, Entered in Unix ns (varint), the unit's
// wire form (gb26875.Unit.Encode).
func encodeRecord(b []byte, m *Message) ([]byte, error) {
	b = append(b, recordVersion, byte(m.Class))
	b = binary.AppendVarint(b, m.Entered.UnixNano())
	return m.Unit.Encode(b)
}

func decodeRecord(b []byte) (Message, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return Message{}, fmt.Errorf("record of %d bytes: not version %d", len(b), recordVersion)
	}
	m := Message{Class: Class(b[1])}
	ns, n := binary.Varint(b[2:])
	if n <= 0 {
		return Message{}, errors.New("record: bad entered time")
	}
	m.Entered = time.Unix(0, ns)
	u, err := gb26875.DecodeUnit(b[2+n:])
	if err != nil {
		return Message{}, fmt.Errorf("record: %w", err)
	}
	m.Unit = u
	return m, nil
}

var _ Outbox = (*Spooled)(nil)
