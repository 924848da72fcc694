package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// backend is one real database a test runs on: a SQLite file in a temp dir
// or a fresh database on the test PostgreSQL (skipped without it, failed
// under HAZGATE_INTEGRATION=1).
type backend struct {
	name string
	url  func(t *testing.T) string
	want Dialect
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "store.db") }, SQLite},
	{"postgres", func(t *testing.T) string { return testenv.PostgresDB(t) }, Postgres},
}

// eachBackend runs f on every backend, through Open as a store would.
func eachBackend(t *testing.T, f func(t *testing.T, db *sql.DB, d Dialect)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db, d, err := Open(ctx, b.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if d != b.want {
				t.Fatalf("Open gave dialect %v, want %v", d, b.want)
			}
			f(t, db, d)
		})
	}
}

// testMigrations use both placeholders and put two statements in one step.
var testMigrations = []string{
	`CREATE TABLE item (
		id        {{id}},
		name      TEXT NOT NULL,
		at        {{time}} NOT NULL,
		closed_at {{time}});
	CREATE UNIQUE INDEX item_name ON item (name)`,
	`ALTER TABLE item ADD COLUMN note TEXT`,
}

func migrate(t *testing.T, db *sql.DB, d Dialect) {
	t.Helper()
	if err := MigrateDialect(context.Background(), db, d, "test_schema", testMigrations); err != nil {
		t.Fatal(err)
	}
}

func TestSqlstoreMigrate(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, d Dialect) {
		ctx := context.Background()
		migrate(t, db, d)
		migrate(t, db, d) // a second run applies nothing
		var versions int
		var applied time.Time
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(applied_at) FROM test_schema`).Scan(&versions, ScanTime(&applied)); err != nil {
			t.Fatal(err)
		}
		if versions != 2 {
			t.Errorf("test_schema holds %d versions, want 2", versions)
		}
		if age := time.Since(applied); age < 0 || age > time.Minute {
			t.Errorf("applied_at %v is not about now", applied)
		}

		// The placeholders became each dialect's types.
		types := columnTypes(t, db, d, "item")
		want := map[Dialect]map[string]string{
			SQLite:   {"id": "INTEGER", "at": "TEXT", "closed_at": "TEXT", "note": "TEXT"},
			Postgres: {"id": "bigint", "at": "timestamp with time zone", "closed_at": "timestamp with time zone", "note": "text"},
		}[d]
		for col, typ := range want {
			if types[col] != typ {
				t.Errorf("column %s is %q, want %q", col, types[col], typ)
			}
		}

		// {{id}} numbers rows by itself.
		now := time.Now()
		var ids []int64
		for _, name := range []string{"a", "b"} {
			var id int64
			if err := db.QueryRowContext(ctx, `INSERT INTO item (name, at) VALUES ($1, $2) RETURNING id`,
				name, d.Time(now)).Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if ids[0] < 1 || ids[1] != ids[0]+1 {
			t.Errorf("ids %v, want consecutive from 1", ids)
		}
	})
}

func columnTypes(t *testing.T, db *sql.DB, d Dialect, table string) map[string]string {
	t.Helper()
	q := `SELECT name, type FROM pragma_table_info($1)`
	if d == Postgres {
		q = `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1`
	}
	rows, err := db.QueryContext(context.Background(), q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		types[name] = typ
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return types
}

// TestSqlstoreTimes: a time goes in through Dialect.Time and comes back
// through ScanTime as the same instant, in UTC. SQLite keeps the
// nanoseconds (FormatTime's text); PostgreSQL's TIMESTAMPTZ keeps
// microseconds, and Dialect.Time truncates (never rounds) to them.
func TestSqlstoreTimes(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	times := []struct {
		name string
		in   time.Time
		pg   time.Time // what PostgreSQL keeps; SQLite keeps in
	}{
		{"nanoseconds, east of UTC", time.Date(2026, 3, 4, 5, 6, 7, 123456789, cst),
			time.Date(2026, 3, 3, 21, 6, 7, 123456000, time.UTC)},
		{"last nanosecond of 1999", time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"whole second", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"microseconds", time.Date(2030, 7, 1, 12, 0, 0, 1000, time.UTC),
			time.Date(2030, 7, 1, 12, 0, 0, 1000, time.UTC)},
	}
	eachBackend(t, func(t *testing.T, db *sql.DB, d Dialect) {
		ctx := context.Background()
		migrate(t, db, d)
		for i, tt := range times {
			var closed *time.Time
			if i%2 == 0 {
				closed = &tt.in
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO item (name, at, closed_at) VALUES ($1, $2, $3)`,
				tt.name, d.Time(tt.in), d.NullTime(closed)); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		}
		for i, tt := range times {
			want := tt.in.UTC()
			if d == Postgres {
				want = tt.pg
			}
			var at time.Time
			var closed *time.Time
			if err := db.QueryRowContext(ctx, `SELECT at, closed_at FROM item WHERE name = $1`, tt.name).
				Scan(ScanTime(&at), ScanNullTime(&closed)); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if !at.Equal(want) || at.Location() != time.UTC {
				t.Errorf("%s: read %v, want %v in UTC", tt.name, at, want)
			}
			if i%2 == 0 {
				if closed == nil || !closed.Equal(want) {
					t.Errorf("%s: closed_at read %v, want %v", tt.name, closed, want)
				}
			} else if closed != nil {
				t.Errorf("%s: closed_at read %v, want NULL", tt.name, closed)
			}
		}

		// Stored times sort as times (text on SQLite, native on PostgreSQL).
		rows, err := db.QueryContext(ctx, `SELECT name FROM item ORDER BY at`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var order []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			order = append(order, n)
		}
		wantOrder := []string{"last nanosecond of 1999", "whole second", "nanoseconds, east of UTC", "microseconds"}
		if strings.Join(order, "|") != strings.Join(wantOrder, "|") {
			t.Errorf("ORDER BY at gave %q, want %q", order, wantOrder)
		}

		// A NULL needs ScanNullTime.
		var at time.Time
		err = db.QueryRowContext(ctx, `SELECT closed_at FROM item WHERE name = $1`, "last nanosecond of 1999").Scan(ScanTime(&at))
		if err == nil {
			t.Errorf("ScanTime of NULL gave %v, want an error", at)
		}
	})
}

func TestSqlstoreUniqueViolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, d Dialect) {
		ctx := context.Background()
		migrate(t, db, d)
		ins := `INSERT INTO item (name, at) VALUES ($1, $2)`
		if _, err := db.ExecContext(ctx, ins, "dup", d.Time(time.Now())); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, ins, "dup", d.Time(time.Now()))
		if err == nil {
			t.Fatal("second insert of the same name succeeded")
		}
		if !IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false", err)
		}
		if !IsUniqueViolation(errors.Join(errors.New("wrapped"), err)) {
			t.Errorf("IsUniqueViolation of a wrapped %v = false", err)
		}
		// Another constraint is not a unique violation.
		_, err = db.ExecContext(ctx, ins, "no time", nil)
		if err == nil {
			t.Fatal("insert of a NULL into a NOT NULL column succeeded")
		}
		if IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true for a NOT NULL violation", err)
		}
	})
	if IsUniqueViolation(nil) || IsUniqueViolation(errors.New("UNIQUE constraint failed")) {
		t.Error("IsUniqueViolation believes a nil or an untyped error")
	}
}

func TestSqlstoreNewerSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, d Dialect) {
		migrate(t, db, d)
		err := MigrateDialect(context.Background(), db, d, "test_schema", testMigrations[:1])
		want := "test_schema: schema version 2 is newer than this binary knows (1)"
		if err == nil || err.Error() != want {
			t.Errorf("migrating back gave %v, want %q", err, want)
		}
	})
}

func TestSqlstoreInTx(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *sql.DB, d Dialect) {
		ctx := context.Background()
		migrate(t, db, d)
		count := func() int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM item`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		boom := errors.New("boom")
		err := InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO item (name, at) VALUES ($1, $2)`, "rolled back", d.Time(time.Now())); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("InTx returned %v, want f's error", err)
		}
		if n := count(); n != 0 {
			t.Errorf("%d rows after a failed InTx, want 0", n)
		}
		if err := InTx(ctx, db, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO item (name, at) VALUES ($1, $2)`, "kept", d.Time(time.Now()))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Errorf("%d rows after a committed InTx, want 1", n)
		}

		// A migration whose second statement fails leaves neither its first
		// statement nor its version behind.
		bad := append(append([]string{}, testMigrations...),
			`CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1)`)
		if err := MigrateDialect(ctx, db, d, "test_schema", bad); err == nil || !strings.Contains(err.Error(), "test_schema: migration 3:") {
			t.Errorf("failing migration gave %v, want test_schema: migration 3: …", err)
		}
		var v int
		if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM test_schema`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != 2 {
			t.Errorf("schema version %d after a failed migration 3, want 2", v)
		}
		if _, err := db.ExecContext(ctx, `SELECT * FROM half`); err == nil {
			t.Error("table half exists after its migration failed")
		}
	})
}

func TestSqlstoreExpand(t *testing.T) {
	tests := []struct {
		d       Dialect
		in      string
		want    string
		wantErr string
	}{
		{SQLite, "CREATE TABLE x (id {{id}}, at {{time}}, b {{ time }})",
			"CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, b TEXT)", ""},
		{Postgres, "CREATE TABLE x (id {{id}}, at {{time}}, b {{ time }})",
			"CREATE TABLE x (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ, b TIMESTAMPTZ)", ""},
		{SQLite, "CREATE TABLE x (a TEXT)", "CREATE TABLE x (a TEXT)", ""},
		{Postgres, "CREATE TABLE x (a {{uuid}})", "", "unknown placeholder {{uuid}}"},
		{SQLite, "CREATE TABLE x (a {{Time}})", "", "unknown placeholder {{Time}}"},
		{SQLite, "CREATE TABLE x (a {{time)", "", "unknown placeholder {{"},
		{Dialect(7), "SELECT 1", "", "unknown SQL dialect Dialect(7)"},
	}
	for _, tt := range tests {
		got, err := tt.d.Expand(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v.Expand(%q) = %q, %v; want error %q", tt.d, tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v.Expand(%q) = %q, %v; want %q", tt.d, tt.in, got, err, tt.want)
		}
	}
	// Migrate refuses such a step before touching the database.
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = Migrate(context.Background(), db, "v", []string{"CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x {{uuid}})"})
	if err == nil || !strings.Contains(err.Error(), "v: migration 2: unknown placeholder {{uuid}}") {
		t.Errorf("Migrate with an unknown placeholder gave %v", err)
	}
	if _, err := db.Exec(`SELECT * FROM a`); err == nil {
		t.Error("Migrate applied step 1 of a list with a bad step 2")
	}
}

// TestSqlstoreOpenErrors: a PostgreSQL URL that does not parse or does not
// answer gives an error naming the server, never its password.
func TestSqlstoreOpenErrors(t *testing.T) {
	tests := []struct {
		url  string
		want []string
	}{
		{"postgres://hub:s3cret@127.0.0.1:1/hub?sslmode=disable&connect_timeout=2",
			[]string{"postgres://hub:xxxxx@127.0.0.1:1/hub", "127.0.0.1:1", "user=hub database=hub"}},
		{"postgresql://hub:s3cret@db.invalid:5432/hub?sslmode=disable&connect_timeout=2",
			[]string{"postgresql://hub:xxxxx@db.invalid:5432/hub", "db.invalid"}},
		{"postgres://hub:s3cret@127.0.0.1:5432/hub?sslmode=bogus",
			[]string{"postgres://hub:xxxxx@127.0.0.1:5432/hub", "invalid URL: sslmode is invalid"}},
		{"postgres://hub:s3cret@127.0.0.1:port/hub",
			[]string{"invalid URL"}},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		db, d, err := Open(ctx, tt.url)
		cancel()
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", tt.url)
			continue
		}
		if d != Postgres {
			t.Errorf("Open(%q) gave dialect %v, want postgres", tt.url, d)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cret") {
			t.Errorf("Open(%q) error shows the password: %s", tt.url, msg)
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("Open(%q) error %q lacks %q", tt.url, msg, w)
			}
		}
	}
}

func TestSqlstoreIsPostgresURL(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://h/db":           true,
		"postgresql://u@h:5432/db":  true,
		"POSTGRES://h/db":           true,
		"/var/lib/hazgate/hub.db":   false,
		"hub.db":                    false,
		"postgres.db":               false,
		"file:postgres://x":         false,
		"./data/postgresql:/hub.db": false,
	} {
		if got := IsPostgresURL(in); got != want {
			t.Errorf("IsPostgresURL(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestOpenSQLiteOddPath: a path holding URI syntax ('?', '#', '%'), as a
// subtest's temp dir does, opens that file, not one every such path shares.
func TestOpenSQLiteOddPath(t *testing.T) {
	for _, name := range []string{"a#01", "b?x=1", "c%23"} {
		dir := filepath.Join(t.TempDir(), name)
		db, err := OpenSQLite(filepath.Join(dir, "store.db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		db.Close()
		if _, err := os.Stat(filepath.Join(dir, "store.db")); err != nil {
			t.Errorf("%s: the file is not where asked: %v", name, err)
		}
	}
}
