package alerting

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/alerting/sqlstore"
)

// Group commit. One writer goroutine commits transitions, many to a
// transaction, so a flood of a thousand alarms costs a few fsyncs instead of
// a thousand, and the engine judges samples without waiting for the disk.
// Nothing is published before its transaction has committed.
//
// Transitions queue per burst (one batch of samples judged, one tick, one
// user's action) and the bursts share each transaction in turn, so one
// sample's alarm is not queued behind a flood of a thousand another batch
// raised. More severe alarms go first (ISA-18.2's priorities): a critical
// gas alarm judged in the same batch as a flood of a thousand medium ones
// commits in the first transaction, not the last. So that no severity
// starves another, the oldest waiting transition always takes the first
// place of a transaction. Alarms suppressed by design, which no operator
// sees, are bulk work: a quarter of each transaction while other work
// waits. An alarm's transitions all queue where its first waiting one is,
// so each alarm's still commit in the order they were made, even if its
// severity changes while they wait.

// maxGroup bounds one transaction: a new alarm waits behind at
// most one group in flight, a few milliseconds (BenchmarkAlarmUnderFlood).
const maxGroup = 32

// writtenColumns are the alarms table's columns as a group's upsert writes
// them; alarmArgs gives their values in this order.
var writtenColumns = []string{"id", "site", "tag", "rule", "level", "class", "severity", "state", "active", "value", "peak",
	"raise_count", "message", "raised_at", "acked_at", "acked_by", "ack_comment", "cleared_at", "chattering",
	"shelved_at", "shelved_until", "shelved_by", "shelve_reason", "disposal", "disposed_at", "disposal_cause",
	"escalations", "escalated_at", "suppressed", "root_id", "message_en"}

const eventColumns = 6 // seq, alarm_id, type, time, alarm, actor

// upsertAlarms is the statement for n alarm rows: a new alarm is inserted,
// a known one takes the row's new values.
func upsertAlarms(n int) string {
	var set strings.Builder
	for i, c := range writtenColumns[1:] {
		if i > 0 {
			set.WriteString(", ")
		}
		fmt.Fprintf(&set, "%s = excluded.%s", c, c)
	}
	return `INSERT INTO alarms (` + strings.Join(writtenColumns, ", ") + `) VALUES ` +
		sqlstore.PositionalRows(n, len(writtenColumns)) + ` ON CONFLICT (id) DO UPDATE SET ` + set.String()
}

func insertEvents(n int) string {
	return `INSERT INTO alarm_events (seq, alarm_id, type, time, alarm, actor) VALUES ` + sqlstore.PositionalRows(n, eventColumns)
}

// statements keeps the writer's prepared statements by query: parsing a
// 64-row upsert costs about as much as running it. The writer's goroutine
// only.
type statements map[string]*sql.Stmt

func (s statements) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	if st := s[query]; st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s[query] = st
	return st, nil
}

func (s statements) close() {
	for _, st := range s {
		st.Close()
	}
}

// queued is one transition waiting for the writer.
type queued struct {
	n    uint64 // submission order
	ev   Event  // as it will be stored; Seq set when committed
	snap []byte // the event's copy of the alarm
	user bool   // someone waits: failed at once, not retried
	done func(Event, error)
}

// writer is the journal's committing goroutine and its queues.
type writer struct {
	mu sync.Mutex
	// tiers holds, by severity (critical first, see tierOf), a lane per
	// burst with work waiting, oldest first.
	tiers     [tiers][]*lane
	bulk      lane
	laneOf    map[int64]*lane // alarm id → the lane holding its waiting transitions
	pendingOf map[int64]int   // alarm id → how many
	flying    uint64          // lowest n of the group being committed; 0: none
	last      uint64          // n of the last submission
	burstSeq  uint64
	waiters   []durableWaiter
	issued    int64 // the highest alarm id given out
	closed    bool

	wake    chan struct{}
	stopped chan struct{}
	seq     int64 // the last event seq committed; the writer's goroutine only
	stmts   statements

	groups, committed, retries, refused atomic.Uint64
	lastGroup                           atomic.Int64
}

// lane is a FIFO of waiting transitions: one burst's of one severity, or
// the bulk.
type lane struct {
	burst uint64
	tier  int
	items []*queued
}

// tiers is the number of severity tiers: the four severities and an
// unknown one.
const tiers = 5

// tierOf is the tier a severity queues in, the most severe first.
func tierOf(severity string) int { return tiers - 1 - severityRank(severity) }

type durableWaiter struct {
	upTo uint64
	fn   func()
}

// WriterStats counts the journal writer's work.
type WriterStats struct {
	Pending   int    `json:"pending"`   // transitions submitted, not yet committed
	Groups    uint64 `json:"groups"`    // transactions committed
	Committed uint64 `json:"committed"` // transitions committed
	Retries   uint64 `json:"retries"`   // transactions that failed and were tried again
	Refused   uint64 `json:"refused"`   // transitions the store refused (their data, or the user's wait)
	LastGroup int64  `json:"last_group"`
}

// ErrJournalClosed is returned (wrapped) by a commit after Close.
var ErrJournalClosed = errors.New("alarm journal closed")

// closeGrace is how long Close keeps retrying a failing store before it
// gives up on what is queued.
const closeGrace = 5 * time.Second

func (j *Journal) startWriter(ctx context.Context) error {
	w := &j.w
	var seq sql.NullInt64
	// The highest id and seq ever given, from the rows or from
	// AUTOINCREMENT's table: ids are never reused, even after a rollback.
	if err := j.db.QueryRowContext(ctx, `SELECT MAX(m) FROM (
		SELECT COALESCE(MAX(id), 0) AS m FROM alarms
		UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'alarms')`).Scan(&seq); err != nil {
		return fmt.Errorf("read the last alarm id: %w", err)
	}
	w.issued = seq.Int64
	if err := j.db.QueryRowContext(ctx, `SELECT MAX(m) FROM (
		SELECT COALESCE(MAX(seq), 0) AS m FROM alarm_events
		UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'alarm_events')`).Scan(&seq); err != nil {
		return fmt.Errorf("read the last event seq: %w", err)
	}
	w.seq = seq.Int64
	w.laneOf = make(map[int64]*lane)
	w.pendingOf = make(map[int64]int)
	w.wake = make(chan struct{}, 1)
	w.stmts = statements{}
	w.stopped = make(chan struct{})
	go j.write()
	return nil
}

func (w *writer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Submit queues a transition for the writer and returns it as it will be
// stored (a new alarm's id given, times in UTC) but without its seq. done
// runs on the writer's goroutine once the transition is committed, with its
// seq, or with the error for which the store refused its data; a failing
// store (disk full, I/O error) is retried until it takes it. done must
// return quickly. burst (from NewBurst) groups the transitions of one
// judgement. Submit fails only after Close or for an id this journal never
// gave out.
func (j *Journal) Submit(typ string, a Alarm, at time.Time, burst uint64, done func(Event, error)) (Event, error) {
	return j.submit(typ, a, at, "", burst, false, done)
}

// NewBurst returns an id for the transitions of one judgement (a batch of
// samples, a tick): the writer shares its transactions between bursts.
func (j *Journal) NewBurst() uint64 {
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	j.w.burstSeq++
	return j.w.burstSeq
}

func (j *Journal) submit(typ string, a Alarm, at time.Time, by string, burst uint64, user bool, done func(Event, error)) (Event, error) {
	a = normalize(a)
	ev := Event{Type: typ, Time: at.UTC(), By: by}
	w := &j.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return Event{}, fmt.Errorf("journal %s of alarm %d (tag %s): %w", typ, a.ID, a.Tag, ErrJournalClosed)
	}
	switch {
	case a.ID == 0:
		w.issued++
		a.ID = w.issued
	case a.ID < 0 || a.ID > w.issued:
		return Event{}, fmt.Errorf("journal %s of alarm %d (tag %s): %w", typ, a.ID, a.Tag, ErrNotFound)
	}
	ev.Alarm = a
	if _, err := disposalColumns(a.Disposal); err != nil {
		return Event{}, fmt.Errorf("journal %s of alarm %d (tag %s): disposal: %w", typ, a.ID, a.Tag, err)
	}
	snap, err := json.Marshal(a)
	if err != nil {
		return Event{}, fmt.Errorf("journal %s of alarm %d (tag %s): %w", typ, a.ID, a.Tag, err)
	}
	w.last++
	q := &queued{n: w.last, ev: ev, snap: snap, user: user, done: done}
	l := w.laneOf[a.ID]
	switch {
	case l != nil:
	case !unwatched(a):
		t := tierOf(a.Severity)
		if n := len(w.tiers[t]); n > 0 && w.tiers[t][n-1].burst == burst {
			l = w.tiers[t][n-1]
		} else {
			l = &lane{burst: burst, tier: t}
			w.tiers[t] = append(w.tiers[t], l)
		}
	default:
		l = &w.bulk
	}
	l.items = append(l.items, q)
	w.laneOf[a.ID] = l
	w.pendingOf[a.ID]++
	w.poke()
	return ev, nil
}

// unwatched reports an alarm suppressed by design, or closing while it
// was: no operator waits for it.
func unwatched(a Alarm) bool {
	return a.State == SuppressedByDesign || (a.Root != 0 && a.State == Normal)
}

// WhenDurable calls fn once every transition submitted so far is committed
// (or refused): at once if none is waiting, else on the writer's goroutine.
func (j *Journal) WhenDurable(fn func()) {
	w := &j.w
	w.mu.Lock()
	if w.flying == 0 && w.lowest() > w.last {
		w.mu.Unlock()
		fn()
		return
	}
	w.waiters = append(w.waiters, durableWaiter{w.last, fn})
	w.mu.Unlock()
}

// Flush waits until every transition submitted so far is committed or
// refused, or ctx ends.
func (j *Journal) Flush(ctx context.Context) error {
	done := make(chan struct{})
	j.WhenDurable(func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alarm journal flush: %w", ctx.Err())
	}
}

// WriterStats returns the writer's counters.
func (j *Journal) WriterStats() WriterStats {
	w := &j.w
	w.mu.Lock()
	pending := len(w.bulk.items)
	for _, ls := range w.tiers {
		for _, l := range ls {
			pending += len(l.items)
		}
	}
	w.mu.Unlock()
	return WriterStats{Pending: pending, Groups: w.groups.Load(), Committed: w.committed.Load(),
		Retries: w.retries.Load(), Refused: w.refused.Load(), LastGroup: w.lastGroup.Load()}
}

// lowest is the n of the oldest waiting transition, last+1 if none.
// Call with w.mu held.
func (w *writer) lowest() uint64 {
	low := w.last + 1
	for _, ls := range w.tiers {
		for _, l := range ls {
			low = min(low, l.items[0].n)
		}
	}
	if len(w.bulk.items) > 0 {
		low = min(low, w.bulk.items[0].n)
	}
	return low
}

// take waits for work and returns the next group, or nil once closed and
// drained: the oldest waiting transition first, then the most severe tier's
// bursts in turn, one transition each round, then the next tier's, and bulk
// work, which keeps a quarter of the group so a stream of alarms cannot
// starve it.
func (w *writer) take() []*queued {
	w.mu.Lock()
	for !w.waiting() {
		if w.closed {
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		<-w.wake
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	g := make([]*queued, 0, maxGroup)
	room := maxGroup - min(len(w.bulk.items), maxGroup/4)
	if t, k := w.oldest(); t >= 0 {
		q, _ := w.pop(t, k)
		g = append(g, q)
	}
	for t := range w.tiers {
		for k := 0; len(g) < room && len(w.tiers[t]) > 0; {
			q, emptied := w.pop(t, k)
			if g = append(g, q); !emptied {
				k++
			}
			if k >= len(w.tiers[t]) {
				k = 0
			}
		}
	}
	nb := min(len(w.bulk.items), maxGroup-len(g))
	g = append(g, w.bulk.items[:nb]...)
	w.bulk.items = slices.Delete(w.bulk.items, 0, nb)
	for _, q := range g {
		id := q.ev.Alarm.ID
		if w.pendingOf[id]--; w.pendingOf[id] == 0 {
			delete(w.pendingOf, id)
			delete(w.laneOf, id)
		}
	}
	slices.SortFunc(g, func(a, b *queued) int { return cmp.Compare(a.n, b.n) })
	w.flying = g[0].n
	return g
}

// waiting reports work queued. Call with w.mu held.
func (w *writer) waiting() bool {
	if len(w.bulk.items) > 0 {
		return true
	}
	for _, ls := range w.tiers {
		if len(ls) > 0 {
			return true
		}
	}
	return false
}

// oldest finds the burst lane whose head was submitted first: tier and
// index, or -1 if none. Call with w.mu held.
func (w *writer) oldest() (tier, k int) {
	tier, k = -1, -1
	var low uint64
	for t, ls := range w.tiers {
		for i, l := range ls {
			if n := l.items[0].n; tier < 0 || n < low {
				tier, k, low = t, i, n
			}
		}
	}
	return tier, k
}

// pop takes the head of lane k of tier t, and drops the lane once it is
// empty (emptied). Call with w.mu held.
func (w *writer) pop(t, k int) (q *queued, emptied bool) {
	l := w.tiers[t][k]
	q = l.items[0]
	if l.items = l.items[1:]; len(l.items) > 0 {
		return q, false
	}
	w.tiers[t] = slices.Delete(w.tiers[t], k, k+1)
	return q, true
}

// settled ends the flying group and runs the durability waiters it frees.
func (w *writer) settled() {
	w.mu.Lock()
	w.flying = 0
	low := w.lowest()
	var run []func()
	k := 0
	for k < len(w.waiters) && w.waiters[k].upTo < low {
		run = append(run, w.waiters[k].fn)
		k++
	}
	w.waiters = slices.Delete(w.waiters, 0, k)
	w.mu.Unlock()
	for _, fn := range run {
		fn()
	}
}

// write is the writer's goroutine: it commits groups until Close.
func (j *Journal) write() {
	w := &j.w
	defer close(w.stopped)
	defer w.stmts.close()
	ctx := context.Background()
	for {
		g := w.take()
		if g == nil {
			return
		}
		var failingSince time.Time
		backoff := 10 * time.Millisecond
		for len(g) > 0 {
			err := j.commitGroup(ctx, g)
			if err == nil {
				break
			}
			// The store failed, not the data: what a user waits for is
			// answered now; the engine's transitions wait for the store.
			w.retries.Add(1)
			g = slices.DeleteFunc(g, func(q *queued) bool {
				if q.user {
					j.refuse(q, err)
				}
				return q.user
			})
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			w.mu.Lock()
			closed := w.closed
			w.mu.Unlock()
			if closed && time.Since(failingSince) > closeGrace {
				for _, q := range g {
					j.refuse(q, err)
				}
				break
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
		w.settled()
	}
}

func (j *Journal) refuse(q *queued, err error) {
	j.w.refused.Add(1)
	a := q.ev.Alarm
	if q.done != nil {
		q.done(Event{}, fmt.Errorf("journal %s of alarm %d (tag %s, rule %s): %w", q.ev.Type, a.ID, a.Tag, a.Rule, err))
	}
}

// commitGroup commits g in one transaction and calls each one's done. If
// the store refuses the one-statement-per-table form for its data, each
// transition is tried alone under a savepoint, so a transition whose data the store refuses (a second
// open alarm of a tag, rule and level) is answered with its error and the
// others commit. The error returned is the store's: nothing of g has
// committed and no done has run.
func (j *Journal) commitGroup(ctx context.Context, g []*queued) error {
	w := &j.w
	err := j.commitAll(ctx, g)
	if err == nil {
		for i, q := range g {
			q.ev.Seq = w.seq + int64(i) + 1
		}
		w.seq += int64(len(g))
		j.committedGroup(g)
		return nil
	}
	if !sqlstore.IsDataError(err) {
		return err
	}
	var kept []*queued
	refused := map[*queued]error{}
	seq := w.seq
	err = sqlstore.InTxFirst(ctx, j.db, func(tx *sql.Tx) error {
		for _, q := range g {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT one`); err != nil {
				return err
			}
			err := j.execGroup(ctx, tx, []*queued{q}, seq+1)
			if err == nil {
				_, err = tx.ExecContext(ctx, `RELEASE one`)
				if err != nil {
					return err
				}
				seq++
				q.ev.Seq = seq
				kept = append(kept, q)
				continue
			}
			if !sqlstore.IsDataError(err) {
				return err
			}
			if sqlstore.IsUniqueViolation(err) {
				err = fmt.Errorf("%w: %w", ErrDuplicateOpen, err)
			}
			refused[q] = err
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO one`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `RELEASE one`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.seq = seq
	for _, q := range g {
		if e, ok := refused[q]; ok {
			j.refuse(q, e)
		}
	}
	j.committedGroup(kept)
	return nil
}

func (j *Journal) committedGroup(g []*queued) {
	w := &j.w
	w.groups.Add(1)
	w.committed.Add(uint64(len(g)))
	w.lastGroup.Store(int64(len(g)))
	for _, q := range g {
		if q.done != nil {
			q.done(q.ev, nil)
		}
	}
}

// commitAll writes g with one statement per table. It goes before the
// other writers of the file (the hazard engine): the live feed waits on it.
func (j *Journal) commitAll(ctx context.Context, g []*queued) error {
	return sqlstore.InTxFirst(ctx, j.db, func(tx *sql.Tx) error { return j.execGroup(ctx, tx, g, j.w.seq+1) })
}

// execGroup upserts each alarm's newest row and appends every event, with
// seqs from first on.
func (j *Journal) execGroup(ctx context.Context, tx *sql.Tx, g []*queued, first int64) error {
	newest := make(map[int64]int, len(g))
	for i, q := range g {
		newest[q.ev.Alarm.ID] = i
	}
	args := make([]any, 0, len(newest)*len(writtenColumns))
	for i, q := range g {
		if newest[q.ev.Alarm.ID] == i {
			var err error
			if args, err = alarmArgs(args, q.ev.Alarm); err != nil {
				return err
			}
		}
	}
	upsert, err := j.w.stmts.get(ctx, j.db, upsertAlarms(len(newest)))
	if err != nil {
		return fmt.Errorf("alarms: %w", err)
	}
	if _, err := tx.StmtContext(ctx, upsert).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("alarms: %w", err)
	}
	args = args[:0]
	for i, q := range g {
		args = append(args, first+int64(i), q.ev.Alarm.ID, q.ev.Type, sqlstore.FormatTime(q.ev.Time), string(q.snap), q.ev.By)
	}
	insert, err := j.w.stmts.get(ctx, j.db, insertEvents(len(g)))
	if err != nil {
		return fmt.Errorf("alarm events: %w", err)
	}
	if _, err := tx.StmtContext(ctx, insert).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("alarm events: %w", err)
	}
	return nil
}

// alarmArgs appends a's values in writtenColumns' order.
func alarmArgs(args []any, a Alarm) ([]any, error) {
	d, err := disposalColumns(a.Disposal)
	if err != nil {
		return nil, fmt.Errorf("alarm %d: disposal: %w", a.ID, err)
	}
	return append(args, a.ID, a.Site, a.Tag, a.Rule, a.Level, a.Class, a.Severity, string(a.State), a.Active, a.Value, a.Peak,
		a.Count, a.Message, sqlstore.FormatTime(a.RaisedAt), sqlstore.NullTime(a.AckedAt), a.AckedBy, a.AckComment,
		sqlstore.NullTime(a.ClearedAt), a.Chattering, sqlstore.NullTime(a.ShelvedAt), sqlstore.NullTime(a.ShelvedUntil),
		a.ShelvedBy, a.ShelveReason, d.json, d.at, d.cause, a.Escalations, sqlstore.NullTime(a.EscalatedAt),
		a.Suppressed, a.Root, a.MessageEN), nil
}
