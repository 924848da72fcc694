package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
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
