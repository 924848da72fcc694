package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
)

// Postgres returns the test PostgreSQL's URL (its database hazgate_test)
// after checking the server answers. Tests that create tables want
// PostgresDB, a database of their own.
func Postgres(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvPostgresURL)
	if u == "" {
		Missing(t, "PostgreSQL: %s not set", EnvPostgresURL)
		return ""
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		Missing(t, "PostgreSQL at %s: %v", u, err)
		return ""
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		Missing(t, "PostgreSQL at %s: %v", u, err)
		return ""
	}
	return u
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// PostgresDB creates a fresh database on the test PostgreSQL, named after
// t and unique to this call, drops it (closing whatever is still connected)
// when t ends, and returns its URL.
func PostgresDB(t testing.TB) string {
	t.Helper()
	base := Postgres(t)
	if base == "" {
		return ""
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	// An identifier is at most 63 bytes: a prefix of the test's name and a
	// random suffix, so parallel tests and packages never collide.
	name := strings.Trim(notIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	var r [6]byte
	rand.Read(r[:])
	name = "t_" + name + "_" + hex.EncodeToString(r[:])
	ident := pgx.Identifier{name}.Sanitize()

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+ident); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
