// Command mqtt measures the MQTT collector against a private Mosquitto on
// loopback and prints, for -n single-reading JSON messages at QoS 1:
//
//   - the broker's own ceiling: how fast `mosquitto_sub -C N` drains the
//     same number of queued messages from the same broker in the same run;
//   - the gateway's rate (collector, pipeline, latest cache and an
//     alerting.Engine evaluating a threshold rule on every sample), as a
//     ratio to that ceiling;
//   - the gateway's CPU µs per message (this process's user+system time;
//     the broker runs apart).
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
// Usage: go run ./bench/mqtt [-n 400000] [-tags 100] [-receipt-time]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/bench/benchenv"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/mqtt"
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
	profile := flag.String("cpuprofile", "", "write a CPU profile of the gateway's run to this file")
	receiptTime := flag.Bool("receipt-time", false, "payloads without a time: stamped on receipt, with and without the receipts file")
	flag.Parse()
	log.SetFlags(0)

	tmp, err := os.MkdirTemp("", "hazgate-bench-mqtt-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	broker := benchenv.StartMosquitto(tmp)
	defer broker.Stop()
	port := strconv.Itoa(broker.Port)
	url := "tcp://127.0.0.1:" + port

	// 1. Both consumers' sessions, then the queued messages.
	subBin := benchenv.LookPath("mosquitto_sub", "/usr/bin/mosquitto_sub")
	run(exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-i", baselineID, "-c", "-q", "1", "-t", topicFilter, "-E"))
	makeSession(url, gatewayID)
	if *receiptTime {
		makeSession(url, plainID)
	}
	t0 := time.Now()
	publishAll(url, *n, *ntags, !*receiptTime)
	fmt.Printf("queued:   %d single-reading JSON messages at QoS 1 over %d topics, once per session (%s)\n", *n, *ntags, time.Since(t0).Round(time.Millisecond))

	// 2. The broker's ceiling: mosquitto_sub draining its queue.
	sub := exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-i", baselineID, "-c", "-q", "1", "-t", topicFilter, "-C", strconv.Itoa(*n))
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
	wall, cpu := runGateway(tmp, url, gatewayID, dataDir, *n, *receiptTime, *profile)
	rate := float64(*n) / wall.Seconds()
	fmt.Printf("gateway:  collector+pipeline+rules: %9.0f msg/s (%s), %.2f µs CPU per message\n", rate, wall.Round(time.Millisecond), us(cpu, *n))
	fmt.Printf("ratio:    gateway / mosquitto_sub = %.2f\n", rate/baseRate)
	if *receiptTime {
		wall, cpu := runGateway(tmp, url, plainID, "", *n, true, "")
		plain := float64(*n) / wall.Seconds()
		fmt.Printf("no file:  collector+pipeline+rules: %9.0f msg/s (%s), %.2f µs CPU per message\n", plain, wall.Round(time.Millisecond), us(cpu, *n))
		fmt.Printf("ratio:    with receipts file / without = %.2f\n", rate/plain)
	}
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

func runGateway(tmp, url, clientID, dataDir string, n int, receiptTime bool, profile string) (wall, cpu time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := collector.NewRegistry()
	j, err := alerting.OpenJournal(ctx, filepath.Join(tmp, clientID+".db"))
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
	pipe := collector.NewPipeline(collector.NewLatest(), engine, count)
	sub := mqtt.Subscription{Topic: topicFilter, Format: "json", Tag: "HYD-{1}", Kind: "hydrant_pressure", Unit: "MPa", Value: "v", Time: "ts"}
	if receiptTime {
		sub.Time = ""
	}
	dev := config.Device{ID: "bench", Protocol: "mqtt", URL: url, Timeout: 5 * time.Second, Block: &mqtt.Config{
		ClientID: clientID, QoS: 1, KeepAlive: 30 * time.Second,
		Subscriptions: []mqtt.Subscription{sub},
	}}
	c, err := mqtt.New(protocols.Env{Site: "bench", Emit: pipe, Tags: reg, Log: quiet, DataDir: dataDir}, dev)
	if err != nil {
		log.Fatal(err)
	}

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	cpu0, t0 := benchenv.CPUTime(), time.Now()
	go pipe.Run(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.Run(ctx) }()
	select {
	case <-count.done:
	case <-time.After(10 * time.Minute):
		log.Fatalf("gateway got %d of %d samples in 10 minutes", count.n.Load(), n)
	}
	wall, cpu = time.Since(t0), benchenv.CPUTime()-cpu0
	pprof.StopCPUProfile()
	cancel()
	<-stopped
	if bad := c.Stats().Subscriptions[0].Bad; len(bad) > 0 {
		log.Fatalf("bad payloads: %v", bad)
	}
	if st := engine.Stats(); st.Raised != 0 {
		log.Fatalf("the quiet rule raised %d alarms", st.Raised)
	}
	return wall, cpu
}

// makeSession subscribes with a persistent session and leaves, so the
// broker queues for the client id from now on.
func makeSession(url, id string) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("connect %s: %v", url, tok.Error())
	}
	if tok := c.Subscribe(topicFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(100)
}

// publishAll publishes n readings at QoS 1 with a window of unacknowledged
// publishes, as many devices would.
func publishAll(url string, n, ntags int, withTime bool) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("bench-publisher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("connect %s: %v", url, tok.Error())
	}
	defer c.Disconnect(100)
	const window = 500
	toks := make([]paho.Token, 0, window)
	ts := time.Now().UnixMilli()
	for i := range n {
		payload := fmt.Sprintf(`{"v":%.3f,"ts":%d}`, 0.2+float64(i%100)/1000, ts+int64(i))
		if !withTime {
			payload = fmt.Sprintf(`{"v":%.3f}`, 0.2+float64(i%100)/1000)
		}
		toks = append(toks, c.Publish(fmt.Sprintf("bench/%d", i%ntags), 1, false, payload))
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
