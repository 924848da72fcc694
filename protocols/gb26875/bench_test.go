package gb26875_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/protocols/gb26875"
)

// fleetFrame is device a's component-state frame with the fire bit on or off.
func fleetFrame(a gb26875.Address, serial uint16, fire bool) []byte {
	var status uint16 = 1
	if fire {
		status |= 1 << 1
	}
	u := gb26875.Unit{Type: gb26875.TypeComponentState, Components: []gb26875.ComponentState{
		{Component: smoke, Status: status, Desc: gb26875.Desc("3号楼2层烟感"), Time: gb26875.TimeTagOf(time.Now())}}}
	data, _ := u.Encode(nil)
	b, _ := gb26875.Append(nil, gb26875.Frame{Serial: serial, Main: 1, Time: gb26875.TimeTagOf(time.Now()), Src: a, Dst: 88888, Cmd: gb26875.CmdSendData, Data: data})
	return b
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleet is the load: 1,000 transmission devices
// connected at once, each sending a component state per second, through
// the real pipeline, alarm engine and SQLite journal. The clients are bare
// sockets writing prepared frames, so the process's CPU is nearly all the
// centre's. Run with -benchtime=Nx: N frames in all, paced at 1,000/s.
//
//   - steady: no frame changes a state; the cost of status traffic.
//
//   - alarms-10pct: every 10th frame of a device toggles its fire bit,
//     devices taking turns, so 100 alarm transitions a second are raised or
//     cleared and journalled.
//
//   - alarms-all: every frame toggles: 1,000 journalled transitions a second.
//
//   - unpaced: alarms-10pct with each device sending its next frame as soon
//     as its confirm arrives, for the ceiling.
//
//   - unpaced-listener-only: no toggles, samples dropped: the protocol's
//     own ceiling (TCP, framing, decoding, tags, confirms).
//
// Metrics: frames/s confirmed; cpu-µs/frame (process CPU over frames);
// p50/p99-ms (paced runs with alarms) from the frame's write to its alarm
// event on the live feed; conn-KiB: heap and stacks per connected device,
// both ends of loopback.
func BenchmarkFleet(b *testing.B) {
	for _, v := range []struct {
		name     string
		toggle   int // every toggle-th frame flips the fire bit; 0 never
		paced    bool
		listener bool // the listener alone, its samples dropped
	}{
		{"steady", 0, true, false}, {"alarms-10pct", 10, true, false}, {"alarms-all", 1, true, false},
		{"unpaced", 10, false, false}, {"unpaced-listener-only", 0, false, true},
	} {
		b.Run(v.name, func(b *testing.B) { runFleet(b, 1000, v.toggle, v.paced, v.listener) })
	}
}

// discard is a pipeline that drops every batch.
type discard struct{}

func (discard) Emit(context.Context, []collector.Sample) error { return nil }

func runFleet(b *testing.B, devices, toggle int, paced, listenerOnly bool) {
	dev := testDevice()
	gbOf(dev).Heartbeat, gbOf(dev).MaxConnections = time.Minute, devices
	var c *centre
	if listenerOnly {
		c = &centre{harness: start(b, dev, discard{})}
	} else {
		c = startCentre(b, dev)
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, devices)
	tags := make(map[string]int, devices)
	for i := range conns {
		a := gb26875.Address(100000 + i)
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
		tags[gb26875.DevicePrefix(a)+".S1-1.Z3-P27.fire"] = i
		// A first frame creates the device's tags (fire off: no alarm).
		if _, err := nc.Write(fleetFrame(a, 0, false)); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, make([]byte, 30)); err != nil {
			b.Fatal(err)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / float64(devices) / 1024

	// Prepared frames: device i's k-th frame has serial k+1; the fire bit
	// flips on every toggle-th, devices taking turns.
	per := max(b.N/devices, 1)
	frames := make([][][]byte, devices)
	want := 0
	for i := range frames {
		fire := false
		for k := range per {
			if toggle > 0 && (k+i)%toggle == 0 { // devices take turns: a steady rate

				fire = !fire
				want++
			}
			frames[i] = append(frames[i], fleetFrame(gb26875.Address(100000+i), uint16(k+1), fire))
		}
	}
	sentAt := make([]atomic.Int64, devices)
	var latMu sync.Mutex
	lat := make([]time.Duration, 0, want)
	events := make(chan struct{})
	go func() {
		defer close(events)
		for n := 0; n < want && c.sub != nil; {
			ev, ok := <-c.sub.C
			if !ok {
				return
			}
			i, mine := tags[ev.Alarm.Tag]
			if !mine || ev.Alarm.Level != "fire" {
				continue
			}
			d := time.Since(time.Unix(0, sentAt[i].Load()))
			latMu.Lock()
			lat = append(lat, d)
			latMu.Unlock()
			n++
		}
	}()

	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, nc := range conns {
		wg.Go(func() {
			if paced { // spread the devices over the second
				time.Sleep(time.Duration(i) * time.Second / time.Duration(devices))
			}
			reply := make([]byte, 30)
			next := time.Now()
			for _, f := range frames[i] {
				if paced {
					time.Sleep(time.Until(next))
					next = next.Add(time.Second)
				}
				sentAt[i].Store(time.Now().UnixNano())
				if _, err := nc.Write(f); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(nc, reply); err != nil || reply[26] != byte(gb26875.CmdConfirm) {
					b.Errorf("device %d: reply %x %v", i, reply, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-events:
	case <-time.After(30 * time.Second):
		b.Fatalf("only %d of %d alarm events arrived", len(lat), want)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()

	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	total := devices * per
	b.ReportMetric(float64(total)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/frame")
	if paced && want > 0 { // unpaced, a device's next frame may go before its last alarm
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
	}
	b.ReportMetric(perConn, "conn-KiB")
	if st := c.l.Stats(); st.Denies != 0 || st.Frames != uint64(total+devices) {
		b.Errorf("stats %+v", st)
	}
}
