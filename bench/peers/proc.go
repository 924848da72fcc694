package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a gateway (or the simulated devices) in a process of its own, so
// its CPU time and memory are its alone.
type child struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
	err           error
}

func startChild(name, logPath string, env []string, bin string, args ...string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	stopAtExit(c)
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpu is the child's user and system time so far, all threads.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.name, err)
	}
	// The command name may hold spaces; the fields after it do not.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: short /proc stat %q", c.name, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: /proc stat %q", c.name, b)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// peakRSS is the child's resident set high-water mark (VmHWM) in bytes.
func (c *child) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop ends the child: SIGTERM, then SIGKILL after 15 s.
func (c *child) stop() {
	if c.exited() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// logTail is the end of the child's output, for a failure message.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return fmt.Sprintf("--- %s (%s) ---\n%s", c.name, c.logPath, b)
}

// children still running when a step fails; fatalf stops them (log.Fatal
// skips defers).
var atExit []func()

func stopAtExit(c *child) { atExit = append(atExit, c.stop) }

func fatalf(format string, args ...any) {
	for i := len(atExit) - 1; i >= 0; i-- {
		atExit[i]()
	}
	fmt.Fprintf(os.Stderr, "bench/peers: "+format+"\n", args...)
	os.Exit(1)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// series is one InfluxQL result series.
type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// influxQL runs one InfluxQL statement through /query.
func influxQL(base, db, q string) ([]series, error) {
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s %s", q, resp.Status, b)
	}
	var r struct {
		Results []struct {
			Series []series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	if len(r.Results) == 0 {
		return nil, nil
	}
	if r.Results[0].Error != "" {
		return nil, fmt.Errorf("%s: %s", q, r.Results[0].Error)
	}
	return r.Results[0].Series, nil
}

// sumCounts adds every count column of every row: count(*) over Telegraf's
// many fields gives one column per field.
func sumCounts(ss []series) int64 {
	var n int64
	for _, s := range ss {
		for _, row := range s.Values {
			for i, v := range row {
				if i < len(s.Columns) && strings.HasPrefix(s.Columns[i], "count") {
					if f, ok := v.(float64); ok {
						n += int64(f)
					}
				}
			}
		}
	}
	return n
}

// influxWrites is how many write requests influxd has taken so far
// (/debug/vars, httpd writeReq).
func influxWrites(base string) (int64, error) {
	resp, err := http.Get(base + "/debug/vars")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var vars map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return 0, fmt.Errorf("influxd /debug/vars: %w", err)
	}
	var n int64
	for k, raw := range vars {
		if !strings.HasPrefix(k, "httpd") {
			continue
		}
		var v struct {
			Values struct {
				WriteReq int64 `json:"writeReq"`
			} `json:"values"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return 0, fmt.Errorf("influxd /debug/vars %s: %w", k, err)
		}
		n += v.Values.WriteReq
	}
	return n, nil
}
