package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFailLimitSparesValidTokens: the failed-auth limit slows guessing
// without locking out a valid holder who shares the guesser's address
// (issue 14.4), and /metrics counts both kinds of refusal.
func TestFailLimitSparesValidTokens(t *testing.T) {
	f := newFixture(t, testTokens)
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	f.h.limiter.now = func() time.Time { return now } // no refill while the test runs
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	get := func(t *testing.T, path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	steps := []struct {
		name  string
		token string
		times int
		want  int
	}{
		{"wrong tokens within the burst", "guess-0123456789", authFailBurst, 401},
		{"wrong tokens beyond the burst", "guess-0123456789", 10, 429},
		{"the valid admin token", tokenOf(RoleAdmin), 1, 200},
		{"the valid viewer token, again and again", tokenOf(RoleViewer), 3, 200},
		{"another wrong token, still limited", "other-guess-0123456789", 1, 429},
		{"the valid admin token once more", tokenOf(RoleAdmin), 1, 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			for i := range s.times {
				if code, body := get(t, "/api/v1/tags", s.token); code != s.want {
					t.Fatalf("request %d: %d %s, want %d", i+1, code, body, s.want)
				}
			}
		})
	}
	code, body := get(t, "/metrics", tokenOf(RoleAdmin))
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`hazgate_http_auth_failures_total{reason="invalid"} 10`,
		`hazgate_http_auth_failures_total{reason="limited"} 11`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
