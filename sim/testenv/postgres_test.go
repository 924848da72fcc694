package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
)

// TestPostgresDB: each call is a database of its own, empty, on the test
// server, and gone once its test ends.
func TestPostgresDB(t *testing.T) {
	ctx := context.Background()
	var names []string
	for _, sub := range []string{"first", "second"} {
		t.Run(sub, func(t *testing.T) {
			u := PostgresDB(t)
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(pu.Path, "/")
			if len(name) > 63 || !strings.HasPrefix(name, "t_testpostgresdb_") {
				t.Errorf("database name %q: want t_testpostgresdb_… of at most 63 bytes", name)
			}
			names = append(names, name)
			db, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var cur string
			if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&cur); err != nil {
				t.Fatal(err)
			}
			if cur != name {
				t.Errorf("connected to %q, want %q", cur, name)
			}
			// Fresh: the table the other subtest made is not here.
			if _, err := db.ExecContext(ctx, "CREATE TABLE mine (x int)"); err != nil {
				t.Fatalf("create table in a fresh database: %v", err)
			}
		})
	}
	if len(names) != 2 {
		return // skipped
	}
	if names[0] == names[1] {
		t.Fatalf("both calls got database %q", names[0])
	}
	admin, err := sql.Open("pgx", Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, n := range names {
		var left int
		if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", n).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("database %s still exists after its test ended", n)
		}
	}
}
