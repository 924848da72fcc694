package modbus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"

	"hazgate/config"
)

// maxBackoff caps the wait between failed connection attempts, so a device
// back from a long outage is read again within half a minute.
const maxBackoff = 30 * time.Second

// linkConfig is what devices sharing a connection must agree on.
type linkConfig struct {
	url                               string
	speed, dataBits, parity, stopBits uint
	timeout                           time.Duration
	tls                               config.TLS
}

// diff names the first setting in which b differs from a, or "".
func (a linkConfig) diff(b linkConfig) string {
	switch {
	case a.speed != b.speed, a.dataBits != b.dataBits, a.parity != b.parity, a.stopBits != b.stopBits:
		return fmt.Sprintf("serial settings %d/%d/%d/%d and %d/%d/%d/%d (speed/data bits/parity/stop bits)",
			a.speed, a.dataBits, a.parity, a.stopBits, b.speed, b.dataBits, b.parity, b.stopBits)
	case a.timeout != b.timeout:
		return fmt.Sprintf("timeouts %v and %v", a.timeout, b.timeout)
	case a.tls != b.tls:
		return "tls settings"
	}
	return ""
}

// linkSpec is a device's view of its connection: the shared settings and
// what it takes to build the client.
type linkSpec struct {
	cfg   linkConfig
	cert  *tls.Certificate
	roots *x509.CertPool
}

// newLinkSpec checks the device's transport settings and loads its TLS
// files, so a missing certificate fails at start-up, naming the file.
func newLinkSpec(dev config.Device) (linkSpec, error) {
	m := configOf(dev)
	c := linkConfig{url: dev.URL, speed: orDefault(m.Speed, 9600), dataBits: orDefault(m.DataBits, 8),
		stopBits: orDefault(m.StopBits, 1), timeout: dev.Timeout}
	switch m.Parity {
	case "", "none":
		c.parity = modbus.PARITY_NONE
	case "even":
		c.parity = modbus.PARITY_EVEN
	case "odd":
		c.parity = modbus.PARITY_ODD
	default:
		return linkSpec{}, fmt.Errorf("parity %q: want none, even or odd", m.Parity)
	}
	s := linkSpec{cfg: c}
	if !strings.HasPrefix(dev.URL, "tcp+tls://") {
		return s, nil
	}
	if dev.TLS == nil || dev.TLS.CA == "" || dev.TLS.Cert == "" || dev.TLS.Key == "" {
		return s, errors.New("tcp+tls needs tls: {ca, cert, key}")
	}
	s.cfg.tls = *dev.TLS
	cert, err := tls.LoadX509KeyPair(dev.TLS.Cert, dev.TLS.Key)
	if err != nil {
		return s, fmt.Errorf("tls.cert %s: %w", dev.TLS.Cert, err)
	}
	pem, err := os.ReadFile(dev.TLS.CA)
	if err != nil {
		return s, fmt.Errorf("tls.ca: %w", err)
	}
	s.roots = x509.NewCertPool()
	if !s.roots.AppendCertsFromPEM(pem) {
		return s, fmt.Errorf("tls.ca %s: no PEM certificate in it", dev.TLS.CA)
	}
	s.cert = &cert
	return s, nil
}

func orDefault(v, def uint) uint {
	if v == 0 {
		return def
	}
	return v
}

// client builds the library's client for this link. It opens nothing.
func (s linkSpec) client(lib *libLog) (*modbus.ModbusClient, error) {
	return modbus.NewClient(&modbus.ClientConfiguration{
		URL: s.cfg.url, Speed: s.cfg.speed, DataBits: s.cfg.dataBits, Parity: s.cfg.parity, StopBits: s.cfg.stopBits,
		Timeout: s.cfg.timeout, TLSClientCert: s.cert, TLSRootCAs: s.roots,
		// The library prints to stdout by default; keep its warnings in our logs.
		Logger: log.New(lib, "", 0),
	})
}

// libLog takes the library's log lines into slog, naming the device whose
// request is in hand: a link serves one job at a time, and a warning about
// a stale reply on a shared bus is of no use without the device.
type libLog struct {
	conn *slog.Logger // for lines outside any job; without a device on a shared link
	url  string
	cur  atomic.Pointer[slog.Logger] // the logger of the job in hand, with device=
}

func newLibLog(conn *slog.Logger, url string) *libLog { return &libLog{conn: conn, url: url} }

// Write logs one line of the library, "tcp-transport(h:502) [warn]: text",
// at Warn (Error for its errors), with the source and the url as attributes.
func (w *libLog) Write(b []byte) (int, error) {
	line := strings.TrimSpace(string(b))
	source, level, text := "", slog.LevelWarn, line
	if i := strings.Index(line, " ["); i >= 0 {
		if tag, rest, ok := strings.Cut(line[i+2:], "]: "); ok {
			source, text = line[:i], rest
			if tag == "error" {
				level = slog.LevelError
			}
		}
	}
	lg := w.conn
	if d := w.cur.Load(); d != nil {
		lg = d
	}
	lg.Log(context.Background(), level, text, "source", source, "url", w.url)
	return len(b), nil
}

// serialLike reports whether a URL carries RTU frames, whose transport
// resynchronises after a garbled or missing reply, so the link stays open
// when one device on the bus fails.
func serialLike(url string) bool {
	return strings.HasPrefix(url, "rtu://") || strings.HasPrefix(url, "rtuovertcp://") || strings.HasPrefix(url, "rtuoverudp://")
}

// job is one read a device asks of its link.
type job struct {
	unit    uint8
	rq      request
	retries int
	m       *metrics     // the asking device's counters, updated per attempt
	log     *slog.Logger // the asking device's logger, for the library's lines
	done    chan reply   // capacity 1: the link never blocks on an abandoned job
}

// reply is a job's outcome. at is when the answer (or the failure) came:
// samples are stamped with it.
type reply struct {
	res readResult
	err error
	at  time.Time
}

// readResult is what one request returned: register bytes or bits.
type readResult struct {
	regs []byte
	bits []bool
}

// errBackoff is returned without a connection attempt while the link waits
// out its backoff after failed attempts.
var errBackoff = errors.New("connection down, waiting before the next attempt")

// link is one connection (TCP socket, serial port, RTU-over-TCP bridge)
// shared by every device with its URL. One goroutine owns the client and
// serves the devices' jobs one at a time, so requests to different unit ids
// never interleave (the library keeps the unit id as client state).
type link struct {
	cfg    linkConfig
	client *modbus.ModbusClient
	log    *slog.Logger
	lib    *libLog
	jobs   chan *job
	stop   chan struct{}
	serial bool
	users  atomic.Int32
	base   atomic.Int64 // backoff base: the shortest interval of the link's devices

	owners []string // device ids, guarded by the pool's mutex

	// Owned by run.
	open     bool
	failures int // consecutive failed connection attempts
	nextDial time.Time
}

// linkPool finds a device the link its URL names, making it on first use
// and closing it when its last device stops.
type linkPool struct {
	mu    sync.Mutex
	links map[string]*link
}

var pool = &linkPool{links: make(map[string]*link)}

// acquire joins device dev to the link for spec, starting it if needed.
func (pp *linkPool) acquire(dev string, spec linkSpec, interval time.Duration, log *slog.Logger) (*link, error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	l := pp.links[spec.cfg.url]
	if l != nil {
		if d := l.cfg.diff(spec.cfg); d != "" {
			return nil, fmt.Errorf("url %s is shared with device %s, but they differ in %s: devices on one connection need the same", spec.cfg.url, l.owners[0], d)
		}
	} else {
		lib := newLibLog(log, config.RedactURL(spec.cfg.url))
		client, err := spec.client(lib)
		if err != nil {
			return nil, fmt.Errorf("url %q: %w", config.RedactURL(spec.cfg.url), err)
		}
		l = &link{cfg: spec.cfg, client: client, log: log.With("url", config.RedactURL(spec.cfg.url)), lib: lib, jobs: make(chan *job), stop: make(chan struct{}), serial: serialLike(spec.cfg.url)}
		l.base.Store(int64(interval))
		pp.links[spec.cfg.url] = l
		go l.run()
	}
	l.owners = append(l.owners, dev)
	l.users.Add(1)
	if int64(interval) < l.base.Load() {
		l.base.Store(int64(interval))
	}
	return l, nil
}

// release takes dev off l; the last device out stops the link. Its
// goroutine ends once the job in hand is done, within the library's dial or
// request timeout.
func (pp *linkPool) release(l *link, dev string) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if i := slices.Index(l.owners, dev); i >= 0 {
		l.owners = slices.Delete(l.owners, i, i+1)
	}
	if l.users.Add(-1) == 0 {
		delete(pp.links, l.cfg.url)
		close(l.stop)
	}
}

// do hands j to the link and waits for its reply or ctx.
func (l *link) do(ctx context.Context, j *job) reply {
	select {
	case l.jobs <- j:
	case <-ctx.Done():
		return reply{err: ctx.Err(), at: time.Now()}
	}
	select {
	case r := <-j.done:
		return r
	case <-ctx.Done():
		return reply{err: ctx.Err(), at: time.Now()}
	}
}

func (l *link) run() {
	defer func() {
		if l.open {
			l.client.Close()
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		case j := <-l.jobs:
			l.lib.cur.Store(j.log)
			r := l.serve(j)
			l.lib.cur.Store(nil)
			j.done <- r
		}
	}
}

// serve opens the connection if it may, then runs j with its retries.
func (l *link) serve(j *job) reply {
	if !l.open {
		if now := time.Now(); now.Before(l.nextDial) {
			j.m.failed(kindConn)
			return reply{err: fmt.Errorf("%w (%v)", errBackoff, l.nextDial.Sub(now).Round(time.Millisecond)), at: now}
		}
		if err := l.client.Open(); err != nil {
			l.failures++
			l.nextDial = time.Now().Add(l.backoff(l.failures))
			j.m.failed(kindConn)
			return reply{err: fmt.Errorf("connect: %w", err), at: time.Now()}
		}
		if l.failures > 0 {
			l.log.Info("connection open again", "failed_attempts", l.failures)
		}
		l.open, l.failures = true, 0
	}
	if err := l.client.SetUnitId(j.unit); err != nil {
		return reply{err: err, at: time.Now()}
	}
	for attempt := 0; ; attempt++ {
		j.m.requests.Add(1)
		start := time.Now()
		res, err := read(l.client, j.rq)
		at := time.Now()
		k := classify(err)
		if k == kindNone || k == kindException {
			j.m.failed(k)
			j.m.answered(at.Sub(start), at)
			return reply{res: res, err: err, at: at}
		}
		j.m.failed(k)
		if (k == kindTimeout || k == kindFrame) && attempt < j.retries {
			continue
		}
		if l.closeAfter(k) {
			l.client.Close()
			l.open = false // the next job reopens at once; backoff starts if that fails
		}
		return reply{err: err, at: at}
	}
}

// closeAfter says whether a failure of kind k means the connection itself
// is unusable. On a bus (RTU, or several unit ids behind one socket) a
// timeout is one device's silence, not the link's; RTU frames resynchronise
// after garbage, a TCP stream may not.
func (l *link) closeAfter(k errKind) bool {
	switch k {
	case kindTimeout:
		return !l.serial && l.users.Load() == 1
	case kindFrame:
		return !l.serial
	}
	return true
}

// backoff is the wait after the n-th consecutive failed connection attempt:
// the link's shortest poll interval, doubling, capped at maxBackoff, with
// ±20 % jitter so devices behind one power cut do not redial in step.
func (l *link) backoff(n int) time.Duration {
	base := time.Duration(l.base.Load())
	d := base << min(n-1, 20)
	if d > maxBackoff || d <= 0 {
		d = max(maxBackoff, base)
	}
	return d * time.Duration(80+rand.IntN(41)) / 100
}

func read(c *modbus.ModbusClient, rq request) (readResult, error) {
	var (
		r   readResult
		err error
	)
	switch rq.table {
	case tableCoil:
		r.bits, err = c.ReadCoils(rq.addr, rq.qty)
	case tableDiscrete:
		r.bits, err = c.ReadDiscreteInputs(rq.addr, rq.qty)
	case tableHolding:
		// Raw bytes keep the wire order, so byte/word orders decode in one place.
		r.regs, err = c.ReadRawBytes(rq.addr, 2*rq.qty, modbus.HOLDING_REGISTER)
	case tableInput:
		r.regs, err = c.ReadRawBytes(rq.addr, 2*rq.qty, modbus.INPUT_REGISTER)
	}
	return r, err
}
