// Package sqlstore holds what the gateway's SQL stores share: opening the
// embedded SQLite file with the pragmas that make a commit durable (or, for
// a hub, a PostgreSQL database: Open), versioned migrations, transactions,
// and one way to keep times. The alarm journal and the hazard records both
// use it on SQLite; a Dialect lets one set of migrations and time helpers
// serve PostgreSQL as well (dialect.go).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"weak"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite" // registers driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating if needed) the SQLite file at path.
func OpenSQLite(path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	// WAL lets readers read while one writer writes; synchronous=FULL fsyncs
	// every commit, so a transition we published survives kill -9 and power
	// loss; _txlock=immediate takes the write lock at BEGIN instead of failing
	// with SQLITE_BUSY half way through a transaction.
	// In a file: URI '?' starts the parameters and '#' a fragment, so a
	// path holding either (a subtest's temp dir, TestX#01) would open
	// another file, one every such path shares: percent-encode them.
	dsn := "file:" + uriPath.Replace(path) + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	key := weak.Make(db)
	writers.Store(key, newWriteLock())
	runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { writers.Delete(k) }, key)
	return db, nil
}

// uriPath escapes what a file: URI would read as other than the path.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// pgUniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const pgUniqueViolation = "23505"

// IsUniqueViolation reports a unique-constraint error, by code where the
// driver gives one: SQLite's SQLITE_CONSTRAINT_UNIQUE or PostgreSQL's
// unique_violation.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgUniqueViolation
	}
	return false
}

// IsDataError reports an error about the data itself (PostgreSQL's SQLSTATE
// classes 22, data exception, and 23, integrity constraint violation):
// sending the same row again fails again, unlike a lost connection.
func IsDataError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT || se.Code()&0xff == sqlite3.SQLITE_MISMATCH || se.Code()&0xff == sqlite3.SQLITE_TOOBIG
	}
	return false
}

// Migrate brings one store's tables in the SQLite db up to
// len(migrations), recording each applied step in table (each store keeps
// its own version table, so stores added later migrate independently). It is
// MigrateDialect for SQLite.
func Migrate(ctx context.Context, db *sql.DB, table string, migrations []string) error {
	return MigrateDialect(ctx, db, SQLite, table, migrations)
}

// MigrateDialect is Migrate for a db of dialect d: each migration is
// expanded by d.Expand first, so one list written with {{id}} and {{time}}
// serves SQLite and PostgreSQL alike. A migration may hold several
// statements; each runs in a transaction of its own with its version row.
func MigrateDialect(ctx context.Context, db *sql.DB, d Dialect, table string, migrations []string) error {
	steps := make([]string, len(migrations))
	for i, m := range migrations {
		var err error
		if steps[i], err = d.Expand(m); err != nil {
			return fmt.Errorf("%s: migration %d: %w", table, i+1, err)
		}
	}
	// On SQLite {{time}} is TEXT: the version table the journal and the
	// hazard store have always had.
	create, _ := d.Expand(`CREATE TABLE IF NOT EXISTS ` + table + ` (
		version    BIGINT PRIMARY KEY,
		applied_at {{time}} NOT NULL)`)
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("create %s: %w", table, err)
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+table).Scan(&have); err != nil {
		return fmt.Errorf("read schema version from %s: %w", table, err)
	}
	if have > len(migrations) {
		return fmt.Errorf("%s: schema version %d is newer than this binary knows (%d)", table, have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if err := InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, steps[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, applied_at) VALUES ($1, $2)`,
				v, d.Time(time.Now()))
			return err
		}); err != nil {
			return fmt.Errorf("%s: migration %d: %w", table, v, err)
		}
	}
	return nil
}

// timeLayout is fixed-width so stored times sort as text, in UTC with
// nanoseconds.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// FormatTime writes a time the way the stores keep it: UTC, fixed width with
// nanoseconds, so stored times sort as text.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// NullTime is FormatTime for an optional time, NULL when absent.
func NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return FormatTime(*t)
}

// ParseNullTime reads what NullTime wrote.
func ParseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Rows builds the VALUES list of a multi-row statement: n rows of cols
// placeholders each, $1 on.
func Rows(n, cols int) string {
	var b strings.Builder
	b.Grow(n * cols * 5)
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(r*cols + c + 1))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// PositionalRows is Rows with ? placeholders, for SQLite: it resolves each
// $n by a linear search of the names before it, which makes a statement of
// thousands of them quadratic to prepare; ? needs no lookup.
func PositionalRows(n, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, n-1)
}
