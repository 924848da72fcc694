package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/protocols/gb26875"
)

// Errors of the link.
var (
	ErrNotConnected = errors.New("not connected to a monitoring centre")
	ErrNoConfirm    = errors.New("no confirm from the monitoring centre")
	errClosed       = errors.New("connection to the centre closed")
)

// UITD state bits (type 21) the link reports of itself.
const (
	// UITDNormal is bit 0: normal monitoring (0 would be test mode).
	UITDNormal = 1 << 0
)

// defaultBatch is how many messages the link asks the outbox for at once
// when LinkOptions.MaxObjects is 0: a full frame of component states (type
// 2, the fire alarms), so no more status is taken ahead of an alarm than
// fits in one frame.
const defaultBatch = 22

// LinkOptions configures a Link.
type LinkOptions struct {
	// Centres are host:port of the monitoring centre: the primary first,
	// then the standby (or standbys).
	Centres []string
	// Address is this transmission device's address; CentreAddress the
	// centre's, 0 if unknown (then learnt from the centre's first frame).
	Address, CentreAddress gb26875.Address
	// Heartbeat is the idle time after which an empty send-data frame
	// goes (default 30 s).
	Heartbeat time.Duration
	// ConfirmTimeout is how long a frame waits for its confirm (default
	// 10 s); Retries how often it is sent again after a deny or that
	// silence before the link reconnects (default 3: 4 tries in all).
	ConfirmTimeout time.Duration
	Retries        int
	// DialTimeout bounds one connection attempt (default 10 s).
	DialTimeout time.Duration
	// Backoff is the first wait after every centre failed, doubling to
	// MaxBackoff (defaults 1 s and 30 s), each with ±50 % jitter so a
	// city's devices do not reconnect in step.
	Backoff, MaxBackoff time.Duration
	// MaxObjects is how many messages the link takes from the outbox at
	// once, so the most one frame carries (default 22, one frame of
	// component states); a frame never has more objects than its unit
	// type allows (gb26875.MaxObjects). Raising it fills frames of system
	// states (102) but holds more status ahead of an alarm that comes.
	MaxObjects int
	Outbox     Outbox
	// Now is the gateway's clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
	// State is the UITD state byte sent on a request for it (type 81);
	// default UITDNormal.
	State func() uint8
	// Facts answers the centre's reads of system and component states
	// (61, 62); nil denies them, as the link denies the reads of data it
	// does not hold (63-68, 84-86).
	Facts Facts
	// OnDutyCheck and OnClockSync are called on the link's reader
	// goroutine once the command is confirmed; they must not block.
	OnDutyCheck func(DutyCheck)
	OnClockSync func(offset time.Duration)
	// Serials keeps the frame serials across restarts (a FileNumber in
	// data_dir): the link reserves them serialBlock at a time and saves
	// the block's end, so after a restart, even a kill -9, it starts past
	// every serial it may have sent and a centre that drops repeated
	// serials takes no new frame for an old one. Nil starts at 1 each run.
	Serials NumberStore
	// ClockOffset keeps the offset of the centre's last clock sync (ns)
	// across restarts, so the time tags stay on the centre's clock until
	// it syncs again; nil starts from the gateway's own clock.
	ClockOffset NumberStore
}

// NumberStore loads and saves one number the link keeps across restarts
// (FileNumber).
type NumberStore interface {
	Load() (int64, error)
	Save(n int64) error
}

// serialBlock is how many serials one save reserves: a save (an fsync) per
// 1,024 frames, at most that many skipped by a restart.
const serialBlock = 1024

// DutyCheck is a 查岗 received from the centre: the person on duty has
// Minutes to answer (Link.AnswerDutyCheck).
type DutyCheck struct {
	Serial   uint16    `json:"serial"`
	Minutes  int       `json:"minutes"`
	Received time.Time `json:"received"`
}

// Deadline is when the answer window ends.
func (d DutyCheck) Deadline() time.Time {
	return d.Received.Add(time.Duration(d.Minutes) * time.Minute)
}

// OpenDutyCheck is the last duty check while it waits for its answer (a
// new one replaces it), for the console's countdown.
func (l *Link) OpenDutyCheck() (DutyCheck, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.duty == nil {
		return DutyCheck{}, false
	}
	return *l.duty, true
}

// Link is the device side of GB/T 26875.3: one TCP connection out to the
// monitoring centre, stop-and-wait, sending the outbox's messages.
type Link struct {
	opts LinkOptions
	log  *slog.Logger

	running   atomic.Bool
	serial    atomic.Uint32 // low 16 bits are the last serial used
	serialEnd atomic.Uint32 // with Serials: the end of the reserved block
	serialMu  sync.Mutex    // one reservation at a time
	offset    atomic.Int64  // centre time minus gateway time, ns
	centre    atomic.Uint64 // centre address in use

	mu      sync.Mutex
	sess    *session
	remote  string
	lastRTT time.Duration
	duty    *DutyCheck // the last 查岗, until answered
	inTime  uint64     // duty checks answered within their minutes

	// inflight are messages taken from the outbox and not yet confirmed;
	// only Run's goroutine touches it. They survive a reconnect.
	inflight []Pending

	framesSent, confirmed, denied, timeouts, resends, reconnects, heartbeats,
	messages, rejected, badFrames, dutyChecks, dutyAnswered, clockSyncs,
	requests, outboxErrors atomic.Uint64
	lastConfirm atomic.Int64 // unix ns of the last confirm from any centre
	unconfirmed atomic.Int64 // len(inflight)
	latency     [2]histogram
}

// NewLink checks opts and fills in the defaults.
func NewLink(opts LinkOptions) (*Link, error) {
	if len(opts.Centres) == 0 {
		return nil, fmt.Errorf("gb26875 link %s: no centre address", opts.Address)
	}
	for _, c := range opts.Centres {
		if _, _, err := net.SplitHostPort(c); err != nil {
			return nil, fmt.Errorf("gb26875 link %s: centre %q: %w", opts.Address, c, err)
		}
	}
	if opts.Outbox == nil {
		return nil, fmt.Errorf("gb26875 link %s: no outbox", opts.Address)
	}
	if opts.Address > gb26875.MaxAddress || opts.CentreAddress > gb26875.MaxAddress {
		return nil, fmt.Errorf("gb26875 link %s: address over 6 bytes", opts.Address)
	}
	if opts.Retries < 0 || opts.Heartbeat < 0 || opts.ConfirmTimeout < 0 || opts.MaxObjects < 0 {
		return nil, fmt.Errorf("gb26875 link %s: negative heartbeat, confirm timeout, retries or max objects", opts.Address)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Heartbeat, 30*time.Second)
	def(&opts.ConfirmTimeout, 10*time.Second)
	def(&opts.DialTimeout, 10*time.Second)
	def(&opts.Backoff, time.Second)
	def(&opts.MaxBackoff, 30*time.Second)
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.MaxObjects == 0 {
		opts.MaxObjects = defaultBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.State == nil {
		opts.State = func() uint8 { return UITDNormal }
	}
	l := &Link{opts: opts, log: opts.Log.With("uitd", opts.Address.String())}
	l.centre.Store(uint64(opts.CentreAddress))
	if opts.Serials != nil {
		n, err := opts.Serials.Load()
		if err != nil {
			return nil, fmt.Errorf("gb26875 link %s: serials: %w", opts.Address, err)
		}
		if n < 0 || n > math.MaxUint32-serialBlock {
			n = 0 // a counter from no link of ours: start again
		}
		l.serial.Store(uint32(n)) // the first frame reserves the next block
		l.serialEnd.Store(uint32(n))
	}
	if opts.ClockOffset != nil {
		off, err := opts.ClockOffset.Load()
		if err != nil {
			return nil, fmt.Errorf("gb26875 link %s: clock offset: %w", opts.Address, err)
		}
		l.offset.Store(off)
	}
	return l, nil
}

// ClockOffset is the centre's time minus the gateway's, from the last
// clock sync: what the link adds to the time tags it stamps.
func (l *Link) ClockOffset() time.Duration { return time.Duration(l.offset.Load()) }

// stamp is the time tag of now as the centre's clock has it.
func (l *Link) stamp() gb26875.TimeTag {
	return gb26875.TimeTagOf(l.opts.Now().Add(l.ClockOffset()))
}

// Run connects and sends until ctx ends. It returns an error only when
// called twice; lost connections are retried inside.
func (l *Link) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return fmt.Errorf("gb26875 link %s: Run called twice", l.opts.Address)
	}
	n := len(l.opts.Centres)
	idx, failed := 0, 0
	backoff := l.opts.Backoff
	for ctx.Err() == nil {
		addr := l.opts.Centres[idx]
		d := net.Dialer{Timeout: l.opts.DialTimeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			l.log.Warn("gb26875 link: centre unreachable", "centre", addr, "err", err)
			idx = (idx + 1) % n // the standby next
			if failed++; failed%n == 0 {
				sleep(ctx, jitter(backoff)) // every centre failed once: wait
				backoff = min(2*backoff, l.opts.MaxBackoff)
			}
			continue
		}
		failed = 0
		began, sent := time.Now(), l.messages.Load()
		err = l.serve(ctx, nc, addr)
		if ctx.Err() != nil {
			break
		}
		l.reconnects.Add(1)
		l.log.Warn("gb26875 link: connection to the centre lost", "centre", addr, "err", err, "unconfirmed", len(l.inflight))
		idx = (idx + 1) % n
		if l.messages.Load() > sent || time.Since(began) >= l.opts.Heartbeat {
			backoff = l.opts.Backoff // a working link dropped: the standby at once
		} else {
			// A centre that accepts and drops, or denies a message every
			// time, must not make the link spin.
			sleep(ctx, jitter(backoff))
			backoff = min(2*backoff, l.opts.MaxBackoff)
		}
	}
	return nil
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// serve runs one connection: a heartbeat first (the link is up once the
// centre confirms it), then the outbox's messages, heartbeats when idle.
// It returns why the connection ended.
func (l *Link) serve(ctx context.Context, nc net.Conn, addr string) error {
	sctx, cancel := context.WithCancel(ctx)
	s := &session{l: l, nc: nc, addr: addr, pending: make(map[uint16]chan gb26875.Command), done: make(chan struct{})}
	go func() {
		s.read()
		cancel()
	}()
	stop := context.AfterFunc(sctx, func() { nc.Close() })
	defer func() {
		stop()
		cancel()
		nc.Close()
		<-s.done
		l.mu.Lock()
		l.sess = nil
		l.mu.Unlock()
	}()

	if err := s.heartbeat(sctx); err != nil {
		return err
	}
	l.mu.Lock()
	l.sess, l.remote = s, addr
	l.mu.Unlock()
	l.log.Info("gb26875 link: connected to the centre", "centre", addr, "centre_address", gb26875.Address(l.centre.Load()), "unconfirmed", len(l.inflight))

	for {
		if len(l.inflight) == 0 {
			wait := time.Until(time.Unix(0, s.lastConfirm.Load()).Add(l.opts.Heartbeat))
			nctx, ncancel := context.WithTimeout(sctx, wait)
			ps, err := l.opts.Outbox.Next(nctx, l.opts.MaxObjects)
			idle := nctx.Err() != nil
			ncancel()
			switch {
			case sctx.Err() != nil:
				return s.cause(sctx)
			case err != nil && idle:
				if err := s.heartbeat(sctx); err != nil {
					return err
				}
				continue
			case err != nil:
				// The outbox is the gateway's disk: say so and wait, the
				// heartbeat keeps the link up meanwhile.
				l.outboxErrors.Add(1)
				l.log.Error("gb26875 link: outbox", "err", err)
				sleep(sctx, time.Second)
				continue
			}
			l.inflight = ps
			l.unconfirmed.Store(int64(len(ps)))
		}
		for len(l.inflight) > 0 {
			n, data, err := pack(l.inflight)
			if err != nil {
				// A message no frame can carry would hold up every one
				// behind it for ever: drop it, loudly.
				l.rejected.Add(uint64(n))
				l.log.Error("gb26875 link: message cannot be sent, dropped", "type", l.inflight[0].Unit.Type, "class", l.inflight[0].Class, "err", err)
				l.done(l.inflight[:n])
				l.inflight = l.inflight[n:]
				l.unconfirmed.Store(int64(len(l.inflight)))
				continue
			}
			if err := s.exchange(sctx, data); err != nil {
				return err
			}
			now := l.opts.Now()
			for _, p := range l.inflight[:n] {
				l.latency[p.Class&1].observe(now.Sub(p.Entered))
			}
			l.messages.Add(uint64(n))
			l.done(l.inflight[:n])
			l.inflight = l.inflight[n:]
			l.unconfirmed.Store(int64(len(l.inflight)))
		}
	}
}

func (l *Link) done(ps []Pending) {
	if err := l.opts.Outbox.Done(ps...); err != nil {
		// Sent again after a restart: a duplicate at the centre, not a loss.
		l.outboxErrors.Add(1)
		l.log.Error("gb26875 link: outbox done", "messages", len(ps), "err", err)
	}
}

// objects is how many objects u carries.
func objects(u *gb26875.Unit) int {
	switch u.Type {
	case gb26875.TypeSystemState:
		return len(u.Systems)
	case gb26875.TypeComponentState:
		return len(u.Components)
	case gb26875.TypeAnalog:
		return len(u.Analogs)
	case gb26875.TypeOperation, gb26875.TypeUITDOperation:
		return len(u.Operations)
	case gb26875.TypeUITDState:
		return len(u.UITD)
	}
	return int(u.Count)
}

// pack merges the leading messages of one unit type into one unit, up to
// the type's object maximum, and encodes it. n is how many messages it
// took; on an error n is the one message that cannot be encoded.
func pack(ps []Pending) (n int, data []byte, err error) {
	first := &ps[0].Unit
	limit := gb26875.MaxObjects(first.Type)
	if limit == 0 || len(ps) == 1 || objects(first) >= limit {
		data, err = first.Encode(make([]byte, 0, 64))
		if err == nil && len(data) > gb26875.MaxData {
			err = fmt.Errorf("type %d: %d bytes: %w", first.Type, len(data), gb26875.ErrLength)
		}
		return 1, data, err
	}
	u := gb26875.Unit{Type: first.Type}
	total := 0
	for _, p := range ps {
		k := objects(&p.Unit)
		if p.Unit.Type != u.Type || k == 0 || total+k > limit {
			break
		}
		total += k
		n++
		u.Systems = append(u.Systems, p.Unit.Systems...)
		u.Components = append(u.Components, p.Unit.Components...)
		u.Analogs = append(u.Analogs, p.Unit.Analogs...)
		u.Operations = append(u.Operations, p.Unit.Operations...)
		u.UITD = append(u.UITD, p.Unit.UITD...)
	}
	if n == 0 {
		return 1, nil, fmt.Errorf("type %d: a message without objects: %w", first.Type, gb26875.ErrUnit)
	}
	data, err = u.Encode(make([]byte, 0, 2+total*46))
	return n, data, err
}

// AnswerDutyCheck sends the duty-check answer (查岗应答, a type 24
// operation with bit 5) of operator and waits for the centre's confirm.
func (l *Link) AnswerDutyCheck(ctx context.Context, operator uint8) error {
	l.mu.Lock()
	s := l.sess
	l.mu.Unlock()
	if s == nil {
		return fmt.Errorf("duty-check answer of operator %d: %w", operator, ErrNotConnected)
	}
	u := gb26875.Unit{Type: gb26875.TypeUITDOperation, Operations: []gb26875.Operation{
		{Flags: gb26875.OpDutyAnswer, Operator: operator, Time: l.stamp()}}}
	data, err := u.Encode(nil)
	if err != nil {
		return err
	}
	if err := s.exchange(ctx, data); err != nil {
		return fmt.Errorf("duty-check answer of operator %d: %w", operator, err)
	}
	l.dutyAnswered.Add(1)
	l.mu.Lock()
	if l.duty != nil && !l.opts.Now().After(l.duty.Deadline()) {
		l.inTime++
	}
	l.duty = nil
	l.mu.Unlock()
	l.log.Info("gb26875 link: duty check answered", "operator", operator, "centre", s.addr)
	return nil
}

// session is one TCP connection to a centre.
type session struct {
	l    *Link
	nc   net.Conn
	addr string
	wmu  sync.Mutex

	mu      sync.Mutex
	pending map[uint16]chan gb26875.Command
	err     error // why the reader ended

	done chan struct{} // closed when the reader ends
	// lastConfirm is when a frame was last confirmed (unix ns): the
	// heartbeat is due Heartbeat after it.
	lastConfirm atomic.Int64
}

// cause is why the session ended.
func (s *session) cause(ctx context.Context) error {
	select {
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return s.err
		}
	default:
	}
	return ctx.Err()
}

func (s *session) heartbeat(ctx context.Context) error {
	if err := s.exchange(ctx, nil); err != nil {
		return err
	}
	s.l.heartbeats.Add(1)
	return nil
}

func (s *session) write(f gb26875.Frame) error {
	var buf [64]byte
	b, err := gb26875.Append(buf[:0], f)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nc.SetWriteDeadline(time.Now().Add(s.l.opts.ConfirmTimeout))
	_, err = s.nc.Write(b)
	return err
}

// nextSerial is the next frame serial, reserving a block first when the
// reserved one is used up. A failed save is logged and the frame still
// goes: a repeated serial after a restart is a lesser harm than none.
func (l *Link) nextSerial() uint16 {
	n := l.serial.Add(1)
	if l.opts.Serials != nil && n >= l.serialEnd.Load() {
		l.serialMu.Lock()
		if end := n + serialBlock; n >= l.serialEnd.Load() {
			if err := l.opts.Serials.Save(int64(end)); err != nil {
				l.log.Error("gb26875 link: serials not saved; after a restart the centre may see serials again", "err", err)
			}
			l.serialEnd.Store(end)
		}
		l.serialMu.Unlock()
	}
	return uint16(n)
}

// exchange sends data (nil: a heartbeat) as send-data with a new serial
// and waits for its confirm, sending it again after a deny or
// ConfirmTimeout, Retries times.
func (s *session) exchange(ctx context.Context, data []byte) error {
	l := s.l
	serial := l.nextSerial()
	ch := make(chan gb26875.Command, 1)
	s.mu.Lock()
	s.pending[serial] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, serial)
		s.mu.Unlock()
	}()
	timer := time.NewTimer(l.opts.ConfirmTimeout)
	defer timer.Stop()
	for try := 0; try <= l.opts.Retries; try++ {
		if try > 0 {
			l.resends.Add(1)
		}
		f := gb26875.Frame{Serial: serial, Main: gb26875.MainVersion, Time: l.stamp(),
			Src: l.opts.Address, Dst: gb26875.Address(l.centre.Load()), Cmd: gb26875.CmdSendData, Data: data}
		sent := time.Now()
		if err := s.write(f); err != nil {
			return fmt.Errorf("centre %s: serial %d: %w", s.addr, serial, err)
		}
		l.framesSent.Add(1)
		timer.Reset(l.opts.ConfirmTimeout)
		select {
		case cmd := <-ch:
			if cmd == gb26875.CmdConfirm {
				rtt := time.Since(sent)
				l.confirmed.Add(1)
				l.mu.Lock()
				l.lastRTT = rtt
				l.mu.Unlock()
				s.lastConfirm.Store(time.Now().UnixNano())
				l.lastConfirm.Store(l.opts.Now().UnixNano())
				return nil
			}
			l.denied.Add(1)
		case <-timer.C:
			l.timeouts.Add(1)
		case <-s.done:
			return fmt.Errorf("centre %s: serial %d: %w", s.addr, serial, s.cause(ctx))
		case <-ctx.Done():
			return fmt.Errorf("centre %s: serial %d: %w", s.addr, serial, s.cause(ctx))
		}
	}
	return fmt.Errorf("centre %s: serial %d: %w after %d tries of %v", s.addr, serial, ErrNoConfirm, l.opts.Retries+1, l.opts.ConfirmTimeout)
}

// read handles what the centre sends until the connection ends.
func (s *session) read() {
	defer close(s.done)
	r := gb26875.NewReader(s.nc)
	for {
		f, err := r.Next()
		var fe *gb26875.FrameError
		if errors.As(err, &fe) {
			s.l.badFrames.Add(1)
			s.l.log.Warn("gb26875 link: bad frame from the centre", "centre", s.addr, "err", err)
			if c := fe.Frame.Cmd; c == gb26875.CmdControl || c == gb26875.CmdRequest {
				s.reply(fe.Frame, gb26875.CmdDeny, nil)
			}
			continue // a damaged confirm: the timeout resends
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = errClosed
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		in, err := DecodeInbound(f)
		if err != nil {
			s.l.badFrames.Add(1)
			s.l.log.Warn("gb26875 link: frame from the centre refused", "centre", s.addr, "err", err)
			if f.Cmd == gb26875.CmdControl || f.Cmd == gb26875.CmdRequest {
				s.reply(f, gb26875.CmdDeny, nil)
			}
			continue
		}
		if s.l.opts.CentreAddress == 0 && f.Src != 0 {
			s.l.centre.Store(uint64(f.Src))
		}
		s.handle(in)
	}
}

// reply answers f: the serial echoed, the addresses swapped.
func (s *session) reply(f gb26875.Frame, cmd gb26875.Command, data []byte) {
	r := gb26875.Reply(f, cmd, s.l.opts.Now().Add(s.l.ClockOffset()))
	r.Src, r.Data = s.l.opts.Address, data
	if err := s.write(r); err != nil {
		s.l.log.Info("gb26875 link: reply not sent", "centre", s.addr, "cmd", cmd, "serial", f.Serial, "err", err)
	}
}

func (s *session) handle(in Inbound) {
	l := s.l
	f := in.Frame
	switch f.Cmd {
	case gb26875.CmdConfirm, gb26875.CmdDeny:
		s.mu.Lock()
		ch := s.pending[f.Serial]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- f.Cmd:
			default: // a second reply to one try
			}
		}
	case gb26875.CmdControl:
		switch in.Type {
		case gb26875.TypeSyncClock:
			off := in.Clock.Sub(l.opts.Now())
			l.offset.Store(int64(off))
			l.clockSyncs.Add(1)
			if st := l.opts.ClockOffset; st != nil {
				if err := st.Save(int64(off)); err != nil {
					l.log.Error("gb26875 link: clock offset not saved; a restart stamps with the gateway's clock until the next sync", "err", err)
				}
			}
			s.reply(f, gb26875.CmdConfirm, nil)
			l.log.Info("gb26875 link: clock synchronised by the centre", "centre", s.addr, "offset", off.Round(time.Millisecond))
			if l.opts.OnClockSync != nil {
				l.opts.OnClockSync(off)
			}
		case gb26875.TypeDutyCheck:
			s.reply(f, gb26875.CmdConfirm, nil)
			dc := DutyCheck{Serial: f.Serial, Minutes: in.Minutes, Received: l.opts.Now()}
			l.mu.Lock()
			l.duty = &dc
			l.dutyChecks.Add(1)
			l.mu.Unlock()
			l.log.Info("gb26875 link: duty check (查岗) from the centre", "centre", s.addr, "serial", f.Serial, "minutes", in.Minutes)
			if l.opts.OnDutyCheck != nil {
				l.opts.OnDutyCheck(dc)
			}
		default:
			l.log.Info("gb26875 link: control command not supported, denied", "centre", s.addr, "type", in.Type)
			s.reply(f, gb26875.CmdDeny, nil)
		}
	case gb26875.CmdRequest:
		l.requests.Add(1)
		switch in.Type {
		case TypeReadUITDState:
			tt := l.stamp()
			s.reply(f, gb26875.CmdResponse, append([]byte{gb26875.TypeUITDState, 1, l.opts.State()}, tt[:]...))
		case TypeReadUITDTime:
			tt := l.stamp()
			s.reply(f, gb26875.CmdResponse, append([]byte{TypeUITDTime, 1}, tt[:]...))
		case TypeReadSystemState, TypeReadComponentState:
			s.replyFacts(in)
		default:
			s.reply(f, gb26875.CmdDeny, nil)
		}
	}
}

// replyFacts answers a read of a system's or a component's state from
// LinkOptions.Facts, stamped now; one the gateway holds no state of is
// denied.
func (s *session) replyFacts(in Inbound) {
	l, t := s.l, in.Target
	var u gb26875.Unit
	ok := false
	if l.opts.Facts != nil {
		switch in.Type {
		case TypeReadSystemState:
			var st uint16
			if st, ok = l.opts.Facts.SystemState(t.SysType, t.SysAddr); ok {
				u = gb26875.Unit{Type: gb26875.TypeSystemState, Systems: []gb26875.SystemState{{SysType: t.SysType, SysAddr: t.SysAddr, Status: st, Time: l.stamp()}}}
			}
		case TypeReadComponentState:
			var cs gb26875.ComponentState
			if cs, ok = l.opts.Facts.ComponentState(t); ok {
				cs.Time = l.stamp()
				u = gb26875.Unit{Type: gb26875.TypeComponentState, Components: []gb26875.ComponentState{cs}}
			}
		}
	}
	var data []byte
	var err error
	if ok {
		data, err = u.Encode(nil)
	}
	if !ok || err != nil {
		l.log.Info("gb26875 link: read of facility data not answered, denied", "centre", s.addr, "type", in.Type,
			"system", fmt.Sprintf("%d-%d", t.SysType, t.SysAddr), "zone", t.Zone, "position", t.Position, "err", err)
		s.reply(in.Frame, gb26875.CmdDeny, nil)
		return
	}
	s.reply(in.Frame, gb26875.CmdResponse, data)
}

// LatencyBuckets are the upper bounds of the latency histograms: fine
// below GB 25506's 10 s (alarms) and 100 s (status), so a p99 against
// those limits reads straight off the buckets.
var LatencyBuckets = [...]time.Duration{
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	25 * time.Second, 50 * time.Second, 100 * time.Second,
}

// Histogram is the latency of confirmed messages of one class, from
// Message.Entered to the centre's confirm. Counts[i] counts latencies up
// to LatencyBuckets[i] and over the one before (not cumulative); the last
// counts those over 100 s.
type Histogram struct {
	Counts [len(LatencyBuckets) + 1]uint64 `json:"counts"`
	Count  uint64                          `json:"count"`
	Sum    time.Duration                   `json:"sum"`
	Max    time.Duration                   `json:"max"`
}

// Quantile is the upper bound of the bucket holding quantile q (0.99 for
// the p99), Max when that is beyond the last bound; 0 without samples.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.999999)
	var seen uint64
	for i, c := range h.Counts {
		if seen += c; seen >= rank {
			if i < len(LatencyBuckets) {
				return min(LatencyBuckets[i], h.Max)
			}
			break
		}
	}
	return h.Max
}

type histogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.count.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) snapshot() Histogram {
	var s Histogram
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Count, s.Sum, s.Max = h.count.Load(), time.Duration(h.sum.Load()), time.Duration(h.max.Load())
	return s
}

// Stats is what the link did since it was made, for /metrics.
type Stats struct {
	Connected     bool            `json:"connected"`
	Centre        string          `json:"centre,omitempty"` // host:port in use
	CentreAddress gb26875.Address `json:"centre_address"`
	FramesSent    uint64          `json:"frames_sent"` // tries included
	Confirmed     uint64          `json:"confirmed"`   // frames confirmed
	Denied        uint64          `json:"denied"`
	Timeouts      uint64          `json:"timeouts"` // tries without a confirm in ConfirmTimeout
	Resends       uint64          `json:"resends"`
	Reconnects    uint64          `json:"reconnects"`
	Heartbeats    uint64          `json:"heartbeats"` // confirmed
	Messages      uint64          `json:"messages"`   // outbox messages confirmed
	// Rejected are messages no frame can carry, dropped.
	Rejected uint64 `json:"rejected"`
	// BadFrames are frames from the centre refused (checksum, malformed).
	BadFrames    uint64 `json:"bad_frames"`
	OutboxErrors uint64 `json:"outbox_errors"`
	DutyChecks   uint64 `json:"duty_checks"`
	DutyAnswered uint64 `json:"duty_answered"`
	// DutyUnanswered are duty checks not answered within their minutes
	// (replaced by the next one, or past their deadline now).
	DutyUnanswered uint64 `json:"duty_unanswered"`
	ClockSyncs     uint64 `json:"clock_syncs"`
	Requests       uint64 `json:"requests"`
	// ClockOffset is the centre's time minus the gateway's.
	ClockOffset time.Duration `json:"clock_offset"`
	// LastRoundTrip is from the last confirmed frame's write to its confirm.
	LastRoundTrip time.Duration `json:"last_round_trip"`
	// LastConfirm is when a centre last confirmed a frame (heartbeats
	// included), zero before the first: a link silent past a few
	// heartbeats is a comm loss whatever Connected says.
	LastConfirm time.Time `json:"last_confirm"`
	// Unconfirmed is how many messages the link holds from the outbox,
	// sent or about to be, not yet confirmed.
	Unconfirmed int `json:"unconfirmed"`
	// Latency is by Class: ClassAlarm, ClassStatus.
	Latency [2]Histogram `json:"latency"`
}

// Stats returns the counters; it does not allocate.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	st := Stats{Connected: l.sess != nil, LastRoundTrip: l.lastRTT}
	pending := l.duty != nil && !l.opts.Now().After(l.duty.Deadline())
	inTime := l.inTime
	if l.sess != nil {
		st.Centre = l.remote
	}
	l.mu.Unlock()
	st.CentreAddress = gb26875.Address(l.centre.Load())
	st.FramesSent, st.Confirmed, st.Denied, st.Timeouts = l.framesSent.Load(), l.confirmed.Load(), l.denied.Load(), l.timeouts.Load()
	st.Resends, st.Reconnects, st.Heartbeats, st.Messages = l.resends.Load(), l.reconnects.Load(), l.heartbeats.Load(), l.messages.Load()
	st.Rejected, st.BadFrames, st.OutboxErrors = l.rejected.Load(), l.badFrames.Load(), l.outboxErrors.Load()
	st.DutyChecks, st.DutyAnswered, st.ClockSyncs, st.Requests = l.dutyChecks.Load(), l.dutyAnswered.Load(), l.clockSyncs.Load(), l.requests.Load()
	st.DutyUnanswered = st.DutyChecks - inTime
	if pending {
		st.DutyUnanswered--
	}
	st.ClockOffset = l.ClockOffset()
	if ns := l.lastConfirm.Load(); ns != 0 {
		st.LastConfirm = time.Unix(0, ns)
	}
	st.Unconfirmed = int(l.unconfirmed.Load())
	for i := range l.latency {
		st.Latency[i] = l.latency[i].snapshot()
	}
	return st
}
