package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/config"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1:0", true},
		{"127.1.2.3:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"", false},
		{"[::]:8080", false},
		{"192.168.1.10:8080", false},
		{"10.0.0.1:8080", false},
		{"gateway.local:8080", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tt := range tests {
		err := checkLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestListenRefusesNonLoopbackWithoutTokens(t *testing.T) {
	f := newFixture(t, nil)
	for _, addr := range []string{"0.0.0.0:0", "", ":8080", ":0", "[::]:0"} {
		s, err := Listen(context.Background(), addr, f.h, nil)
		if err == nil {
			s.Close()
			t.Errorf("Listen(%q) without tokens succeeded", addr)
			continue
		}
		if !strings.Contains(err.Error(), "http.tokens") {
			t.Errorf("Listen(%q): error does not say how to fix it: %v", addr, err)
		}
	}
}

func TestListenLoopbackServes(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		t.Run(addr, func(t *testing.T) {
			if addr == "[::1]:0" {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				ln.Close()
			}
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf}, nil))
			f := newFixture(t, nil)
			s, err := Listen(context.Background(), addr, f.h, log)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(s.Addr(), ":0") {
				t.Fatalf("Addr() = %s, want the bound port", s.Addr())
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()

			resp, err := http.Get("http://" + s.Addr() + "/api/v1/alarms")
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			var list []map[string]any
			err = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(list) != 3 {
				t.Errorf("GET alarms over %s: %d, %d alarms, %v", s.Addr(), resp.StatusCode, len(list), err)
			}

			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve after cancel: %v", err)
			}
			if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
				t.Error("still answering after shutdown")
			}
			logs := logBuf.String()
			if !strings.Contains(logs, "unauthenticated") || !strings.Contains(logs, "loopback only") ||
				!strings.Contains(logs, "http.tokens") {
				t.Errorf("log does not explain the unauthenticated mode: %s", logs)
			}
		})
	}
}

func TestListenWithTokensAcceptsAnyAddress(t *testing.T) {
	f := newFixture(t, testTokens)
	s, err := Listen(context.Background(), ":0", f.h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	_, port, _ := net.SplitHostPort(s.Addr())
	base := "http://127.0.0.1:" + port
	resp, err := http.Get(base + "/api/v1/tags")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token over the network: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/tags", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleViewer))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("viewer token over the network: %d, want 200", resp.StatusCode)
	}
}

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a GET on c and reads its answer; an error is a server
// that closed or reset the connection instead.
func roundTrip(c net.Conn, addr, path string) (*http.Response, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// TestSlowBodiesAreCut: a client that declares a body and never sends it
// is cut off after the body timeout, whether the handler reads the body or
// refuses the request before (issue 14.2), and others are served meanwhile.
func TestSlowBodiesAreCut(t *testing.T) {
	const slow = 100
	tests := []struct {
		name   string
		tokens []config.Token
	}{
		{"tokenless: the handler waits for the body", nil},
		{"tokens: refused before the body is read", testTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureWith(t, tt.tokens, func(o *Options) {
				o.BodyTimeout = 200 * time.Millisecond
				o.MaxConnsPerClient = 2 * slow // every test client is 127.0.0.1
			})
			addr := "127.0.0.1:" + listenFixture(t, f, "127.0.0.1:0")
			conns := make([]net.Conn, slow)
			for i := range conns {
				conns[i] = dialRaw(t, addr)
				if _, err := fmt.Fprintf(conns[i], "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
					"Content-Length: 1000\r\n\r\n", ackPath, addr); err != nil {
					t.Fatal(err)
				}
			}
			if resp, err := roundTrip(dialRaw(t, addr), addr, "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Fatalf("a normal client while %d wait: %v %v", slow, resp, err)
			}
			// The bound is generous on purpose: what is tested is that the
			// server closes them at all, the deadline being 200 ms.
			var wg sync.WaitGroup
			open := make(chan int, slow)
			for i, c := range conns {
				wg.Go(func() {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
						open <- i
					}
				})
			}
			wg.Wait()
			close(open)
			if n := len(open); n > 0 {
				t.Errorf("%d of %d connections without their body still open after 5 s (body timeout 200 ms)", n, slow)
			}
		})
	}
}

// TestStreamOutlivesBodyTimeout: the live stream's request has no body, so
// the body timeout never cuts it.
func TestStreamOutlivesBodyTimeout(t *testing.T) {
	const bodyTimeout = 100 * time.Millisecond
	f := newFixtureWith(t, nil, func(o *Options) { o.BodyTimeout = bodyTimeout })
	base := "http://127.0.0.1:" + listenFixture(t, f, "127.0.0.1:0")
	resp, err := http.Get(base + streamPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
	}()
	time.Sleep(3 * bodyTimeout)
	a := alerting.Alarm{Site: "cz-demo-01", Tag: "T101-LEL", Rule: "late", Class: "lel", Severity: "high",
		State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: time.Now()}
	ev, err := f.journal.Commit(context.Background(), alerting.EventRaised, a, a.RaisedAt)
	if err != nil {
		t.Fatal(err)
	}
	f.bus.Publish(ev)
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got, ok := <-events:
			if !ok {
				t.Fatalf("stream ended after %s, longer than the body timeout", 3*bodyTimeout)
			}
			if strings.HasPrefix(got, "alarm") {
				return
			}
		case <-timeout:
			t.Fatal("no alarm event on the stream within 5 s")
		}
	}
}

// TestConnCapPerClient: one address holds at most MaxConnsPerClient
// connections, and a closed one frees its slot.
func TestConnCapPerClient(t *testing.T) {
	const limit = 4
	f := newFixtureWith(t, nil, func(o *Options) { o.MaxConnsPerClient = limit })
	addr := "127.0.0.1:" + listenFixture(t, f, "127.0.0.1:0")
	held := make([]net.Conn, limit)
	for i := range held {
		held[i] = dialRaw(t, addr)
		if resp, err := roundTrip(held[i], addr, "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d of %d: %v %v", i+1, limit, resp, err)
		}
	}
	if resp, err := roundTrip(dialRaw(t, addr), addr, "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatalf("connection %d from one address served, want it refused", limit+1)
	} else if err == nil && resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("connection %d: status %d, want 503 or a closed connection", limit+1, resp.StatusCode)
	}
	held[0].Close()
	// The server frees the slot once it sees the close; poll for that
	// rather than guess how long it takes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := roundTrip(dialRaw(t, addr), addr, "/healthz")
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection did not free its slot: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, c := range held[1:] {
		if resp, err := roundTrip(c, addr, "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Errorf("held connection %d after the cap was hit: %v %v", i+2, resp, err)
		}
	}
}

// slowUITD answers a duty check only after delay, as a device that
// confirms late does; a cancelled request ends the wait.
type slowUITD struct {
	fakeUITD
	delay time.Duration
}

func (s *slowUITD) DutyCheck(ctx context.Context, id string, minutes int, user string) (any, error) {
	select {
	case <-time.After(s.delay):
		return s.fakeUITD.DutyCheck(ctx, id, minutes, user)
	case <-ctx.Done():
		return nil, fmt.Errorf("duty check to %s: %w", id, ctx.Err())
	}
}

// TestSlowHandlerOutlivesBodyTimeout: the deadline is for the body only; a
// handler that has read it may take longer (a device confirming a duty
// check) without its request being cancelled.
func TestSlowHandlerOutlivesBodyTimeout(t *testing.T) {
	const bodyTimeout = 100 * time.Millisecond
	f := newFixtureWith(t, nil, func(o *Options) {
		o.BodyTimeout = bodyTimeout
		o.UITD = &slowUITD{delay: 4 * bodyTimeout}
	})
	base := "http://127.0.0.1:" + listenFixture(t, f, "127.0.0.1:0")
	resp, err := http.Post(base+"/api/v1/uitds/1/duty-check", "application/json", strings.NewReader(`{"minutes": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("duty check answered after %s: %d %s, want 200", 4*bodyTimeout, resp.StatusCode, body)
	}
}
