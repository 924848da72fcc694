package modbus

import (
	"context"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/sim"
	"hazgate/sim/testenv"
)

// chanEmitter hands batches to the test.
type chanEmitter chan []collector.Sample

func (c chanEmitter) Emit(ctx context.Context, b []collector.Sample) error {
	select {
	case c <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func tag(id, table string, addr uint16, typ string, scale, offset float64) config.Tag {
	return config.Tag{ID: id, Block: &TagConfig{Register: &Register{Table: table, Address: addr, Type: typ, Scale: scale, Offset: offset}}}
}

func device(url string, tags ...config.Tag) config.Device {
	return config.Device{ID: "dev", Protocol: "modbus", URL: url, Block: &Config{UnitID: 1},
		Interval: time.Second, Timeout: time.Second, Tags: tags}
}

// modbusOf is d's modbus block, for a test to change.
func modbusOf(d *config.Device) *Config { return d.Block.(*Config) }

// copyDevice is d with a block of its own, so changing one leaves the other.
func copyDevice(d config.Device) config.Device {
	c := *modbusOf(&d)
	d.Block = &c
	return d
}

func newPoller(t *testing.T, dev config.Device) (*Poller, *testenv.Buffer) {
	t.Helper()
	lb := &testenv.Buffer{}
	p, err := New("site", dev, make(chanEmitter, 100), slog.New(slog.NewTextHandler(lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	detach, err := p.attach()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)
	return p, lb
}

func gasController(t *testing.T, n int) *sim.GasController {
	t.Helper()
	c, err := sim.NewGasController("127.0.0.1:0", n)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func detectorTags(n int) []config.Tag {
	var tags []config.Tag
	for i := range n {
		tags = append(tags, tag("LEL-"+string(rune('0'+i)), "input", uint16(i), "uint16", 0.1, 0))
	}
	return tags
}

// pollOnce runs one poll and reports how many requests it sent.
func pollOnce(t *testing.T, p *Poller) ([]collector.Sample, uint64) {
	t.Helper()
	before := p.Stats().Requests
	out := p.poll(context.Background())
	if len(out) != len(p.tags) {
		t.Fatalf("poll returned %d samples for %d tags", len(out), len(p.tags))
	}
	return out, p.Stats().Requests - before
}

func wantSample(t *testing.T, s collector.Sample, q collector.Quality, reason string, value float64) {
	t.Helper()
	if s.Quality != q || s.Reason != reason {
		t.Errorf("%s: %v/%q, want %v/%q", s.Tag, s.Quality, s.Reason, q, reason)
		return
	}
	if q == collector.Good && math.Abs(s.Value-value) > 1e-9 {
		t.Errorf("%s = %v, want %v", s.Tag, s.Value, value)
	}
}

func TestPollGasControllerSilentDetector(t *testing.T) {
	c := gasController(t, 8)
	for i := range 8 {
		c.SetLEL(i, float64(i)+0.5)
	}
	p, lb := newPoller(t, device(c.URL(), detectorTags(8)...))

	out, n := pollOnce(t, p)
	if n != 1 {
		t.Errorf("8 adjacent detectors took %d requests, want 1", n)
	}
	for i, s := range out {
		wantSample(t, s, collector.Good, "", float64(i)+0.5)
	}

	c.Silence(5, true)
	out, n = pollOnce(t, p)
	if n != 1+8 {
		t.Errorf("isolating took %d requests, want 9 (merged + one per tag)", n)
	}
	for i, s := range out {
		if i == 5 {
			wantSample(t, s, collector.Bad, collector.ReasonCommLoss, 0)
		} else {
			wantSample(t, s, collector.Good, "", float64(i)+0.5)
		}
	}
	if !strings.Contains(lb.String(), "tag=LEL-5 table=input address=5") {
		t.Errorf("log does not name the silent detector's tag and address:\n%s", lb)
	}

	// Remembered: the merged read is not retried; the silent tag is read alone.
	out, n = pollOnce(t, p)
	if n != 3 {
		t.Errorf("after isolation %d requests, want 3 (0-4, 5, 6-7)", n)
	}
	wantSample(t, out[5], collector.Bad, collector.ReasonCommLoss, 0)
	wantSample(t, out[6], collector.Good, "", 6.5)

	c.Silence(5, false)
	out, _ = pollOnce(t, p)
	wantSample(t, out[5], collector.Good, "", 5.5)
	if _, n = pollOnce(t, p); n != 1 {
		t.Errorf("after recovery %d requests, want 1 (merged again)", n)
	}
	if s := p.Stats(); s.Exceptions != 3 || s.Errors != 0 {
		t.Errorf("stats %+v, want 3 exceptions (merged, alone, alone), 0 errors", s)
	}
}

// regHandler is a device whose registers exist only where the maps say.
type regHandler struct {
	mu       sync.Mutex
	holding  map[uint16]uint16
	input    map[uint16]uint16
	coils    map[uint16]bool
	discrete map[uint16]bool
}

func readRegs(m map[uint16]uint16, addr, qty uint16) ([]uint16, error) {
	out := make([]uint16, qty)
	for k := range qty {
		v, ok := m[addr+k]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[k] = v
	}
	return out, nil
}

func readBits(m map[uint16]bool, addr, qty uint16) ([]bool, error) {
	out := make([]bool, qty)
	for k := range qty {
		v, ok := m[addr+k]
		if !ok {
			return nil, modbus.ErrIllegalDataAddress
		}
		out[k] = v
	}
	return out, nil
}

func (h *regHandler) HandleCoils(r *modbus.CoilsRequest) ([]bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return readBits(h.coils, r.Addr, r.Quantity)
}

func (h *regHandler) HandleDiscreteInputs(r *modbus.DiscreteInputsRequest) ([]bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return readBits(h.discrete, r.Addr, r.Quantity)
}

func (h *regHandler) HandleHoldingRegisters(r *modbus.HoldingRegistersRequest) ([]uint16, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return readRegs(h.holding, r.Addr, r.Quantity)
}

func (h *regHandler) HandleInputRegisters(r *modbus.InputRegistersRequest) ([]uint16, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return readRegs(h.input, r.Addr, r.Quantity)
}

func serve(t *testing.T, h modbus.RequestHandler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + addr,
		Logger: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return "tcp://" + addr
}

func TestPollDecodesEveryType(t *testing.T) {
	h := &regHandler{
		holding: map[uint16]uint16{
			0: 250,
			1: 0xFFFB,            // int16 -5
			2: 0x0001, 3: 0x1170, // uint32 70000
			4: 0xFFFE, 5: 0x1DC0, // int32 -123456
			6: 0x4148, 7: 0x0000, // float32 12.5
			8: 0x7FC0, 9: 0x0000, // float32 NaN
		},
		input:    map[uint16]uint16{0: 1000},
		coils:    map[uint16]bool{3: true},
		discrete: map[uint16]bool{0: true, 1: false},
	}
	p, _ := newPoller(t, device(serve(t, h),
		tag("u16", "holding", 0, "", 0.1, 0), // empty type: uint16
		tag("i16", "holding", 1, "int16", 1, 0),
		tag("u32", "holding", 2, "uint32", 1, 0),
		tag("i32", "holding", 4, "int32", 1, 0),
		tag("f32", "holding", 6, "float32", 2, 1),
		tag("nan", "holding", 8, "float32", 1, 0),
		tag("in", "input", 0, "uint16", 0.01, -4),
		tag("coil", "coil", 3, "", 1, 0),
		tag("di0", "discrete", 0, "bool", 1, 0),
		tag("di1", "discrete", 1, "bool", 1, 0),
	))
	start := time.Now()
	out, n := pollOnce(t, p)
	end := time.Now()
	if n != 4 {
		t.Errorf("%d requests, want 4 (one per table)", n)
	}
	want := []struct {
		q      collector.Quality
		reason string
		v      float64
	}{
		{collector.Good, "", 25},
		{collector.Good, "", -5},
		{collector.Good, "", 70000},
		{collector.Good, "", -123456},
		{collector.Good, "", 26},
		{collector.Bad, collector.ReasonDecode, 0},
		{collector.Good, "", 6},
		{collector.Good, "", 1},
		{collector.Good, "", 1},
		{collector.Good, "", 0},
	}
	// Each sample carries its request's answer time: one time per table,
	// rising in request order (coil, discrete, holding, input), all inside
	// the poll.
	for i, w := range want {
		wantSample(t, out[i], w.q, w.reason, w.v)
		if !out[i].Time.After(start) || out[i].Time.After(end) {
			t.Errorf("%s stamped %v, outside the poll %v-%v", out[i].Tag, out[i].Time, start, end)
		}
	}
	holding, input, coil, discrete := out[0].Time, out[6].Time, out[7].Time, out[8].Time
	if !out[5].Time.Equal(holding) || !out[9].Time.Equal(discrete) {
		t.Error("samples of one request stamped apart")
	}
	if !(coil.Before(discrete) && discrete.Before(holding) && holding.Before(input)) {
		t.Errorf("answer times coil %v, discrete %v, holding %v, input %v: want the request order", coil, discrete, holding, input)
	}
}

func TestPollIsolatesIllegalAddress(t *testing.T) {
	h := &regHandler{holding: map[uint16]uint16{0: 10, 1: 11, 2: 12, 3: 13, 5: 15, 6: 16, 7: 17}} // no 4
	p, lb := newPoller(t, device(serve(t, h),
		tag("a", "holding", 0, "uint16", 1, 0),
		tag("b", "holding", 2, "uint16", 1, 0),
		tag("bad", "holding", 4, "uint16", 1, 0),
		tag("c", "holding", 6, "uint16", 1, 0),
	))
	for poll := range 3 {
		out, n := pollOnce(t, p)
		wantSample(t, out[0], collector.Good, "", 10)
		wantSample(t, out[1], collector.Good, "", 12)
		wantSample(t, out[2], collector.Bad, collector.ReasonException, 0)
		wantSample(t, out[3], collector.Good, "", 16)
		if want := map[int]uint64{0: 1 + 4, 1: 3, 2: 3}[poll]; n != want {
			t.Errorf("poll %d: %d requests, want %d", poll, n, want)
		}
	}
	logs := lb.String()
	if !strings.Contains(logs, "device=dev tag=bad table=holding address=4") {
		t.Errorf("log does not name device, tag, table and address:\n%s", logs)
	}
	if c := strings.Count(logs, "device refused tag"); c != 1 {
		t.Errorf("refusal logged %d times in 3 polls, want once (on change)", c)
	}
}

func TestPollRefusedGapStopsBridging(t *testing.T) {
	h := &regHandler{holding: map[uint16]uint16{0: 1, 1: 2, 5: 6}} // 2-4 do not exist
	p, _ := newPoller(t, device(serve(t, h),
		tag("a", "holding", 0, "uint16", 1, 0),
		tag("b", "holding", 1, "uint16", 1, 0),
		tag("c", "holding", 5, "uint16", 1, 0),
	))
	out, n := pollOnce(t, p)
	if n != 1+3 {
		t.Errorf("first poll %d requests, want 4 (merged, then each)", n)
	}
	for i, v := range []float64{1, 2, 6} {
		wantSample(t, out[i], collector.Good, "", v)
	}
	before := p.Stats().Exceptions
	out, n = pollOnce(t, p)
	if n != 2 {
		t.Errorf("second poll %d requests, want 2 (0-1 and 5)", n)
	}
	if p.Stats().Exceptions != before {
		t.Error("second poll still hit an exception")
	}
	wantSample(t, out[2], collector.Good, "", 6)
}

func TestPollCommLossAndReconnect(t *testing.T) {
	c := gasController(t, 4)
	c.SetLEL(1, 12.3)
	dev := device(c.URL(), detectorTags(4)...)
	dev.Interval = 20 * time.Millisecond // the backoff's base
	p, _ := newPoller(t, dev)
	out, _ := pollOnce(t, p)
	wantSample(t, out[1], collector.Good, "", 12.3)

	c.Close()
	for range 4 { // every poll while down says so, dialling or backing off
		out, _ = pollOnce(t, p)
		for _, s := range out {
			wantSample(t, s, collector.Bad, collector.ReasonCommLoss, 0)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Backoff doubles from 20 ms per failed dial: after at most 3 failures
	// the next dial is due within 160 ms (+20 % jitter).
	deadline := time.Now().Add(2 * time.Second)
	for out, _ = pollOnce(t, p); out[1].Quality != collector.Good; out, _ = pollOnce(t, p) {
		if time.Now().After(deadline) {
			t.Fatalf("no answer 2 s after the restart: %+v", out[1])
		}
		time.Sleep(dev.Interval)
	}
	wantSample(t, out[1], collector.Good, "", 12.3)
	s := p.Stats()
	if s.Reconnects != 1 || s.ConnErrors < 4 || s.Errors != s.ConnErrors || s.LastSuccess.IsZero() {
		t.Errorf("stats %+v, want 1 reconnect, at least 4 connection errors, a last success", s)
	}
}

func TestRun(t *testing.T) {
	c := gasController(t, 8)
	dev := device(c.URL(), detectorTags(8)...)
	dev.Interval = 10 * time.Millisecond
	em := make(chanEmitter, 100)
	p, err := New("site", dev, em, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var received uint64
	recv := func() []collector.Sample {
		t.Helper()
		select {
		case b := <-em:
			received++
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no batch in 10 s")
			return nil
		}
	}
	var last time.Time
	for range 3 {
		b := recv()
		if len(b) != 8 {
			t.Fatalf("batch of %d, want 8", len(b))
		}
		for _, s := range b {
			if !s.Time.Equal(b[0].Time) || s.Quality != collector.Good {
				t.Errorf("sample %+v: want Good at the poll time %v", s, b[0].Time)
			}
		}
		if !b[0].Time.After(last) {
			t.Errorf("poll time %v not after %v", b[0].Time, last)
		}
		last = b[0].Time
	}

	// Take the device away: a batch of comm_loss follows, then recovery.
	c.Close()
	for b := recv(); b[0].Reason != collector.ReasonCommLoss; b = recv() {
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for b := recv(); b[0].Quality != collector.Good; b = recv() {
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Polls counts the batches handed on: exactly what the emitter received.
	received += uint64(len(em))
	if polls := p.Stats().Polls; polls != received {
		t.Errorf("Stats().Polls = %d, emitter received %d batches", polls, received)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

// A peer that accepts and never answers: Run must still stop when told, and
// report the tags as comm_loss meanwhile.
func TestRunStopsWhilePeerSilent(t *testing.T) {
	addr := silentPeer(t)

	dev := device("tcp://"+addr, detectorTags(2)...)
	dev.Interval, dev.Timeout = 20*time.Millisecond, 200*time.Millisecond
	em := make(chanEmitter, 100)
	p, err := New("site", dev, em, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case b := <-em:
		for _, s := range b {
			wantSample(t, s, collector.Bad, collector.ReasonCommLoss, 0)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch from a silent peer in 10 s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewValidates(t *testing.T) {
	ok := tag("T1", "input", 0, "uint16", 1, 0)
	cases := []struct {
		name string
		dev  func(d *config.Device)
		want string // in the error, beside the device id
	}{
		{"no register", func(d *config.Device) { d.Tags = []config.Tag{{ID: "T9"}} }, "tag T9: no register"},
		{"bad table", func(d *config.Device) { d.Tags = []config.Tag{tag("T9", "inputs", 0, "", 1, 0)} }, `tag T9: register: unknown table "inputs"`},
		{"bad type", func(d *config.Device) { d.Tags = []config.Tag{tag("T9", "input", 0, "int128", 1, 0)} }, `tag T9: register: unknown type "int128"`},
		{"bool on a register", func(d *config.Device) { d.Tags = []config.Tag{tag("T9", "holding", 0, "bool", 1, 0)} }, `tag T9: register: unknown type "bool"`},
		{"register type on a coil", func(d *config.Device) { d.Tags = []config.Tag{tag("T9", "coil", 0, "uint16", 1, 0)} }, `tag T9: register: type "uint16" on coil`},
		{"past the address space", func(d *config.Device) { d.Tags = []config.Tag{tag("T9", "input", 65535, "float32", 1, 0)} }, "tag T9: register: float32 at input address 65535"},
		{"duplicate tag", func(d *config.Device) { d.Tags = []config.Tag{ok, ok} }, "tag T1: duplicate id"},
		{"empty tag id", func(d *config.Device) { d.Tags = []config.Tag{tag("", "input", 0, "", 1, 0)} }, "empty id"},
		{"no tags", func(d *config.Device) { d.Tags = nil }, "no tags"},
		{"zero interval", func(d *config.Device) { d.Interval = 0 }, "interval"},
		{"zero timeout", func(d *config.Device) { d.Timeout = 0 }, "timeout"},
		{"bad url", func(d *config.Device) { d.URL = "http://127.0.0.1:502" }, `url "http://127.0.0.1:502"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dev := device("tcp://127.0.0.1:502", ok)
			tc.dev(&dev)
			_, err := New("site", dev, make(chanEmitter), slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "device dev: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want device dev and %q", err, tc.want)
			}
		})
	}
	if _, err := New("site", device("tcp://127.0.0.1:502", tag("B", "coil", 65535, "", 1, 0)), make(chanEmitter), nil); err != nil {
		t.Errorf("last coil rejected: %v", err)
	}
}

func TestTags(t *testing.T) {
	tg := tag("T101-LEL", "input", 0, "uint16", 0.1, 0)
	tg.Name, tg.Kind, tg.Unit, tg.Area, tg.HazardSource, tg.Description = "1号罐区可燃气体", "combustible_gas", "%LEL", "罐区A", "HS-01", "north side"
	p, _ := newPoller(t, device("tcp://127.0.0.1:502", tg))
	got := p.Tags()
	want := collector.Tag{ID: "T101-LEL", Name: "1号罐区可燃气体", Site: "site", Device: "dev", Kind: "combustible_gas",
		Unit: "%LEL", Area: "罐区A", HazardSource: "HS-01", Description: "north side"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("Tags() = %+v, want %+v", got, want)
	}
}

// silentPeer accepts connections and never answers, like a Modbus device
// whose firmware hung; it returns its host:port.
func silentPeer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}
