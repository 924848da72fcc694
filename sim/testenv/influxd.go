package testenv

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Influxd is a private InfluxDB 1.8 process on free loopback ports, for tests
// and benchmarks that stop and start the database under a writer. Its data
// survives Stop, so a restarted server still holds what it stored.
type Influxd struct {
	URL  string
	bin  string
	dir  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartInfluxd starts a private influxd for t and stops it when t ends. The
// binary is the one scripts/test.sh installs; without it t skips (fails
// under HAZGATE_INTEGRATION=1).
func StartInfluxd(t testing.TB) *Influxd {
	t.Helper()
	bin, err := FindInfluxd()
	if err != nil {
		Missing(t, "%v", err)
		return nil
	}
	d, err := NewInfluxd(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// FindInfluxd returns the influxd binary in $GOBIN or $GOPATH/bin.
func FindInfluxd() (string, error) {
	dirs := []string{os.Getenv("GOBIN")}
	for _, p := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		bin := filepath.Join(d, "influxd")
		if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
			return bin, nil
		}
	}
	return "", errors.New("influxd not found in $GOBIN or $GOPATH/bin (scripts/test.sh installs it)")
}

// NewInfluxd writes a config for an influxd keeping its data in dir, on
// ports free now; Start runs it.
func NewInfluxd(bin, dir string) (*Influxd, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("influxd: %w", err)
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	// The same settings as scripts/test.sh: loopback only, no phoning home.
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  log-enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	path := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(path, []byte(conf), 0o640); err != nil {
		return nil, fmt.Errorf("influxd config: %w", err)
	}
	return &Influxd{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), bin: bin, dir: dir, conf: path}, nil
}

// Start runs influxd and waits until /health answers.
func (d *Influxd) Start() error {
	if d.cmd != nil {
		return errors.New("influxd already running")
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("influxd log: %w", err)
	}
	cmd := exec.Command(d.bin, "run", "-config", d.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start influxd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	d.cmd, d.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			d.cmd = nil
			log, _ := os.ReadFile(filepath.Join(d.dir, "influxd.log"))
			return fmt.Errorf("influxd exited during start-up: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return errors.New("influxd did not answer /health within 60s")
		}
	}
}

// Stop ends influxd (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (d *Influxd) Stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
