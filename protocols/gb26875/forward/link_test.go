package forward

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/protocols/gb26875"
	"hazgate/sim/testenv"
)

// scripted is a centre the test drives frame by frame.
type scripted struct {
	t  *testing.T
	ln net.Listener
}

func newScripted(t *testing.T) *scripted {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &scripted{t: t, ln: ln}
}

func (s *scripted) addr() string { return s.ln.Addr().String() }

// centreConn is one accepted connection: the frames the link sent arrive
// on frames.
type centreConn struct {
	t      *testing.T
	nc     net.Conn
	frames chan gb26875.Frame
	serial uint16
}

func (s *scripted) accept() *centreConn {
	s.t.Helper()
	type res struct {
		nc  net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { nc, err := s.ln.Accept(); ch <- res{nc, err} }()
	var r res
	select {
	case r = <-ch:
	case <-time.After(5 * time.Second):
		s.t.Fatal("the link did not connect")
	}
	if r.err != nil {
		s.t.Fatal(r.err)
	}
	c := &centreConn{t: s.t, nc: r.nc, frames: make(chan gb26875.Frame, 16), serial: 100}
	s.t.Cleanup(func() { r.nc.Close() })
	go func() {
		defer close(c.frames)
		rd := gb26875.NewReader(r.nc)
		for {
			f, err := rd.Next()
			if err != nil {
				return
			}
			f.Data = append([]byte(nil), f.Data...)
			c.frames <- f
		}
	}()
	return c
}

// next is the link's next frame.
func (c *centreConn) next() gb26875.Frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed while waiting for a frame")
		}
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame from the link")
	}
	panic("unreachable")
}

// silent fails the test if a frame arrives within d.
func (c *centreConn) silent(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %+v", f)
	case <-time.After(d):
	}
}

func (c *centreConn) write(f gb26875.Frame) {
	c.t.Helper()
	b, err := gb26875.Append(nil, f)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *centreConn) reply(f gb26875.Frame, cmd gb26875.Command) {
	c.t.Helper()
	c.write(gb26875.Reply(f, cmd, time.Now()))
}

// command sends a control or request frame of the centre's own serial.
func (c *centreConn) command(cmd gb26875.Command, data []byte) uint16 {
	c.t.Helper()
	c.serial++
	c.write(gb26875.Frame{Serial: c.serial, Main: 1, Time: gb26875.TimeTagOf(time.Now()), Src: centreAddr, Dst: uitdAddr, Cmd: cmd, Data: data})
	return c.serial
}

// message expects a send-data frame carrying the component at position p.
func (c *centreConn) message(p uint16) gb26875.Frame {
	c.t.Helper()
	f := c.next()
	if f.Cmd != gb26875.CmdSendData || len(f.Data) == 0 {
		c.t.Fatalf("want the message of position %d, got %v with %d bytes", p, f.Cmd, len(f.Data))
	}
	u, err := gb26875.DecodeUnit(f.Data)
	if err != nil || len(u.Components) != 1 || u.Components[0].Position != p {
		c.t.Fatalf("want the message of position %d, got %+v (%v)", p, u, err)
	}
	return f
}

func (c *centreConn) heartbeat() gb26875.Frame {
	c.t.Helper()
	f := c.next()
	if f.Cmd != gb26875.CmdSendData || len(f.Data) != 0 {
		c.t.Fatalf("want a heartbeat, got %v with %d bytes", f.Cmd, len(f.Data))
	}
	return f
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
	}
	panic("unreachable")
}

// A centre that denies, goes silent and drops the connection mid-frame:
// the link resends, fails over to the standby, loses nothing and has the
// outbox remove nothing twice; the standby's 查岗, clock sync and requests
// are answered.
func TestLinkScriptedCentre(t *testing.T) {
	primary, standby := newScripted(t), newScripted(t)
	ob := newMemOutbox()
	now := time.Now()
	// One message a frame: distinct unit types cannot share one.
	for i := range 5 {
		m := fire(ClassAlarm, 1, uint16(i), now)
		ob.Put(context.Background(), m)
	}
	duty := make(chan DutyCheck, 1)
	synced := make(chan time.Duration, 1)
	var skew atomic.Int64 // the gateway's clock ahead of the test's
	link := runLink(t, LinkOptions{Centres: []string{primary.addr(), standby.addr()}, Address: uitdAddr, CentreAddress: centreAddr,
		Now:       func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
		Heartbeat: time.Minute, ConfirmTimeout: 100 * time.Millisecond, Retries: 2, MaxObjects: 1,
		Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Outbox: ob,
		OnDutyCheck: func(d DutyCheck) { duty <- d }, OnClockSync: func(o time.Duration) { synced <- o }})

	p := primary.accept()
	hb := p.heartbeat()
	if hb.Src != uitdAddr || hb.Dst != centreAddr {
		t.Errorf("heartbeat from %s to %s", hb.Src, hb.Dst)
	}
	p.reply(hb, gb26875.CmdConfirm)

	// Denied, then confirmed on the resend of the same serial.
	f := p.message(0)
	if f.Serial != hb.Serial+1 {
		t.Errorf("serial %d after %d", f.Serial, hb.Serial)
	}
	p.reply(f, gb26875.CmdDeny)
	again := p.message(0)
	if again.Serial != f.Serial {
		t.Errorf("resend has serial %d, want %d", again.Serial, f.Serial)
	}
	p.reply(again, gb26875.CmdConfirm)

	// Silence: sent again after the confirm timeout; a stale confirm of the
	// previous serial does not count.
	f = p.message(1)
	p.write(gb26875.Reply(again, gb26875.CmdConfirm, time.Now()))
	again = p.message(1)
	if again.Serial != f.Serial {
		t.Errorf("resend has serial %d, want %d", again.Serial, f.Serial)
	}
	p.reply(again, gb26875.CmdConfirm)

	// Half a confirm, then the primary goes away.
	f = p.message(2)
	b, _ := gb26875.Append(nil, gb26875.Reply(f, gb26875.CmdConfirm, time.Now()))
	p.nc.Write(b[:12])
	p.nc.Close()
	primary.ln.Close()

	s := standby.accept()
	s.reply(s.heartbeat(), gb26875.CmdConfirm)
	f = s.message(2) // still unconfirmed: sent again, in order
	s.reply(f, gb26875.CmdConfirm)
	s.reply(s.message(3), gb26875.CmdConfirm)
	s.reply(s.message(4), gb26875.CmdConfirm)
	testenv.WaitFor(t, 5*time.Second, "5 messages confirmed", func() bool { return ob.ndone() == 5 })
	ob.check(t)
	for i, id := range ob.doneIDs() {
		if id != uint64(i+1) {
			t.Fatalf("confirmed in the order %v", ob.doneIDs())
		}
	}
	st := link.Stats()
	if st.Centre != standby.addr() || st.Denied != 1 || st.Timeouts < 1 || st.Resends < 2 || st.Reconnects != 1 || st.Messages != 5 {
		t.Errorf("stats %+v", st)
	}

	// 查岗: confirmed, reported, answered as a type 24 operation.
	serial := s.command(gb26875.CmdControl, []byte{gb26875.TypeDutyCheck, 1, 5})
	if c := s.next(); c.Cmd != gb26875.CmdConfirm || c.Serial != serial || c.Src != uitdAddr || c.Dst != centreAddr {
		t.Fatalf("duty check answered with %+v", c)
	}
	if d := recv(t, duty, "duty check reported"); d.Minutes != 5 || d.Serial != serial {
		t.Errorf("duty check %+v", d)
	}
	if open, ok := link.OpenDutyCheck(); !ok || open.Serial != serial || open.Deadline().Sub(open.Received) != 5*time.Minute {
		t.Errorf("open duty check %+v %v", open, ok)
	}
	answered := make(chan error, 1)
	go func() { answered <- link.AnswerDutyCheck(context.Background(), 7) }()
	f = s.next()
	u, err := gb26875.DecodeUnit(f.Data)
	if err != nil || u.Type != gb26875.TypeUITDOperation || len(u.Operations) != 1 ||
		u.Operations[0].Flags != gb26875.OpDutyAnswer || u.Operations[0].Operator != 7 {
		t.Fatalf("duty answer %+v (%v)", u, err)
	}
	s.reply(f, gb26875.CmdConfirm)
	if err := recv(t, answered, "answer confirmed"); err != nil {
		t.Fatal(err)
	}
	if _, ok := link.OpenDutyCheck(); ok {
		t.Error("duty check still open after its answer")
	}

	// Clock sync an hour ahead: the offset is reported and stamped on the
	// frames the link sends from then on.
	ahead := time.Now().Add(time.Hour)
	tt := gb26875.TimeTagOf(ahead)
	s.command(gb26875.CmdControl, append([]byte{gb26875.TypeSyncClock, 1}, tt[:]...))
	if c := s.next(); c.Cmd != gb26875.CmdConfirm {
		t.Fatalf("clock sync answered with %v", c.Cmd)
	}
	if off := recv(t, synced, "clock sync reported"); off < time.Hour-2*time.Second || off > time.Hour+time.Second {
		t.Errorf("offset %v, want an hour", off)
	}
	ob.Put(context.Background(), fire(ClassAlarm, 1, 5, time.Now()))
	f = s.message(5)
	if at, err := f.Time.Time(gb26875.Beijing); err != nil || at.Sub(time.Now()) < time.Hour-3*time.Second {
		t.Errorf("frame time %v (%v), want an hour ahead", at, err)
	}
	s.reply(f, gb26875.CmdConfirm)

	// A 查岗 of one minute nobody answers is counted once the minute is over.
	s.command(gb26875.CmdControl, []byte{gb26875.TypeDutyCheck, 1, 1})
	s.next()
	recv(t, duty, "second duty check reported")
	if st := link.Stats(); st.DutyUnanswered != 0 {
		t.Errorf("unanswered %d while the minute runs", st.DutyUnanswered)
	}
	skew.Store(int64(61 * time.Second))
	if st := link.Stats(); st.DutyUnanswered != 1 {
		t.Errorf("unanswered %d after the minute", st.DutyUnanswered)
	}

	// Requests: the UITD state is answered, the rest denied; an unknown
	// control command and a broken frame are denied.
	for _, tc := range []struct {
		name string
		cmd  gb26875.Command
		data []byte
		want gb26875.Command
		typ  uint8
	}{
		{"read state", gb26875.CmdRequest, []byte{TypeReadUITDState, 1, 0}, gb26875.CmdResponse, gb26875.TypeUITDState},
		{"read time", gb26875.CmdRequest, []byte{TypeReadUITDTime, 1, 0}, gb26875.CmdResponse, TypeUITDTime},
		{"read version", gb26875.CmdRequest, []byte{85, 1, 0}, gb26875.CmdDeny, 0},
		{"initialise", gb26875.CmdControl, []byte{89, 1, 0}, gb26875.CmdDeny, 0},
		{"duty check of 0 minutes", gb26875.CmdControl, []byte{gb26875.TypeDutyCheck, 1, 0}, gb26875.CmdDeny, 0},
	} {
		serial := s.command(tc.cmd, tc.data)
		c := s.next()
		if c.Cmd != tc.want || c.Serial != serial || (tc.typ != 0 && (len(c.Data) < 2 || c.Data[0] != tc.typ)) {
			t.Errorf("%s: got %v serial %d data % x", tc.name, c.Cmd, c.Serial, c.Data)
		}
	}
	bad, _ := gb26875.Append(nil, gb26875.Frame{Serial: 999, Main: 1, Src: centreAddr, Dst: uitdAddr, Cmd: gb26875.CmdControl, Data: []byte{91, 1, 5}})
	bad[len(bad)-3]++
	s.nc.Write(bad)
	if c := s.next(); c.Cmd != gb26875.CmdDeny || c.Serial != 999 {
		t.Errorf("bad checksum answered with %v serial %d", c.Cmd, c.Serial)
	}
	if st := link.Stats(); st.DutyChecks != 2 || st.DutyAnswered != 1 || st.DutyUnanswered != 1 || st.ClockSyncs != 1 || st.BadFrames != 2 || st.Requests != 3 {
		t.Errorf("stats %+v", st)
	}
	ob.check(t)
}

// No confirm at all: Retries resends, then a reconnect; the message is
// not done until a centre confirms it.
func TestLinkReconnectsAfterRetries(t *testing.T) {
	c := newScripted(t)
	ob := newMemOutbox()
	ob.Put(context.Background(), fire(ClassAlarm, 1, 0, time.Now()))
	link := runLink(t, LinkOptions{Centres: []string{c.addr()}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Minute, ConfirmTimeout: 50 * time.Millisecond, Retries: 2,
		Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Outbox: ob})
	first := c.accept()
	first.reply(first.heartbeat(), gb26875.CmdConfirm)
	for range 3 { // the try and 2 resends
		first.message(0)
	}
	second := c.accept()
	second.reply(second.heartbeat(), gb26875.CmdConfirm)
	if ob.ndone() != 0 {
		t.Fatal("a message done without a confirm")
	}
	if st := link.Stats(); st.Unconfirmed != 1 || st.LastConfirm.IsZero() {
		t.Errorf("stats while the message waits: %+v", st)
	}
	second.reply(second.message(0), gb26875.CmdConfirm)
	testenv.WaitFor(t, 5*time.Second, "message done", func() bool { return ob.ndone() == 1 && link.Stats().Unconfirmed == 0 })
	ob.check(t)
	if st := link.Stats(); st.Timeouts != 3 || st.Resends != 2 || st.Reconnects != 1 {
		t.Errorf("stats %+v", st)
	}
}

// The primary down from the start: the standby takes the link.
func TestLinkStandbyWhenPrimaryDown(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	standby := newScripted(t)
	link := runLink(t, LinkOptions{Centres: []string{deadAddr, standby.addr()}, Address: uitdAddr,
		Heartbeat: 50 * time.Millisecond, ConfirmTimeout: time.Second, DialTimeout: time.Second,
		Backoff: 10 * time.Millisecond, Outbox: newMemOutbox()})
	s := standby.accept()
	hb := s.heartbeat()
	if hb.Dst != 0 {
		t.Errorf("centre address %s before any frame from it, want 0", hb.Dst)
	}
	if err := link.AnswerDutyCheck(context.Background(), 1); !errors.Is(err, ErrNotConnected) {
		t.Errorf("answer before the link is up: %v", err)
	}
	s.write(gb26875.Frame{Serial: hb.Serial, Main: 1, Src: centreAddr, Dst: uitdAddr, Cmd: gb26875.CmdConfirm})
	// Idle: heartbeats, now addressed to the centre that answered.
	hb = s.heartbeat()
	if hb.Dst != centreAddr {
		t.Errorf("heartbeat to %s, want the learnt %s", hb.Dst, centreAddr)
	}
	s.reply(hb, gb26875.CmdConfirm)
	testenv.WaitFor(t, 5*time.Second, "connected", func() bool { return link.Stats().Connected })
	if st := link.Stats(); st.Centre != standby.addr() || st.CentreAddress != centreAddr {
		t.Errorf("stats %+v", st)
	}
}

// An alarm put while a status frame waits for its confirm is the next
// frame: the link never holds more status than one frame.
func TestAlarmOvertakesStatus(t *testing.T) {
	c := newScripted(t)
	ob := newMemOutbox()
	now := time.Now()
	for i := range 100 {
		ob.Put(context.Background(), fire(ClassStatus, 2, uint16(i), now))
	}
	runLink(t, LinkOptions{Centres: []string{c.addr()}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Minute, ConfirmTimeout: 5 * time.Second, Outbox: ob})
	s := c.accept()
	s.reply(s.heartbeat(), gb26875.CmdConfirm)
	f := s.next()
	if u, _ := gb26875.DecodeUnit(f.Data); len(u.Components) != defaultBatch || u.Components[0].Zone != 2 {
		t.Fatalf("first status frame %+v", u)
	}
	ob.Put(context.Background(), fire(ClassAlarm, 1, 0, now))
	s.reply(f, gb26875.CmdConfirm)
	f = s.next()
	if u, _ := gb26875.DecodeUnit(f.Data); len(u.Components) != 1 || u.Components[0].Zone != 1 {
		t.Fatalf("frame after the alarm came: %+v", u)
	}
	s.reply(f, gb26875.CmdConfirm)
	if u, _ := gb26875.DecodeUnit(s.next().Data); len(u.Components) != defaultBatch || u.Components[0].Zone != 2 || u.Components[0].Position != defaultBatch {
		t.Fatalf("status after the alarm: %+v", u)
	}
}

// A centre that denies a message every time: the link reconnects, but
// after a growing backoff, not in a spin; the message stays undone.
func TestLinkBacksOffFromADenyingCentre(t *testing.T) {
	c := newScripted(t)
	ob := newMemOutbox()
	ob.Put(context.Background(), fire(ClassAlarm, 1, 0, time.Now()))
	runLink(t, LinkOptions{Centres: []string{c.addr()}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Minute, ConfirmTimeout: time.Second, Retries: 1,
		Backoff: 100 * time.Millisecond, MaxBackoff: time.Second, Outbox: ob})
	var accepted []time.Time
	for range 3 {
		s := c.accept()
		accepted = append(accepted, time.Now())
		s.reply(s.heartbeat(), gb26875.CmdConfirm)
		s.reply(s.message(0), gb26875.CmdDeny)
		s.reply(s.message(0), gb26875.CmdDeny)
	}
	// Jitter is ±50 %: at least 50 ms, then at least 100 ms.
	if d := accepted[1].Sub(accepted[0]); d < 50*time.Millisecond {
		t.Errorf("reconnected after %v", d)
	}
	if d := accepted[2].Sub(accepted[1]); d < 100*time.Millisecond {
		t.Errorf("reconnected again after %v, want the backoff doubled", d)
	}
	if ob.ndone() != 0 {
		t.Error("a denied message done")
	}
	ob.check(t)
}

// TestLinkAnswersReads: the centre's reads (command 4) against a scripted
// centre. System (61) and component (62) states are answered from what the
// source holds, the device's state (81) and time (88) from the link; what
// the gateway holds nothing of, and the reads of data it does not keep
// (analog 63, records 64 and 84, versions 65 and 85, configurations 66, 67
// and 86, a panel's clock 68), are denied, as is a malformed read.
func TestLinkAnswersReads(t *testing.T) {
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: &recorder{}, Settle: -1,
		Points: []PointMap{{Tag: "FP1.loop1.det7", SysType: 1, SysAddr: 1, CompType: 42, Zone: 1, Position: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	src.Consume(context.Background(), []collector.Sample{
		{Tag: uitd + ".fire", Value: 1}, {Tag: uitd + ".fault", Value: 0}, // S1-2 Z3-P4: fire
		{Tag: "UITD-000000001234.S10-3.manual", Value: 1}, // a linkage controller's own state: manual
		{Tag: "FP1.loop1.det7.fire", Value: 0}, {Tag: "FP1.loop1.det7.fault", Value: 1},
	})
	c := newScripted(t)
	runLink(t, LinkOptions{Centres: []string{c.addr()}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Minute, ConfirmTimeout: time.Second, Outbox: newMemOutbox(), Facts: src, State: src.DeviceState})
	s := c.accept()
	s.reply(s.heartbeat(), gb26875.CmdConfirm)

	sys := func(typ, addr uint8) []byte { return []byte{TypeReadSystemState, 1, typ, addr} }
	comp := func(typ, addr uint8, zone, pos uint16) []byte {
		return []byte{TypeReadComponentState, 1, typ, addr, byte(zone), byte(zone >> 8), byte(pos), byte(pos >> 8)}
	}
	const normal, fire, fault = 1 << 0, 1 << 1, 1 << 2
	for _, tc := range []struct {
		name   string
		data   []byte
		want   gb26875.Command
		check  func(u gb26875.Unit) bool
		expect string
	}{
		{"system 1-2 from its components: fire", sys(1, 2), gb26875.CmdResponse, func(u gb26875.Unit) bool {
			return u.Type == gb26875.TypeSystemState && len(u.Systems) == 1 && u.Systems[0].SysType == 1 && u.Systems[0].SysAddr == 2 && u.Systems[0].Status == normal|fire
		}, "type 1, system 1-2, normal|fire"},
		{"system 1-1 from its components: fault", sys(1, 1), gb26875.CmdResponse, func(u gb26875.Unit) bool {
			return len(u.Systems) == 1 && u.Systems[0].Status == normal|fault
		}, "normal|fault"},
		{"system 10-3 as its device reported it: manual", sys(10, 3), gb26875.CmdResponse, func(u gb26875.Unit) bool {
			return len(u.Systems) == 1 && u.Systems[0].SysType == 10 && u.Systems[0].Status == normal|1<<11
		}, "normal|manual (bit 11)"},
		{"system never seen", sys(12, 1), gb26875.CmdDeny, nil, ""},
		{"component 1-2 Z3-P4 in fire", comp(1, 2, 3, 4), gb26875.CmdResponse, func(u gb26875.Unit) bool {
			cs := u.Components
			return u.Type == gb26875.TypeComponentState && len(cs) == 1 && cs[0].Type == 42 && cs[0].Zone == 3 && cs[0].Position == 4 &&
				cs[0].Status == normal|fire && strings.Contains(cs[0].Text(), "感烟")
		}, "type 2, component 42 at 3-4, normal|fire, its description"},
		{"component 1-1 Z1-P7 faulty (by points)", comp(1, 1, 1, 7), gb26875.CmdResponse, func(u gb26875.Unit) bool {
			return len(u.Components) == 1 && u.Components[0].Position == 7 && u.Components[0].Status == normal|fault
		}, "normal|fault at 1-7"},
		{"component never seen", comp(1, 1, 9, 9), gb26875.CmdDeny, nil, ""},
		{"component read without its address", []byte{TypeReadComponentState, 1, 1, 2}, gb26875.CmdDeny, nil, ""},
		{"system read of two objects", []byte{TypeReadSystemState, 2, 1, 2, 1, 1}, gb26875.CmdDeny, nil, ""},
		{"device state", []byte{TypeReadUITDState, 1, 0}, gb26875.CmdResponse, func(u gb26875.Unit) bool {
			return u.Type == gb26875.TypeUITDState && len(u.UITD) == 1 && u.UITD[0].Flags&(uitdFire|uitdFault) == uitdFire|uitdFault
		}, "type 21 in fire and fault"},
		{"device time", []byte{TypeReadUITDTime, 1, 0}, gb26875.CmdResponse, func(u gb26875.Unit) bool { return u.Type == TypeUITDTime }, "type 28"},
		{"analog value", []byte{63, 1, 11, 1, 2, 0, 5, 0}, gb26875.CmdDeny, nil, ""},
		{"system operations", []byte{64, 1, 1, 1, 10, 0, 0, 0, 1, 1, 26}, gb26875.CmdDeny, nil, ""},
		{"system software version", []byte{65, 1, 1, 1}, gb26875.CmdDeny, nil, ""},
		{"system configuration", []byte{66, 1, 1, 1}, gb26875.CmdDeny, nil, ""},
		{"component configuration", []byte{67, 1, 1, 1, 3, 0, 4, 0}, gb26875.CmdDeny, nil, ""},
		{"system time", []byte{68, 1, 1, 1}, gb26875.CmdDeny, nil, ""},
		{"device operations", []byte{84, 1, 10, 0, 0, 0, 1, 1, 26}, gb26875.CmdDeny, nil, ""},
		{"device software version", []byte{85, 1, 0}, gb26875.CmdDeny, nil, ""},
		{"device configuration", []byte{86, 1, 0}, gb26875.CmdDeny, nil, ""},
	} {
		serial := s.command(gb26875.CmdRequest, tc.data)
		r := s.next()
		if r.Cmd != tc.want || r.Serial != serial || r.Src != uitdAddr || r.Dst != centreAddr {
			t.Errorf("%s: %v serial %d from %s to %s, want %v serial %d", tc.name, r.Cmd, r.Serial, r.Src, r.Dst, tc.want, serial)
			continue
		}
		if tc.check == nil {
			if len(r.Data) != 0 {
				t.Errorf("%s: deny with data % x", tc.name, r.Data)
			}
			continue
		}
		u, err := gb26875.DecodeUnit(r.Data)
		if err != nil || !tc.check(u) {
			t.Errorf("%s: answer %+v (%v), want %s", tc.name, u, err, tc.expect)
		}
	}
}

// memSerials is a SerialStore in memory; err fails Load.
type memSerials struct {
	mu    sync.Mutex
	n     int64
	saves int
	err   error
}

func (m *memSerials) Load() (int64, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.n, m.err }
func (m *memSerials) Save(n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n, m.saves = n, m.saves+1
	return nil
}

// The serials go on across a restart: the second run's first frame has a
// serial past every one the first run sent, as its killed process would
// have left it (the store holds only what was saved before the first
// frame). A store that cannot load stops the link from starting.
func TestLinkSerialsAcrossRestart(t *testing.T) {
	store := &memSerials{}
	opts := LinkOptions{Address: uitdAddr, CentreAddress: centreAddr, Heartbeat: 20 * time.Millisecond,
		ConfirmTimeout: time.Second, Outbox: newMemOutbox(), Log: slog.New(slog.DiscardHandler), Serials: store}
	run := func() (*scripted, func()) {
		c := newScripted(t)
		o := opts
		o.Centres = []string{c.addr()}
		l, err := NewLink(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		return c, func() { cancel(); <-done }
	}
	c1, stop := run()
	p := c1.accept()
	var last uint16
	for range 5 {
		hb := p.heartbeat()
		if last != 0 && hb.Serial != last+1 {
			t.Errorf("serial %d after %d", hb.Serial, last)
		}
		last = hb.Serial
		p.reply(hb, gb26875.CmdConfirm)
	}
	stop()
	if store.saves != 1 || store.n != int64(1+serialBlock) {
		t.Fatalf("after 5 frames: %d saves, saved %d; want 1 save of %d (the first frame reserved a block)", store.saves, store.n, 1+serialBlock)
	}
	c2, stop2 := run()
	defer stop2()
	first := c2.accept().heartbeat()
	if first.Serial <= last || first.Serial != uint16(1+serialBlock+1) {
		t.Errorf("after the restart the first serial is %d; want past %d, at %d", first.Serial, last, 1+serialBlock+1)
	}

	o := opts
	o.Centres = []string{c2.addr()}
	o.Serials = &memSerials{err: errors.New("disk gone")}
	if _, err := NewLink(o); err == nil || !strings.Contains(err.Error(), "serials: disk gone") {
		t.Errorf("a store that cannot load: %v", err)
	}
}

// The centre's clock offset outlives a restart: a sync is saved, and a
// link started on the saved offset stamps its first frame with it.
func TestLinkClockOffsetAcrossRestart(t *testing.T) {
	store := &memSerials{}
	c := newScripted(t)
	opts := LinkOptions{Centres: []string{c.addr()}, Address: uitdAddr, CentreAddress: centreAddr, Heartbeat: time.Minute,
		ConfirmTimeout: time.Second, Outbox: newMemOutbox(), ClockOffset: store}
	runLink(t, opts)
	s := c.accept()
	s.reply(s.heartbeat(), gb26875.CmdConfirm)
	tt := gb26875.TimeTagOf(time.Now().Add(time.Hour))
	s.command(gb26875.CmdControl, append([]byte{gb26875.TypeSyncClock, 1}, tt[:]...))
	if r := s.next(); r.Cmd != gb26875.CmdConfirm {
		t.Fatalf("clock sync answered with %v", r.Cmd)
	}
	testenv.WaitFor(t, 5*time.Second, "the offset saved", func() bool { store.mu.Lock(); defer store.mu.Unlock(); return store.saves == 1 })
	if off := time.Duration(store.n); off < time.Hour-2*time.Second || off > time.Hour+time.Second {
		t.Fatalf("saved offset %v, want an hour", off)
	}

	c2 := newScripted(t)
	opts.Centres = []string{c2.addr()}
	l := runLink(t, opts)
	if off := l.ClockOffset(); off != time.Duration(store.n) {
		t.Errorf("restarted with offset %v, want the saved %v", off, time.Duration(store.n))
	}
	hb := c2.accept().heartbeat()
	if at, err := hb.Time.Time(gb26875.Beijing); err != nil || at.Sub(time.Now()) < time.Hour-3*time.Second {
		t.Errorf("first frame after the restart stamped %v (%v), want an hour ahead", at, err)
	}
}

func TestFileNumber(t *testing.T) {
	f := FileNumber{Path: filepath.Join(t.TempDir(), "n")}
	if n, err := f.Load(); n != 0 || err != nil {
		t.Fatalf("no file: %d, %v; want 0", n, err)
	}
	for _, want := range []int64{1025, -3_600_000_000_000, 0} {
		if err := f.Save(want); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Load(); n != want || err != nil {
			t.Errorf("saved %d, loaded %d (%v)", want, n, err)
		}
	}
	if err := os.WriteFile(f.Path, []byte("twelve\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), f.Path) {
		t.Errorf("garbage: %v, want an error naming the file", err)
	}
}
