package sim

import (
	"context"
	"testing"
	"time"
)

func newTestPlayer(t *testing.T, steps []Step) (*GasController, *player) {
	t.Helper()
	c, err := NewGasController("127.0.0.1:0", DemoDetectors)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlayer(c, steps, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// The demo timeline, stepped without a clock: what the operator should see when.
func TestDemoTimeline(t *testing.T) {
	c, p := newTestPlayer(t, DemoSteps())
	type check struct {
		det            int
		minLEL, maxLEL float64
		silent         bool
	}
	points := []struct {
		at     time.Duration
		checks []check
	}{
		{0, []check{{DemoLeakDetector, 0, BaselineMaxLEL, false}, {DemoSilentDetector, 0, BaselineMaxLEL, false}}},
		{2 * time.Second, []check{{DemoLeakDetector, 0, BaselineMaxLEL, false}}},
		{15 * time.Second, []check{{DemoLeakDetector, Level1LEL, Level2LEL - 0.1, false}}},
		{19 * time.Second, []check{{DemoLeakDetector, Level1LEL, Level2LEL - 0.1, false}}},
		{29 * time.Second, []check{{DemoSilentDetector, 0, BaselineMaxLEL, false}}},
		{31 * time.Second, []check{{DemoSilentDetector, 0, BaselineMaxLEL, true}}},
		{35 * time.Second, []check{{DemoLeakDetector, Level2LEL, FullScaleLEL, false}}},
		{55 * time.Second, []check{{DemoLeakDetector, 0, BaselineMaxLEL, false}, {DemoSilentDetector, 0, BaselineMaxLEL, true}}},
		{89 * time.Second, []check{{DemoSilentDetector, 0, BaselineMaxLEL, true}}},
		{149 * time.Second, []check{{DemoSilentDetector, 0, BaselineMaxLEL, true}}},
		{151 * time.Second, []check{{DemoSilentDetector, 0, BaselineMaxLEL, false}}},
	}
	var now time.Duration
	for _, pt := range points {
		// Step in small increments, as Play does, so noise is redrawn on the way.
		for now < pt.at {
			now = min(now+100*time.Millisecond, pt.at)
			p.advance(now)
		}
		p.advance(now)
		for _, ch := range pt.checks {
			if v := c.LEL(ch.det); v < ch.minLEL || v > ch.maxLEL {
				t.Errorf("at %v detector %d = %v %%LEL, want %v..%v", pt.at, ch.det, v, ch.minLEL, ch.maxLEL)
			}
			if s := c.Silent(ch.det); s != ch.silent {
				t.Errorf("at %v detector %d silent = %v, want %v", pt.at, ch.det, s, ch.silent)
			}
		}
		for i := range DemoDetectors {
			if i == DemoLeakDetector {
				continue
			}
			if v := c.LEL(i); v < 0 || v > BaselineMaxLEL {
				t.Errorf("at %v bystander detector %d = %v %%LEL, want baseline", pt.at, i, v)
			}
		}
	}
}

func TestRampIsLinear(t *testing.T) {
	c, p := newTestPlayer(t, []Step{
		{At: 10 * time.Second, Detector: 0, Action: Ramp, LEL: 40, For: 0},
		{At: 20 * time.Second, Detector: 0, Action: Ramp, LEL: 80, For: 10 * time.Second},
	})
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{10 * time.Second, 40}, {20 * time.Second, 40}, {25 * time.Second, 60}, {30 * time.Second, 80}, {100 * time.Second, 80}} {
		p.advance(tc.at)
		if got := c.LEL(0); got != tc.want {
			t.Errorf("at %v: %v %%LEL, want %v", tc.at, got, tc.want)
		}
	}
}

func TestPlayRejectsUnknownDetector(t *testing.T) {
	c, _ := newTestPlayer(t, nil)
	err := Play(context.Background(), c, []Step{{At: time.Second, Detector: DemoDetectors, Action: Silence}}, 1)
	if err == nil {
		t.Fatal("step on detector 8 of 8 accepted")
	}
}

// Play against the wall clock, accelerated: it must reach the end of the
// timeline and stop when told. Only the order of states is asserted.
func TestPlayAccelerated(t *testing.T) {
	c, _ := newTestPlayer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	steps := []Step{
		{At: 1 * time.Second, Detector: 0, Action: Ramp, LEL: 60},
		{At: 2 * time.Second, Detector: 1, Action: Silence},
		{At: 3 * time.Second, Detector: 0, Action: Baseline},
		{At: 4 * time.Second, Detector: 1, Action: Resume},
		{At: 5 * time.Second, Detector: 2, Action: Ramp, LEL: 30},
	}
	go func() { done <- Play(ctx, c, steps, 100) }()
	deadline := time.Now().Add(10 * time.Second)
	for c.LEL(2) != 30 {
		if time.Now().After(deadline) {
			t.Fatal("scenario did not reach its last step")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := c.LEL(0); v > BaselineMaxLEL {
		t.Errorf("detector 0 = %v after returning to baseline", v)
	}
	if c.Silent(1) {
		t.Error("detector 1 still silent after resume")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
