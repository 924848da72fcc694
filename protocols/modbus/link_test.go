package modbus

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/sim"
)

// simServer serves units on loopback until the test ends.
func simServer(t *testing.T, units map[uint8]*sim.Unit) *sim.Server {
	t.Helper()
	s, err := sim.NewServer("127.0.0.1:0", units)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func simUnit(t *testing.T, set func(u *sim.Unit) error) *sim.Unit {
	t.Helper()
	u, err := sim.NewUnit(100)
	if err != nil {
		t.Fatal(err)
	}
	if err := set(u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Three units behind one simulated gateway: one connection for all, each
// device decoding its own layout (a GDS with a 4-20 mA channel, a DCS
// gateway with a float in CDAB and a state code, a hydrant transmitter in
// DCBA), and a silent unit costing only its own tags.
func TestSharedLinkMultiUnit(t *testing.T) {
	gds := simUnit(t, func(u *sim.Unit) error {
		return u.SetRegisters("input", 0, 8000, 3000, 21500, 12000)
	})
	dcs := simUnit(t, func(u *sim.Unit) error {
		if err := u.SetValue("holding", 10, "float32", "CDAB", 1.25); err != nil {
			return err
		}
		return u.SetRegisters("holding", 30, 2, 0x0009) // state code 2; status bits 0 and 3
	})
	hydrant := simUnit(t, func(u *sim.Unit) error { return u.SetValue("input", 0, "float64", "DCBA", 0.35) })
	srv := simServer(t, map[uint8]*sim.Unit{1: gds, 2: dcs, 3: hydrant})

	one := uint8(0)
	three := uint8(3)
	mA := func(id string, addr uint16) config.Tag {
		return config.Tag{ID: id, Block: &TagConfig{Register: &Register{Table: "input", Address: addr, Raw: []float64{4000, 20000}, Range: []float64{0, 100}}}}
	}
	devs := []config.Device{
		device(srv.URL(), mA("lel-ok", 0), mA("lel-fault", 1), mA("lel-fault-high", 2), mA("lel-mid", 3)),
		device(srv.URL(),
			config.Tag{ID: "flow", Block: &TagConfig{Register: &Register{Table: "holding", Address: 10, Type: "float32"}}},
			config.Tag{ID: "pump", Block: &TagConfig{Register: &Register{Table: "holding", Address: 30, States: map[int]string{0: "stopped", 1: "running", 2: "fault"}}}},
			config.Tag{ID: "st-bit0", Block: &TagConfig{Register: &Register{Table: "holding", Address: 31, Bit: &one}}},
			config.Tag{ID: "st-bit3", Block: &TagConfig{Register: &Register{Table: "holding", Address: 31, Bit: &three}}},
		),
		device(srv.URL(), config.Tag{ID: "press", Block: &TagConfig{Register: &Register{Table: "input", Address: 0, Type: "float64", ByteOrder: "DCBA"}}}),
	}
	modbusOf(&devs[1]).ByteOrder = "CDAB"
	for i := range devs {
		devs[i].ID = []string{"gds", "dcs", "hydrant"}[i]
		modbusOf(&devs[i]).UnitID = uint8(i + 1)
	}
	var ps []*Poller
	for _, d := range devs {
		p, _ := newPoller(t, d)
		ps = append(ps, p)
	}
	pool.mu.Lock()
	l := pool.links[srv.URL()]
	pool.mu.Unlock()
	if l == nil || l.users.Load() != 3 || ps[0].link != l || ps[2].link != l {
		t.Fatalf("devices on one URL do not share one link: %+v", l)
	}

	out, n := pollOnce(t, ps[0])
	if n != 1 {
		t.Errorf("gds: %d requests, want 1", n)
	}
	wantSample(t, out[0], collector.Good, "", 25)
	wantSample(t, out[1], collector.Bad, collector.ReasonSensorFault, 0)
	wantSample(t, out[2], collector.Bad, collector.ReasonSensorFault, 0)
	wantSample(t, out[3], collector.Good, "", 50)

	out, n = pollOnce(t, ps[1])
	if n != 2 {
		t.Errorf("dcs: %d requests, want 2 (10-11, 30-31: a gap of 18 is not bridged)", n)
	}
	if got := ps[1].Tags(); len(got) != 7 || got[2].ID != "pump.stopped" || got[4].ID != "pump.fault" {
		t.Errorf("dcs tags %+v: want pump's state tags after it", got)
	}
	for i, v := range []float64{1.25, 2, 0, 0, 1, 1, 1} {
		wantSample(t, out[i], collector.Good, "", v)
	}

	out, _ = pollOnce(t, ps[2])
	wantSample(t, out[0], collector.Good, "", 0.35)

	dcs.Silence(true)
	out, _ = pollOnce(t, ps[1])
	wantSample(t, out[0], collector.Bad, collector.ReasonCommLoss, 0)
	out, _ = pollOnce(t, ps[0])
	wantSample(t, out[0], collector.Good, "", 25)
}

// Devices on one URL must agree on what the connection is.
func TestSharedLinkSettingsMustAgree(t *testing.T) {
	a := device("tcp://127.0.0.1:1", tag("a", "input", 0, "", 1, 0))
	a.ID = "a"
	b := copyDevice(a)
	b.ID, b.Timeout = "b", 2*time.Second
	pa, _ := newPoller(t, a)
	_ = pa
	pb, err := New("site", b, make(chanEmitter), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pb.attach(); err == nil || !strings.Contains(err.Error(), "device b: url tcp://127.0.0.1:1 is shared with device a") ||
		!strings.Contains(err.Error(), "timeouts 1s and 2s") {
		t.Errorf("attach: %v", err)
	}
	if _, err := Plan([]config.Device{a, b}); err == nil || !strings.Contains(err.Error(), "device b: url tcp://127.0.0.1:1 is shared with device a") {
		t.Errorf("Plan: %v", err)
	}
	c := copyDevice(a)
	c.ID, modbusOf(&c).Speed = "c", 19200
	if _, err := Plan([]config.Device{a, c}); err == nil || !strings.Contains(err.Error(), "serial settings") {
		t.Errorf("Plan with another speed: %v", err)
	}
}

// A connection whose peer never answers blocks only its own devices: a
// device on another connection keeps its pace.
func TestDeadLinkDoesNotDelayOthers(t *testing.T) {
	addr := silentPeer(t)
	silent := device("tcp://"+addr, detectorTags(2)...)
	silent.ID, silent.Timeout, modbusOf(&silent).Retries, silent.Interval = "silent", time.Second, 2, 50*time.Millisecond
	live := device(gasController(t, 2).URL(), detectorTags(2)...)
	live.ID, live.Interval = "live", 20*time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ps []*Poller
	for _, d := range []config.Device{silent, live} {
		p, err := New("site", d, discard{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		wg.Go(func() { p.Run(ctx) })
	}
	// The silent device's first poll takes 3 s (3 attempts of 1 s). Had it
	// held up the live one, the live device would have polled once.
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	if n := ps[1].Stats().Polls; n < 10 {
		t.Errorf("live device polled %d times in 1 s at 20 ms beside a silent one, want ≥ 10", n)
	}
	if s := ps[0].Stats(); s.Polls != 0 || s.Timeouts > 1 {
		t.Errorf("silent device stats %+v: want no poll done within 1 s", s)
	}
}

type discard struct{}

func (discard) Emit(context.Context, []collector.Sample) error { return nil }

func TestBackoff(t *testing.T) {
	l := &link{}
	l.base.Store(int64(100 * time.Millisecond))
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 9: 25600 * time.Millisecond, 10: maxBackoff, 60: maxBackoff} {
		for range 20 {
			if d := l.backoff(n); d < want*8/10 || d > want*12/10 {
				t.Errorf("backoff(%d) = %v, want %v ±20 %%", n, d, want)
			}
		}
	}
	l.base.Store(int64(time.Minute)) // an interval beyond the cap is the floor
	if d := l.backoff(3); d < 48*time.Second || d > 72*time.Second {
		t.Errorf("backoff with a 1 min base = %v", d)
	}
}

func TestHistogram(t *testing.T) {
	var h hist
	if len(h.counts) != len(Bounds)+1 {
		t.Fatalf("%d buckets for %d bounds", len(h.counts), len(Bounds))
	}
	for range 50 {
		h.observe(30 * time.Microsecond) // (25, 50] µs
	}
	for range 50 {
		h.observe(200 * time.Microsecond) // (100, 250] µs
	}
	h.observe(time.Minute)
	s := h.snapshot()
	if s.Count != 101 || s.Counts[1] != 50 || s.Counts[3] != 50 || s.Counts[len(Bounds)] != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	// Ranks are q×101 samples.
	for q, want := range map[float64]time.Duration{0.25: 37625 * time.Nanosecond, 0.5: 101500 * time.Nanosecond, 0.75: 177250 * time.Nanosecond, 1: 5 * time.Second} {
		if got := s.Quantile(q); got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("Quantile(%v) = %v, want about %v", q, got, want)
		}
	}
	if (Histogram{}).Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}

// staleServer answers Modbus TCP register reads with zeros. For the unit
// ids in stale it first sends a reply with the previous transaction id, as
// a gateway answering a timed-out request late does; the library skips it
// and logs a warning.
func staleServer(t *testing.T, stale map[uint8]bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serve := func(nc net.Conn) {
		defer nc.Close()
		for {
			h := make([]byte, 7) // MBAP header: transaction, protocol, length, unit
			if _, err := io.ReadFull(nc, h); err != nil {
				return
			}
			pdu := make([]byte, int(binary.BigEndian.Uint16(h[4:]))-1)
			if _, err := io.ReadFull(nc, pdu); err != nil || len(pdu) < 5 {
				return
			}
			qty := binary.BigEndian.Uint16(pdu[3:])
			res := append([]byte{pdu[0], byte(2 * qty)}, make([]byte, 2*qty)...)
			frame := func(txn uint16) []byte {
				b := binary.BigEndian.AppendUint16(nil, txn)
				b = binary.BigEndian.AppendUint16(b, 0)
				b = binary.BigEndian.AppendUint16(b, uint16(len(res)+1))
				return append(append(b, h[6]), res...)
			}
			txn := binary.BigEndian.Uint16(h)
			if stale[h[6]] {
				nc.Write(frame(txn - 1))
			}
			if _, err := nc.Write(frame(txn)); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(nc)
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// The library's own warnings name the device whose request they are about,
// also on a connection several devices share (issue 14.7).
func TestLibraryWarningsNameTheDevice(t *testing.T) {
	url := staleServer(t, map[uint8]bool{2: true})
	a := device(url, tag("a", "holding", 0, "", 0, 0))
	a.ID, modbusOf(&a).UnitID = "gds-a", 1
	b := device(url, tag("b", "holding", 0, "", 0, 0))
	b.ID, modbusOf(&b).UnitID = "gds-b", 2
	pa, loga := newPoller(t, a) // the first on the link: its connection's own logger
	pb, logb := newPoller(t, b)
	for _, p := range []*Poller{pa, pb} {
		for _, s := range p.poll(context.Background()) {
			if s.Quality != collector.Good {
				t.Fatalf("%s: %+v", p.dev.ID, s)
			}
		}
	}
	const said = "unexpected transaction id"
	var found bool
	for line := range strings.Lines(logb.String()) {
		if !strings.Contains(line, said) {
			continue
		}
		found = true
		if !strings.Contains(line, "device=gds-b") || !strings.Contains(line, "level=WARN") || !strings.Contains(line, "url="+url) {
			t.Errorf("library line %q: want level=WARN, device=gds-b and the url", line)
		}
	}
	if !found {
		t.Errorf("no library warning in gds-b's log:\n%s\ngds-a's log:\n%s", logb, loga)
	}
	if strings.Contains(loga.String(), said) {
		t.Errorf("gds-b's library warning logged by gds-a:\n%s", loga)
	}
}

// records is a slog handler keeping every record with its attributes.
type records struct {
	mu    sync.Mutex
	attrs []slog.Attr
	got   *[]map[string]string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs(as []slog.Attr) slog.Handler {
	return &records{attrs: append(slices.Clone(h.attrs), as...), got: h.got}
}
func (h *records) WithGroup(string) slog.Handler { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"level": r.Level.String(), "msg": r.Message}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.got = append(*h.got, m)
	h.mu.Unlock()
	return nil
}

func TestLibLog(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		inJob bool
		want  map[string]string
	}{
		{"warning in a job", "tcp-transport(h:502) [warn]: received unexpected protocol id 0x0001\n", true,
			map[string]string{"level": "WARN", "msg": "received unexpected protocol id 0x0001", "device": "gds-1", "source": "tcp-transport(h:502)", "url": "tcp://h:502"}},
		{"error", "modbus-client(tcp://h:502) [error]: quantity of registers is 0\n", true,
			map[string]string{"level": "ERROR", "msg": "quantity of registers is 0", "device": "gds-1"}},
		{"no job: the connection's logger", "rtu-transport(/dev/ttyS0) [warn]: expected 7 bytes, received 3\n", false,
			map[string]string{"level": "WARN", "conn": "yes", "device": ""}},
		{"a line of another shape", "something odd\n", true,
			map[string]string{"level": "WARN", "msg": "something odd", "device": "gds-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []map[string]string
			base := slog.New(&records{got: &got})
			lib := newLibLog(base.With("conn", "yes"), "tcp://h:502")
			if tt.inJob {
				lib.cur.Store(base.With("device", "gds-1"))
			}
			log.New(lib, "", 0).Print(tt.line) // as the library writes
			if len(got) != 1 {
				t.Fatalf("%d records, want 1", len(got))
			}
			for k, v := range tt.want {
				if got[0][k] != v {
					t.Errorf("%s = %q, want %q (record %v)", k, got[0][k], v, got[0])
				}
			}
		})
	}
}
