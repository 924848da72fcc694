package mqtt

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/sim/testenv"
)

// startMosquitto is a broker of the test's own (testenv.StartMosquitto).
func startMosquitto(t testing.TB, extra ...string) *testenv.Mosquitto {
	return testenv.StartMosquitto(t, extra...)
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
