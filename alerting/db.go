package alerting

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DB is the journal's database handle, for stores that keep their own
// tables in the same file (hazard records): one file to back up, and their
// transactions serialize with the journal's under one set of pragmas.
func (j *Journal) DB() *sql.DB { return j.db }

// Migrate brings one store's tables in db up to len(migrations), recording
// each applied step in table (each store keeps its own version table, so
// stores added later migrate independently). The SQL stays portable: the
// same steps are meant to run on PostgreSQL at a hub.
func Migrate(ctx context.Context, db *sql.DB, table string, migrations []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version    BIGINT PRIMARY KEY,
		applied_at TEXT NOT NULL)`); err != nil {
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
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, applied_at) VALUES ($1, $2)`,
				v, FormatTime(time.Now()))
			return err
		}); err != nil {
			return fmt.Errorf("%s: migration %d: %w", table, v, err)
		}
	}
	return nil
}

// InTx runs f in one transaction, committed if f returns nil.
func InTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
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
