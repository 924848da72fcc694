// Package benchenv starts what the benchmarks under bench/ measure against
// (a private Mosquitto on loopback) and reads this process's CPU time.
package benchenv

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Mosquitto is a private broker on a free loopback port.
type Mosquitto struct {
	Port int
	cmd  *exec.Cmd
}

// URL is the broker's tcp:// address.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }

// Stop kills the broker.
func (m *Mosquitto) Stop() {
	m.cmd.Process.Kill()
	m.cmd.Wait()
}

// StartMosquitto runs a broker with its config and log in dir, without a
// queue limit (QoS 0 messages queue for offline sessions too), and waits
// until it listens. It exits the process on failure:
// a benchmark without its broker has nothing to say. Extra lines go into
// its config as they are.
func StartMosquitto(dir string, extra ...string) *Mosquitto {
	bin := LookPath("mosquitto", "/usr/sbin/mosquitto")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := user.Current()
	if err != nil {
		log.Fatal(err)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	logFile := filepath.Join(dir, "mosquitto.log")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nqueue_qos0_messages true\nlog_dest file %s\nuser %s\n%s", port, logFile, u.Username, strings.Join(append(extra, ""), "\n")), 0o600); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			log.Fatalf("mosquitto did not start:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Mosquitto{Port: port, cmd: cmd}
}

// LookPath finds name on PATH, else at fallback, else exits.
func LookPath(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	log.Fatalf("%s not found (Debian: apt-get install mosquitto mosquitto-clients)", name)
	return ""
}

// CPUTime is this process's user and system time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
