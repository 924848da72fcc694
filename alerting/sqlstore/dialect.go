package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"

	"hazgate/config"
)

// Dialect is the SQL database behind a *sql.DB: what Open returns, what
// MigrateDialect expands migrations for and how times are written.
type Dialect int

const (
	SQLite   Dialect = iota // the gateway's embedded file (modernc.org/sqlite)
	Postgres                // a hub's server (pgx)
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// placeholders are what Expand replaces, per dialect. Both dialects take
// $1, $2 … for arguments, so queries need none for those.
var placeholders = map[Dialect]map[string]string{
	SQLite: {
		"id":   "INTEGER PRIMARY KEY AUTOINCREMENT",
		"time": "TEXT", // FormatTime's fixed-width UTC text, which sorts
	},
	Postgres: {
		"id":   "BIGSERIAL PRIMARY KEY",
		"time": "TIMESTAMPTZ",
	},
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// Expand replaces the placeholders of a portable statement with d's SQL:
// {{id}} is an auto-incrementing integer primary key, {{time}} a column
// for Time's values. Anything else in {{ }} is an error, not SQL.
func (d Dialect) Expand(stmt string) (string, error) {
	ph, ok := placeholders[d]
	if !ok {
		return "", fmt.Errorf("unknown SQL dialect %v", d)
	}
	var bad []string
	out := placeholderRE.ReplaceAllStringFunc(stmt, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		if r, ok := ph[name]; ok {
			return r
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) == 0 && strings.Contains(out, "{{") {
		bad = append(bad, "{{")
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown placeholder %s (want {{id}} or {{time}})", bad[0])
	}
	return out, nil
}

// Time is t as an argument for a {{time}} column of d: FormatTime's text on
// SQLite (nanoseconds kept); on PostgreSQL a time.Time in UTC truncated to
// the microsecond, the most TIMESTAMPTZ keeps (truncated here, so what is
// stored never depends on how the driver rounds).
func (d Dialect) Time(t time.Time) any {
	if d == Postgres {
		return t.UTC().Truncate(time.Microsecond)
	}
	return FormatTime(t)
}

// NullTime is Time for an optional time, NULL when absent.
func (d Dialect) NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// ScanTime reads a {{time}} column into *t, in UTC, on either dialect
// (the driver hands over text on SQLite, a time.Time on PostgreSQL):
//
//	row.Scan(&id, sqlstore.ScanTime(&at))
//
// NULL is an error; ScanNullTime takes it.
func ScanTime(t *time.Time) sql.Scanner { return timeScanner{t: t} }

// ScanNullTime is ScanTime for an optional time: NULL leaves *t nil.
func ScanNullTime(t **time.Time) sql.Scanner { return timeScanner{nt: t} }

type timeScanner struct {
	t  *time.Time
	nt **time.Time
}

func (s timeScanner) Scan(v any) error {
	if v == nil {
		if s.nt == nil {
			return fmt.Errorf("sqlstore: NULL where a time is required")
		}
		*s.nt = nil
		return nil
	}
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x.UTC()
	case string:
		p, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return fmt.Errorf("sqlstore: stored time: %w", err)
		}
		t = p.UTC()
	case []byte:
		p, err := time.Parse(time.RFC3339Nano, string(x))
		if err != nil {
			return fmt.Errorf("sqlstore: stored time: %w", err)
		}
		t = p.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot read a time from %T", v)
	}
	if s.nt != nil {
		*s.nt = &t
	} else {
		*s.t = t
	}
	return nil
}

// Pool limits and the connect timeout for PostgreSQL. A hub's store is one
// process's: a handful of connections serve it without crowding the
// server's max_connections (100 by default).
const (
	pgMaxOpen        = 10
	pgMaxIdle        = 5
	pgConnMaxIdle    = 5 * time.Minute
	pgConnMaxLife    = 30 * time.Minute
	pgConnectTimeout = 10 * time.Second // unless the URL sets connect_timeout
)

// IsPostgresURL reports whether dsn names a PostgreSQL server
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Open opens the store dsn names and checks it answers: a postgres:// or
// postgresql:// URL is a PostgreSQL database (through pgx), anything else
// the path of a SQLite file (OpenSQLite). Errors name the database, never
// its password.
func Open(ctx context.Context, dsn string) (*sql.DB, Dialect, error) {
	if IsPostgresURL(dsn) {
		db, err := openPostgres(ctx, dsn)
		return db, Postgres, err
	}
	db, err := OpenSQLite(dsn)
	if err != nil {
		return nil, SQLite, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, SQLite, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	return db, SQLite, nil
}

func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	name := config.RedactURL(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the URL with the password blanked at best
		// effort, and url.Parse's quotes it whole: say only what was wrong
		// with a URL that parses (a setting such as sslmode).
		reason := "invalid URL"
		var pe *pgconn.ParseConfigError
		if _, uerr := url.Parse(dsn); uerr == nil && errors.As(err, &pe) && pe.Unwrap() != nil {
			reason += ": " + pe.Unwrap().Error()
		}
		return nil, fmt.Errorf("open %s: %s", name, reason)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxOpen)
	db.SetMaxIdleConns(pgMaxIdle)
	db.SetConnMaxIdleTime(pgConnMaxIdle)
	db.SetConnMaxLifetime(pgConnMaxLife)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// pgx names the user, database and address it tried, not the password.
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return db, nil
}
