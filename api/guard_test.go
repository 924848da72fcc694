package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"hazgate/config"
)

// listenFixture serves f's API on a real loopback listener (Listen, so the
// server's own Host check applies) and returns its port.
func listenFixture(t *testing.T, f *fixture, addr string) string {
	t.Helper()
	s, err := Listen(context.Background(), addr, f.h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// guardCase is one request to a fresh gateway; {port} in host, origin and
// header values is the listener's port.
type guardCase struct {
	name    string
	method  string
	path    string
	host    string // "" is 127.0.0.1:{port}
	header  map[string]string
	body    string
	want    int
	wantMsg string // in the JSON error, when refused
}

func (c guardCase) run(t *testing.T, tokens []config.Token, listen string, allowedHosts ...string) {
	t.Helper()
	f := newFixture(t, tokens)
	allowed, err := parseAllowedHosts(allowedHosts) // as New does with Options.AllowedHosts
	if err != nil {
		t.Fatal(err)
	}
	f.h.allowed = allowed
	port := listenFixture(t, f, listen)
	sub := func(s string) string { return strings.ReplaceAll(s, "{port}", port) }
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, "http://127.0.0.1:"+port+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = sub(c.host) // what a rebinding page's browser sends
	}
	for k, v := range c.header {
		req.Header.Set(k, sub(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.want {
		t.Fatalf("%s %s (Host %s): %d %s, want %d", c.method, c.path, req.Host, resp.StatusCode, raw, c.want)
	}
	if c.want < 400 {
		return
	}
	var e struct{ Error string }
	if err := json.Unmarshal(raw, &e); err != nil || !strings.Contains(e.Error, c.wantMsg) {
		t.Errorf("error body %s (%v), want a JSON error containing %q", raw, err, c.wantMsg)
	}
}

const (
	ackPath    = "/api/v1/alarms/1/ack"
	ackJSON    = `{"comment":"x"}`
	oosPath    = "/api/v1/alarms/1/out-of-service"
	oosJSON    = `{"reason":"x"}`
	jsonType   = "application/json"
	ownOrigin  = "http://127.0.0.1:{port}"
	evilOrigin = "http://evil.example"
)

// TestTokenlessWritesOnlyFromOwnOrigin: without tokens, reaching loopback
// is the only credential, so a page on another site must not change state
// through the visitor's browser, by CSRF or by DNS rebinding (issue 14.1).
func TestTokenlessWritesOnlyFromOwnOrigin(t *testing.T) {
	tests := []guardCase{
		{name: "GET still works", method: "GET", path: "/api/v1/alarms", want: 200},
		{name: "GET by localhost", method: "GET", path: "/api/v1/alarms", host: "localhost:{port}", want: 200},
		{name: "GET by [::1]", method: "GET", path: "/api/v1/alarms", host: "[::1]:{port}", want: 200},
		{name: "healthz by localhost", method: "GET", path: "/healthz", host: "localhost:{port}", want: 200},
		{name: "rebinding Host, GET", method: "GET", path: "/api/v1/alarms", host: "evil.example:{port}",
			want: 421, wantMsg: "http.allowed_hosts"},
		{name: "rebinding Host, console", method: "GET", path: "/console/", host: "evil.example:{port}", want: 421, wantMsg: "evil.example"},
		{name: "rebinding Host, same-origin JSON ack", method: "POST", path: ackPath, host: "evil.example:{port}",
			header: map[string]string{"Origin": "http://evil.example:{port}", "Content-Type": jsonType}, body: ackJSON,
			want: 421, wantMsg: "evil.example"},
		{name: "loopback Host on another port", method: "GET", path: "/api/v1/alarms", host: "127.0.0.1:1", want: 421, wantMsg: "Host"},
		{name: "foreign Origin, text/plain ack", method: "POST", path: ackPath,
			header: map[string]string{"Origin": evilOrigin, "Content-Type": "text/plain"}, body: ackJSON, want: 403, wantMsg: "cross-origin"},
		{name: "foreign Origin, JSON ack", method: "POST", path: ackPath,
			header: map[string]string{"Origin": evilOrigin, "Content-Type": jsonType}, body: ackJSON, want: 403, wantMsg: "cross-origin"},
		{name: "foreign Origin, text/plain out-of-service", method: "POST", path: oosPath,
			header: map[string]string{"Origin": evilOrigin, "Content-Type": "text/plain"}, body: oosJSON, want: 403, wantMsg: "cross-origin"},
		{name: "null Origin", method: "POST", path: ackPath,
			header: map[string]string{"Origin": "null", "Content-Type": jsonType}, body: ackJSON, want: 403, wantMsg: "cross-origin"},
		{name: "text/plain without Origin", method: "POST", path: ackPath,
			header: map[string]string{"Content-Type": "text/plain"}, body: ackJSON, want: 415, wantMsg: "application/json"},
		{name: "form without Origin", method: "POST", path: oosPath,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: oosJSON, want: 415, wantMsg: "application/json"},
		{name: "no Content-Type, no body", method: "POST", path: "/api/v1/alarms/3/unshelve", want: 415, wantMsg: "application/json"},
		{name: "own origin, text/plain", method: "POST", path: ackPath,
			header: map[string]string{"Origin": ownOrigin, "Content-Type": "text/plain"}, body: ackJSON, want: 415, wantMsg: "application/json"},
		{name: "cross-site browser without Origin", method: "POST", path: ackPath,
			header: map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": jsonType}, body: ackJSON, want: 403, wantMsg: "own console"},
		{name: "own origin, JSON ack", method: "POST", path: ackPath,
			header: map[string]string{"Origin": ownOrigin, "Content-Type": jsonType, "Sec-Fetch-Site": "same-origin"}, body: ackJSON, want: 200},
		{name: "own origin by localhost, JSON ack", method: "POST", path: ackPath, host: "localhost:{port}",
			header: map[string]string{"Origin": "http://localhost:{port}", "Content-Type": "application/json; charset=utf-8"}, body: ackJSON, want: 200},
		{name: "own origin, JSON out-of-service", method: "POST", path: oosPath,
			header: map[string]string{"Origin": ownOrigin, "Content-Type": jsonType}, body: oosJSON, want: 200},
		{name: "curl with JSON, no Origin", method: "POST", path: ackPath,
			header: map[string]string{"Content-Type": jsonType}, body: ackJSON, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, nil, "127.0.0.1:0") })
	}
}

// TestTokenModeGuards: with tokens and no http.allowed_hosts any Host is
// still answered (deployments on 0.0.0.0 keep working), but writes still
// need JSON from no foreign Origin.
func TestTokenModeGuards(t *testing.T) {
	admin := "Bearer " + tokenOf(RoleAdmin)
	tests := []guardCase{
		{name: "any Host", method: "GET", path: "/api/v1/alarms", host: "gw.plant.example:{port}",
			header: map[string]string{"Authorization": admin}, want: 200},
		{name: "foreign Origin", method: "POST", path: ackPath,
			header: map[string]string{"Authorization": admin, "Origin": evilOrigin, "Content-Type": jsonType}, body: ackJSON, want: 403, wantMsg: "cross-origin"},
		{name: "text/plain", method: "POST", path: ackPath,
			header: map[string]string{"Authorization": admin, "Content-Type": "text/plain"}, body: ackJSON, want: 415, wantMsg: "application/json"},
		{name: "JSON from a script", method: "POST", path: ackPath,
			header: map[string]string{"Authorization": admin, "Content-Type": jsonType}, body: ackJSON, want: 200},
		{name: "JSON from the console's origin", method: "POST", path: ackPath,
			header: map[string]string{"Authorization": admin, "Origin": ownOrigin, "Content-Type": jsonType}, body: ackJSON, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, testTokens, "127.0.0.1:0") })
	}
}

// TestAllowedHostsAreHonoured: configured names are answered in both
// modes, and once any is configured token mode checks Host too.
func TestAllowedHostsAreHonoured(t *testing.T) {
	admin := map[string]string{"Authorization": "Bearer " + tokenOf(RoleAdmin)}
	get := func(name, host string, header map[string]string, want int) guardCase {
		return guardCase{name: name, method: "GET", path: "/api/v1/alarms", host: host, header: header, want: want, wantMsg: "http.allowed_hosts"}
	}
	t.Run("tokens on every interface", func(t *testing.T) {
		for _, tt := range []guardCase{
			get("configured name", "gw.plant.example:{port}", admin, 200),
			get("configured name in capitals, no port (a proxy)", "GW.Plant.Example", admin, 200),
			get("configured name and port", "proxy.example:8443", admin, 200),
			get("configured name on another port", "proxy.example:8444", admin, 421),
			get("loopback", "127.0.0.1:{port}", admin, 200),
			get("localhost", "localhost:{port}", admin, 200),
			get("an address of the host", "192.0.2.10:{port}", admin, 200),
			get("unknown name", "evil.example:{port}", admin, 421),
			get("unknown name, no token", "evil.example:{port}", nil, 421),
		} {
			t.Run(tt.name, func(t *testing.T) { tt.run(t, testTokens, ":0", "gw.plant.example", "proxy.example:8443") })
		}
	})
	t.Run("tokenless on loopback", func(t *testing.T) {
		for _, tt := range []guardCase{
			get("configured name", "hazgate.local:{port}", nil, 200),
			get("loopback", "127.0.0.1:{port}", nil, 200),
			get("an address that is not loopback", "192.0.2.10:{port}", nil, 421),
			get("unknown name", "evil.example:{port}", nil, 421),
			{name: "configured name, own origin ack", method: "POST", path: ackPath, host: "hazgate.local:{port}",
				header: map[string]string{"Origin": "http://hazgate.local:{port}", "Content-Type": jsonType}, body: ackJSON, want: 200},
		} {
			t.Run(tt.name, func(t *testing.T) { tt.run(t, nil, "127.0.0.1:0", "hazgate.local") })
		}
	})
}

func TestNewRejectsBadAllowedHosts(t *testing.T) {
	fa := newFakeAlarms()
	_, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: fa, Control: fa, History: fa,
		AllowedHosts: []string{"gw.plant.example", "https://gw.plant.example"}})
	if err == nil || !strings.Contains(err.Error(), "http.allowed_hosts[1]") {
		t.Errorf("New with a URL in AllowedHosts: %v", err)
	}
}
