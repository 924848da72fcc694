// Command mqtt measures the MQTT collector against a private Mosquitto on
// loopback and prints, for -n single-reading JSON messages at -qos 1 (or 0):
//
//   - the broker's own ceiling: how fast `mosquitto_sub -C N` drains the
//     same number of queued messages from the same broker in the same run;
//   - the gateway's rate (collector, pipeline, latest cache and an
//     alerting.Engine evaluating a threshold rule on every sample), as a
//     ratio to that ceiling;
//   - the gateway's CPU µs per message (this process's user+system time;
//     the broker, influxd and the publisher run apart) and its peak RSS.
//
// With -influx the pipeline also feeds the real collector.InfluxSink (spool
// in the data dir) writing to a private influxd (the binary scripts/test.sh
// installs), as the gateway does; the run ends once every point is written,
// and at QoS 1 messages are acknowledged only once durable, as in production.
//
// Both consumers get their messages the same way: each has a persistent
// session whose queue the publisher fills before the measurement, so the
// figures are about consuming, not about the publisher.
//
// Needs mosquitto and mosquitto_sub (Debian: mosquitto, mosquitto-clients).
//
// With -receipt-time the payloads carry no time, so each reading is stamped
// on receipt and the collector keeps those stamps in its receipts file
// (fsynced before every batch goes on, so a redelivery after a kill -9 is
// the same point again); a second gateway session then drains the same
// messages without a data_dir, and the ratio of the two is the file's cost.
//
// With -influx-rtt the InfluxDB answers each write that much later (a
// proxy in a child process), as a central InfluxDB over a WAN would: the
// QoS 1 acknowledgements then show whether they wait on it.
//
// Usage: go run ./bench/mqtt [-n 400000] [-tags 100] [-qos 1] [-influx] [-influx-rtt 50ms] [-receipt-time] [-cpuprofile f] [-memprofile f]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/bench/benchenv"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/mqtt"
	"hazgate/sim/testenv"
)

const (
	topicFilter = "bench/#"
	gatewayID   = "bench-gateway"
	plainID     = "bench-gateway-no-data-dir"
	baselineID  = "bench-mosquitto-sub"
)

func main() {
	n := flag.Int("n", 400_000, "messages")
	ntags := flag.Int("tags", 100, "distinct topics (tags) the messages spread over")
	qos := flag.Int("qos", 1, "QoS of the messages and subscriptions: 0 or 1")
	withInflux := flag.Bool("influx", false, "also write every sample to a private influxd through collector.InfluxSink and its spool")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the gateway's run to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the gateway's run to this file")
	receiptTime := flag.Bool("receipt-time", false, "payloads without a time: stamped on receipt, with and without the receipts file")
	publish := flag.String("publish", "", "internal: publish to this broker URL and exit")
	influxRTT := flag.Duration("influx-rtt", 0, "with -influx: InfluxDB behind a proxy (a child process) that delays each request this long, as a central InfluxDB over a WAN")
	proxy := flag.String("proxy", "", "internal: listen,target: serve a delaying proxy to target and exit with the parent")
	flag.Parse()
	log.SetFlags(0)
	if *qos != 0 && *qos != 1 {
		log.Fatalf("-qos %d: want 0 or 1", *qos)
	}
	q := byte(*qos)
	if *publish != "" {
		publishAll(*publish, *n, *ntags, q, !*receiptTime)
		return
	}
	if *proxy != "" {
		serveDelayed(*proxy, *influxRTT)
		return
	}

	tmp, err := os.MkdirTemp("", "hazgate-bench-mqtt-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	broker := benchenv.StartMosquitto(tmp)
	defer broker.Stop()
	port := strconv.Itoa(broker.Port)
	url := "tcp://127.0.0.1:" + port
	var influxURL string
	if *withInflux {
		bin, err := testenv.FindInfluxd()
		if err != nil {
			log.Fatal(err)
		}
		d, err := testenv.NewInfluxd(bin, filepath.Join(tmp, "influxd"))
		if err != nil {
			log.Fatal(err)
		}
		if err := d.Start(); err != nil {
			log.Fatal(err)
		}
		defer d.Stop()
		influxURL = d.URL
		if *influxRTT > 0 {
			influxURL = startProxy(influxURL, *influxRTT)
		}
	}

	// 1. Both consumers' sessions, then the queued messages, published by a
	// child process so its memory and CPU are not the gateway's.
	subBin := benchenv.LookPath("mosquitto_sub", "/usr/bin/mosquitto_sub")
	qs := strconv.Itoa(*qos)
	run(exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-i", baselineID, "-c", "-q", qs, "-t", topicFilter, "-E"))
	makeSession(url, gatewayID, q)
	if *receiptTime {
		makeSession(url, plainID, q)
	}
	t0 := time.Now()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	args := []string{"-publish", url, "-n", strconv.Itoa(*n), "-tags", strconv.Itoa(*ntags), "-qos", qs}
	if *receiptTime {
		args = append(args, "-receipt-time")
	}
	run(exec.Command(self, args...))
	fmt.Printf("queued:   %d single-reading JSON messages at QoS %d over %d topics, once per session (%s)\n", *n, *qos, *ntags, time.Since(t0).Round(time.Millisecond))

	// 2. The broker's ceiling: mosquitto_sub draining its queue.
	sub := exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-i", baselineID, "-c", "-q", qs, "-t", topicFilter, "-C", strconv.Itoa(*n))
	sub.Stdout = io.Discard
	t0 = time.Now()
	run(sub)
	baseWall := time.Since(t0)
	baseCPU := sub.ProcessState.UserTime() + sub.ProcessState.SystemTime()
	baseRate := float64(*n) / baseWall.Seconds()
	fmt.Printf("baseline: mosquitto_sub -C %d: %9.0f msg/s (%s), %.2f µs CPU per message\n",
		*n, baseRate, baseWall.Round(time.Millisecond), us(baseCPU, *n))

	// 3. The gateway draining its own queue of the same messages.
	dataDir := filepath.Join(tmp, "data")
	if err := os.Mkdir(dataDir, 0o750); err != nil {
		log.Fatal(err)
	}
	what := "collector+pipeline+rules"
	if *withInflux {
		what += "+influx"
	}
	g := gatewayRun{tmp: tmp, url: url, influxURL: influxURL, clientID: gatewayID, dataDir: dataDir, n: *n, qos: q,
		receiptTime: *receiptTime, profile: *profile, memProfile: *memProfile}
	wall, cpu := g.run()
	rate := float64(*n) / wall.Seconds()
	fmt.Printf("gateway:  %s: %9.0f msg/s (%s), %.2f µs CPU per message, peak RSS %.1f MB\n", what, rate, wall.Round(time.Millisecond), us(cpu, *n), maxRSS())
	fmt.Printf("ratio:    gateway / mosquitto_sub = %.2f\n", rate/baseRate)
	if *receiptTime {
		g.clientID, g.dataDir, g.profile, g.memProfile = plainID, "", "", ""
		wall, cpu := g.run()
		plain := float64(*n) / wall.Seconds()
		fmt.Printf("no file:  %s: %9.0f msg/s (%s), %.2f µs CPU per message\n", what, plain, wall.Round(time.Millisecond), us(cpu, *n))
		fmt.Printf("ratio:    with receipts file / without = %.2f\n", rate/plain)
	}
}

// maxRSS is this process's peak resident set, in MB.
func maxRSS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func us(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// countSink counts samples after the engine, to know when all have passed.
type countSink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countSink) Consume(_ context.Context, b []collector.Sample) {
	if c.n.Add(int64(len(b))) >= c.want {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
}

// gatewayRun is one gateway session draining its queue.
type gatewayRun struct {
	tmp, url, influxURL string
	clientID, dataDir   string
	n                   int
	qos                 byte
	receiptTime         bool
	profile, memProfile string
}

func (g gatewayRun) run() (wall, cpu time.Duration) {
	n := g.n
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := collector.NewRegistry()
	j, err := alerting.OpenJournal(ctx, filepath.Join(g.tmp, g.clientID+".db"))
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	limit := 80.0
	engine, err := alerting.NewEngine("bench", []config.Rule{{Name: "high", Match: config.Match{Kind: "hydrant_pressure"}, Above: &limit, Severity: "high"}},
		reg, j, alerting.NewBus(j, quiet), quiet)
	if err != nil {
		log.Fatal(err)
	}
	count := &countSink{want: int64(n), done: make(chan struct{})}
	consumers := []collector.Consumer{engine}
	var sink *collector.InfluxSink
	if g.influxURL != "" {
		db := strings.ReplaceAll(g.clientID, "-", "_")
		influxQuery(g.influxURL, fmt.Sprintf("CREATE DATABASE %q", db))
		spoolDir := filepath.Join(g.tmp, g.clientID+"-spool")
		sink, err = collector.NewInfluxSink(collector.InfluxOptions{URL: g.influxURL, Bucket: db + "/autogen", Spool: collector.SpoolOptions{Dir: spoolDir}}, "bench", reg, quiet)
		if err != nil {
			log.Fatal(err)
		}
		consumers = append(consumers, sink)
	}
	consumers = append(consumers, count)
	pipe := collector.NewPipeline(collector.NewLatest(), consumers...)
	sub := mqtt.Subscription{Topic: topicFilter, Format: "json", Tag: "HYD-{1}", Kind: "hydrant_pressure", Unit: "MPa", Value: "v", Time: "ts"}
	if g.receiptTime {
		sub.Time = ""
	}
	dev := config.Device{ID: "bench", Protocol: "mqtt", URL: g.url, Timeout: 5 * time.Second, Block: &mqtt.Config{
		ClientID: g.clientID, QoS: g.qos, KeepAlive: 30 * time.Second,
		Subscriptions: []mqtt.Subscription{sub},
	}}
	c, err := mqtt.New(protocols.Env{Site: "bench", Emit: pipe, Tags: reg, Log: quiet, DataDir: g.dataDir}, dev)
	if err != nil {
		log.Fatal(err)
	}

	if g.profile != "" {
		f, err := os.Create(g.profile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	if g.memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	cpu0, t0 := benchenv.CPUTime(), time.Now()
	sinkCtx, stopSink := context.WithCancel(context.Background())
	sinkDone := make(chan struct{})
	if sink != nil {
		go func() { defer close(sinkDone); sink.Run(sinkCtx) }()
	} else {
		close(sinkDone)
	}
	go pipe.Run(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.Run(ctx) }()
	deadline := time.After(10 * time.Minute)
	select {
	case <-count.done:
	case <-deadline:
		log.Fatalf("gateway got %d of %d samples in 10 minutes", count.n.Load(), n)
	}
	for sink != nil {
		st := sink.Stats()
		if st.PointsWritten >= uint64(n) {
			if st.PointsDropped > 0 || st.PointsSpooled > 0 {
				log.Fatalf("influx sink: %+v", st)
			}
			break
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			log.Fatalf("influx sink wrote %d of %d points in 10 minutes: %+v", st.PointsWritten, n, st)
		}
	}
	wall, cpu = time.Since(t0), benchenv.CPUTime()-cpu0
	pprof.StopCPUProfile()
	if g.memProfile != "" {
		f, err := os.Create(g.memProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	cancel()
	<-stopped
	stopSink()
	<-sinkDone
	if bad := c.Stats().Subscriptions[0].Bad; len(bad) > 0 {
		log.Fatalf("bad payloads: %v", bad)
	}
	if st := engine.Stats(); st.Raised != 0 {
		log.Fatalf("the quiet rule raised %d alarms", st.Raised)
	}
	return wall, cpu
}

func influxQuery(influxURL, q string) {
	resp, err := http.PostForm(influxURL+"/query", neturl.Values{"q": {q}})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s: %s %s", q, resp.Status, b)
	}
}

// makeSession subscribes with a persistent session and leaves, so the
// broker queues for the client id from now on.
func makeSession(url, id string, qos byte) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("connect %s: %v", url, tok.Error())
	}
	if tok := c.Subscribe(topicFilter, qos, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(100)
}

// publishAll publishes n readings at qos, at QoS 1 with a window of
// unacknowledged publishes, as many devices would.
func publishAll(url string, n, ntags int, qos byte, withTime bool) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("bench-publisher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("connect %s: %v", url, tok.Error())
	}
	defer c.Disconnect(100)
	const window = 500
	toks := make([]paho.Token, 0, window)
	// A millisecond apart, ending a minute ago: all inside the gateway's
	// time bounds (at most 5 minutes ahead) however long the run takes.
	ts := time.Now().UnixMilli() - int64(n) - 60_000
	for i := range n {
		payload := fmt.Sprintf(`{"v":%.3f,"ts":%d}`, 0.2+float64(i%100)/1000, ts+int64(i))
		if !withTime {
			payload = fmt.Sprintf(`{"v":%.3f}`, 0.2+float64(i%100)/1000)
		}
		toks = append(toks, c.Publish(fmt.Sprintf("bench/%d", i%ntags), qos, false, payload))
		if len(toks) == window || i == n-1 {
			for _, tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					log.Fatalf("publish: %v", tok.Error())
				}
			}
			toks = toks[:0]
		}
	}
}

func run(cmd *exec.Cmd) {
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%v: %v", cmd.Args, err)
	}
}

// proxyStdin keeps the proxy child's stdin open.
var proxyStdin io.Closer

// startProxy starts this program as a delaying proxy to target on a free
// loopback port and returns its URL; the child stops when its stdin closes.
func startProxy(target string, rtt time.Duration) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(self, "-proxy", addr+","+target, "-influx-rtt", rtt.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	proxyStdin = stdin // held open: the child lives as long as this process
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(end) {
			log.Fatalf("proxy on %s did not start", addr)
		}
	}
}

// serveDelayed proxies listen to target, each request rtt late, until
// stdin closes (the parent is gone).
func serveDelayed(spec string, rtt time.Duration) {
	listen, target, ok := strings.Cut(spec, ",")
	u, err := neturl.Parse(target)
	if !ok || err != nil {
		log.Fatalf("-proxy %q: want listen,target", spec)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	log.Fatal(http.ListenAndServe(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(rtt)
		rp.ServeHTTP(w, r)
	})))
}
