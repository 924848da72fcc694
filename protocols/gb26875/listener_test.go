package gb26875_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/gb26875"
	"hazgate/sim"
)

// recorder is an in-process emitter keeping every tag's newest sample.
type recorder struct {
	mu     sync.Mutex
	latest map[string]collector.Sample
	n      int
}

func (r *recorder) Emit(_ context.Context, b []collector.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range b {
		r.latest[s.Tag] = s
	}
	r.n += len(b)
	return nil
}

func (r *recorder) get(tag string) (collector.Sample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.latest[tag]
	return s, ok
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gbOf is dev's gb26875 block, for a test to change.
func gbOf(dev config.Device) *gb26875.Config { return dev.Block.(*gb26875.Config) }

func testDevice() config.Device {
	return config.Device{ID: "fire-centre", Protocol: "gb26875", Timeout: 500 * time.Millisecond,
		Block: &gb26875.Config{Listen: "127.0.0.1:0", Heartbeat: 200 * time.Millisecond, CommLossAfter: 3,
			MaxConnections: 10, HandshakeTimeout: 5 * time.Second, CommandTimeout: 200 * time.Millisecond, CommandTries: 3}}
}

type harness struct {
	l    *gb26875.Listener
	addr string
	rec  *recorder
	reg  *collector.Registry
}

func start(t testing.TB, dev config.Device, emit protocols.Emitter) *harness {
	t.Helper()
	return startWith(t, dev, emit, collector.NewRegistry())
}

// startWith runs a listener on reg, emitting to emit (nil: a recorder).
func startWith(t testing.TB, dev config.Device, emit protocols.Emitter, reg *collector.Registry) *harness {
	t.Helper()
	h := &harness{rec: &recorder{latest: map[string]collector.Sample{}}, reg: reg}
	if emit == nil {
		emit = h.rec
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := gb26875.New(testEnv(h.reg, emit, log), dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range l.Tags() {
		if err := h.reg.Add(tag); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	a, err := l.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.l, h.addr = l, a.String()
	return h
}

func (h *harness) dial(t testing.TB, addr gb26875.Address) *sim.UITD {
	t.Helper()
	u, err := sim.DialUITD(context.Background(), h.addr, sim.UITDOptions{Address: addr, Centre: 88888, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

var smoke = gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: 3, Position: 27}

func TestFireComponentBecomesStateTags(t *testing.T) {
	h := start(t, testDevice(), nil)
	u := h.dial(t, 1234)
	ctx := context.Background()
	if err := u.Component(ctx, smoke, 1<<1, "3号楼2层烟感"); err != nil {
		t.Fatal(err)
	}
	// Confirmed means emitted: no waiting needed.
	s, ok := h.rec.get("UITD-000000001234.S1-1.Z3-P27.fire")
	if !ok || s.Value != 1 || s.Quality != collector.Good {
		t.Fatalf("fire sample %+v %v", s, ok)
	}
	if s, _ := h.rec.get("UITD-000000001234.S1-1.Z3-P27.fault"); s.Value != 0 {
		t.Errorf("fault %v, want 0", s.Value)
	}
	tag, ok := h.reg.Lookup("UITD-000000001234.S1-1.Z3-P27.fire")
	if !ok || tag.Name != "3号楼2层烟感" || tag.Kind != "fire_panel" || tag.Device != "fire-centre" {
		t.Errorf("tag %+v", tag)
	}
	if s, _ := h.rec.get("UITD-000000001234.link"); s.Value != 1 {
		t.Errorf("link %+v, want 1 on the first frame", s)
	}
	if err := u.Component(ctx, smoke, 1<<2, "3号楼2层烟感"); err != nil {
		t.Fatal(err)
	}
	if s, _ := h.rec.get("UITD-000000001234.S1-1.Z3-P27.fire"); s.Value != 0 {
		t.Errorf("fire after a fault-only word: %v", s.Value)
	}
	if s, _ := h.rec.get("UITD-000000001234.S1-1.Z3-P27.fault"); s.Value != 1 {
		t.Errorf("fault %v, want 1", s.Value)
	}
	if err := u.Send(ctx, &gb26875.Unit{Type: 25, Count: 1, Raw: []byte{2, 7}}); err != nil {
		t.Fatalf("a type not decoded must still be confirmed: %v", err)
	}
	waitFor(t, "the third confirm counted", func() bool { return h.l.Stats().Confirms == 3 }) // counted after the write
	st := h.l.Stats()
	if st.Frames != 3 || st.Denies != 0 || st.Unknown["25"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGarbageAndBadFramesKeepTheConnection(t *testing.T) {
	h := start(t, testDevice(), nil)
	u := h.dial(t, 7)
	ctx := context.Background()
	if err := u.WriteRaw([]byte("AT+CSQ\r\n\x00\xff@#garbage")); err != nil {
		t.Fatal(err)
	}
	if err := u.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat after garbage: %v", err)
	}
	bad, _ := gb26875.Append(nil, gb26875.Frame{Serial: 900, Main: 1, Src: 7, Dst: 88888, Cmd: gb26875.CmdSendData, Data: []byte{21, 1, 2, 0, 0, 0, 1, 1, 25}})
	bad[len(bad)-3]++
	tooLong := []byte{'@', '@', 1, 0, 1, 0, 0, 0, 0, 1, 1, 25, 7, 0, 0, 0, 0, 0, 0x38, 0x5b, 1, 0, 0, 0, 0x00, 0x08, 2}
	undecodable, _ := gb26875.Append(nil, gb26875.Frame{Serial: 901, Main: 1, Src: 7, Dst: 88888, Cmd: gb26875.CmdSendData, Data: []byte{2, 1, 0}})
	for _, b := range [][]byte{bad, tooLong, undecodable} {
		if err := u.WriteRaw(b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three denies", func() bool { return h.l.Stats().Denies == 3 })
	if err := u.Component(ctx, smoke, 1<<1, ""); err != nil {
		t.Fatalf("send after bad frames: %v", err)
	}
	st := h.l.Stats()
	if st.BadChecksum != 1 || st.BadLength != 1 || st.DecodeErrors != 1 || st.Garbage == 0 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
	if s, _ := h.rec.get("UITD-000000000007.S1-1.Z3-P27.fire"); s.Value != 1 {
		t.Errorf("fire after resync: %+v", s)
	}
}

func TestSilentDeviceGoesBadAndComesBack(t *testing.T) {
	h := start(t, testDevice(), nil)
	u := h.dial(t, 42)
	ctx := context.Background()
	if err := u.Component(ctx, smoke, 1<<1, ""); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	fire := "UITD-000000000042.S1-1.Z3-P27.fire"
	waitFor(t, "comm loss", func() bool { s, _ := h.rec.get(fire); return s.Quality == collector.Bad })
	// 3 heartbeats of 200 ms, checked every 50 ms.
	if d := time.Since(sent); d < 600*time.Millisecond {
		t.Errorf("comm loss after %v, before 3 heartbeat periods", d)
	}
	for _, tag := range []string{fire, "UITD-000000000042.S1-1.Z3-P27.fault", "UITD-000000000042.link"} {
		if s, _ := h.rec.get(tag); s.Quality != collector.Bad || s.Reason != collector.ReasonCommLoss {
			t.Errorf("%s after silence: %+v", tag, s)
		}
	}
	// The Bad samples go out first, then the idle connection is closed.
	waitFor(t, "the idle connection closed", func() bool { st, _ := h.l.Device(42); return !st.Connected })
	if st, _ := h.l.Device(42); !st.CommLoss {
		t.Errorf("status %+v: want comm loss", st)
	}
	select {
	case <-u.Done():
	case <-time.After(5 * time.Second):
		t.Error("the idle connection was not closed")
	}
	u2 := h.dial(t, 42)
	if err := u2.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := h.rec.get("UITD-000000000042.link"); s.Quality != collector.Good || s.Value != 1 {
		t.Errorf("link after coming back: %+v", s)
	}
	if s, _ := h.rec.get(fire); s.Quality != collector.Bad {
		t.Errorf("fire state unknown until sent again, got %+v", s)
	}
	if h.l.Stats().CommLoss != 1 {
		t.Errorf("comm losses %d", h.l.Stats().CommLoss)
	}
}

func TestOneBadDeviceDoesNotDisturbAnother(t *testing.T) {
	h := start(t, testDevice(), nil)
	good, noisy := h.dial(t, 1), h.dial(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		junk := []byte("@@\x01\x00\x01\x00garbage@@@@####\xff\xfe")
		for ctx.Err() == nil {
			if noisy.WriteRaw(junk) != nil {
				return
			}
		}
	})
	for i := range 200 {
		status := uint16(i%2) << 1
		if err := good.Component(context.Background(), smoke, status, ""); err != nil {
			t.Fatalf("frame %d of the good device: %v", i, err)
		}
		if s, _ := h.rec.get("UITD-000000000001.S1-1.Z3-P27.fire"); s.Value != float64(i%2) {
			t.Fatalf("frame %d: fire %v", i, s.Value)
		}
	}
	cancel()
	wg.Wait()
	if err := noisy.Heartbeat(context.Background()); err != nil {
		t.Errorf("the noisy device's own frames still get through: %v", err)
	}
	if g := h.l.Stats().Garbage; g == 0 {
		t.Error("no garbage counted")
	}
}

func TestAllowList(t *testing.T) {
	dev := testDevice()
	gbOf(dev).Allow = []string{"000000001234"}
	h := start(t, dev, nil)
	ok := h.dial(t, 1234)
	if err := ok.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	stranger := h.dial(t, 9999)
	if err := stranger.Heartbeat(context.Background()); err == nil {
		t.Fatal("a device not in allow was confirmed")
	}
	select {
	case <-stranger.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection of a device not in allow stays open")
	}
	if st := h.l.Stats(); st.Rejected != 1 {
		t.Errorf("rejected %d", st.Rejected)
	}
	if _, heard := h.l.Device(9999); heard {
		t.Error("a rejected device is listed")
	}
}

func TestMaxConnections(t *testing.T) {
	dev := testDevice()
	gbOf(dev).MaxConnections = 2
	h := start(t, dev, nil)
	for a := range gb26875.Address(2) {
		if err := h.dial(t, a+1).Heartbeat(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	third := h.dial(t, 3)
	select {
	case <-third.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a connection past max_connections stays open")
	}
	if st := h.l.Stats(); st.Refused != 1 || st.Accepted != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Sockets that never speak the protocol hold a slot only for
// handshake_timeout, not heartbeat × comm_loss_after, so a real device that
// reconnects still gets in (issue 14.5).
func TestSilentSocketsDoNotSquat(t *testing.T) {
	dev := testDevice()
	gbOf(dev).Heartbeat, gbOf(dev).CommLossAfter = 30*time.Second, 3       // 90 s: what a squatter held a slot for
	gbOf(dev).MaxConnections, gbOf(dev).MaxConnectionsPerAddress = 20, 100 // every socket of the test is from 127.0.0.1
	gbOf(dev).HandshakeTimeout = 300 * time.Millisecond
	h := start(t, dev, nil)

	badSum, _ := gb26875.Append(nil, gb26875.Frame{Serial: 1, Main: 1, Src: 66, Dst: 88888, Cmd: gb26875.CmdSendData})
	badSum[len(badSum)-3]++
	squatters := []struct {
		name  string
		sends []byte // what the socket writes once connected
	}{
		{"silent", nil},
		{"garbage", []byte("AT+CSQ\r\n\x00\xff")},
		{"bad checksum", badSum}, // denied, but not a valid frame
	}
	opened := time.Now()
	var socks []net.Conn
	for i := range gbOf(dev).MaxConnections {
		sq := squatters[i%len(squatters)]
		nc, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if sq.sends != nil {
			if _, err := nc.Write(sq.sends); err != nil {
				t.Fatalf("%s socket: %v", sq.name, err)
			}
		}
		socks = append(socks, nc)
	}
	waitFor(t, "every squatter accepted", func() bool { return h.l.Stats().Accepted == uint64(gbOf(dev).MaxConnections) })

	// A real device retries its connection until it is served.
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Second)
	var u *sim.UITD
	for {
		u = h.dial(t, 1234)
		err := u.Component(ctx, smoke, 1<<1, "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the real device never got a slot: %v; stats %+v", err, h.l.Stats())
		}
		u.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if s, _ := h.rec.get("UITD-000000001234.S1-1.Z3-P27.fire"); s.Value != 1 {
		t.Errorf("fire %+v, want 1", s)
	}

	for i, nc := range socks {
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := io.Copy(io.Discard, nc) // the deny of a bad checksum, then EOF
		if err != nil {
			t.Fatalf("%s socket %d not closed by the listener: %v", squatters[i%len(squatters)].name, i, err)
		}
	}
	if d := time.Since(opened); d < gbOf(dev).HandshakeTimeout {
		t.Errorf("squatters closed after %v, before handshake_timeout", d)
	}
	if st := h.l.Stats(); st.Handshake != uint64(gbOf(dev).MaxConnections) || st.Rejected != 0 {
		t.Errorf("stats %+v: want %d handshake timeouts", st, gbOf(dev).MaxConnections)
	}
	// A valid frame lifts the handshake deadline: the device outlives it.
	time.Sleep(2 * gbOf(dev).HandshakeTimeout)
	if err := u.Heartbeat(ctx); err != nil {
		t.Errorf("heartbeat after the handshake time: %v", err)
	}
}

// A frame from an address not allowed does not complete the handshake: it
// is rejected as before, not left to time out.
func TestHandshakeNeedsAnAllowedAddress(t *testing.T) {
	dev := testDevice()
	gbOf(dev).Allow = []string{"000000001234"}
	gbOf(dev).HandshakeTimeout = 300 * time.Millisecond
	h := start(t, dev, nil)
	stranger := h.dial(t, 9999)
	if err := stranger.Heartbeat(context.Background()); err == nil {
		t.Fatal("a device not in allow was confirmed")
	}
	if st := h.l.Stats(); st.Rejected != 1 || st.Handshake != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxConnectionsPerAddress(t *testing.T) {
	tests := []struct {
		name        string
		perAddress  int
		dials       int
		wantRefused uint64
	}{
		{"cap 2, third refused", 2, 3, 1},
		{"no cap", 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := testDevice()
			gbOf(dev).MaxConnectionsPerAddress = tt.perAddress
			gbOf(dev).Heartbeat = 30 * time.Second // no idle close during the test
			h := start(t, dev, nil)
			var us []*sim.UITD
			for i := range tt.dials {
				u := h.dial(t, gb26875.Address(i+1))
				us = append(us, u)
				if uint64(tt.dials-i) > tt.wantRefused {
					if err := u.Heartbeat(context.Background()); err != nil {
						t.Fatalf("device %d: %v", i+1, err)
					}
				}
			}
			for _, u := range us[tt.dials-int(tt.wantRefused):] {
				select {
				case <-u.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("a connection past max_connections_per_address stays open")
				}
			}
			if st := h.l.Stats(); st.RefusedPerAddress != tt.wantRefused || st.Refused != 0 || st.Accepted != uint64(tt.dials)-tt.wantRefused {
				t.Errorf("stats %+v", st)
			}
			if tt.wantRefused == 0 {
				return
			}
			// A closed connection frees its address's slot.
			us[0].Close()
			waitFor(t, "the closed connection gone", func() bool { s, _ := h.l.Device(1); return !s.Connected })
			if err := h.dial(t, 9).Heartbeat(context.Background()); err != nil {
				t.Fatalf("a connection after one closed: %v", err)
			}
		})
	}
}

// An object stamped far ahead of the gateway's clock would freeze its tag
// in the latest values; one absurdly old is no reading of now. Both take
// the receipt time and are counted, never dropped: the fire alarm of a
// panel whose clock reset is still a fire alarm, and the frame is
// confirmed, so the device does not resend it (issue 13.6).
func TestObjectsOutsideTimeBoundsTakeReceiptTime(t *testing.T) {
	now := time.Now()
	future := gb26875.TimeTagOf(time.Date(2099, 12, 31, 23, 0, 0, 0, gb26875.Beijing))
	ancient := gb26875.TimeTagOf(time.Date(2000, 1, 1, 0, 0, 5, 0, gb26875.Beijing)) // a clock reset to its epoch
	hourFast := gb26875.TimeTagOf(now.Add(time.Hour))
	good := gb26875.TimeTagOf(now)
	at := func(pos uint16) gb26875.Component { c := smoke; c.Position = pos; return c }
	comp := func(pos uint16, tt gb26875.TimeTag) gb26875.ComponentState {
		return gb26875.ComponentState{Component: at(pos), Status: 1 << 1, Time: tt}
	}
	tests := []struct {
		name      string
		unit      gb26875.Unit
		emitted   []string // tags with a Good sample at their own time
		restamped []string // tags with a Good sample at the receipt time
	}{
		{"component states", gb26875.Unit{Type: gb26875.TypeComponentState,
			Components: []gb26875.ComponentState{comp(1, future), comp(2, good), comp(3, ancient), comp(4, hourFast)}},
			[]string{"S1-1.Z3-P2.fire"}, []string{"S1-1.Z3-P1.fire", "S1-1.Z3-P3.fire", "S1-1.Z3-P4.fire"}},
		{"analogs", gb26875.Unit{Type: gb26875.TypeAnalog, Analogs: []gb26875.Analog{
			{Component: at(5), Kind: 6, Value: 120, Time: good}, {Component: at(6), Kind: 6, Value: 999, Time: future}}},
			[]string{"S1-1.Z3-P5.gas"}, []string{"S1-1.Z3-P6.gas"}},
		{"system states", gb26875.Unit{Type: gb26875.TypeSystemState, Systems: []gb26875.SystemState{
			{SysType: 1, SysAddr: 2, Status: 1 << 1, Time: ancient}, {SysType: 1, SysAddr: 3, Status: 1 << 1, Time: good}}},
			[]string{"S1-3.fire"}, []string{"S1-2.fire"}},
		{"every object bad", gb26875.Unit{Type: gb26875.TypeUITDState, UITD: []gb26875.UITDState{{Flags: 1 << 1, Time: future}}},
			nil, []string{"fire"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, testDevice(), nil)
			u := h.dial(t, 1234)
			if err := u.Send(context.Background(), &tt.unit); err != nil {
				t.Fatalf("a frame with objects of bad time must still be confirmed: %v", err)
			}
			const prefix = "UITD-000000001234."
			own, _ := good.Time(gb26875.Beijing)
			for _, tag := range tt.emitted {
				if s, ok := h.rec.get(prefix + tag); !ok || s.Quality != collector.Good || s.Value == 0 || !s.Time.Equal(own) {
					t.Errorf("%s: %+v %v, want a Good sample at %v", tag, s, ok, own)
				}
			}
			for _, tag := range tt.restamped {
				// A fire alarm from a panel with a bad clock is still a fire alarm.
				s, ok := h.rec.get(prefix + tag)
				if !ok || s.Quality != collector.Good || s.Value == 0 {
					t.Errorf("%s: %+v %v, want a Good sample", tag, s, ok)
				} else if d := s.Time.Sub(now); d < 0 || d > 5*time.Second {
					t.Errorf("%s stamped %v, want the receipt time (about %v)", tag, s.Time, now)
				}
			}
			if s, ok := h.rec.get(prefix + "link"); !ok || s.Value != 1 {
				t.Errorf("link %+v %v: the device is heard whatever its clock", s, ok)
			}
			waitFor(t, "the confirm counted", func() bool { return h.l.Stats().Confirms == 1 }) // counted after the write
			if st := h.l.Stats(); st.BadTime != uint64(len(tt.restamped)) || st.Denies != 0 {
				t.Errorf("stats %+v, want bad_time %d and the frame confirmed", st, len(tt.restamped))
			}
		})
	}
}

func TestClockSyncAndDutyCheck(t *testing.T) {
	h := start(t, testDevice(), nil)
	u := h.dial(t, 1234)
	ctx := context.Background()
	if err := u.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := h.l.SyncClock(ctx, 1234, "ctrl-room")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply != "confirm" || res.Tries != 1 || res.ClockSetTo == nil || res.SentBy != "ctrl-room" {
		t.Errorf("sync result %+v", res)
	}
	cmds := u.Commands()
	if len(cmds) != 1 || cmds[0].Cmd != gb26875.CmdControl || cmds[0].Data[0] != gb26875.TypeSyncClock || cmds[0].Src != 88888 || cmds[0].Serial != res.Serial {
		t.Fatalf("device got %+v", cmds)
	}
	var tt gb26875.TimeTag
	copy(tt[:], cmds[0].Data[2:])
	if got, err := tt.Time(gb26875.Beijing); err != nil || !got.Equal(*res.ClockSetTo) {
		t.Errorf("clock set to %v (%v), result says %v", got, err, res.ClockSetTo)
	}

	res, err = h.l.DutyCheck(ctx, 1234, 10, "ctrl-room")
	if err != nil {
		t.Fatal(err)
	}
	if d := u.Commands()[1].Data; len(d) != 3 || d[0] != gb26875.TypeDutyCheck || d[2] != 10 {
		t.Errorf("duty check data %x", d)
	}
	duty := "UITD-000000001234.duty_check"
	if s, _ := h.rec.get(duty); s.Value != 1 {
		t.Errorf("duty_check %+v, want 1 while open", s)
	}
	if st, _ := h.l.Device(1234); st.Duty == nil || st.Duty.Answered != nil || st.Last.Command != "duty_check" {
		t.Errorf("status %+v", st)
	}
	if err := u.AnswerDuty(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if s, _ := h.rec.get(duty); s.Value != 0 {
		t.Errorf("duty_check %+v, want 0 once answered", s)
	}
	st, _ := h.l.Device(1234)
	if st.Duty == nil || st.Duty.Answered == nil || *st.Duty.Operator != 3 || st.Duty.SentBy != "ctrl-room" {
		t.Errorf("duty after answer %+v", st.Duty)
	}
	if _, err := h.l.DutyCheck(ctx, 5555, 10, "ctrl-room"); !errors.Is(err, gb26875.ErrNotConnected) {
		t.Errorf("duty check to an unknown device: %v", err)
	}
}

func TestCommandResentThenFails(t *testing.T) {
	h := start(t, testDevice(), nil)
	u, err := sim.DialUITD(context.Background(), h.addr, sim.UITDOptions{Address: 77, Centre: 88888, IgnoreCommands: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	res, err := h.l.SyncClock(context.Background(), 77, "ctrl-room")
	if !errors.Is(err, gb26875.ErrNoReply) || res.Tries != 3 {
		t.Fatalf("unanswered command: %+v %v", res, err)
	}
	if d := time.Since(begun); d < 600*time.Millisecond {
		t.Errorf("3 tries of 200 ms took %v", d)
	}
	if n := len(u.Commands()); n != 3 {
		t.Errorf("device received %d copies, want 3", n)
	}
	for _, c := range u.Commands() {
		if c.Serial != res.Serial {
			t.Errorf("a resend changed the serial: %d, want %d", c.Serial, res.Serial)
		}
	}
}

// A frame whose readings cannot be handed on (the gateway stopping) is not
// confirmed: the device keeps it and sends it again.
func TestNoConfirmWithoutEmit(t *testing.T) {
	h := start(t, testDevice(), blocked{})
	u, err := sim.DialUITD(context.Background(), h.addr, sim.UITDOptions{Address: 5, Centre: 88888, Timeout: 100 * time.Millisecond, Tries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Component(context.Background(), smoke, 2, ""); !errors.Is(err, sim.ErrNoConfirm) {
		t.Fatalf("send with a blocked pipeline: %v", err)
	}
	if u.Resends() != 1 {
		t.Errorf("resends %d", u.Resends())
	}
}

// A frame is confirmed only once the pipeline says its readings are
// durable (alarms committed, readings stored), not when they are queued.
func TestConfirmWaitsForDurable(t *testing.T) {
	em := &undurable{dones: make(chan func(), 4)}
	h := start(t, testDevice(), em)
	u, err := sim.DialUITD(context.Background(), h.addr, sim.UITDOptions{Address: 5, Centre: 88888, Timeout: 300 * time.Millisecond, Tries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Component(context.Background(), smoke, 2, ""); !errors.Is(err, sim.ErrNoConfirm) {
		t.Fatalf("confirmed while the readings were not yet durable: %v", err)
	}
	select {
	case done := <-em.dones:
		done() // durable now: the next try is confirmed
	case <-time.After(5 * time.Second):
		t.Fatal("readings never emitted")
	}
	go func() {
		for done := range em.dones {
			done()
		}
	}()
	if err := u.Component(context.Background(), smoke, 2, ""); err != nil {
		t.Fatalf("send once durable: %v", err)
	}
}

// undurable takes batches at once and hands out their done for the test to call.
type undurable struct{ dones chan func() }

func (e *undurable) Emit(context.Context, []collector.Sample) error { return nil }

func (e *undurable) EmitDurable(_ context.Context, _ []collector.Sample, done func()) error {
	e.dones <- done
	return nil
}

// blocked is a pipeline that never takes a batch until the listener stops.
type blocked struct{}

func (blocked) Emit(ctx context.Context, _ []collector.Sample) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRunFailsOnABoundPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dev := testDevice()
	gbOf(dev).Listen = ln.Addr().String()
	l, err := gb26875.New(testEnv(collector.NewRegistry(), &recorder{}, slog.New(slog.DiscardHandler)), dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Run(context.Background()); err == nil {
		t.Fatal("Run on a port in use succeeded")
	}
}

func testEnv(reg *collector.Registry, emit protocols.Emitter, log *slog.Logger) protocols.Env {
	return protocols.Env{Site: "s1", Emit: emit, Tags: reg, Log: log}
}
