// Command peers measures hazgate against Telegraf 1.34.0 doing the same
// work in one run, and prints a table: figure | hazgate | Telegraf | ratio.
//
// Both gateways run in turn as child processes against the same private
// Mosquitto and InfluxDB 1.8 (each run its own database), so CPU time and
// peak RSS are the gateway's alone (/proc/PID/stat, VmHWM):
//
//   - MQTT QoS 0: -n JSON readings {"v":..,"ts":..} on -topics topics,
//     publish to stored: msg/s until every point is in InfluxDB (counted
//     per tag; a missing point fails the run), CPU per message, peak RSS;
//     the broker's relay ceiling to mosquitto_sub -C N beside it;
//   - MQTT QoS 1: CPU per message (and msg/s) for -qos1-n readings;
//   - Modbus: -modbus-devices simulated devices (sim.Server, in a child
//     process) of -modbus-regs holding registers polled every second, CPU
//     per register value read and stored;
//   - alarm latency (hazgate only; Telegraf has no alarms): publish of a
//     probe's crossing to its "raised" event on /api/v1/stream, idle, under
//     -load msg/s of other readings, and during floods of -flood tags
//     crossing their limits at once.
//
// hazgate has a threshold rule of its own for every tag. Repetitions are
// interleaved (hazgate, Telegraf, hazgate, ...); the table shows medians,
// latencies pooled over repetitions.
//
// Telegraf is built once from its module source with only the plugins
// used (go build -tags custom,inputs.mqtt_consumer,...) and cached under
// the user cache directory (~/.cache/hazgate-bench/).
//
// Usage: go run ./bench/peers [-quick] [-n 300000] [-topics 1000] [-reps 3]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/bench/benchenv"
	"hazgate/sim/testenv"
)

type options struct {
	n, qos1N, topics, reps    int
	maxInflight               int
	traces                    string
	modbusDevices, modbusRegs int
	modbusTime, phase         time.Duration
	load, flood               int
	probeSeverity             string
	telegraf                  string
	keep                      bool
	profiles                  string
}

// env is what every run shares.
type env struct {
	opt     options
	tmp     string
	broker  *benchenv.Mosquitto
	influx  *testenv.Influxd
	subBin  string
	devices *benchenv.Devices
	run     int
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "a short run: -n 50000 -qos1-n 20000 -reps 1 -modbus-time 8s -phase 5s (about 2 minutes)")
	flag.IntVar(&o.n, "n", 300_000, "MQTT QoS 0 messages per run")
	flag.IntVar(&o.qos1N, "qos1-n", 100_000, "MQTT QoS 1 messages per run")
	flag.IntVar(&o.topics, "topics", 1000, "MQTT topics (tags) the messages spread over")
	flag.IntVar(&o.maxInflight, "max-inflight", 20, "Mosquitto's max_inflight_messages: QoS 1 messages unacknowledged per client (20 is its default)")
	flag.IntVar(&o.reps, "reps", 3, "interleaved repetitions; the table shows medians")
	flag.IntVar(&o.modbusDevices, "modbus-devices", 50, "simulated Modbus TCP devices")
	flag.IntVar(&o.modbusRegs, "modbus-regs", 40, "holding registers read from each device every second")
	flag.DurationVar(&o.modbusTime, "modbus-time", 20*time.Second, "measured Modbus polling per run")
	flag.DurationVar(&o.phase, "phase", 10*time.Second, "length of each alarm-latency phase (idle, load, flood)")
	flag.IntVar(&o.load, "load", 20_000, "msg/s of other readings during the loaded latency phase")
	flag.IntVar(&o.flood, "flood", 1000, "tags crossing their limits at once in the flood phase")
	flag.StringVar(&o.probeSeverity, "probe-severity", "critical", "the probe rule's severity; the flood's are medium (set medium to make the probe one of the flood)")
	flag.StringVar(&o.telegraf, "telegraf", "", "a Telegraf binary to use instead of building v1.34.0")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs)")
	flag.StringVar(&o.traces, "traces", "", "a directory for the execution trace of each hazgate alarm-latency run (hazgate-N.trace, for go tool trace)")
	flag.StringVar(&o.profiles, "profiles", "", "a directory for each hazgate run's CPU profile (hazgate-N.prof, one per run: QoS 0, QoS 1, Modbus, alarms) and heap at its peak (hazgate-N.heap)")
	serve := flag.Bool("serve-modbus", false, "internal: serve the simulated Modbus devices")
	flag.Parse()
	if *serve {
		if err := serveDevices(o.modbusDevices, o.modbusRegs); err != nil {
			fmt.Fprintln(os.Stderr, "bench/peers -serve-modbus:", err)
			os.Exit(1)
		}
		return
	}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"n": "50000", "qos1-n": "20000", "reps": "1", "modbus-time": "8s", "phase": "5s"} {
			if !set[name] {
				flag.Set(name, v)
			}
		}
	}
	if o.n < o.topics || o.qos1N < o.topics || o.reps < 1 || o.topics < 1 {
		fatalf("-n and -qos1-n must be at least -topics, -reps at least 1")
	}

	started := time.Now()
	root := moduleRoot()
	hzBin := buildHazgate(root)
	tgBin, took, err := telegrafBinary(o.telegraf)
	if err != nil {
		fatalf("%v", err)
	}
	if took > 0 {
		fmt.Printf("Telegraf %s built in %s: %s\n", telegrafVersion, took.Round(time.Second), tgBin)
	} else {
		fmt.Printf("Telegraf: %s (cached; delete it to rebuild)\n", tgBin)
	}

	e := &env{opt: o}
	if e.tmp, err = os.MkdirTemp("", "hazgate-bench-peers-"); err != nil {
		fatalf("%v", err)
	}
	if o.keep {
		fmt.Println("files in", e.tmp)
	} else {
		defer os.RemoveAll(e.tmp)
		atExit = append([]func(){func() { os.RemoveAll(e.tmp) }}, atExit...)
	}
	e.broker = benchenv.StartMosquitto(e.tmp, fmt.Sprintf("max_inflight_messages %d", o.maxInflight))
	defer e.broker.Stop()
	atExit = append(atExit, e.broker.Stop)
	e.subBin = benchenv.LookPath("mosquitto_sub", "/usr/bin/mosquitto_sub")
	influxd, err := testenv.FindInfluxd()
	if err != nil {
		fatalf("%v", err)
	}
	if e.influx, err = testenv.NewInfluxd(influxd, filepath.Join(e.tmp, "influxd")); err != nil {
		fatalf("%v", err)
	}
	if err := e.influx.Start(); err != nil {
		fatalf("%v", err)
	}
	defer e.influx.Stop()
	atExit = append(atExit, e.influx.Stop)
	if e.devices, err = benchenv.StartDevices("-serve-modbus", "-modbus-devices", strconv.Itoa(o.modbusDevices), "-modbus-regs", strconv.Itoa(o.modbusRegs)); err != nil {
		fatalf("%v", err)
	}
	defer e.devices.Stop()
	atExit = append(atExit, e.devices.Stop)

	hz := gateway{name: "hazgate", start: startHazgate(hzBin, o.profiles, o.traces), modbusQuery: func(where string) string {
		if where != "" {
			where = " AND " + where
		}
		return `SELECT count(value) FROM reading WHERE "tag" =~ /^m/` + where
	}}
	tg := gateway{name: "telegraf", start: startTelegraf(tgBin), modbusQuery: func(where string) string {
		if where != "" {
			where = " WHERE " + where
		}
		return `SELECT count(*) FROM modbus` + where
	}}
	fmt.Printf("bench/peers: %d cores, QoS 0 %d and QoS 1 %d messages on %d topics (max_inflight_messages %d), Modbus %d×%d registers, %d repetitions\n",
		runtime.NumCPU(), o.n, o.qos1N, o.topics, o.maxInflight, o.modbusDevices, o.modbusRegs, o.reps)

	var failures []string
	fail := func(what string, err error) {
		fmt.Printf("  FAILED %s: %v\n", what, err)
		failures = append(failures, fmt.Sprintf("%s: %v", what, err))
	}
	var relay []float64
	q0 := map[string][]mqttResult{}
	q1 := map[string][]mqttResult{}
	mb := map[string][]modbusResult{}
	var lat []latencyResult
	for rep := 1; rep <= o.reps; rep++ {
		fmt.Printf("repetition %d of %d\n", rep, o.reps)
		if r, err := e.measureRelay(o.n); err != nil {
			fail("relay ceiling", err)
		} else {
			relay = append(relay, r)
			fmt.Printf("  relay ceiling (mosquitto_sub -C %d): %.0f msg/s\n", o.n, r)
		}
		for _, g := range []gateway{hz, tg} {
			r, err := e.measureMQTT(g, 0, o.n)
			if err != nil {
				fail(g.name+" MQTT QoS 0", err)
				continue
			}
			q0[g.name] = append(q0[g.name], r)
			fmt.Printf("  %-8s QoS 0: %8.0f msg/s (%s), %.2f µs CPU/msg, peak RSS %.1f MiB, %.0f points per write; idle before: %.1f ms CPU/s\n", g.name, r.rate, r.wall.Round(time.Millisecond), r.cpuPerMsg, mib(r.rss), r.perWrite, r.idle)
		}
		for _, g := range []gateway{hz, tg} {
			r, err := e.measureMQTT(g, 1, o.qos1N)
			if err != nil {
				fail(g.name+" MQTT QoS 1", err)
				continue
			}
			q1[g.name] = append(q1[g.name], r)
			fmt.Printf("  %-8s QoS 1: %8.0f msg/s (%s), %.2f µs CPU/msg, peak RSS %.1f MiB, %.0f points per write\n", g.name, r.rate, r.wall.Round(time.Millisecond), r.cpuPerMsg, mib(r.rss), r.perWrite)
		}
		for _, g := range []gateway{hz, tg} {
			r, err := e.measureModbus(g)
			if err != nil {
				fail(g.name+" Modbus", err)
				continue
			}
			mb[g.name] = append(mb[g.name], r)
			fmt.Printf("  %-8s Modbus: %d register values, %.2f requests per device poll, %.2f µs CPU/register, peak RSS %.1f MiB\n", g.name, r.regs, r.reqPerPoll, r.cpuPerReg, mib(r.rss))
		}
		r, err := e.measureLatency(hz)
		if err != nil {
			fail("hazgate alarm latency", err)
		} else {
			lat = append(lat, r)
			for _, ph := range []struct {
				name string
				run  latencyRun
			}{{"idle", r.idle}, {"load", r.load}, {"flood", r.flood}} {
				fmt.Printf("  hazgate  alarm latency %-5s: %s (%d of %d probes, %d over 10 ms) %s\n", ph.name, quantiles(ph.run.lat), len(ph.run.lat), ph.run.sent, over(ph.run.lat, 10*time.Millisecond), ph.run.extra)
			}
		}
	}

	// The table.
	fmt.Printf("\nbench/peers %s, %d cores, %s (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version(), time.Since(started).Round(time.Second))
	fmt.Println("| figure | hazgate | Telegraf 1.34.0 | ratio hazgate/Telegraf |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, format string, h, t float64) {
		fmt.Printf("| %s | %s | %s | %s |\n", name, num(format, h), num(format, t), ratio(h, t))
	}
	pick := func(rs []mqttResult, f func(mqttResult) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	rate := func(r mqttResult) float64 { return r.rate }
	cpu := func(r mqttResult) float64 { return r.cpuPerMsg }
	rss := func(r mqttResult) float64 { return mib(r.rss) }
	ceiling := median(relay)
	row(fmt.Sprintf("MQTT QoS 0, %d msgs on %d topics, publish → stored (msg/s)", o.n, o.topics), "%.0f", pick(q0["hazgate"], rate), pick(q0["telegraf"], rate))
	row(fmt.Sprintf("… ÷ broker relay ceiling to mosquitto_sub (%.0f msg/s)", ceiling), "%.2f", pick(q0["hazgate"], rate)/ceiling, pick(q0["telegraf"], rate)/ceiling)
	row("MQTT QoS 0 CPU per message (µs)", "%.2f", pick(q0["hazgate"], cpu), pick(q0["telegraf"], cpu))
	row("MQTT QoS 0 peak RSS (MiB)", "%.1f", pick(q0["hazgate"], rss), pick(q0["telegraf"], rss))
	idleCPU := func(r mqttResult) float64 { return r.idle }
	// 10 ms ticks over 5 s: 2 ms per s is one tick, too coarse for a ratio.
	fmt.Printf("| idle CPU, subscribed, no traffic, 5 s before the QoS 0 run (ms per s; one tick is 2) | %.1f | %.1f | |\n", pick(q0["hazgate"], idleCPU), pick(q0["telegraf"], idleCPU))
	row(fmt.Sprintf("MQTT QoS 1, %d msgs (max_inflight_messages %d), CPU per message (µs)", o.qos1N, o.maxInflight), "%.2f", pick(q1["hazgate"], cpu), pick(q1["telegraf"], cpu))
	row("MQTT QoS 1 publish → stored (msg/s)", "%.0f", pick(q1["hazgate"], rate), pick(q1["telegraf"], rate))
	perWrite := func(r mqttResult) float64 { return r.perWrite }
	row("points per InfluxDB write, QoS 0", "%.0f", pick(q0["hazgate"], perWrite), pick(q0["telegraf"], perWrite))
	row("points per InfluxDB write, QoS 1", "%.0f", pick(q1["hazgate"], perWrite), pick(q1["telegraf"], perWrite))
	mpick := func(rs []modbusResult, f func(modbusResult) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	row(fmt.Sprintf("Modbus %d devices × %d holding registers at 1 s, CPU per register read (µs)", o.modbusDevices, o.modbusRegs), "%.2f",
		mpick(mb["hazgate"], func(r modbusResult) float64 { return r.cpuPerReg }), mpick(mb["telegraf"], func(r modbusResult) float64 { return r.cpuPerReg }))
	row("Modbus requests per device poll", "%.2f",
		mpick(mb["hazgate"], func(r modbusResult) float64 { return r.reqPerPoll }), mpick(mb["telegraf"], func(r modbusResult) float64 { return r.reqPerPoll }))
	row("Modbus peak RSS (MiB)", "%.1f",
		mpick(mb["hazgate"], func(r modbusResult) float64 { return mib(r.rss) }), mpick(mb["telegraf"], func(r modbusResult) float64 { return mib(r.rss) }))
	var idle, load, fl, drains []time.Duration
	for _, r := range lat {
		idle, load, fl = append(idle, r.idle.lat...), append(load, r.load.lat...), append(fl, r.flood.lat...)
		drains = append(drains, r.floods.drains...)
	}
	for _, ph := range []struct {
		name string
		lat  []time.Duration
	}{
		{"idle", idle},
		{fmt.Sprintf("under %d msg/s of other readings", o.load), load},
		{fmt.Sprintf("(%s) during floods of %d medium alarms at once", o.probeSeverity, o.flood), fl},
	} {
		fmt.Printf("| alarm latency %s, publish → SSE raised, p50 / p99 / max (%d probes) | %s | (no alarms) | |\n", ph.name, len(ph.lat), quantiles(ph.lat))
	}
	fmt.Printf("| alarm flood: %d tags cross at once, until all %d raised events are on the stream, p50 / p99 / max (%d floods) | %s | (no alarms) | |\n",
		o.flood, o.flood, len(drains), quantiles(drains))
	if len(failures) > 0 {
		fmt.Printf("\n%d FAILURES:\n  %s\n", len(failures), strings.Join(failures, "\n  "))
		for i := len(atExit) - 1; i >= 0; i-- {
			atExit[i]()
		}
		os.Exit(1)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN() // every run of it failed
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func num(format string, v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

func ratio(h, t float64) string {
	if math.IsNaN(h) || math.IsNaN(t) || t == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", h/t)
}

// quantiles is "p50 / p99 / max" in ms.
func quantiles(d []time.Duration) string {
	if len(d) == 0 {
		return "—"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("%s / %s / %s ms", ms(q(0.5)), ms(q(0.99)), ms(s[len(s)-1]))
}

// over counts the latencies above limit: what p99 hides when there are
// only a hundred probes.
func over(d []time.Duration, limit time.Duration) int {
	n := 0
	for _, x := range d {
		if x > limit {
			n++
		}
	}
	return n
}
