package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// Action is what a scenario step does to a detector.
type Action uint8

const (
	// Ramp moves the detector's reading linearly to Step.LEL over Step.For
	// (at once when For is 0) and holds it there.
	Ramp Action = iota
	// Baseline ramps the reading back to clean-air noise over Step.For.
	Baseline
	// Silence makes the detector stop answering.
	Silence
	// Resume makes a silent detector answer again.
	Resume
)

func (a Action) String() string {
	switch a {
	case Ramp:
		return "ramp"
	case Baseline:
		return "baseline"
	case Silence:
		return "silence"
	case Resume:
		return "resume"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Step is one event of a scenario, At from the scenario's start.
type Step struct {
	At       time.Duration
	Detector int
	Action   Action
	LEL      float64       // Ramp's target, %LEL
	For      time.Duration // Ramp and Baseline: how long the change takes
}

// Clean-air readings wander in [0, BaselineMaxLEL] %LEL, redrawn every
// noisePeriod of scenario time.
const (
	BaselineMaxLEL = 3.0
	noisePeriod    = time.Second
	// baselineMid is where a return to baseline aims before noise takes over.
	baselineMid = BaselineMaxLEL / 2
)

// Demo detectors: which ones the demo scenario moves.
const (
	DemoLeakDetector   = 2
	DemoSilentDetector = 5
	DemoDetectors      = 8
	// DemoSilentFor is how long the silent detector stays so: two minutes,
	// past the demo's one-minute 重大隐患 persistence with room to spare.
	DemoSilentFor = 2 * time.Minute
)

// DemoSteps is the demo's timeline for a controller of DemoDetectors: detector 2
// leaks past level 1 (25 %LEL) by about 11 s and holds there, passes level 2
// (50 %LEL) at about 27 s, and is back at baseline by 50 s; detector 5 goes
// silent at 30 s and answers again at DemoSilentFor later, so its comm-loss
// alarm is seen and outlasts the demo's shortened hazard persistence.
func DemoSteps() []Step {
	return []Step{
		{At: 3 * time.Second, Detector: DemoLeakDetector, Action: Ramp, LEL: 32, For: 10 * time.Second},
		{At: 20 * time.Second, Detector: DemoLeakDetector, Action: Ramp, LEL: 62, For: 12 * time.Second},
		{At: 30 * time.Second, Detector: DemoSilentDetector, Action: Silence},
		{At: 38 * time.Second, Detector: DemoLeakDetector, Action: Baseline, For: 12 * time.Second},
		{At: 30*time.Second + DemoSilentFor, Detector: DemoSilentDetector, Action: Resume},
	}
}

// PlayDemo plays DemoSteps on c in real time until ctx ends. c needs at least
// DemoDetectors detectors.
func PlayDemo(ctx context.Context, c *GasController, log *slog.Logger) {
	if err := play(ctx, c, DemoSteps(), 1, log); err != nil && log != nil {
		log.Error("demo scenario", "err", err)
	}
}

// Play applies steps to c, speed times faster than real time (1 is real
// time), with baseline noise on every detector not in an event. It returns
// when ctx ends; after the last step the noise goes on. It fails at once if a
// step names a detector c does not have.
func Play(ctx context.Context, c *GasController, steps []Step, speed float64) error {
	return play(ctx, c, steps, speed, nil)
}

func play(ctx context.Context, c *GasController, steps []Step, speed float64, log *slog.Logger) error {
	if speed <= 0 {
		return fmt.Errorf("scenario: speed %v must be positive", speed)
	}
	p, err := newPlayer(c, steps, rand.Uint64(), log)
	if err != nil {
		return err
	}
	// Fine enough for smooth ramps at real time, cheap enough to forget.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	p.advance(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			p.advance(time.Duration(float64(now.Sub(start)) * speed))
		}
	}
}

// player computes the controller's state as a function of scenario time, so
// tests can step it without a clock.
type player struct {
	c         *GasController
	steps     []Step
	next      int
	det       []detector
	rng       *rand.Rand
	lastNoise time.Duration
	noised    bool
	log       *slog.Logger
}

// detector is one detector's course: a ramp from from to to over
// [start, start+dur], then either holding to or (toNoise) following noise.
type detector struct {
	ramping  bool
	from, to float64
	start    time.Duration
	dur      time.Duration
	toNoise  bool
	noise    float64
}

func newPlayer(c *GasController, steps []Step, seed uint64, log *slog.Logger) (*player, error) {
	steps = slices.Clone(steps)
	slices.SortStableFunc(steps, func(a, b Step) int { return int(a.At - b.At) })
	for _, s := range steps {
		if s.Detector < 0 || s.Detector >= c.Detectors() {
			return nil, fmt.Errorf("scenario: step at %v: detector %d, controller has %d", s.At, s.Detector, c.Detectors())
		}
		if s.Action > Resume {
			return nil, fmt.Errorf("scenario: step at %v: unknown %v", s.At, s.Action)
		}
	}
	p := &player{c: c, steps: steps, det: make([]detector, c.Detectors()), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), log: log}
	for i := range p.det {
		p.det[i].toNoise = true
	}
	return p, nil
}

// advance moves the scenario to time t (never backwards) and writes every
// detector's reading to the controller.
func (p *player) advance(t time.Duration) {
	if !p.noised || t-p.lastNoise >= noisePeriod {
		for i := range p.det {
			p.det[i].noise = p.rng.Float64() * BaselineMaxLEL
		}
		p.lastNoise, p.noised = t, true
	}
	for p.next < len(p.steps) && p.steps[p.next].At <= t {
		p.apply(p.steps[p.next])
		p.next++
	}
	for i := range p.det {
		p.c.SetLEL(i, p.det[i].value(t))
	}
}

func (p *player) apply(s Step) {
	if p.log != nil {
		p.log.Info("scenario step", "at", s.At, "detector", s.Detector, "action", s.Action.String(), "lel", s.LEL, "for", s.For)
	}
	d := &p.det[s.Detector]
	switch s.Action {
	case Ramp, Baseline:
		from := d.value(s.At)
		*d = detector{ramping: true, from: from, to: s.LEL, start: s.At, dur: s.For, noise: d.noise}
		if s.Action == Baseline {
			d.to, d.toNoise = baselineMid, true
		}
	case Silence:
		p.c.Silence(s.Detector, true)
	case Resume:
		p.c.Silence(s.Detector, false)
	}
}

// value is the detector's reading at scenario time t.
func (d *detector) value(t time.Duration) float64 {
	if d.ramping && t < d.start+d.dur {
		if t <= d.start {
			return d.from
		}
		return d.from + (d.to-d.from)*float64(t-d.start)/float64(d.dur)
	}
	if d.toNoise {
		return d.noise
	}
	return d.to
}
