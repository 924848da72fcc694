package main

import (
	"fmt"
	"time"

	"hazgate/bench/benchenv"
	"hazgate/sim"
)

// serveDevices runs n simulated Modbus TCP devices (sim.Server, unit 1,
// holding registers 0..regs-1 holding 10, 11, ..., below the limit) for
// benchenv.StartDevices.
func serveDevices(n, regs int) error {
	var units []*sim.Unit
	for range n {
		u, err := sim.NewUnit(max(regs, 1))
		if err != nil {
			return err
		}
		words := make([]uint16, regs)
		for i := range words {
			words[i] = uint16(10 + i%80) // below every rule's limit
		}
		if err := u.SetRegisters("holding", 0, words...); err != nil {
			return err
		}
		units = append(units, u)
	}
	return benchenv.ServeUnits(units)
}

// modbusResult is one Modbus run's figures.
type modbusResult struct {
	cpuPerReg  float64 // µs of the gateway's CPU per register value read and stored
	regs       int64   // register values stored in the measured window
	reqPerPoll float64 // requests each device served per poll interval
	rss        int64
}

// measureModbus lets g poll every simulated device for e.opt.modbusTime
// after a warm-up, and divides its CPU time by the register values it
// stored with times in that window.
func (e *env) measureModbus(g gateway) (modbusResult, error) {
	e.run++
	db := fmt.Sprintf("%s_modbus_%d", g.name, e.run)
	if _, err := influxQL(e.influx.URL, "", "CREATE DATABASE "+db); err != nil {
		return modbusResult{}, err
	}
	const interval = time.Second
	s := spec{run: e.run, db: db, influx: e.influx.URL, modbus: e.devices.Addrs, regs: e.opt.modbusRegs, interval: interval}
	c, err := g.start(e.tmp, s)
	if err != nil {
		return modbusResult{}, err
	}
	defer c.stop()
	count := func(from, to time.Time) (int64, error) {
		where := ""
		if !from.IsZero() {
			where = fmt.Sprintf("time >= %d AND time < %d", from.UnixNano(), to.UnixNano())
		}
		ss, err := influxQL(e.influx.URL, db, g.modbusQuery(where))
		return sumCounts(ss), err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, err := count(time.Time{}, time.Time{})
		if err != nil {
			return modbusResult{}, err
		}
		if n > 0 {
			break
		}
		if c.exited() || time.Now().After(deadline) {
			return modbusResult{}, fmt.Errorf("%s stored no register in 90 s: %v\n%s", g.name, c.err, c.logTail())
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(2 * interval) // every device connected and polling

	req0, err := e.devices.Requests()
	if err != nil {
		return modbusResult{}, err
	}
	cpu0, err := c.cpu()
	if err != nil {
		return modbusResult{}, err
	}
	t0 := time.Now()
	time.Sleep(e.opt.modbusTime)
	cpu1, err := c.cpu()
	if err != nil {
		return modbusResult{}, err
	}
	t1 := time.Now()
	req1, err := e.devices.Requests()
	if err != nil {
		return modbusResult{}, err
	}
	time.Sleep(2500 * time.Millisecond) // the last flush
	regs, err := count(t0, t1)
	if err != nil {
		return modbusResult{}, err
	}
	polls := t1.Sub(t0).Seconds() / interval.Seconds() * float64(len(e.devices.Addrs))
	r := modbusResult{regs: regs, reqPerPoll: float64(req1-req0) / polls, rss: c.peakRSS()}
	if regs == 0 {
		return r, fmt.Errorf("%s stored no register values in the measured window", g.name)
	}
	r.cpuPerReg = float64((cpu1 - cpu0).Microseconds()) / float64(regs)
	if expect := polls * float64(e.opt.modbusRegs); float64(regs) < 0.9*expect {
		return r, fmt.Errorf("%s stored %d register values in %s, want about %.0f (%d devices × %d registers every %s)",
			g.name, regs, t1.Sub(t0).Round(time.Millisecond), expect, len(e.devices.Addrs), e.opt.modbusRegs, interval)
	}
	return r, nil
}
