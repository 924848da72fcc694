package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mosquitto is a broker of a test's own, for tests that stop and start it.
// Persistence is on, as a site broker's should be, and the offline queue
// unlimited, so what the broker accepted survives its restart.
type Mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	log  string
	port int
	cmd  *exec.Cmd
}

// StartMosquitto starts a private mosquitto for t, with extra lines of
// configuration, and kills it when t ends. Without the binary t skips
// (fails under HAZGATE_INTEGRATION=1); without HAZGATE_MQTT_URL it skips,
// keeping tests that stop brokers off laptops that only run unit tests.
func StartMosquitto(t testing.TB, extra ...string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		Missing(t, "mosquitto binary: %v", err)
		return nil
	}
	if MQTTURL(t) == "" {
		return nil
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log"), port: port}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 0
log_dest file %s
user %s
`, port, dir, m.log, u.Username) + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(func() {
		if m.cmd != nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
	})
	return m
}

// URL is the broker's tcp:// address.
func (m *Mosquitto) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

// Start runs the broker (again) and waits until it listens.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(m.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(m.log)
			m.t.Fatalf("mosquitto did not listen on %d: %v\n%s", m.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the broker with SIGTERM, which saves its persistence file, as
// a service manager restarting it would.
func (m *Mosquitto) Stop() {
	m.t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.cmd.Wait()
	m.cmd = nil
}
