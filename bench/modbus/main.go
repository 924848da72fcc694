// Command modbus benchmarks hazgate's Modbus polling: many simulated devices
// on loopback, each with a typical mixed register map, polled with request
// planning on and then off (every tag its own request, the baseline).
//
//	go run ./bench/modbus [-devices 200] [-tags 40] [-interval 1s] [-cycles 15] [-cpuprofile f]
//
// The simulated devices run in a child process (this program with -serve),
// so the CPU time reported is the gateway's alone. It prints requests per
// cycle against the planner's minimum, poll cycle completion p50/p99 and
// gateway CPU microseconds per tag read, for both runs and their ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"hazgate/bench/benchenv"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/modbus"
	"hazgate/sim"
)

func main() {
	devices := flag.Int("devices", 200, "simulated devices, one TCP endpoint each")
	tags := flag.Int("tags", 40, "tags per device, a multiple of 10")
	interval := flag.Duration("interval", time.Second, "poll interval")
	cycles := flag.Int("cycles", 15, "measured poll cycles per run, after 2 of warm-up")
	serve := flag.Bool("serve", false, "internal: run the simulated devices and report their request count on demand")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the planned run's measured cycles to this file")
	flag.Parse()
	if *tags%10 != 0 || *tags < 10 {
		fmt.Fprintln(os.Stderr, "-tags must be a positive multiple of 10")
		os.Exit(2)
	}
	var err error
	if *serve {
		err = serveDevices(*devices, *tags)
	} else {
		err = run(*devices, *tags, *interval, *cycles, *profile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/modbus:", err)
		os.Exit(1)
	}
}

// layout is one device's register map, in tenths of its tags: half input
// registers side by side (a GDS's detectors), a fifth float32s in CDAB two
// registers apart (a DCS gateway's analog values), a fifth single bits of
// status words, a tenth coils.
type layout struct{ inputs, floats, bits, coils int }

func newLayout(tags int) layout {
	n := tags / 10
	return layout{inputs: 5 * n, floats: 2 * n, bits: 2 * n, coils: n}
}

func (l layout) tags() []config.Tag {
	var out []config.Tag
	add := func(id string, r modbus.Register) {
		r.Scale = 1
		out = append(out, config.Tag{ID: id, Block: &modbus.TagConfig{Register: &r}})
	}
	for i := range l.inputs {
		add(fmt.Sprintf("in%d", i), modbus.Register{Table: "input", Address: uint16(i)})
	}
	for i := range l.floats {
		add(fmt.Sprintf("f%d", i), modbus.Register{Table: "holding", Address: uint16(100 + 4*i), Type: "float32", ByteOrder: "CDAB"})
	}
	for i := range l.bits {
		b := uint8(i % 16)
		add(fmt.Sprintf("st%d", i), modbus.Register{Table: "holding", Address: uint16(300 + i/16), Bit: &b})
	}
	for i := range l.coils {
		add(fmt.Sprintf("c%d", i), modbus.Register{Table: "coil", Address: uint16(i)})
	}
	return out
}

func (l layout) unit() (*sim.Unit, error) {
	u, err := sim.NewUnit(400)
	if err != nil {
		return nil, err
	}
	for i := range l.inputs {
		if err := u.SetRegisters("input", uint16(i), uint16(100+i)); err != nil {
			return nil, err
		}
	}
	for i := range l.floats {
		if err := u.SetValue("holding", uint16(100+4*i), "float32", "CDAB", float64(i)+0.5); err != nil {
			return nil, err
		}
	}
	if err := u.SetRegisters("holding", 300, 0x5555, 0x5555, 0x5555); err != nil {
		return nil, err
	}
	return u, u.SetBits("coil", 0, true)
}

// serveDevices runs n devices of the mixed layout for
// benchenv.StartDevices.
func serveDevices(n, tags int) error {
	var units []*sim.Unit
	for range n {
		u, err := newLayout(tags).unit()
		if err != nil {
			return err
		}
		units = append(units, u)
	}
	return benchenv.ServeUnits(units)
}

// result is one run's figures.
type result struct {
	planned, sent, served float64 // requests per cycle: planner, gateway counters, devices' counters
	p50, p99              time.Duration
	cpuPerTag             float64 // µs of gateway CPU per tag read
	reads, notGood        uint64
	errors                uint64
	kinds                 string
	completed             float64 // share of the cycles due that completed
}

func run(n, tags int, interval time.Duration, cycles int, profile string) error {
	p, err := benchenv.StartDevices("-serve", "-devices", strconv.Itoa(n), "-tags", strconv.Itoa(tags))
	if err != nil {
		return err
	}
	defer p.Stop()
	fmt.Printf("bench/modbus: %d simulated devices on loopback, %d tags each, every %v, %d measured cycles per run\n", n, tags, interval, cycles)
	planned, err := measure(p, tags, interval, cycles, false, profile)
	if err != nil {
		return err
	}
	single, err := measure(p, tags, interval, cycles, true, "")
	if err != nil {
		return err
	}
	fmt.Printf("%-28s %14s %14s\n", "", "planned", "single reads")
	row := func(name, format string, a, b any) {
		fmt.Printf("%-28s %14s %14s\n", name, fmt.Sprintf(format, a), fmt.Sprintf(format, b))
	}
	row("planner's requests/cycle", "%.0f", planned.planned, single.planned)
	row("requests/cycle sent", "%.1f", planned.sent, single.sent)
	row("requests/cycle served", "%.1f", planned.served, single.served)
	row("cycle completion p50", "%v", planned.p50.Round(time.Microsecond), single.p50.Round(time.Microsecond))
	row("cycle completion p99", "%v", planned.p99.Round(time.Microsecond), single.p99.Round(time.Microsecond))
	row("gateway CPU µs/tag read", "%.2f", planned.cpuPerTag, single.cpuPerTag)
	row("tag reads", "%d", planned.reads, single.reads)
	row("cycles completed", "%.0f %%", 100*planned.completed, 100*single.completed)
	row("request errors", "%d", planned.errors, single.errors)
	fmt.Printf("ratios single/planned: requests %.1f×, cycle p50 %.1f×, p99 %.1f×, CPU per tag %.1f×\n",
		single.sent/planned.sent, float64(single.p50)/float64(planned.p50), float64(single.p99)/float64(planned.p99), single.cpuPerTag/planned.cpuPerTag)
	if planned.errors > 0 || planned.notGood > 0 {
		return fmt.Errorf("planned run: %d request errors, %d tag reads not Good (%s)", planned.errors, planned.notGood, planned.kinds)
	}
	if planned.sent != planned.planned || planned.served != planned.planned {
		return fmt.Errorf("planned run sent %.2f and the devices served %.2f requests per cycle, the planner's minimum is %.0f", planned.sent, planned.served, planned.planned)
	}
	return nil
}

// counting is an Emitter that counts tag reads that came back Good.
type counting struct {
	mu        sync.Mutex
	good, bad uint64
}

func (c *counting) Emit(_ context.Context, b []collector.Sample) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range b {
		if s.Quality == collector.Good {
			c.good++
		} else {
			c.bad++
		}
	}
	return nil
}

func measure(p *benchenv.Devices, tags int, interval time.Duration, cycles int, single bool, profile string) (result, error) {
	l := newLayout(tags)
	var devs []config.Device
	for i, a := range p.Addrs {
		devs = append(devs, config.Device{ID: fmt.Sprintf("dev-%03d", i), Protocol: "modbus", URL: "tcp://" + a,
			Interval: interval, Timeout: time.Second, Tags: l.tags(),
			Block: &modbus.Config{UnitID: 1, ByteOrder: "ABCD", SingleReads: single}})
	}
	plans, err := modbus.Plan(devs)
	if err != nil {
		return result{}, err
	}
	var r result
	for _, pl := range plans {
		r.planned += float64(len(pl.Reads))
	}
	em := &counting{}
	var pollers []*modbus.Poller
	for _, d := range devs {
		pl, err := modbus.New("bench", d, em, slog.New(slog.DiscardHandler))
		if err != nil {
			return result{}, err
		}
		pollers = append(pollers, pl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, pl := range pollers {
		wg.Go(func() { pl.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(2*interval + interval/2) // connect and warm up, then start between ticks
	before := snapshot(pollers)
	served0, err := p.Requests()
	if err != nil {
		return result{}, err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
	}
	cpu0 := benchenv.CPUTime()
	time.Sleep(time.Duration(cycles) * interval)
	cpu := benchenv.CPUTime() - cpu0
	if profile != "" {
		pprof.StopCPUProfile()
	}
	served1, err := p.Requests()
	if err != nil {
		return result{}, err
	}
	after := snapshot(pollers)

	polls := float64(after.polls-before.polls) / float64(len(pollers))
	// A cycle that overruns its interval skips ticks; requests per cycle are
	// then counted over the cycles that did complete.
	r.completed = polls / float64(cycles)
	r.sent = float64(after.requests-before.requests) / polls
	r.served = float64(served1-served0) / polls
	r.reads = (after.polls - before.polls) * uint64(tags)
	r.cpuPerTag = float64(cpu.Microseconds()) / float64(r.reads)
	var h modbus.Histogram
	h.Counts = make([]uint64, len(after.cycles.Counts))
	for i := range h.Counts {
		h.Counts[i] = after.cycles.Counts[i] - before.cycles.Counts[i]
		h.Count += h.Counts[i]
	}
	r.p50, r.p99 = h.Quantile(0.5), h.Quantile(0.99)
	em.mu.Lock()
	r.notGood = em.bad
	em.mu.Unlock()
	r.errors, r.kinds = after.errors-before.errors, after.kinds
	return r, nil
}

type totals struct {
	polls, requests, errors uint64
	kinds                   string // errors by kind, for a failure message
	cycles                  modbus.Histogram
}

func snapshot(ps []*modbus.Poller) totals {
	var t totals
	for _, p := range ps {
		s := p.Stats()
		t.polls += s.Polls
		t.requests += s.Requests
		t.errors += s.Errors + s.Exceptions + s.DecodeErrors
		if s.Errors+s.Exceptions+s.DecodeErrors > 0 && t.kinds == "" {
			t.kinds = fmt.Sprintf("first failing device: %d timeouts, %d connection, %d frame, %d exceptions, %d decode",
				s.Timeouts, s.ConnErrors, s.FrameErrors, s.Exceptions, s.DecodeErrors)
		}
		if t.cycles.Counts == nil {
			t.cycles.Counts = make([]uint64, len(s.Cycles.Counts))
		}
		for i, c := range s.Cycles.Counts {
			t.cycles.Counts[i] += c
		}
	}
	return t
}

// cpuTime is the CPU this process used so far, user and system.
