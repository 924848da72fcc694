package forward

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/gb26875"
	"hazgate/sim/testenv"
)

// samples records every sample the centre's listener hands on, in order.
type samples struct {
	mu  sync.Mutex
	all []collector.Sample
}

func (s *samples) Emit(_ context.Context, b []collector.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, b...)
	return nil
}

// fires is the tags whose fire state went to 1, in the order received.
func (s *samples) fires() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, x := range s.all {
		if len(x.Tag) > 5 && x.Tag[len(x.Tag)-5:] == ".fire" && x.Value == 1 {
			out = append(out, x.Tag)
		}
	}
	return out
}

// startListener runs the project's own centre side on a loopback port.
func startListener(t testing.TB) (*gb26875.Listener, string, *samples) {
	t.Helper()
	l, addr, rec, stop := listenAt(t, "127.0.0.1:0")
	t.Cleanup(stop)
	return l, addr, rec
}

// listenAt runs a listener on listen until stop.
func listenAt(t testing.TB, listen string) (*gb26875.Listener, string, *samples, func()) {
	t.Helper()
	rec := &samples{}
	dev := config.Device{ID: "city-centre", Protocol: "gb26875", Timeout: time.Second,
		Block: &gb26875.Config{Listen: listen, Heartbeat: time.Second, CommLossAfter: 3, MaxConnections: 10,
			HandshakeTimeout: 5 * time.Second, CommandTimeout: time.Second, CommandTries: 3}}
	l, err := gb26875.New(protocols.Env{Site: "s1", Emit: rec, Tags: collector.NewRegistry(), Log: slog.New(slog.DiscardHandler)}, dev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("listener: %v", err)
			}
		})
	}
	actx, acancel := context.WithTimeout(ctx, 5*time.Second) // Run fails to bind: no address ever
	defer acancel()
	a, err := l.Addr(actx)
	if err != nil {
		stop()
		t.Fatalf("listener on %s: %v", listen, err)
	}
	return l, a.String(), rec, stop
}

// runLink starts a link and stops it at the end of the test.
func runLink(t testing.TB, opts LinkOptions) *Link {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	l, err := NewLink(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("link: %v", err)
		}
	})
	return l
}

const (
	uitdAddr   gb26875.Address = 1234
	centreAddr gb26875.Address = 88888
)

// Against our own listener as the centre: every fire alarm arrives once,
// in order, and ahead of the status queued with them.
func TestLinkToListener(t *testing.T) {
	lst, addr, rec := startListener(t)
	ob := newMemOutbox()
	now := time.Now()
	const alarms, status = 300, 100
	var msgs []Message
	for i := range status {
		msgs = append(msgs, fire(ClassStatus, 2, uint16(i), now))
	}
	for i := range alarms {
		msgs = append(msgs, fire(ClassAlarm, 1, uint16(i), now))
	}
	ob.Put(context.Background(), msgs...)
	link := runLink(t, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: ob})

	testenv.WaitFor(t, 10*time.Second, "every message confirmed", func() bool { return ob.ndone() == alarms+status })
	ob.check(t)
	got := rec.fires()
	if len(got) != alarms {
		t.Fatalf("%d fire alarms at the centre, want %d", len(got), alarms)
	}
	for i, tag := range got {
		if want := fmt.Sprintf("UITD-%s.S1-1.Z1-P%d.fire", uitdAddr, i); tag != want {
			t.Fatalf("fire alarm %d is %s, want %s", i, tag, want)
		}
	}
	// The alarms were queued after the status and went first.
	for i, id := range ob.doneIDs()[:alarms] {
		if id <= status {
			t.Fatalf("confirm %d is status message %d, want the alarms first", i, id)
		}
	}
	st := link.Stats()
	if !st.Connected || st.Centre != addr || st.Messages != alarms+status || st.Denied != 0 || st.Resends != 0 {
		t.Errorf("stats %+v", st)
	}
	// 22 component states a frame: 14 frames of alarms, 5 of status, and the greeting.
	if want := uint64((alarms+21)/22 + (status+21)/22 + 1); st.Confirmed != want {
		t.Errorf("%d frames confirmed, want %d", st.Confirmed, want)
	}
	if h := st.Latency[ClassAlarm]; h.Count != alarms || h.Quantile(0.99) > 10*time.Second {
		t.Errorf("alarm latency %+v", h)
	}
	if d, ok := lst.Device(uitdAddr); !ok || !d.Connected {
		t.Errorf("the centre does not see the device: %+v", d)
	}
}

// The listener's 查岗 and clock sync reach the link; its answer closes the
// listener's duty check.
func TestListenerCommandsToLink(t *testing.T) {
	lst, addr, _ := startListener(t)
	duty := make(chan DutyCheck, 1)
	synced := make(chan time.Duration, 1)
	link := runLink(t, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: newMemOutbox(),
		OnDutyCheck: func(d DutyCheck) { duty <- d }, OnClockSync: func(o time.Duration) { synced <- o }})
	testenv.WaitFor(t, 5*time.Second, "link up", func() bool { return link.Stats().Connected })
	ctx := context.Background()
	if _, err := lst.SyncClock(ctx, uitdAddr, "ctrl-room"); err != nil {
		t.Fatal(err)
	}
	if off := recv(t, synced, "clock sync"); off > time.Second || off < -time.Second {
		t.Errorf("offset %v from a centre on the same clock", off)
	}
	res, err := lst.DutyCheck(ctx, uitdAddr, 10, "ctrl-room")
	if err != nil {
		t.Fatal(err)
	}
	d := recv(t, duty, "duty check")
	if d.Minutes != 10 || d.Serial != res.Serial {
		t.Errorf("duty check %+v, centre sent %+v", d, res)
	}
	if err := link.AnswerDutyCheck(ctx, 3); err != nil {
		t.Fatal(err)
	}
	st, _ := lst.Device(uitdAddr)
	if st.Duty == nil || st.Duty.Answered == nil || *st.Duty.Operator != 3 {
		t.Errorf("centre's duty check after the answer: %+v", st.Duty)
	}
	if ls := link.Stats(); ls.DutyChecks != 1 || ls.DutyAnswered != 1 || ls.ClockSyncs != 1 {
		t.Errorf("stats %+v", ls)
	}
}

// The centre restarts: what is put while it is down goes once it is back,
// in order, nothing twice.
func TestListenerRestarts(t *testing.T) {
	_, addr, first, stop := listenAt(t, "127.0.0.1:0")
	ob := newMemOutbox()
	link := runLink(t, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Outbox: ob})
	now := time.Now()
	put := func(from, to int) {
		for i := from; i < to; i++ {
			ob.Put(context.Background(), fire(ClassAlarm, 1, uint16(i), now))
		}
	}
	put(0, 50)
	testenv.WaitFor(t, 5*time.Second, "the first 50 confirmed", func() bool { return ob.ndone() == 50 })
	stop()
	testenv.WaitFor(t, 5*time.Second, "the link down", func() bool { return !link.Stats().Connected })
	put(50, 100)
	_, _, second, stop2 := listenAt(t, addr)
	defer stop2()
	testenv.WaitFor(t, 10*time.Second, "the rest confirmed", func() bool { return ob.ndone() == 100 })
	ob.check(t)
	for _, tc := range []struct {
		name     string
		rec      *samples
		from, to int
	}{{"before the restart", first, 0, 50}, {"after", second, 50, 100}} {
		got := tc.rec.fires()
		if len(got) != tc.to-tc.from {
			t.Fatalf("%s: %d fire alarms, want %d", tc.name, len(got), tc.to-tc.from)
		}
		for i, tag := range got {
			if want := fmt.Sprintf("UITD-%s.S1-1.Z1-P%d.fire", uitdAddr, tc.from+i); tag != want {
				t.Fatalf("%s: fire alarm %d is %s, want %s", tc.name, i, tag, want)
			}
		}
	}
	if st := link.Stats(); st.Reconnects < 1 || !st.Connected {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkLinkToListener: fire alarms through the link to our own
// listener on loopback, stop-and-wait with 22 alarms a frame.
func BenchmarkLinkToListener(b *testing.B) {
	_, addr, _ := startListener(b)
	ob := newMemOutbox()
	link := runLink(b, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: ob})
	testenv.WaitFor(b, 5*time.Second, "link up", func() bool { return link.Stats().Connected })
	now := time.Now()
	msgs := make([]Message, b.N)
	for i := range msgs {
		msgs[i] = fire(ClassAlarm, uint16(i/60000), uint16(i%60000), now)
	}
	before := link.Stats()
	b.ResetTimer()
	ob.Put(context.Background(), msgs...)
	ob.waitDone(b.N)
	b.StopTimer()
	st := link.Stats()
	frames := st.Confirmed - before.Confirmed
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alarms/s")
	b.ReportMetric(float64(st.LastRoundTrip.Microseconds()), "rtt-µs")
	b.ReportMetric(float64(st.Latency[ClassAlarm].Quantile(0.99).Milliseconds()), "p99-ms")
}

// BenchmarkFireSpread: 2,000 fire-panel points in alarm at once (a real
// fire spreads fast), put in the outbox together; the time until our own
// listener has confirmed them all, and the CPU the process (link and
// listener) took for it.
func BenchmarkFireSpread(b *testing.B) {
	_, addr, _ := startListener(b)
	ob := newMemOutbox()
	link := runLink(b, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: ob})
	testenv.WaitFor(b, 5*time.Second, "link up", func() bool { return link.Stats().Connected })
	const points = 2000
	var wall, cpu time.Duration
	for i := range b.N {
		now := time.Now()
		msgs := make([]Message, points)
		for p := range msgs {
			msgs[p] = fire(ClassAlarm, uint16(i%1000), uint16(p), now)
		}
		want := (i + 1) * points
		c0 := cpuTime()
		ob.Put(context.Background(), msgs...)
		ob.waitDone(want)
		wall += time.Since(now)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms-all-confirmed")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
	b.ReportMetric(float64(link.Stats().Latency[ClassAlarm].Quantile(0.99).Milliseconds()), "p99-ms")
}

// BenchmarkFireSpreadThroughDisk is BenchmarkFireSpread from the samples
// on: 2,000 fire-panel points go into fire in one batch, through the
// Source, the outbox on disk (fsynced) and the link to our own listener as
// the centre. It reports the time from the batch to the centre's last
// confirm, the process's CPU in that time, and the link's p99 from each
// message entering to its confirm. Between rounds the fires clear, untimed.
func BenchmarkFireSpreadThroughDisk(b *testing.B) {
	_, addr, _ := startListener(b)
	const n = 2000
	reg := collector.NewRegistry()
	fire, clear := make([]collector.Sample, n), make([]collector.Sample, n)
	for i := range n {
		id := fmt.Sprintf("FP1.L%d.D%d.fire", i/200, i%200)
		if err := reg.Add(collector.Tag{ID: id, Kind: gb26875.KindFirePanel, Name: fmt.Sprintf("%d号感烟", i), Device: "fp1"}); err != nil {
			b.Fatal(err)
		}
		fire[i], clear[i] = collector.Sample{Tag: id, Value: 1}, collector.Sample{Tag: id, Value: 0}
	}
	o := openBox(b, b.TempDir(), SpooledOptions{})
	src, err := NewSource(SourceOptions{Tags: reg, Out: o, Settle: -1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	link := runLink(b, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: o})
	testenv.WaitFor(b, 5*time.Second, "link up", func() bool { return link.Stats().Connected })
	ctx := context.Background()
	send := func(ss []collector.Sample) {
		now := time.Now()
		for i := range ss {
			ss[i].Time = now
		}
		src.Consume(ctx, ss)
	}
	drained := func() bool { st := o.Stats(); return st.Alarm.Depth == 0 && st.Status.Depth == 0 }
	send(clear) // the panel's first states: a snapshot
	testenv.WaitFor(b, 30*time.Second, "snapshot confirmed", drained)
	var wall, cpu time.Duration
	for range b.N {
		want := o.Stats().Alarm.Dones + n
		c0, t0 := cpuTime(), time.Now()
		send(fire)
		for o.Stats().Alarm.Dones < want {
			time.Sleep(2 * time.Millisecond)
		}
		wall += time.Since(t0)
		cpu += cpuTime() - c0
		send(clear)
		testenv.WaitFor(b, 30*time.Second, "clears confirmed", drained)
	}
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms-all-confirmed")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
	b.ReportMetric(float64(link.Stats().Latency[ClassAlarm].Quantile(0.99).Milliseconds()), "p99-ms")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A panel's operations reach our own listener as the centre as type 4, at
// their system: a received device's system's where it came from, an MQTT
// panel's at the address its points give; a received device's own
// operations (type 24) stay here.
func TestSourceOperationsToListener(t *testing.T) {
	_, addr, rec := startListener(t)
	reg := collector.NewRegistry()
	for _, id := range []string{"UITD-000000001234.S1-1.operation", "UITD-000000001234.operation", "FP1.operation"} {
		if err := reg.Add(collector.Tag{ID: id, Kind: gb26875.KindOperation, Device: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	ob := newMemOutbox()
	src, err := NewSource(SourceOptions{Tags: reg, Out: ob, Log: slog.New(slog.DiscardHandler),
		Points: []PointMap{{Tag: "FP1.*", SysType: 1, SysAddr: 3, CompType: 42}}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Second)
	src.Consume(context.Background(), []collector.Sample{
		{Tag: "UITD-000000001234.S1-1.operation", Value: 1, Time: at},                      // reset
		{Tag: "UITD-000000001234.operation", Value: gb26875.OpDutyAnswer, Time: at},        // the device's own
		{Tag: "FP1.operation", Value: 2, Time: at.Add(time.Second)},                        // silence
		{Tag: "UITD-000000001234.S1-1.operation", Value: 1, Time: at.Add(2 * time.Second)}, // reset again: a second operation
		{Tag: "FP1.operation", Value: 0, Time: at.Add(3 * time.Second)},                    // no operation
		{Tag: "FP1.operation", Value: 300, Time: at.Add(3 * time.Second)},                  // not a flag byte
	})
	if st := src.Stats(); st.Operations != 3 {
		t.Fatalf("source put %d operations, want 3", st.Operations)
	}
	runLink(t, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: ob})
	testenv.WaitFor(t, 10*time.Second, "every message confirmed", func() bool { return ob.ndone() == 3 })
	ob.check(t)
	var got []string
	rec.mu.Lock()
	for _, s := range rec.all {
		if strings.HasSuffix(s.Tag, ".operation") {
			got = append(got, fmt.Sprintf("%s=%g@%s", strings.TrimPrefix(s.Tag, "UITD-"+uitdAddr.String()+"."), s.Value, s.Time.Sub(at)))
		}
	}
	rec.mu.Unlock()
	slices.Sort(got)
	if want := []string{"S1-1.operation=1@0s", "S1-1.operation=1@2s", "S1-3.operation=2@1s"}; !slices.Equal(got, want) {
		t.Errorf("operations at the centre %q, want %q", got, want)
	}
}

// A hydrant main's pressure reaches our own listener as the centre in MPa,
// and its fall below the minimum as the component's fault.
func TestSourceAnalogToListener(t *testing.T) {
	_, addr, rec := startListener(t)
	ob := newMemOutbox()
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: ob, Log: slog.New(slog.DiscardHandler),
		Points: []PointMap{{Tag: "HYD-1", SysType: 11, SysAddr: 1, CompType: 99, Zone: 2, Position: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Second)
	src.Consume(context.Background(), []collector.Sample{{Tag: "HYD-1", Value: 0.35, Time: at}})
	src.Consume(context.Background(), []collector.Sample{{Tag: "HYD-1", Value: 0.08, Time: at.Add(time.Second)}})
	runLink(t, LinkOptions{Centres: []string{addr}, Address: uitdAddr, CentreAddress: centreAddr,
		Heartbeat: time.Second, ConfirmTimeout: time.Second, Outbox: ob})
	testenv.WaitFor(t, 10*time.Second, "every message confirmed", func() bool { return ob.ndone() == 4 })
	ob.check(t)
	point := fmt.Sprintf("UITD-%s.S11-1.Z2-P7", uitdAddr)
	var pressures []float64
	fault, faultAt := -1.0, time.Time{}
	rec.mu.Lock()
	for _, s := range rec.all {
		switch {
		case s.Tag == point+".pressure":
			pressures = append(pressures, math.Round(s.Value*1e4)/1e4)
		case s.Tag == point+".fault" && !s.Time.Before(faultAt):
			// The alarm overtakes the earlier snapshot: the latest by time holds.
			fault, faultAt = s.Value, s.Time
		}
	}
	rec.mu.Unlock()
	if !slices.Equal(pressures, []float64{0.35, 0.08}) || fault != 1 {
		t.Fatalf("at the centre: pressures %v MPa, fault %v; want [0.35 0.08] and 1", pressures, fault)
	}
}
