package gb26875

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

// maxCreatedTags caps the tags one listener creates on first sight, so a
// broken or hostile device inventing component addresses cannot fill memory.
const maxCreatedTags = 200_000

// minWriteTimeout bounds a reply's write: a device on a 4G link may be slow,
// but a stuck one must not hold its connection's goroutine for ever.
const minWriteTimeout = 2 * time.Second

// Errors of the operator commands.
var (
	ErrNotConnected = errors.New("transmission device not connected")
	ErrNoReply      = errors.New("no confirm from the transmission device")
	ErrDenied       = errors.New("the transmission device denied the command")
)

// Stats counts what a listener did since it was made.
type Stats struct {
	Accepted          uint64            `json:"accepted" metric:"hazgate_gb26875_connections_accepted_total" help:"Connections accepted."`                                                                  // connections accepted
	Refused           uint64            `json:"refused" metric:"hazgate_gb26875_connections_refused_total" help:"Connections closed at once: max_connections reached."`                                     // connections closed at once: max_connections reached
	Rejected          uint64            `json:"rejected" metric:"hazgate_gb26875_connections_rejected_total" help:"Connections closed: source address not allowed."`                                        // connections closed: a source address not in allow
	RefusedPerAddress uint64            `json:"refused_per_address" metric:"hazgate_gb26875_connections_refused_per_address_total" help:"Connections closed at once: max_connections_per_address reached."` // connections closed at once: max_connections_per_address reached
	Handshake         uint64            `json:"handshake_timeout" metric:"hazgate_gb26875_connections_handshake_timeout_total" help:"Connections closed: no valid frame within handshake_timeout."`         // connections closed: no valid frame within handshake_timeout
	Frames            uint64            `json:"frames" metric:"hazgate_gb26875_frames_total" help:"Valid frames received."`                                                                                 // valid frames received
	Heartbeats        uint64            `json:"heartbeats" metric:"hazgate_gb26875_heartbeats_total" help:"Send-data frames without data."`                                                                 // send-data frames without data
	Confirms          uint64            `json:"confirms" metric:"hazgate_gb26875_confirms_total" help:"Confirms sent."`                                                                                     // confirms sent
	Denies            uint64            `json:"denies" metric:"hazgate_gb26875_denies_total" help:"Denies sent."`                                                                                           // denies sent
	BadChecksum       uint64            `json:"bad_checksum" metric:"hazgate_gb26875_bad_checksum_total" help:"Frames denied for their checksum."`                                                          // frames denied for their checksum
	BadLength         uint64            `json:"bad_length" metric:"hazgate_gb26875_bad_length_total" help:"Frames denied for a length over 1024."`                                                          // frames denied for a length over 1024
	DecodeErrors      uint64            `json:"decode_errors" metric:"hazgate_gb26875_decode_errors_total" help:"Frames denied for application data that does not decode."`                                 // frames denied for application data that does not decode
	Garbage           uint64            `json:"garbage_bytes" metric:"hazgate_gb26875_garbage_bytes_total" help:"Bytes skipped between frames."`                                                            // bytes skipped between frames
	Unexpected        uint64            `json:"unexpected" metric:"hazgate_gb26875_unexpected_frames_total" help:"Frames of a command a centre does not expect."`                                           // frames of a command a centre does not expect (control, request, ...)
	Unknown           map[string]uint64 `json:"unknown_types"`                                                                                                                                              // units of types not decoded, confirmed, by type
	Foreign           uint64            `json:"foreign" metric:"hazgate_gb26875_foreign_readings_total" help:"Readings dropped: their tag belongs to another device."`                                      // readings dropped: their tag belongs to another device
	Overflow          uint64            `json:"overflow" metric:"hazgate_gb26875_overflow_readings_total" help:"Readings dropped: the listener's tag limit was reached."`                                   // readings dropped: the listener created maxCreatedTags tags already
	BadTime           uint64            `json:"bad_time" metric:"hazgate_gb26875_bad_time_objects_total" help:"Objects whose time tag was outside time_bounds, stamped on receipt instead."`                // objects whose time tag was outside time_bounds, stamped on receipt
	CommLoss          uint64            `json:"comm_loss" metric:"hazgate_gb26875_comm_loss_total" help:"Transmission devices that went silent."`                                                           // devices that went silent
}

// DutyCheck is the state of the last duty check (查岗) sent to a device.
type DutyCheck struct {
	SentBy  string    `json:"sent_by"`
	Sent    time.Time `json:"sent"`
	Minutes int       `json:"minutes"`
	// Answered is when the device reported its duty-check answer (操作信息
	// 查岗应答); nil while the check is open.
	Answered *time.Time `json:"answered,omitempty"`
	Operator *int       `json:"operator,omitempty"`
}

// DeviceStatus is what the listener knows of one transmission device.
type DeviceStatus struct {
	Listener  string         `json:"listener"`
	Address   string         `json:"address"`
	TagPrefix string         `json:"tag_prefix"`
	Connected bool           `json:"connected"`
	Remote    string         `json:"remote,omitempty"`
	LastFrame time.Time      `json:"last_frame"`
	CommLoss  bool           `json:"comm_loss"`
	Frames    uint64         `json:"frames"`
	Tags      int            `json:"tags"`
	Duty      *DutyCheck     `json:"duty_check,omitempty"`
	Last      *CommandResult `json:"last_command,omitempty"`
}

// CommandResult is the outcome of a command sent to a device.
type CommandResult struct {
	Address string    `json:"address"`
	Command string    `json:"command"` // sync_clock or duty_check
	Serial  uint16    `json:"serial"`
	SentBy  string    `json:"sent_by"`
	Sent    time.Time `json:"sent"`
	Tries   int       `json:"tries"`
	// Reply is confirm or deny, empty without any; Replied is when it came.
	Reply   string     `json:"reply"`
	Replied *time.Time `json:"replied,omitempty"`
	// ClockSetTo is the time a sync_clock sent.
	ClockSetTo *time.Time `json:"clock_set_to,omitempty"`
}

// Listener is one gb26875 device of the config: a TCP listener many
// transmission devices connect to.
type Listener struct {
	id, site, listen string
	allow            map[Address]bool
	idle             time.Duration // heartbeat × comm_loss_after
	tick             time.Duration
	maxConns         int
	maxPerAddr       int           // 0: no cap
	handshake        time.Duration // for a connection's first valid frame
	cmdTimeout       time.Duration
	cmdTries         int
	writeTimeout     time.Duration
	times            collector.TimeBounds // objects' time tags outside it are dropped
	emit             protocols.Emitter
	tags             protocols.TagAdder
	log              *slog.Logger
	declared         []collector.Tag
	now              func() time.Time

	bound   chan net.Addr
	running atomic.Bool

	mu      sync.Mutex
	devices map[Address]*device
	seen    map[string]bool // tag id: ours (true) or another device's (false)
	created int
	conns   map[*conn]struct{}
	perAddr map[string]int // connections by remote IP
	unknown map[uint8]uint64

	accepted, refused, rejected, refusedPerAddr, handshakeTimeouts, frames, heartbeats, confirms, denies,
	badChecksum, badLength, decodeErrors, garbage, unexpected, foreign, overflow, badTime, commLoss atomic.Uint64
}

// device is one transmission device; every field is guarded by Listener.mu.
type device struct {
	addr     Address
	centre   Address // the address the device sends to: our source in commands
	user     uint8   // its user protocol version, echoed in commands
	conn     *conn
	lastSeen time.Time
	lost     bool
	frames   uint64
	tags     map[string]bool
	serial   uint16 // our commands' serial
	pending  map[uint16]chan Command
	duty     *DutyCheck
	last     *CommandResult
}

type conn struct {
	nc     net.Conn
	remote string
	ip     string // remote without the port: what max_connections_per_address counts
	wmu    sync.Mutex
}

// New validates dev's gb26875 part and returns its listener.
func New(env protocols.Env, dev config.Device) (*Listener, error) {
	if env.Emit == nil || env.Tags == nil {
		return nil, fmt.Errorf("device %s: no emitter or tag registry", dev.ID)
	}
	cfg, ok := dev.Block.(*Config)
	if !ok {
		return nil, fmt.Errorf("device %s: no gb26875 block (protocol %q)", dev.ID, dev.Protocol)
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("device %s: listen %q: %w", dev.ID, cfg.Listen, err)
	}
	if cfg.Heartbeat <= 0 || cfg.CommLossAfter < 1 || cfg.MaxConnections < 1 || cfg.HandshakeTimeout <= 0 || cfg.CommandTimeout <= 0 || cfg.CommandTries < 1 {
		return nil, fmt.Errorf("device %s: heartbeat, comm_loss_after, max_connections, handshake_timeout, command_timeout and command_tries must be positive", dev.ID)
	}
	if cfg.MaxConnectionsPerAddress < 0 {
		return nil, fmt.Errorf("device %s: max_connections_per_address must be 0 (no cap) or more", dev.ID)
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	l := &Listener{
		id: dev.ID, site: env.Site, listen: cfg.Listen,
		idle:     cfg.Heartbeat * time.Duration(cfg.CommLossAfter),
		tick:     max(cfg.Heartbeat/4, 10*time.Millisecond),
		maxConns: cfg.MaxConnections, maxPerAddr: cfg.MaxConnectionsPerAddress, handshake: cfg.HandshakeTimeout,
		cmdTimeout: cfg.CommandTimeout, cmdTries: cfg.CommandTries,
		writeTimeout: max(dev.Timeout, minWriteTimeout),
		emit:         env.Emit, tags: env.Tags, log: log.With("device", dev.ID), times: env.Times,
		now:     time.Now,
		bound:   make(chan net.Addr, 1),
		devices: make(map[Address]*device), seen: make(map[string]bool),
		conns: make(map[*conn]struct{}), perAddr: make(map[string]int), unknown: make(map[uint8]uint64),
	}
	if len(cfg.Allow) > 0 {
		l.allow = make(map[Address]bool)
		for _, s := range cfg.Allow {
			a, err := ParseAddress(s)
			if err != nil {
				return nil, fmt.Errorf("device %s: allow: %w", dev.ID, err)
			}
			l.allow[a] = true
		}
	}
	var err error
	if l.declared, err = protocols.DeclaredTags(env.Site, dev); err != nil {
		return nil, err
	}
	for _, t := range l.declared {
		l.seen[t.ID] = true // the gateway registers declared tags before Run
	}
	return l, nil
}

// Tags returns the tags declared in config (metadata for tags the devices
// create); the rest are created on first sight.
func (l *Listener) Tags() []collector.Tag { return l.declared }

// Addr waits for Run to bind and returns the bound address (tests listen
// on port 0).
func (l *Listener) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-l.bound:
		l.bound <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	st := Stats{
		Accepted: l.accepted.Load(), Refused: l.refused.Load(), Rejected: l.rejected.Load(),
		RefusedPerAddress: l.refusedPerAddr.Load(), Handshake: l.handshakeTimeouts.Load(), Frames: l.frames.Load(),
		Heartbeats: l.heartbeats.Load(), Confirms: l.confirms.Load(), Denies: l.denies.Load(),
		BadChecksum: l.badChecksum.Load(), BadLength: l.badLength.Load(), DecodeErrors: l.decodeErrors.Load(),
		Garbage: l.garbage.Load(), Unexpected: l.unexpected.Load(), Foreign: l.foreign.Load(), Overflow: l.overflow.Load(), BadTime: l.badTime.Load(), CommLoss: l.commLoss.Load(),
		Unknown: map[string]uint64{},
	}
	l.mu.Lock()
	for t, n := range l.unknown {
		st.Unknown[fmt.Sprint(t)] = n
	}
	l.mu.Unlock()
	return st
}

// Run listens until ctx ends. It fails only when it cannot bind.
func (l *Listener) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return fmt.Errorf("device %s: Run called twice", l.id)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.listen)
	if err != nil {
		return fmt.Errorf("device %s: listen %s: %w", l.id, l.listen, err)
	}
	l.bound <- ln.Addr()
	l.log.Info("gb26875 listening", "addr", ln.Addr().String(), "comm_loss_after", l.idle)

	var wg sync.WaitGroup
	wg.Go(func() { l.watch(ctx) })
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.nc.Close()
		}
		l.mu.Unlock()
	})
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// Out of file descriptors and the like: wait, do not spin.
			l.log.Warn("gb26875 accept failed", "err", err)
			time.Sleep(backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		c := &conn{nc: nc, remote: nc.RemoteAddr().String()}
		c.ip = c.remote
		if host, _, err := net.SplitHostPort(c.remote); err == nil {
			c.ip = host
		}
		l.mu.Lock()
		full := len(l.conns) >= l.maxConns
		crowded := !full && l.maxPerAddr > 0 && l.perAddr[c.ip] >= l.maxPerAddr
		if !full && !crowded {
			l.conns[c] = struct{}{}
			l.perAddr[c.ip]++
		}
		l.mu.Unlock()
		if full {
			l.refused.Add(1)
			l.log.Warn("gb26875 connection refused: max_connections reached", "remote", c.remote, "max_connections", l.maxConns)
			nc.Close()
			continue
		}
		if crowded {
			l.refusedPerAddr.Add(1)
			l.log.Warn("gb26875 connection refused: max_connections_per_address reached", "remote", c.remote, "max_connections_per_address", l.maxPerAddr)
			nc.Close()
			continue
		}
		l.accepted.Add(1)
		wg.Go(func() { l.serve(ctx, c) })
	}
	wg.Wait()
	return nil
}

// serve reads one connection until it ends, is idle past the comm-loss
// time, sends no valid frame within the handshake time, or sends from an
// address not allowed.
func (l *Listener) serve(ctx context.Context, c *conn) {
	defer func() {
		c.nc.Close()
		l.mu.Lock()
		delete(l.conns, c)
		if l.perAddr[c.ip]--; l.perAddr[c.ip] <= 0 {
			delete(l.perAddr, c.ip)
		}
		for _, d := range l.devices {
			if d.conn == c {
				d.conn = nil
			}
		}
		l.mu.Unlock()
	}()
	r := NewReader(c.nc)
	var skipped uint64
	// Until its first valid frame the connection has one fixed deadline:
	// garbage and broken frames do not extend it, so a socket that never
	// speaks the protocol frees its slot in handshake_timeout.
	greeted, handshake := false, l.now().Add(min(l.handshake, l.idle))
	for {
		if greeted {
			c.nc.SetReadDeadline(l.now().Add(l.idle))
		} else {
			c.nc.SetReadDeadline(handshake)
		}
		f, err := r.Next()
		if n := r.Skipped(); n != skipped {
			l.garbage.Add(n - skipped)
			skipped = n
		}
		var fe *FrameError
		if errors.As(err, &fe) {
			if errors.Is(err, ErrChecksum) {
				l.badChecksum.Add(1)
			} else {
				l.badLength.Add(1)
			}
			l.log.Warn("gb26875 frame denied", "remote", c.remote, "src", fe.Frame.Src, "err", err)
			l.reply(c, fe.Frame, CmdDeny)
			continue
		}
		if err != nil {
			if !greeted && errors.Is(err, os.ErrDeadlineExceeded) {
				l.handshakeTimeouts.Add(1)
				l.log.Warn("gb26875 connection closed: no valid frame within handshake_timeout", "remote", c.remote,
					"handshake_timeout", l.handshake, "garbage_bytes", skipped)
				return
			}
			if !errors.Is(err, io.EOF) && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				l.log.Info("gb26875 connection closed", "remote", c.remote, "err", err)
			}
			return
		}
		if l.allow != nil && !l.allow[f.Src] {
			l.rejected.Add(1)
			l.log.Warn("gb26875 connection closed: source address not in allow", "remote", c.remote, "src", f.Src)
			return
		}
		greeted = true
		l.frames.Add(1)
		if err := l.handle(ctx, c, f); err != nil {
			return // ctx ended before the readings were handed on: no confirm, the device resends
		}
	}
}

// reply sends the confirm or deny of f. A write that fails closes nothing
// here: the read side sees the broken connection.
func (l *Listener) reply(c *conn, f Frame, cmd Command) {
	if err := c.write(Reply(f, cmd, l.now()), l.writeTimeout); err != nil {
		l.log.Info("gb26875 reply not sent", "remote", c.remote, "cmd", cmd, "err", err)
		return
	}
	if cmd == CmdConfirm {
		l.confirms.Add(1)
	} else {
		l.denies.Add(1)
	}
}

func (c *conn) write(f Frame, timeout time.Duration) error {
	b, err := Append(make([]byte, 0, headerLen+len(f.Data)+trailLen), f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err = c.nc.Write(b)
	return err
}

// handle acts on one valid frame. Send-data is confirmed only after its
// readings are durable (see emitReadings), so nothing confirmed is lost.
func (l *Listener) handle(ctx context.Context, c *conn, f Frame) error {
	now := l.now()
	dev, fresh := l.touch(c, f, now)
	switch f.Cmd {
	case CmdSendData:
	case CmdConfirm, CmdDeny:
		l.mu.Lock()
		ch := dev.pending[f.Serial]
		l.mu.Unlock()
		if ch != nil {
			select {
			case ch <- f.Cmd:
			default: // a second reply to one try
			}
		}
		return nil
	default:
		l.unexpected.Add(1)
		l.log.Debug("gb26875 frame ignored", "src", f.Src, "cmd", f.Cmd)
		return nil
	}

	var rs []reading
	if fresh || len(f.Data) == 0 {
		rs = append(rs, linkReading(f.Src, now))
	}
	if len(f.Data) == 0 {
		l.heartbeats.Add(1)
	} else {
		u, err := DecodeUnit(f.Data)
		if err != nil {
			l.decodeErrors.Add(1)
			l.log.Warn("gb26875 frame denied", "src", f.Src, "serial", f.Serial, "err", err)
			l.reply(c, f, CmdDeny)
			return nil
		}
		if !u.Decoded() {
			l.mu.Lock()
			l.unknown[u.Type]++
			l.mu.Unlock()
		}
		got, bad := readings(f.Src, &u, now, l.times)
		rs = append(rs, got...)
		if len(bad) > 0 {
			// Kept with the receipt time (a fire alarm from a panel whose
			// clock reset is still a fire alarm); its clock needs setting.
			l.badTime.Add(uint64(len(bad)))
			t, _ := bad[0].time.Time(Beijing)
			l.log.Warn("gb26875 time tags outside time_bounds: stamped on receipt; set the device's clock (POST .../sync-clock)", "src", f.Src, "remote", c.remote, "serial", f.Serial,
				"type", u.Type, "restamped", len(bad), "objects", u.Count, "time", t.Format(time.DateTime), "err", bad[0].err)
		}
		if u.Type == TypeUITDOperation {
			rs = append(rs, l.dutyAnswers(dev, u.Operations, now)...)
		}
	}
	if err := l.emitReadings(ctx, dev, rs); err != nil {
		return err
	}
	l.reply(c, f, CmdConfirm)
	return nil
}

// touch records a frame from f.Src: its connection, its time, the centre
// address it uses. fresh is true on a device's first frame and on its first
// after a comm loss.
func (l *Listener) touch(c *conn, f Frame, now time.Time) (*device, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.devices[f.Src]
	fresh := d == nil
	if d == nil {
		d = &device{addr: f.Src, tags: make(map[string]bool), pending: make(map[uint16]chan Command)}
		l.devices[f.Src] = d
		l.log.Info("gb26875 transmission device seen", "src", f.Src, "remote", c.remote)
	}
	if d.lost {
		fresh = true
		d.lost = false
		l.log.Info("gb26875 transmission device back", "src", f.Src, "remote", c.remote, "silent_for", now.Sub(d.lastSeen).Round(time.Millisecond))
	}
	d.conn, d.centre, d.user, d.lastSeen = c, f.Dst, f.User, now
	d.frames++
	return d, fresh
}

// linkReading says a device is heard: 1 on its first frame, on every
// heartbeat and on coming back; its comm loss turns it Bad with the rest.
func linkReading(a Address, now time.Time) reading {
	return reading{tag: collector.Tag{ID: DevicePrefix(a) + ".link", Name: "用户信息传输装置通信", Description: "1 while the transmission device is heard"}, value: 1, at: now}
}

// emitReadings registers the readings' tags on first sight and hands the
// readings on as Good samples.
func (l *Listener) emitReadings(ctx context.Context, d *device, rs []reading) error {
	if len(rs) == 0 {
		return nil
	}
	batch := make([]collector.Sample, 0, len(rs))
	l.mu.Lock()
	for _, r := range rs {
		ours, known := l.seen[r.tag.ID]
		if !known && l.created >= maxCreatedTags {
			if l.overflow.Add(1) == 1 {
				l.log.Error("gb26875 tag limit reached: readings of new tags are dropped", "limit", maxCreatedTags, "tag", r.tag.ID)
			}
			continue
		}
		if !known {
			t := r.tag
			t.Site, t.Device = l.site, l.id
			err := l.tags.Add(t)
			if ours = err == nil; ours {
				l.created++
			} else {
				l.log.Warn("gb26875 tag belongs to another device; its readings are dropped", "tag", t.ID, "err", err)
			}
			l.seen[t.ID] = ours
		}
		if !ours {
			l.foreign.Add(1)
			continue
		}
		d.tags[r.tag.ID] = true
		batch = append(batch, collector.Sample{Tag: r.tag.ID, Value: r.value, Quality: collector.Good, Time: r.at})
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	de, ok := l.emit.(protocols.DurableEmitter)
	if !ok {
		return l.emit.Emit(ctx, batch)
	}
	// The confirm waits until the alarms these readings raise are committed
	// and the readings are on disk or in InfluxDB: an event-only fire panel
	// never sends a confirmed frame again.
	done := make(chan struct{})
	if err := de.EmitDurable(ctx, batch, func() { close(done) }); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watch marks devices that have sent nothing for heartbeat × comm_loss_after.
func (l *Listener) watch(ctx context.Context) {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := l.now()
		var batch []collector.Sample
		l.mu.Lock()
		for _, d := range l.devices {
			if d.lost || now.Sub(d.lastSeen) < l.idle {
				continue
			}
			d.lost = true
			l.commLoss.Add(1)
			l.log.Warn("gb26875 transmission device silent: tags marked bad", "src", d.addr, "last_frame", d.lastSeen, "tags", len(d.tags))
			for id := range d.tags {
				batch = append(batch, collector.Sample{Tag: id, Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: now})
			}
		}
		l.mu.Unlock()
		if len(batch) > 0 {
			if err := l.emit.Emit(ctx, batch); err != nil {
				return
			}
		}
	}
}

// Devices lists the devices heard since start, by address.
func (l *Listener) Devices() []DeviceStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := slices.Sorted(maps.Keys(l.devices))
	out := make([]DeviceStatus, 0, len(keys))
	for _, a := range keys {
		out = append(out, l.status(l.devices[a]))
	}
	return out
}

// Device returns one device's status.
func (l *Listener) Device(a Address) (DeviceStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.devices[a]
	if d == nil {
		return DeviceStatus{}, false
	}
	return l.status(d), true
}

// status copies d; l.mu is held.
func (l *Listener) status(d *device) DeviceStatus {
	s := DeviceStatus{Listener: l.id, Address: d.addr.String(), TagPrefix: DevicePrefix(d.addr), Connected: d.conn != nil,
		LastFrame: d.lastSeen, CommLoss: d.lost, Frames: d.frames, Tags: len(d.tags)}
	if d.conn != nil {
		s.Remote = d.conn.remote
	}
	if d.duty != nil {
		dc := *d.duty
		s.Duty = &dc
	}
	if d.last != nil {
		lc := *d.last
		s.Last = &lc
	}
	return s
}
