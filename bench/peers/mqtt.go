package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func connect(broker, id string) (paho.Client, error) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s as %s: %v", broker, id, tok.Error())
	}
	return c, nil
}

func payload(v float64, ts int64) string { return fmt.Sprintf(`{"v":%g,"ts":%d}`, v, ts) }

func wait(tok paho.Token) error {
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish: %v", tok.Error())
	}
	return nil
}

// publishBulk publishes n readings below the limit over topics topics,
// message i on topic i%topics stamped base+i ms (so no two readings of a
// tag share a time), as fast as the client sends: at QoS 1 with a window
// of 500 unacknowledged publishes, as many devices would.
func publishBulk(c paho.Client, qos byte, n, topics int, base int64) error {
	window := 1000
	if qos > 0 {
		window = 500
	}
	toks := make([]paho.Token, 0, window)
	for i := range n {
		toks = append(toks, c.Publish("bench/"+tagName(i%topics), qos, false, payload(0.2+float64(i%100)/1000, base+int64(i))))
		if len(toks) == window || i == n-1 {
			// QoS 0 tokens complete in order, when written.
			if qos == 0 {
				toks = toks[len(toks)-1:]
			}
			for _, t := range toks {
				if err := wait(t); err != nil {
					return err
				}
			}
			toks = toks[:0]
		}
	}
	return nil
}

// want is the count of readings tag i gets from publishBulk.
func want(i, n, topics int) int64 {
	w := int64(n / topics)
	if i < n%topics {
		w++
	}
	return w
}

// waitReady publishes a reading on bench/warm until it is in the
// database: the gateway has subscribed and writes.
func (e *env) waitReady(pub paho.Client, c *child, db, measurement string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited during start-up: %v\n%s", c.name, c.err, c.logTail())
		}
		if err := wait(pub.Publish("bench/warm", 1, false, payload(0, time.Now().UnixMilli()))); err != nil {
			return err
		}
		ss, err := influxQL(e.influx.URL, db, fmt.Sprintf(`SELECT count(*) FROM %q WHERE "tag" = 'warm'`, measurement))
		if err != nil {
			return err
		}
		if sumCounts(ss) > 0 {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("%s stored no warm-up reading in 90 s\n%s", c.name, c.logTail())
}

// mqttResult is one MQTT run's figures.
type mqttResult struct {
	rate      float64 // msg/s, first publish to the last point stored
	cpuPerMsg float64 // µs of the gateway's CPU per message
	rss       int64
	wall      time.Duration
	idle      float64 // ms of CPU per second subscribed with no traffic, before the run
	perWrite  float64 // points per InfluxDB write request
}

// measureMQTT starts g subscribed at qos, publishes n messages on
// e.topics topics and waits until every one is stored, then checks the
// count of every tag.
func (e *env) measureMQTT(g gateway, qos byte, n int) (mqttResult, error) {
	e.run++
	db := fmt.Sprintf("%s_q%d_%d", g.name, qos, e.run)
	if _, err := influxQL(e.influx.URL, "", "CREATE DATABASE "+db); err != nil {
		return mqttResult{}, err
	}
	dir := e.tmp
	s := spec{run: e.run, db: db, influx: e.influx.URL, broker: e.broker.URL(), qos: int(qos), topics: e.opt.topics, interval: time.Second}
	c, err := g.start(dir, s)
	if err != nil {
		return mqttResult{}, err
	}
	defer c.stop()
	pub, err := connect(e.broker.URL(), fmt.Sprintf("bench-pub-%d", e.run))
	if err != nil {
		return mqttResult{}, err
	}
	defer pub.Disconnect(100)
	if err := e.waitReady(pub, c, db, "reading"); err != nil {
		return mqttResult{}, err
	}
	count := func() (int64, error) {
		ss, err := influxQL(e.influx.URL, db, `SELECT count(value) FROM reading WHERE "tag" =~ /^t/`)
		return sumCounts(ss), err
	}

	// What the gateway spends doing nothing, so short runs can be read.
	idle0, err := c.cpu()
	if err != nil {
		return mqttResult{}, err
	}
	const idleFor = 5 * time.Second
	if qos == 0 {
		time.Sleep(idleFor)
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	cpu0, err := c.cpu()
	if err != nil {
		return mqttResult{}, err
	}
	w0, err := influxWrites(e.influx.URL)
	if err != nil {
		return mqttResult{}, err
	}
	t0 := time.Now()
	if err := publishBulk(pub, qos, n, e.opt.topics, base); err != nil {
		return mqttResult{}, err
	}
	var stored int64
	last, lastChange := int64(-1), time.Now()
	for stored < int64(n) {
		time.Sleep(200 * time.Millisecond)
		if stored, err = count(); err != nil {
			return mqttResult{}, err
		}
		if c.exited() {
			return mqttResult{}, fmt.Errorf("%s exited: %v\n%s", g.name, c.err, c.logTail())
		}
		if stored != last {
			last, lastChange = stored, time.Now()
		} else if time.Since(lastChange) > 20*time.Second {
			break // stalled: the per-tag check says what is missing
		}
	}
	wall := time.Since(t0)
	cpu1, err := c.cpu()
	if err != nil {
		return mqttResult{}, err
	}
	r := mqttResult{rate: float64(n) / wall.Seconds(), cpuPerMsg: float64((cpu1 - cpu0).Microseconds()) / float64(n), rss: c.peakRSS(), wall: wall}
	if qos == 0 {
		r.idle = float64((cpu0 - idle0).Milliseconds()) / idleFor.Seconds()
	}
	if w1, err := influxWrites(e.influx.URL); err == nil && w1 > w0 {
		r.perWrite = float64(n) / float64(w1-w0)
	}

	ss, err := influxQL(e.influx.URL, db, `SELECT count(value) FROM reading WHERE "tag" =~ /^t/ GROUP BY "tag"`)
	if err != nil {
		return r, err
	}
	got := map[string]int64{}
	for _, s := range ss {
		got[s.Tags["tag"]] = sumCounts([]series{s})
	}
	var bad []string
	var lost int64
	for i := range e.opt.topics {
		if w := want(i, n, e.opt.topics); got[tagName(i)] != w {
			lost += w - got[tagName(i)]
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%s %d of %d", tagName(i), got[tagName(i)], w))
			}
		}
	}
	if len(bad) > 0 {
		return r, fmt.Errorf("%s QoS %d: %d of %d points missing in InfluxDB database %s (%s, ...)", g.name, qos, lost, n, db, strings.Join(bad, ", "))
	}
	return r, nil
}

// measureRelay is the broker's ceiling: how fast mosquitto_sub -C n
// receives n messages published live, as the gateways get them. A retained
// message on a topic of its own tells when it has subscribed: it is the
// first line mosquitto_sub prints, and one more to count.
func (e *env) measureRelay(n int) (float64, error) {
	e.run++
	pub, err := connect(e.broker.URL(), fmt.Sprintf("bench-pub-%d", e.run))
	if err != nil {
		return 0, err
	}
	defer pub.Disconnect(100)
	ready := fmt.Sprintf("relay/ready-%d", e.run)
	if err := wait(pub.Publish(ready, 1, true, "ready")); err != nil {
		return 0, err
	}
	defer pub.Publish(ready, 1, true, "") // clears the retained message
	sub := exec.Command(e.subBin, "-h", "127.0.0.1", "-p", strconv.Itoa(e.broker.Port), "-i", fmt.Sprintf("bench-relay-%d", e.run),
		"-q", "0", "-t", "bench/+", "-t", ready, "-C", strconv.Itoa(n+1))
	out, err := sub.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := sub.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	subscribed := make(chan struct{})
	go func() {
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); err == nil && strings.TrimSpace(line) == "ready" {
			close(subscribed)
		}
		io.Copy(io.Discard, r)
		done <- sub.Wait()
	}()
	select {
	case <-subscribed:
	case err := <-done:
		return 0, fmt.Errorf("mosquitto_sub ended before subscribing: %v", err)
	case <-time.After(30 * time.Second):
		sub.Process.Kill()
		return 0, fmt.Errorf("mosquitto_sub did not subscribe in 30 s")
	}
	t0 := time.Now()
	if err := publishBulk(pub, 0, n, e.opt.topics, 0); err != nil {
		sub.Process.Kill()
		return 0, err
	}
	select {
	case err := <-done:
		if err != nil {
			return 0, fmt.Errorf("mosquitto_sub: %w", err)
		}
	case <-time.After(2 * time.Minute):
		sub.Process.Kill()
		return 0, fmt.Errorf("mosquitto_sub did not receive %d messages in 2 minutes", n)
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}
