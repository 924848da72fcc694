package alerting_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/protocols/modbus/modbustest"
)

// TestEndToEndPymodbus runs a pymodbus peer, the Modbus poller and the
// engine on a real journal. The test moves the registers with a Modbus
// client of its own, as a field device's values would move:
//   - gas over level 1, then level 2, then back raises H, then HH, and clears both;
//   - hydrant pressure falling fast raises the rate alarm before the low alarm.
func TestEndToEndPymodbus(t *testing.T) {
	srv := modbustest.StartPymodbus(t, modbustest.Values{Holding: []string{"0=20", "1=300"}})
	const interval = 100 * time.Millisecond
	dev := config.Device{ID: "gds-1", Protocol: "modbus", URL: srv.URL(), Block: &modbus.Config{UnitID: 1},
		Interval: interval, Timeout: 500 * time.Millisecond,
		Tags: []config.Tag{
			{ID: "GT-101", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A",
				Block: &modbus.TagConfig{Register: &modbus.Register{Table: "holding", Address: 0, Type: "uint16", Scale: 0.1}}},
			{ID: "PT-201", Kind: "hydrant_pressure", Unit: "MPa",
				Block: &modbus.TagConfig{Register: &modbus.Register{Table: "holding", Address: 1, Type: "uint16", Scale: 0.001}}},
		}}
	rules := []config.Rule{
		{Name: "gas", Match: config.Match{Kind: "combustible_gas"}, Preset: alerting.PresetCombustible},
		{Name: "hydrant-low", Match: config.Match{Kind: "hydrant_pressure"}, Below: ptr(0.10), Severity: "high", Deadband: 0.02, Delay: 300 * time.Millisecond},
		{Name: "hydrant-fall", Match: config.Match{Kind: "hydrant_pressure"}, Severity: "medium",
			Rate: &config.Rate{Falling: 0.05, Per: time.Minute, Window: 2 * time.Second}},
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bus := alerting.NewBus(j, log)
	reg := collector.NewRegistry()
	var eng *alerting.Engine
	p, err := modbus.New("s1", dev, emitterFunc(func(ctx context.Context, b []collector.Sample) { eng.Consume(ctx, b) }), log)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range p.Tags() {
		if err := reg.Add(tag); err != nil {
			t.Fatal(err)
		}
	}
	if eng, err = alerting.NewEngine("s1", rules, reg, j, bus, log); err != nil {
		t.Fatal(err)
	}
	sub := bus.Subscribe(ctx, 0)
	defer sub.Close()
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx, 50*time.Millisecond) }()
	polled := make(chan error, 1)
	go func() { polled <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		<-polled
	}()

	cl, err := mb.NewClient(&mb.ClientConfiguration{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	write := func(addr, v uint16) {
		t.Helper()
		if err := cl.WriteRegister(addr, v); err != nil {
			t.Fatalf("write register %d: %v", addr, err)
		}
	}
	var seen []string
	// await reads events until one of tag matches want, and returns all of
	// that tag's events seen so far.
	await := func(tag, want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					t.Fatalf("bus closed: %v", sub.Err())
				}
				got := fmt.Sprintf("%s %s/%s:%s", ev.Alarm.Tag, ev.Alarm.Rule, ev.Alarm.Level, ev.Type)
				seen = append(seen, got)
				if got == tag+" "+want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s %s within 20 s; events so far %v", tag, want, seen)
			}
		}
	}

	write(0, 300) // 30 %LEL: level 1
	await("GT-101", "gas/H:raised")
	write(0, 600) // 60 %LEL: level 2
	await("GT-101", "gas/HH:raised")
	write(0, 50) // 5 %LEL
	await("GT-101", "gas/HH:cleared")
	want := []string{"GT-101 gas/H:raised", "GT-101 gas/HH:raised", "GT-101 gas/H:cleared", "GT-101 gas/HH:cleared"}
	if !slices.Equal(seen, want) {
		t.Errorf("gas events %v, want %v", seen, want)
	}
	if hh := openAlarm(eng, "GT-101", alerting.LevelHH); hh.State != alerting.ClearedUnacked || hh.Peak != 60 || hh.Severity != "critical" {
		t.Errorf("HH alarm %+v, want cleared_unacked, peak 60, critical", hh)
	}

	// Hydrant main bursting: 0.300 MPa falling 0.003 MPa every 100 ms
	// (1.8 MPa/min), past 0.10 MPa.
	seen = nil
	for v := uint16(300); v >= 60; v -= 3 {
		write(1, v)
		time.Sleep(interval)
	}
	await("PT-201", "hydrant-low/L:raised")
	var order []string
	for _, s := range seen {
		if s == "PT-201 hydrant-fall/fall:raised" || s == "PT-201 hydrant-low/L:raised" {
			order = append(order, s)
		}
	}
	if !slices.Equal(order, []string{"PT-201 hydrant-fall/fall:raised", "PT-201 hydrant-low/L:raised"}) {
		t.Errorf("hydrant events %v: want the rate alarm before the low alarm", seen)
	}
	t.Logf("hydrant events %v", seen)
	// Pressure back to 0.11 MPa: inside the 0.02 deadband, still low.
	write(1, 110)
	time.Sleep(5 * interval)
	if low := openAlarm(eng, "PT-201", alerting.LevelL); low.State != alerting.ActiveUnacked {
		t.Errorf("at 0.11 MPa the low alarm is %s, want still active (deadband 0.02)", low.State)
	}
	write(1, 130)
	await("PT-201", "hydrant-low/L:cleared")
}

func openAlarm(e *alerting.Engine, tag, level string) alerting.Alarm {
	for _, a := range e.Open() {
		if a.Tag == tag && a.Level == level {
			return a
		}
	}
	return alerting.Alarm{}
}

type emitterFunc func(context.Context, []collector.Sample)

func (f emitterFunc) Emit(ctx context.Context, b []collector.Sample) error {
	f(ctx, b)
	return nil
}

func ptr(v float64) *float64 { return &v }
