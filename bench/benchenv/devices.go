package benchenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"hazgate/sim"
)

// The simulated Modbus devices of a benchmark run in a child process (the
// benchmark's own binary with a flag of its own), so the CPU a benchmark
// reads of itself is the gateway's alone. The child prints its devices'
// addresses on one line, then answers each line on stdin with the requests
// served so far, until stdin closes.

// ServeUnits is the child's side: one single-unit sim.Server on a loopback
// port per unit.
func ServeUnits(units []*sim.Unit) error {
	var addrs []string
	var servers []*sim.Server
	for _, u := range units {
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

// Devices is the parent's handle on the child serving the devices.
type Devices struct {
	Addrs []string

	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// StartDevices runs this program again with args (the flags that make it
// call ServeUnits) and waits for the devices' addresses.
func StartDevices(args ...string) (*Devices, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
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
	d := &Devices{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	d.out.Buffer(make([]byte, 1<<20), 1<<20)
	if !d.out.Scan() || !strings.HasPrefix(d.out.Text(), "ADDRS ") {
		d.Stop()
		return nil, fmt.Errorf("simulated devices did not start: %q", d.out.Text())
	}
	d.Addrs = strings.Fields(strings.TrimPrefix(d.out.Text(), "ADDRS "))
	return d, nil
}

// Requests is the total of requests the devices have served.
func (d *Devices) Requests() (uint64, error) {
	if _, err := fmt.Fprintln(d.in, "count"); err != nil {
		return 0, err
	}
	if !d.out.Scan() {
		return 0, fmt.Errorf("simulated devices stopped: %v", d.out.Err())
	}
	return strconv.ParseUint(strings.TrimPrefix(d.out.Text(), "COUNT "), 10, 64)
}

// Stop ends the child; calling it again does nothing.
func (d *Devices) Stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.in.Close()
	d.cmd.Wait()
}
