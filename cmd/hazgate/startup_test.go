package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Start-up refusals must be one clear line and exit 1, never a panic.
func TestStartupErrors(t *testing.T) {
	var lc net.ListenConfig
	held, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().String()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(dir, "data")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"run port in use", []string{"run", "-config", cfg("busy.yaml", "site: {id: s}\ndata_dir: "+good+"\nhttp: {listen: \""+busy+"\"}\n")},
			[]string{"http.listen " + busy, "address already in use", "free it or choose another"}},
		{"run data_dir is a file", []string{"run", "-config", cfg("file.yaml", "site: {id: s}\ndata_dir: "+notDir+"\nhttp: {listen: \"127.0.0.1:0\"}\n")},
			[]string{"data_dir " + notDir, "writable directory"}},
		{"run open listen without tokens", []string{"run", "-config", cfg("open.yaml", "site: {id: s}\ndata_dir: "+good+"\nhttp: {listen: \"0.0.0.0:8080\"}\n")},
			[]string{"0.0.0.0:8080", "add an http.tokens block"}},
		{"demo port in use", []string{"demo", "-listen", busy}, []string{"http.listen " + busy, "address already in use", "-listen 127.0.0.1:8081"}},
		{"demo data_dir is a file", []string{"demo", "-listen", "127.0.0.1:0", "-data-dir", notDir}, []string{"data_dir " + notDir, "writable directory"}},
		{"demo open listen", []string{"demo", "-listen", "0.0.0.0:8080"}, []string{"0.0.0.0:8080", "add an http.tokens block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := mainArgs(tt.args, &out, &errb)
			all := out.String() + errb.String()
			if code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			for _, bad := range []string{"panic", "goroutine"} {
				if strings.Contains(all, bad) {
					t.Errorf("output has %q:\n%s", bad, all)
				}
			}
		})
	}
}

// Every refusal the runtime makes from the config alone, check reports at
// its line and column.
func TestCheckRuntimeRefusals(t *testing.T) {
	dir := t.TempDir()
	tok := func(name, secret string) string {
		return "    - {name: " + name + ", role: viewer, token: \"" + secret + "\"}\n"
	}
	tests := []struct {
		name, body, want string
	}{
		{"open listen without tokens", "site: {id: s}\nhttp:\n  listen: 0.0.0.0:8080\n", ":3:11: http.listen \"0.0.0.0:8080\" without http.tokens"},
		{"empty host without tokens", "site: {id: s}\nhttp:\n  listen: \":8080\"\n", ":3:11: http.listen \":8080\" without http.tokens"},
		{"token with space", "site: {id: s}\nhttp:\n  tokens:\n" + tok("a", "abcdefgh ijklmnopq"), ":4:38: token \"a\": the secret contains whitespace"},
		{"empty token", "site: {id: s}\nhttp:\n  tokens:\n" + tok("a", ""), ":4:38: token \"a\": empty secret"},
		{"short token", "site: {id: s}\nhttp:\n  tokens:\n" + tok("a", "short"), ":4:38: token \"a\": the secret must be at least 16"},
		{"shared token", "site: {id: s}\nhttp:\n  tokens:\n" + tok("a", "abcdefghijklmnopq") + tok("b", "abcdefghijklmnopq"), ":5:38: token \"b\": same secret as \"a\""},
		{"duplicate name", "site: {id: s}\nhttp:\n  tokens:\n" + tok("a", "abcdefghijklmnopq") + tok("a", "qponmlkjihgfedcba"), ":5:14: duplicate token name \"a\""},
		{"unknown role", "site: {id: s}\nhttp:\n  tokens:\n    - {name: a, role: boss, token: abcdefghijklmnopq}\n", ":4:23: http.tokens[0].role: unknown role \"boss\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := mainArgs([]string{"check", "-config", p}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1: %s%s", code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), p+tt.want) {
				t.Errorf("stderr lacks %q:\n%s", p+tt.want, errb.String())
			}
		})
	}
}
