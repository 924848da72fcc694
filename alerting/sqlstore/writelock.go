package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// writeLock hands a SQLite database's one write lock to this process's
// writers in turn, those that asked with priority (the alarm journal's
// commits, on which the live feed waits) before the others (the hazard
// engine, the stores sharing the file), so an alarm never waits behind a
// batch of derived work; during an alarm flood that wait was most of a
// critical alarm's latency.
type writeLock struct {
	mu       sync.Mutex
	turn     *sync.Cond
	held     bool
	priority atomic.Int32 // priority writers waiting
	// normal counts the other writers waiting, since when the longest has.
	// If one has waited past maxYield when the lock is let go, yield says
	// it goes before the priority writers, so a sustained alarm storm delays
	// a user's hazard update, not for ever. yield is decided at unlock, not
	// by each waiter on its own clock: two waiters reading the time apart
	// could each decide the other goes, and both wait for ever.
	normal      int
	normalSince time.Time
	yield       bool
}

// maxYield is how long priority writers go first while another waits.
const maxYield = 100 * time.Millisecond

func newWriteLock() *writeLock {
	l := &writeLock{}
	l.turn = sync.NewCond(&l.mu)
	return l
}

func (l *writeLock) lock(priority bool) {
	l.mu.Lock()
	if priority {
		l.priority.Add(1)
		for l.held || l.yield {
			l.turn.Wait()
		}
		l.priority.Add(-1)
	} else {
		if l.normal == 0 {
			l.normalSince = time.Now()
		}
		l.normal++
		for l.held || (l.priority.Load() > 0 && !l.yield) {
			l.turn.Wait()
		}
		l.normal--
		l.yield = false
		l.normalSince = time.Now() // the next waiting writer's turn starts counting now
	}
	l.held = true
	l.mu.Unlock()
}

func (l *writeLock) unlock() {
	l.mu.Lock()
	l.held = false
	l.yield = l.normal > 0 && time.Since(l.normalSince) > maxYield
	l.mu.Unlock()
	l.turn.Broadcast()
}

// writers is the write lock of each SQLite database this process opened
// (OpenSQLite): SQLite takes one writer at a time, and its busy handler
// waits for the lock by sleeping 1, 2, 5, 10 ... 100 ms, so two of our own
// writers meeting lost up to a hundred milliseconds to each other during an
// alarm flood; a lock of our own hands over at once. The keys are weak so a
// closed database is forgotten.
var writers sync.Map // weak.Pointer[sql.DB] → *writeLock

func writerOf(db *sql.DB) *writeLock {
	if l, ok := writers.Load(weak.Make(db)); ok {
		return l.(*writeLock)
	}
	return nil // PostgreSQL: the server orders its writers
}

// InTx runs f in one transaction, committed if f returns nil.
func InTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	return inTx(ctx, db, false, f)
}

// InTxFirst is InTx for a writer others wait for: on SQLite it gets the
// write lock before every InTx that is still waiting.
func InTxFirst(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	return inTx(ctx, db, true, f)
}

// FirstWaiting reports whether an InTxFirst waits for db's write lock: a
// long transaction should commit what it has and go on in another.
func FirstWaiting(db *sql.DB) bool {
	l := writerOf(db)
	return l != nil && l.priority.Load() > 0
}

func inTx(ctx context.Context, db *sql.DB, priority bool, f func(*sql.Tx) error) error {
	if l := writerOf(db); l != nil {
		l.lock(priority)
		defer l.unlock()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
