package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestInTxFirstGoesFirst: while one transaction holds the database, an
// InTxFirst that comes later gets it before an InTx already waiting, and
// FirstWaiting tells the holder it waits.
func TestInTxFirstGoesFirst(t *testing.T) {
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "lock.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE turns (who TEXT)`); err != nil {
		t.Fatal(err)
	}
	insert := func(who string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO turns (who) VALUES ($1)`, who)
			return err
		}
	}
	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := InTx(ctx, db, func(tx *sql.Tx) error {
			close(holding)
			<-release
			return insert("holder")(tx)
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-holding
	if FirstWaiting(db) {
		t.Fatal("FirstWaiting before any InTxFirst")
	}
	wg.Go(func() {
		if err := InTx(ctx, db, insert("normal")); err != nil {
			t.Error(err)
		}
	})
	time.Sleep(20 * time.Millisecond) // the normal writer waits first (well inside maxYield)
	wg.Go(func() {
		if err := InTxFirst(ctx, db, insert("first")); err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); !FirstWaiting(db); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("FirstWaiting never reported the waiting InTxFirst")
		}
	}
	close(release)
	wg.Wait()
	rows, err := db.QueryContext(ctx, `SELECT who FROM turns ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var who string
		if err := rows.Scan(&who); err != nil {
			t.Fatal(err)
		}
		got = append(got, who)
	}
	if want := []string{"holder", "first", "normal"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("turns %v, want %v", got, want)
	}
	if FirstWaiting(db) {
		t.Error("FirstWaiting after every writer is done")
	}
}

// TestWriteLockNormalNotStarved: two priority writers taking the lock in
// turn, so that one always waits, still let a normal writer in after about
// maxYield.
func TestWriteLockNormalNotStarved(t *testing.T) {
	l := newWriteLock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.lock(true)
				time.Sleep(time.Millisecond)
				l.unlock()
			}
		})
	}
	defer wg.Wait()
	defer close(stop)
	time.Sleep(10 * time.Millisecond)
	got := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		l.lock(false)
		got <- time.Since(start)
		l.unlock()
	}()
	select {
	case waited := <-got:
		t.Logf("the normal writer waited %s", waited)
	case <-time.After(5 * time.Second):
		t.Fatal("a normal writer waited 5 s behind priority writers")
	}
}

// TestWriteLockMixed: priority and normal writers taking the lock over and
// over all finish, one holder at a time.
func TestWriteLockMixed(t *testing.T) {
	l := newWriteLock()
	var holders atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 300 {
				l.lock(w%2 == 0)
				if holders.Add(1) != 1 {
					t.Error("two writers hold the lock")
				}
				time.Sleep(time.Duration(w*20) * time.Microsecond)
				holders.Add(-1)
				l.unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writers still waiting after 30 s")
	}
}
