package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// probeBase is added to a probe's number to make its value above the limit:
// the raised event's value says which crossing it was.
const probeBase = 1000.0

// raisedEvent is a "raised" alarm event as the stream received it.
type raisedEvent struct {
	tag   string
	value float64
	at    time.Time
}

// stream reads hazgate's /api/v1/stream and passes every raised event of
// the probe on, and the times of the flood's.
type stream struct {
	probes chan raisedEvent
	flood  chan time.Time
	cancel context.CancelFunc
}

func openStream(port int) (*stream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{probes: make(chan raisedEvent, 100_000), flood: make(chan time.Time, 1_000_000), cancel: cancel}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/v1/stream?kind=alarm", port)
	var resp *http.Response
	for deadline := time.Now().Add(60 * time.Second); ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		var err error
		resp, err = http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, fmt.Errorf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ready := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		r := bufio.NewReaderSize(resp.Body, 1<<16)
		var event string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				if event == "ready" {
					close(ready)
				}
			case strings.HasPrefix(line, "data: ") && event == "alarm":
				at := time.Now()
				// Only the probe's events are decoded: decoding each of a
				// flood's thousand on the 2 cores hazgate runs on would
				// delay the probe's behind them by the bench's own work.
				if !strings.Contains(line, `"tag":"probe"`) {
					if strings.Contains(line, `"type":"raised"`) && strings.Contains(line, `"tag":"f`) {
						st.flood <- at
					}
					continue
				}
				var ev struct {
					Type  string `json:"type"`
					Alarm struct {
						Tag   string  `json:"tag"`
						Value float64 `json:"value"`
					} `json:"alarm"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil && ev.Type == "raised" && ev.Alarm.Tag == "probe" {
					st.probes <- raisedEvent{ev.Alarm.Tag, ev.Alarm.Value, at}
				}
			case line == "":
				event = ""
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("%s: no ready event in 30 s", url)
	}
	return st, nil
}

// latencyRun is one phase's probe latencies.
type latencyRun struct {
	lat   []time.Duration
	sent  int
	extra string // what ran beside the probes
}

// prober publishes probe crossings and matches them to their raised events.
type prober struct {
	pub    paho.Client
	st     *stream
	k      int   // probes sent so far, over all phases
	lastTS int64 // the probe's last reading time, ms
}

func (p *prober) publish(v float64) (time.Time, error) {
	ts := max(time.Now().UnixMilli(), p.lastTS+1)
	p.lastTS = ts
	t := time.Now()
	return t, wait(p.pub.Publish("bench/probe", 1, false, payload(v, ts)))
}

// run alternates the probe above and below its limit every toggle for d,
// and returns the latency from each crossing's publish to its raised event.
func (p *prober) run(d, toggle time.Duration) (latencyRun, error) {
	sent := map[int]time.Time{}
	first := p.k + 1
	for end := time.Now().Add(d); time.Now().Before(end); {
		p.k++
		t, err := p.publish(probeBase + float64(p.k))
		if err != nil {
			return latencyRun{}, err
		}
		sent[p.k] = t
		time.Sleep(time.Until(t.Add(toggle)))
		t, err = p.publish(0)
		if err != nil {
			return latencyRun{}, err
		}
		time.Sleep(time.Until(t.Add(toggle)))
	}
	r := latencyRun{sent: len(sent)}
	timeout := time.After(10 * time.Second)
	for len(r.lat) < len(sent) {
		select {
		case ev := <-p.st.probes:
			k := int(ev.value - probeBase + 0.5)
			if t, ok := sent[k]; ok && k >= first {
				r.lat = append(r.lat, ev.at.Sub(t))
			}
		case <-timeout:
			return r, nil
		}
	}
	return r, nil
}

// background publishes rate msg/s of below-limit readings over the
// t-topics at QoS 0 until stop, and reports the rate reached.
func background(pub paho.Client, rate, topics int, stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		t0 := time.Now()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		sent := 0
		var last paho.Token
		for {
			select {
			case <-stop:
				if last != nil {
					wait(last)
				}
				out <- float64(sent) / time.Since(t0).Seconds()
				return
			case <-tick.C:
			}
			due := int(time.Since(t0).Seconds() * float64(rate))
			ts := time.Now().UnixMilli()
			// One message per topic per batch at most, so times stay unique per tag.
			for n := 0; sent < due && n < topics; n++ {
				last = pub.Publish("bench/"+tagName(sent%topics), 0, false, payload(0.25, ts))
				sent++
			}
		}
	}()
	return out
}

// floodPeriod separates the floods: each is 1000 tags crossing at once,
// not a sustained 1000 transitions a second.
const floodPeriod = 2500 * time.Millisecond

// flood puts every flood tag above its limit at once and times until all
// their raised events are on the stream; floodPeriod after it began it puts
// them back below (another wave of transitions, cleared), and again
// floodPeriod later above, until stop. It reports each flood's drain time.
func flood(pub paho.Client, st *stream, tags int, stop <-chan struct{}) <-chan floods {
	out := make(chan floods, 1)
	go func() {
		var f floods
		lastTS := int64(0)
		for i := 0; ; i++ {
			v := 0.0
			if i%2 == 0 {
				v = 200
			}
			ts := max(time.Now().UnixMilli(), lastTS+1)
			lastTS = ts
			t0 := time.Now()
			var last paho.Token
			for j := range tags {
				last = pub.Publish("bench/"+floodName(j), 0, false, payload(v, ts))
			}
			wait(last)
			if v > 0 {
				f.started++
				timeout := time.After(30 * time.Second)
			drain:
				for n := 0; n < tags; n++ {
					select {
					case at := <-st.flood:
						if n == tags-1 {
							f.drains = append(f.drains, at.Sub(t0))
						}
					case <-timeout:
						break drain // started, never drained
					}
				}
			}
			select {
			case <-stop:
				out <- f
				return
			case <-time.After(time.Until(t0.Add(floodPeriod))):
			}
		}
	}()
	return out
}

// floods is what a flood phase saw: floods started, and for those whose
// every raised event reached the stream, the time that took.
type floods struct {
	started int
	drains  []time.Duration
}

// latencyResult is a repetition's three phases.
type latencyResult struct {
	idle, load, flood latencyRun
	floods            floods
}

// measureLatency runs hazgate with the probe and flood tags and their
// rules, and probes its alarm latency idle, under background traffic and
// during alarm floods.
func (e *env) measureLatency(g gateway) (latencyResult, error) {
	e.run++
	db := fmt.Sprintf("%s_alarms_%d", g.name, e.run)
	if _, err := influxQL(e.influx.URL, "", "CREATE DATABASE "+db); err != nil {
		return latencyResult{}, err
	}
	port := freePort()
	s := spec{run: e.run, db: db, influx: e.influx.URL, broker: e.broker.URL(), qos: 1, topics: e.opt.topics,
		alarms: true, flood: e.opt.flood, probeSeverity: e.opt.probeSeverity, httpPort: port, interval: time.Second}
	c, err := g.start(e.tmp, s)
	if err != nil {
		return latencyResult{}, err
	}
	defer c.stop()
	pub, err := connect(e.broker.URL(), fmt.Sprintf("bench-pub-%d", e.run))
	if err != nil {
		return latencyResult{}, err
	}
	defer pub.Disconnect(100)
	probePub, err := connect(e.broker.URL(), fmt.Sprintf("bench-probe-%d", e.run))
	if err != nil {
		return latencyResult{}, err
	}
	defer probePub.Disconnect(100)
	if err := e.waitReady(pub, c, db, "reading"); err != nil {
		return latencyResult{}, err
	}
	st, err := openStream(port)
	if err != nil {
		return latencyResult{}, err
	}
	defer st.cancel()

	// Every tag seen once below its limit, so no phase pays for creating
	// tags and matching their rules.
	ts := time.Now().UnixMilli()
	var last paho.Token
	for i := range e.opt.topics {
		last = pub.Publish("bench/"+tagName(i), 1, false, payload(0.25, ts))
	}
	for i := range e.opt.flood {
		last = pub.Publish("bench/"+floodName(i), 1, false, payload(0, ts))
	}
	if err := wait(last); err != nil {
		return latencyResult{}, err
	}
	p := &prober{pub: probePub, st: st}
	if _, err := p.publish(0); err != nil {
		return latencyResult{}, err
	}
	time.Sleep(2 * time.Second)

	const toggle = 100 * time.Millisecond
	var r latencyResult
	if r.idle, err = p.run(e.opt.phase, toggle); err != nil {
		return r, err
	}

	stop := make(chan struct{})
	rate := background(pub, e.opt.load, e.opt.topics, stop)
	r.load, err = p.run(e.opt.phase, toggle)
	close(stop)
	r.load.extra = fmt.Sprintf("%.0f msg/s reached", <-rate)
	if err != nil {
		return r, err
	}
	time.Sleep(time.Second)

	stop = make(chan struct{})
	fl := flood(pub, st, e.opt.flood, stop)
	r.flood, err = p.run(e.opt.phase, toggle)
	close(stop)
	r.floods = <-fl
	r.flood.extra = fmt.Sprintf("%d floods of %d tags, %d fully raised on the stream after %s", r.floods.started, e.opt.flood, len(r.floods.drains), quantiles(r.floods.drains))
	if len(r.floods.drains) < r.floods.started {
		err = fmt.Errorf("%d of %d floods did not have all %d raised events on the stream within 30 s", r.floods.started-len(r.floods.drains), r.floods.started, e.opt.flood)
	}
	if c.exited() {
		return r, fmt.Errorf("hazgate exited: %v\n%s", c.err, c.logTail())
	}
	return r, err
}
