package sim

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/simonvetter/modbus"
)

// tcpServer runs a simonvetter/modbus TCP server that can be stopped and
// started again on the same address, so a test can take a device away and
// bring it back where the gateway expects it.
type tcpServer struct {
	mu     sync.Mutex
	listen string // as asked, maybe with port 0
	addr   string // resolved host:port once started
	h      modbus.RequestHandler
	srv    *modbus.ModbusServer
}

func (t *tcpServer) init(addr string, h modbus.RequestHandler) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	t.listen, t.h = addr, h
	return nil
}

func (t *tcpServer) start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv != nil {
		return nil
	}
	var err error
	// The library's server does not say which port it bound, so port 0 is
	// resolved first; retry in case another process takes it in between.
	for range 5 {
		addr := t.addr
		if addr == "" {
			if addr, err = freeAddr(t.listen); err != nil {
				return err
			}
		}
		var srv *modbus.ModbusServer
		srv, err = modbus.NewServer(&modbus.ServerConfiguration{
			URL:        "tcp://" + addr,
			MaxClients: 16,
			Logger:     slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		}, t.h)
		if err != nil {
			return fmt.Errorf("on %s: %w", addr, err)
		}
		if err = srv.Start(); err == nil {
			t.addr, t.srv = addr, srv
			return nil
		}
		if _, port, _ := net.SplitHostPort(t.listen); t.addr != "" || port != "0" {
			break // a fixed address: retrying will not help
		}
	}
	return fmt.Errorf("on %s: %w", t.listen, err)
}

// freeAddr resolves a host:port with port 0 to a free port on that host.
func freeAddr(addr string) (string, error) {
	if _, port, _ := net.SplitHostPort(addr); port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (t *tcpServer) close() error {
	t.mu.Lock()
	srv := t.srv
	t.srv = nil
	t.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Stop()
}

func (t *tcpServer) address() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addr
}
