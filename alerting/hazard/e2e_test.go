package hazard_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/sim"
)

// stack is the alarm engine and the hazard engine on one real journal, the
// hazard engine following the alarm bus as the gateway runs it.
type stack struct {
	t      *testing.T
	ctx    context.Context
	j      *alerting.Journal
	bus    *alerting.Bus
	alarms *alerting.Engine
	haz    *hazard.Engine
}

func newStack(t *testing.T, reg *collector.Registry, rules []config.Rule, hazardRules []config.HazardRule, now func() time.Time) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{t: t, ctx: ctx}
	var err error
	if s.j, err = alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db")); err != nil {
		t.Fatal(err)
	}
	s.bus = alerting.NewBus(s.j, nil)
	if s.alarms, err = alerting.NewEngine("cz01", rules, reg, s.j, s.bus, nil); err != nil {
		t.Fatal(err)
	}
	if s.haz, err = hazard.NewEngine(ctx, s.j.DB(), hazard.Options{Site: "cz01", Unit: "演示化工有限公司",
		Rules: hazardRules, Tags: reg, Now: now, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.haz.Run(ctx, s.bus, s.j, 20*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		<-done
		s.j.Close()
	})
	return s
}

// await waits for a hazard event and returns it.
func await(t *testing.T, sub *hazard.Subscription, within time.Duration) hazard.Event {
	t.Helper()
	select {
	case ev, ok := <-sub.C:
		if !ok {
			t.Fatalf("hazard feed closed: %v", sub.Err())
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no hazard event within %s", within)
	}
	return hazard.Event{}
}

// TestThreeLevel2AlarmsInAWeek: a detector reaching level 2 (GB/T 50493,
// the preset's HH) three times in seven days makes one recurring-leak
// record with the three alarms, through the real alarm engine and journal.
func TestThreeLevel2AlarmsInAWeek(t *testing.T) {
	reg := collector.NewRegistry()
	for _, tg := range []collector.Tag{
		{ID: "GT-101", Name: "1号储罐区可燃气体", Site: "cz01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
		{ID: "GT-102", Name: "2号储罐区可燃气体", Site: "cz01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
	} {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)
	s := newStack(t, reg, []config.Rule{{Name: "lel", Match: config.Match{Kind: "combustible_gas"}, Preset: alerting.PresetCombustible}},
		nil, func() time.Time { return start.Add(10 * 24 * time.Hour) })
	sub := s.haz.Subscribe(s.ctx, 0)
	defer sub.Close()

	sample := func(tag string, v float64, at time.Time) {
		s.alarms.Consume(s.ctx, []collector.Sample{{Tag: tag, Value: v, Quality: collector.Good, Time: at}})
	}
	var hh []int64
	// Leaks on days 0, 2 and 5, each acknowledged and over within the hour;
	// level 1 only on day 1, and level 2 once on the other detector.
	for i, d := range []int{0, 1, 2, 5} {
		at := start.Add(time.Duration(d) * 24 * time.Hour)
		v := 60.0
		if d == 1 {
			v = 30
		}
		sample("GT-101", 5, at)
		sample("GT-101", v, at.Add(time.Minute))
		sample("GT-101", 5, at.Add(time.Hour))
		if i == 0 {
			sample("GT-102", 70, at.Add(time.Minute))
		}
		for _, a := range s.alarms.Open() {
			if a.Tag == "GT-101" && a.Level == alerting.LevelHH {
				hh = append(hh, a.ID)
			}
			if a.State == alerting.ActiveAcked {
				continue
			}
			if _, err := s.alarms.Ack(s.ctx, a.ID, "ctrl-room"); err != nil {
				t.Fatal(err)
			}
		}
	}
	ev := await(t, sub, 10*time.Second)
	h := ev.Hazard
	if ev.Type != hazard.EventCreated || h.Rule != "gas-leak-recurring" || h.Tag != "GT-101" || !slices.Equal(h.AlarmIDs, hh) || len(hh) != 3 {
		t.Fatalf("event %s: hazard %s on %s with alarms %v; want gas-leak-recurring on GT-101 with the level-2 alarms %v",
			ev.Type, h.Rule, h.Tag, h.AlarmIDs, hh)
	}
	if !h.FoundAt.Equal(start.Add(5*24*time.Hour + time.Minute)) {
		t.Errorf("found at %s, want the third level-2 raise", h.FoundAt)
	}
	// Nothing else: wait until the engine has judged the whole journal.
	last, _ := s.j.LastSeq(s.ctx)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cur, _ := s.haz.Cursor(s.ctx); cur == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hazard engine did not catch up")
		}
	}
	hs, err := s.haz.List(s.ctx, hazard.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 {
		t.Errorf("%d records, want 1: %+v", len(hs), hs)
	}
}

// TestDemoSilentDetector plays the demo scenario against the simulated gas
// controller, polled over Modbus TCP: the detector that goes silent at 30 s
// makes a 重大隐患 once its comm-loss alarm outlasts a persistence shortened
// from 24 h to 2 s.
func TestDemoSilentDetector(t *testing.T) {
	ctrl, err := sim.NewGasController("127.0.0.1:0", sim.DemoDetectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	dev := config.Device{ID: "gds-1", Protocol: "modbus", URL: ctrl.URL(), Block: &modbus.Config{UnitID: 1},
		Interval: 100 * time.Millisecond, Timeout: 500 * time.Millisecond}
	areas := []string{"罐区A", "罐区A", "装卸区", "泵房", "装置区", "装置区", "罐区B", "污水站"}
	for i, area := range areas {
		dev.Tags = append(dev.Tags, config.Tag{ID: fmt.Sprintf("GT-%d", 101+i), Kind: "combustible_gas", Unit: "%LEL", Area: area,
			Block: &modbus.TagConfig{Register: &modbus.Register{Table: "input", Address: uint16(i), Type: "uint16", Scale: 0.1}}})
	}
	rules := hazard.DefaultRules()
	for i := range rules {
		if rules[i].Name == "gas-detector-down" {
			rules[i].For = 2 * time.Second
		}
	}
	reg := collector.NewRegistry()
	var s *stack
	p, err := modbus.New("cz01", dev, emitter(func(ctx context.Context, b []collector.Sample) { s.alarms.Consume(ctx, b) }),
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range p.Tags() {
		if err := reg.Add(tag); err != nil {
			t.Fatal(err)
		}
	}
	s = newStack(t, reg, []config.Rule{{Name: "lel", Match: config.Match{Kind: "combustible_gas"}, Preset: alerting.PresetCombustible, Deadband: 2}},
		rules, time.Now)
	sub := s.haz.Subscribe(s.ctx, 0)
	defer sub.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	polled := make(chan error, 1)
	go func() { polled <- p.Run(ctx) }()
	defer func() { cancel(); <-polled }()
	go sim.Play(ctx, ctrl, sim.DemoSteps(), 10) // silent from 3 s to 15 s
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.alarms.Tick(ctx, time.Now())
			}
		}
	}()

	for {
		ev := await(t, sub, 15*time.Second)
		h := ev.Hazard
		if h.Rule != "gas-detector-down" {
			continue // the leak on detector 2 may make others
		}
		silent := fmt.Sprintf("GT-%d", 101+sim.DemoSilentDetector)
		if ev.Type != hazard.EventCreated || h.Tag != silent || h.Level != hazard.LevelMajor || h.Category != "重大危险源" || h.Status != hazard.Open {
			t.Fatalf("%s: %+v; want a new 重大隐患 on %s", ev.Type, h, silent)
		}
		if len(h.AlarmIDs) == 0 {
			t.Fatal("no linked alarm")
		}
		a, err := s.j.Get(s.ctx, h.AlarmIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		if a.Tag != silent || !slices.Contains([]string{alerting.ClassCommLoss, alerting.ClassBadQuality}, a.Class) {
			t.Errorf("linked alarm %+v", a)
		}
		if d := h.FoundAt.Sub(a.RaisedAt); d != 2*time.Second {
			t.Errorf("found %s after the alarm, want the 2 s persistence", d)
		}
		t.Logf("%s %s: %s (alarm %d, %s)", h.Number, h.Level, h.Description, a.ID, a.Class)
		return
	}
}

type emitter func(context.Context, []collector.Sample)

func (f emitter) Emit(ctx context.Context, b []collector.Sample) error {
	f(ctx, b)
	return nil
}
