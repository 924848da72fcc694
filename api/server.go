package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"hazgate/config"
)

// ShutdownTimeout bounds how long Serve waits for requests in flight once
// its context ends.
const ShutdownTimeout = 5 * time.Second

// Defaults of Options.BodyTimeout and MaxConnsPerClient
// (http.body_timeout, http.max_conns_per_client). 10 s moves the 64 KiB
// body limit at 6.4 KB/s; 32 connections are a few browser tabs, each
// with its live stream and a pool of fetches.
const (
	DefaultBodyTimeout       = 10 * time.Second
	DefaultMaxConnsPerClient = 32
)

// Server is a bound API listener. Listen binds it, so the address (port 0
// in tests) is known before Serve runs.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Listen binds addr for a. An API without tokens may only listen on
// loopback: an open API on a plant network would let anyone acknowledge
// alarms. The handler itself says whether it checks tokens, so no caller can
// open an unauthenticated API to the network by passing the wrong flag.
func Listen(ctx context.Context, addr string, a *API, log *slog.Logger) (*Server, error) {
	authenticated := a.auth != nil
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !authenticated {
		if err := checkLoopback(addr); err != nil {
			return nil, fmt.Errorf("api: refusing to listen on %q without http.tokens: %w; "+
				"use 127.0.0.1, ::1 or localhost, or add an http.tokens block", addr, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %q: %w", addr, err)
	}
	if !authenticated {
		// "localhost" is resolved by the system; make sure it landed on loopback.
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
			_ = ln.Close()
			return nil, fmt.Errorf("api: refusing to serve on %s (from %q) without http.tokens: not a loopback address", ln.Addr(), addr)
		}
		log.Info("api: unauthenticated, so listening on loopback only; add an http.tokens block "+
			"(name, role, token: ${ENV_VAR}) to require Bearer tokens and listen on other addresses",
			"addr", ln.Addr().String())
	}
	auth := "none"
	if authenticated {
		auth = "bearer"
	}
	bound, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("api: bound address %s: %w", ln.Addr(), err)
	}
	hosts := newHostPolicy(bound, a.allowed, authenticated)
	if hosts.anyHost {
		log.Info("api: answering any Host header; list the gateway's names in http.allowed_hosts to refuse others (DNS rebinding)")
	}
	log.Info("api: listening", "addr", ln.Addr().String(), "auth", auth)
	srv := &http.Server{
		Handler:           bodyDeadline(a.bodyTimeout, hosts.guard(a)),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: it would cut the live stream's response. No
		// ReadTimeout: it counts header time against the body and applies
		// to every request alike; bodyDeadline bounds bodies instead,
		// starting once the headers are in.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Live streams never finish on their own: end them when shutdown
	// starts, so it waits only for ordinary requests.
	srv.RegisterOnShutdown(a.shutdownStreams)
	ln = newConnCap(ln, a.maxConnsPerClient, a.metrics.connsRefused, log)
	return &Server{srv: srv, ln: ln, log: log}, nil
}

// bodyDeadline gives a request that has a body bodyTimeout to deliver it,
// so a client that declares one and sends nothing cannot hold its
// connection and goroutine: once the deadline passes, reading the body
// fails, and so does net/http's draining of a body the handler never read
// (a refused token), which closes the connection. Requests without a body
// (the live stream) get no deadline, and net/http clears it once a body has
// been read to its end, so a handler may then take longer (a device slow to
// confirm a duty check).
func bodyDeadline(bodyTimeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // -1 is a chunked body
			// Cannot fail: Listen's server hands its own writer here.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// Addr is the bound address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until ctx ends, then shuts down gracefully, waiting
// up to ShutdownTimeout for requests in flight.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		s.log.Warn("api: serve ended with error", "addr", s.Addr(), "err", serr)
	}
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("api: shutdown on %s: %w", s.Addr(), err)
	}
	s.log.Info("api: stopped", "addr", s.Addr())
	return nil
}

// Close releases the listener of a Server whose Serve was never called.
func (s *Server) Close() error { return s.ln.Close() }

// checkLoopback is the config's rule, applied again here as a second line
// of defence for callers that did not go through config validation.
func checkLoopback(addr string) error { return config.CheckLoopback(addr) }
