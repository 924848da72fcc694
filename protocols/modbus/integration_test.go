package modbus_test

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/protocols/modbus/modbustest"
)

type chanEmitter chan []collector.Sample

func (c chanEmitter) Emit(ctx context.Context, b []collector.Sample) error {
	select {
	case c <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func reg(id, table string, addr uint16, typ string, scale, offset float64) config.Tag {
	return config.Tag{ID: id, Block: &modbus.TagConfig{Register: &modbus.Register{Table: table, Address: addr, Type: typ, Scale: scale, Offset: offset}}}
}

// Against pymodbus, a Modbus implementation we did not write: known values of
// every type decode as expected, an address the device lacks costs only its
// own tag, and a killed and restarted server turns tags Bad comm_loss and back.
func TestPymodbusPeer(t *testing.T) {
	srv := modbustest.StartPymodbus(t, modbustest.Values{
		Size:     100,
		Input:    []string{"0=250", "1=int16:-5", "2=uint32:70000", "4=int32:-123456", "6=float32:12.5"},
		Holding:  []string{"10=1000"},
		Coils:    []string{"3=1"},
		Discrete: []string{"0=1"},
	})
	const interval = 200 * time.Millisecond
	dev := config.Device{ID: "py-1", Protocol: "modbus", URL: srv.URL(), Block: &modbus.Config{UnitID: 1}, Interval: interval, Timeout: 500 * time.Millisecond,
		Tags: []config.Tag{
			reg("lel", "input", 0, "uint16", 0.1, 0),
			reg("temp", "input", 1, "int16", 1, 0),
			reg("count", "input", 2, "uint32", 1, 0),
			reg("delta", "input", 4, "int32", 1, 0),
			reg("flow", "input", 6, "float32", 2, 1),
			reg("press", "holding", 10, "uint16", 0.01, -4),
			reg("missing", "holding", 500, "uint16", 1, 0), // past the server's 100 registers
			reg("pump", "coil", 3, "", 1, 0),
			reg("door", "discrete", 0, "bool", 1, 0),
		}}
	want := map[string]float64{"lel": 25, "temp": -5, "count": 70000, "delta": -123456, "flow": 26, "press": 6, "pump": 1, "door": 1}

	em := make(chanEmitter, 1000)
	p, err := modbus.New("site", dev, em, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	recv := func() []collector.Sample {
		t.Helper()
		select {
		case b := <-em:
			return b
		case <-time.After(20 * interval):
			t.Fatal("no batch in 20 intervals")
			return nil
		}
	}
	healthy := func(b []collector.Sample) bool {
		for _, s := range b {
			if s.Tag != "missing" && s.Quality != collector.Good {
				return false
			}
		}
		return true
	}

	b := recv()
	for _, s := range b {
		if s.Tag == "missing" {
			if s.Quality != collector.Bad || s.Reason != collector.ReasonException {
				t.Errorf("missing: %v/%q, want bad/%q", s.Quality, s.Reason, collector.ReasonException)
			}
			continue
		}
		if s.Quality != collector.Good || math.Abs(s.Value-want[s.Tag]) > 1e-9 {
			t.Errorf("%s = %v (%v %q), want %v good", s.Tag, s.Value, s.Quality, s.Reason, want[s.Tag])
		}
	}

	srv.Kill()
	for n := 1; ; n++ {
		b = recv()
		all := true
		for _, s := range b {
			all = all && s.Quality == collector.Bad && s.Reason == collector.ReasonCommLoss
		}
		if all {
			break
		}
		if n >= 3 {
			t.Fatalf("3 polls after the kill, tags still not all comm_loss: %+v", b)
		}
	}

	srv.Restart()
	for n := 1; !healthy(b); n++ {
		if n > 10 {
			t.Fatalf("10 polls after the restart on port %d, still %+v", srv.Port(), b)
		}
		b = recv()
	}
	for _, s := range b {
		if s.Tag != "missing" && math.Abs(s.Value-want[s.Tag]) > 1e-9 {
			t.Errorf("after restart %s = %v, want %v", s.Tag, s.Value, want[s.Tag])
		}
	}
	if st := p.Stats(); st.Reconnects != 1 {
		t.Errorf("stats %+v, want 1 reconnect", st)
	}
}

// testWriter sends the poller's log to the test log, for failures.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
