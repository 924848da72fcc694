package mqtt

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/sim/testenv"
)

// mosquitto is a broker of the test's own, for tests that stop and start
// it. Persistence is on, as a site broker's should be, and the offline
// queue unlimited, so what the broker accepted survives its restart.
type mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	log  string
	port int
	cmd  *exec.Cmd
}

func startMosquitto(t testing.TB, extra ...string) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "mosquitto binary: %v", err)
		return nil
	}
	// These tests stop brokers; keep them off laptops that only run unit tests.
	if testenv.MQTTURL(t) == "" {
		return nil
	}
	dir := t.TempDir()
	port := freePort(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log"), port: port}
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
	m.start()
	t.Cleanup(func() {
		if m.cmd != nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
	})
	return m
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (m *mosquitto) url() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

func (m *mosquitto) start() {
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

// stop ends the broker with SIGTERM, which saves its persistence file, as
// a service manager restarting it would.
func (m *mosquitto) stop() {
	m.t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.cmd.Wait()
	m.cmd = nil
}

var clientN atomic.Uint64

// testClient connects a plain paho client (a device, or a regulator's
// subscriber). With a fixed id and clean false it keeps its session.
func testClient(t testing.TB, url, id string, clean bool, onConnect func(paho.Client)) paho.Client {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("test-%d-%d", os.Getpid(), clientN.Add(1))
	}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	if onConnect != nil {
		o.SetOnConnectHandler(onConnect)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t testing.TB, c paho.Client, topic string, qos byte, retained bool, payload any) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// runCollector runs c until the test ends and waits for its subscriptions.
func runCollector(t testing.TB, c *Collector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	waitFor(t, 10*time.Second, "collector subscribed", func() bool { return c.Stats().Connects > 0 })
	return stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
