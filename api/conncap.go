package api

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connCap is a listener that keeps at most max connections open per client
// IP, so a handful of hosts cannot hold every socket and goroutine the
// server has. A connection over the cap is answered 503 and closed at once.
type connCap struct {
	net.Listener
	max     int
	refused prometheus.Counter
	log     *slog.Logger

	mu   sync.Mutex
	open map[netip.Addr]int
}

func newConnCap(ln net.Listener, max int, refused prometheus.Counter, log *slog.Logger) *connCap {
	return &connCap{Listener: ln, max: max, refused: refused, log: log, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within its client's cap, refusing
// the others on the way.
func (l *connCap) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerIP(c)
		if l.acquire(ip) {
			return &cappedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.refuse(c, ip)
	}
}

func (l *connCap) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *connCap) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip) // the map holds only addresses with connections
	}
}

// refuseBody is the whole answer to a connection over the cap: nothing of
// its request has been read, so the server cannot go through net/http.
var refuseBody = `{"error":"too many connections from this address; close some and retry"}`

var refuseResponse = fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
	http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable), len(refuseBody), refuseBody)

// refuse answers c and closes it. The write goes to a fresh socket's empty
// buffer, so it does not block the accept loop; the deadline is for the
// odd case where it would.
func (l *connCap) refuse(c net.Conn, ip netip.Addr) {
	l.refused.Inc()
	// Debug only: a flood would otherwise write a line per connection.
	l.log.Debug("api: connection refused: client at its cap", "remote", ip.String(), "max_conns_per_client", l.max)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write([]byte(refuseResponse))
	_ = c.Close()
}

// peerIP is the client address a connection counts against; a non-IP
// address (a test's pipe) counts as one client.
func peerIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// cappedConn gives its slot back when closed, once however often the
// server closes it.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
