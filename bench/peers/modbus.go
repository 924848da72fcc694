package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"hazgate/sim"
)

// serveDevices runs n simulated Modbus TCP devices (sim.Server, unit 1,
// holding registers 0..regs-1 holding 10, 11, ..., below the limit), prints their
// addresses on one line, then answers every line on stdin with the
// requests served so far, until stdin closes.
func serveDevices(n, regs int) error {
	var servers []*sim.Server
	var addrs []string
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
		s, err := sim.NewServer("127.0.0.1:0", map[uint8]*sim.Unit{1: u})
		if err != nil {
			return err
		}
		if err := s.Start(); err != nil {
			return err
		}
		defer s.Close()
		servers = append(servers, s)
		addrs = append(addrs, s.Addr())
	}
	fmt.Println("ADDRS " + strings.Join(addrs, " "))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var total uint64
		for _, s := range servers {
			total += s.Requests()
		}
		fmt.Printf("COUNT %d\n", total)
	}
	return sc.Err()
}

// devices is the child process serving the simulated devices, apart from
// both gateways.
type devices struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	addrs []string
}

func startDevices(n, regs int) (*devices, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-modbus", "-modbus-devices", strconv.Itoa(n), "-modbus-regs", strconv.Itoa(regs))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &devices{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	d.out.Buffer(make([]byte, 1<<20), 1<<20)
	atExit = append(atExit, d.stop)
	if !d.out.Scan() || !strings.HasPrefix(d.out.Text(), "ADDRS ") {
		d.stop()
		return nil, fmt.Errorf("simulated devices did not start: %q", d.out.Text())
	}
	d.addrs = strings.Fields(strings.TrimPrefix(d.out.Text(), "ADDRS "))
	return d, nil
}

func (d *devices) requests() (uint64, error) {
	if _, err := fmt.Fprintln(d.in, "count"); err != nil {
		return 0, err
	}
	if !d.out.Scan() {
		return 0, fmt.Errorf("simulated devices stopped: %v", d.out.Err())
	}
	return strconv.ParseUint(strings.TrimPrefix(d.out.Text(), "COUNT "), 10, 64)
}

func (d *devices) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.in.Close()
	d.cmd.Wait()
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
	s := spec{run: e.run, db: db, influx: e.influx.URL, modbus: e.devices.addrs, regs: e.opt.modbusRegs, interval: interval}
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

	req0, err := e.devices.requests()
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
	req1, err := e.devices.requests()
	if err != nil {
		return modbusResult{}, err
	}
	time.Sleep(2500 * time.Millisecond) // the last flush
	regs, err := count(t0, t1)
	if err != nil {
		return modbusResult{}, err
	}
	polls := t1.Sub(t0).Seconds() / interval.Seconds() * float64(len(e.devices.addrs))
	r := modbusResult{regs: regs, reqPerPoll: float64(req1-req0) / polls, rss: c.peakRSS()}
	if regs == 0 {
		return r, fmt.Errorf("%s stored no register values in the measured window", g.name)
	}
	r.cpuPerReg = float64((cpu1 - cpu0).Microseconds()) / float64(regs)
	if expect := polls * float64(e.opt.modbusRegs); float64(regs) < 0.9*expect {
		return r, fmt.Errorf("%s stored %d register values in %s, want about %.0f (%d devices × %d registers every %s)",
			g.name, regs, t1.Sub(t0).Round(time.Millisecond), expect, len(e.devices.addrs), e.opt.modbusRegs, interval)
	}
	return r, nil
}
