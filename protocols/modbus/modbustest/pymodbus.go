// Package modbustest runs protocols/modbus/testdata/pymodbus_server.py, a
// Modbus peer hazgate did not write, for integration tests of any package:
// over TCP on loopback, or over RTU on one end of a socat pty pair.
package modbustest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// Values are the registers a PymodbusServer starts with, in the script's
// ADDR=VAL form: Input and Holding take "0=250", "1=int16:-5",
// "4=float32:12.5", "6=float64/CDAB:-1.5" (TYPE/ORDER: ABCD, the default,
// CDAB, BADC or DCBA); Coils and Discrete take "3=1".
type Values struct {
	Unit     int // default 1
	Size     int // addresses per table, default 100; reads past it answer 0x02
	Input    []string
	Holding  []string
	Coils    []string
	Discrete []string
	// Units are more unit ids on the same server, each with tables of its
	// own (their Unit, Size and Units are ignored). A unit id the server
	// lacks gets no answer, as a dead device on a bus.
	Units map[int]Values
}

// PymodbusServer is one running pymodbus server: TCP on 127.0.0.1, or RTU
// on a pty.
type PymodbusServer struct {
	t      testing.TB
	python string
	args   []string
	serial string // the gateway's end of the pty pair; "" for TCP
	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{}
	port   int
}

// Script is the path of pymodbus_server.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "pymodbus_server.py")
}

// StartPymodbus starts the server on a free port and stops it when the test
// ends. It skips (or fails under HAZGATE_INTEGRATION=1) without pymodbus.
func StartPymodbus(t testing.TB, v Values) *PymodbusServer {
	t.Helper()
	s := &PymodbusServer{t: t, python: testenv.Python(t), args: scriptArgs(t, v)}
	t.Cleanup(s.Kill)
	if err := s.start(0); err != nil {
		t.Fatal(err)
	}
	return s
}

// StartPymodbusRTU serves v as Modbus RTU at speed baud, 8N1, on one end of
// a socat pty pair; URL is rtu://<the other end>. It skips (or fails under
// HAZGATE_INTEGRATION=1) without pymodbus or socat.
func StartPymodbusRTU(t testing.TB, v Values, baud int) *PymodbusServer {
	t.Helper()
	py := testenv.Python(t)
	socat, err := exec.LookPath("socat")
	if err != nil {
		testenv.Missing(t, "socat: %v", err)
		return nil
	}
	dir := t.TempDir()
	dev, gw := filepath.Join(dir, "device"), filepath.Join(dir, "gateway")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+dev, "pty,raw,echo=0,link="+gw)
	if err := cmd.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, e1 := os.Stat(dev)
		_, e2 := os.Stat(gw)
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socat made no pty pair in 10 s: %v %v", e1, e2)
		}
	}
	args := append(scriptArgs(t, v), "--serial", dev, "--baud", strconv.Itoa(baud))
	s := &PymodbusServer{t: t, python: py, args: args, serial: gw}
	t.Cleanup(s.Kill)
	if err := s.start(0); err != nil {
		t.Fatal(err)
	}
	return s
}

func scriptArgs(t testing.TB, v Values) []string {
	if v.Unit == 0 {
		v.Unit = 1
	}
	args := []string{Script(), "--unit", strconv.Itoa(v.Unit)}
	if v.Size > 0 {
		args = append(args, "--size", strconv.Itoa(v.Size))
	}
	for _, kv := range []struct {
		flag string
		vals []string
	}{{"--input", v.Input}, {"--holding", v.Holding}, {"--coils", v.Coils}, {"--discrete", v.Discrete}} {
		if len(kv.vals) > 0 {
			args = append(args, kv.flag, strings.Join(kv.vals, ","))
		}
	}
	if len(v.Units) > 0 {
		units := make(map[string]map[string]string, len(v.Units))
		for id, u := range v.Units {
			units[strconv.Itoa(id)] = map[string]string{"input": strings.Join(u.Input, ","), "holding": strings.Join(u.Holding, ","),
				"coils": strings.Join(u.Coils, ","), "discrete": strings.Join(u.Discrete, ",")}
		}
		js, err := json.Marshal(units)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--units", string(js))
	}
	return args
}

// Port is the TCP port the server listens on; it stays the same across Restart.
func (s *PymodbusServer) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Addr is 127.0.0.1:Port.
func (s *PymodbusServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port()) }

// URL is the server as a hazgate device URL: tcp://127.0.0.1:port, or
// rtu:// and the pty the gateway uses.
func (s *PymodbusServer) URL() string {
	if s.serial != "" {
		return "rtu://" + s.serial
	}
	return "tcp://" + s.Addr()
}

// Kill stops the server (SIGKILL, as a crash would) and waits for it to go.
func (s *PymodbusServer) Kill() {
	s.mu.Lock()
	cmd, waited := s.cmd, s.waited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-waited
}

// Restart starts the server again on the same port with the same values.
func (s *PymodbusServer) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	// The port was just freed; retry briefly in case the kernel still holds it.
	for range 20 {
		if err = s.start(s.Port()); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatal(err)
}

func (s *PymodbusServer) start(port int) error {
	args := s.args
	if s.serial == "" {
		args = append(args[:len(args):len(args)], "--port", strconv.Itoa(port))
	}
	cmd := exec.Command(s.python, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pymodbus server: %w", err)
	}
	ready := make(chan int, 1)
	go func() {
		// The script prints one line; read it, then drain to EOF so Wait can finish.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				n, _ := strconv.Atoi(p)
				ready <- n
			}
		}
		close(ready)
	}()
	waited := make(chan struct{})
	select {
	case p, ok := <-ready:
		if !ok || (p == 0 && s.serial == "") {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("pymodbus server %v did not start: %s", cmd.Args, stderr.String())
		}
		go func() { cmd.Wait(); close(waited) }()
		s.mu.Lock()
		s.cmd, s.waited, s.port = cmd, waited, p
		s.mu.Unlock()
		return nil
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("pymodbus server %v: no READY line in 20 s: %s", cmd.Args, stderr.String())
	}
}
