// Command hub measures a regulator hub against a private Mosquitto on
// loopback. A light publisher (not full gateways) plays -sites sites, each
// publishing the northbound contract's alarm messages at -rate events per
// second for -seconds, then an alarm flood of -flood events as fast as the
// broker takes them. It reports, each against the broker relaying the same
// messages to a bare subscriber in the same run:
//
//   - events/s: for the paced load (does it keep up?) and the flood (the
//     ceiling);
//   - CPU µs per event of each consumer process (its own user+system time;
//     the broker and the publisher run apart);
//   - p50/p99 from the site's time in the message to the consumer having
//     it (the hub: committed to its store);
//   - one hub process, then two in a shared-subscription group.
//
// The store is SQLite in a temp dir, or with -store a PostgreSQL server URL
// (a fresh database is created on it and dropped after).
//
// Usage: go run ./bench/hub [-sites 1000] [-rate 10] [-seconds 10] [-flood 20000] [-store postgres://...]
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hub"
	"hazgate/alerting/sqlstore"
	"hazgate/bench/benchenv"
	"hazgate/config"
)

// result is what a consumer process reports on stdout when it ends.
type result struct {
	Events  int     `json:"events"`
	CPU     float64 `json:"cpu_s"`
	Latency []int64 `json:"latency_us,omitempty"` // the bare subscriber's, per message
}

func main() {
	role := flag.String("role", "", "internal: pub, sub or hub")
	sites := flag.Int("sites", 1000, "sites publishing")
	rate := flag.Float64("rate", 10, "events per second per site")
	seconds := flag.Float64("seconds", 10, "how long the paced load lasts")
	flood := flag.Int("flood", 20000, "alarm events published as fast as the broker takes them, after the paced load")
	store := flag.String("store", "", "PostgreSQL server URL; empty: SQLite in a temp dir")
	broker := flag.String("broker", "", "internal")
	group := flag.String("group", "", "internal")
	name := flag.String("name", "", "internal")
	want := flag.Int("n", 0, "internal: events the subscriber waits for")
	profile := flag.String("cpuprofile", "", "write the (first) hub process's CPU profile to this file")
	flag.Parse()
	log.SetFlags(0)
	switch *role {
	case "pub":
		publish(*broker, *sites, *rate, *seconds, *flood)
		return
	case "sub":
		subscribe(*broker, *want)
		return
	case "hub":
		runHub(*broker, *store, *group, *name, *profile)
		return
	}

	tmp, err := os.MkdirTemp("", "hazgate-bench-hub-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	m := benchenv.StartMosquitto(tmp)
	defer m.Stop()
	paced := int(float64(*sites) * *rate * *seconds)
	total := paced + *flood
	fmt.Printf("hub bench: %d sites at %g events/s each for %gs (%d events, %.0f/s), then a flood of %d; broker mosquitto on loopback\n",
		*sites, *rate, *seconds, paced, float64(*sites)**rate, *flood)

	// 1. The broker relaying to a bare subscriber.
	base := runBaseline(m.URL(), *sites, *rate, *seconds, *flood, total)
	fmt.Printf("\n%-34s %12s %12s %10s %10s %10s\n", "consumer", "paced ev/s", "flood ev/s", "µs CPU/ev", "p50 ms", "p99 ms")
	base.print("broker → bare subscriber", nil)

	// 2. One hub process, then two in one group, each on a fresh store.
	for _, n := range []int{1, 2} {
		dsn, drop := freshStore(*store, tmp, fmt.Sprintf("hub%d", n))
		r := runHubs(m.URL(), dsn, n, *sites, *rate, *seconds, *flood, total, *profile)
		drop()
		r.print(fmt.Sprintf("hub ×%d (%s)", n, storeKind(*store)), &base)
	}
}

// measured is one consumer setup's figures.
type measured struct {
	pacedRate, floodRate float64
	cpuPerEvent          time.Duration
	p50, p99             time.Duration // to the consumer having it (the hub: committed)
	liveP50, liveP99     time.Duration // the hub: to its live feed (the SSE stream's source)
}

func (m measured) print(label string, base *measured) {
	ratio := func(v, b float64) string {
		if base == nil || b == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.2f×)", v/b)
	}
	var b measured
	if base != nil {
		b = *base
	}
	live := ""
	if m.liveP99 > 0 {
		live = fmt.Sprintf("   live feed p50 %.1f ms, p99 %.1f ms", ms(m.liveP50), ms(m.liveP99))
	}
	defer fmt.Println(live)
	fmt.Printf("%-34s %12s %12s %10s %10s %10s", label,
		fmt.Sprintf("%.0f%s", m.pacedRate, ratio(m.pacedRate, b.pacedRate)),
		fmt.Sprintf("%.0f%s", m.floodRate, ratio(m.floodRate, b.floodRate)),
		fmt.Sprintf("%.1f%s", float64(m.cpuPerEvent.Nanoseconds())/1e3, ratio(float64(m.cpuPerEvent), float64(b.cpuPerEvent))),
		fmt.Sprintf("%.1f%s", ms(m.p50), ratio(float64(m.p50), float64(b.p50))),
		fmt.Sprintf("%.1f%s", ms(m.p99), ratio(float64(m.p99), float64(b.p99))))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func storeKind(store string) string {
	if store == "" {
		return "SQLite"
	}
	return "PostgreSQL"
}

// self runs this binary in another role.
func self(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	return cmd
}

func runBaseline(broker string, sites int, rate, seconds float64, flood, total int) measured {
	sub := self("-role", "sub", "-broker", broker, "-n", fmt.Sprint(total))
	out, err := sub.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		log.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // subscribed
	marks := runPublisher(broker, sites, rate, seconds, flood)
	var r result
	if err := json.NewDecoder(out).Decode(&r); err != nil {
		log.Fatalf("subscriber: %v", err)
	}
	sub.Wait()
	lat := make([]time.Duration, len(r.Latency))
	for i, us := range r.Latency {
		lat[i] = time.Duration(us) * time.Microsecond
	}
	paced := lat[:min(len(lat), total-flood)]
	return measured{
		pacedRate:   float64(total-flood) / marks.PacedEnd.Sub(marks.Start).Seconds(),
		floodRate:   float64(flood) / r.lastAt().Sub(marks.PacedEnd).Seconds(),
		cpuPerEvent: time.Duration(r.CPU * 1e9 / float64(r.Events)),
		p50:         quantile(paced, 0.50), p99: quantile(paced, 0.99),
	}
}

// lastAt is when the subscriber had its last message; it reports it as
// the last latency's arrival, which the parent cannot see, so the
// subscriber sends it as the final element (unix µs).
func (r result) lastAt() time.Time {
	if len(r.Latency) == 0 {
		return time.Now()
	}
	return time.UnixMicro(r.Latency[len(r.Latency)-1])
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// runPublisher runs the publisher in its own process until it is done.
func runPublisher(broker string, sites int, rate, seconds float64, flood int) pubMarks {
	pub := self("-role", "pub", "-broker", broker, "-sites", fmt.Sprint(sites), "-rate", fmt.Sprint(rate),
		"-seconds", fmt.Sprint(seconds), "-flood", fmt.Sprint(flood))
	out, err := pub.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Start(); err != nil {
		log.Fatal(err)
	}
	var marks pubMarks
	if err := json.NewDecoder(out).Decode(&marks); err != nil {
		log.Fatalf("publisher: %v", err)
	}
	pub.Wait()
	return marks
}

// pubMarks are the publisher's times: start, end of the paced load, end.
type pubMarks struct {
	Start, PacedEnd, End time.Time
}

// publish plays the sites: paced alarm messages round robin, then a
// flood. Each message carries its site's time (now) and a per-site seq.
func publish(broker string, sites int, rate, seconds float64, flood int) {
	const clients = 4
	cs := make([]paho.Client, clients)
	for i := range cs {
		cs[i] = paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("bench-sites-%d", i)).
			SetMaxResumePubInFlight(1000))
		if tok := cs[i].Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			log.Fatalf("publisher connect: %v", tok.Error())
		}
	}
	seq := make([]int64, sites)
	var mu sync.Mutex
	send := func(i int) paho.Token {
		site := i % sites
		mu.Lock()
		seq[site]++
		s := seq[site]
		mu.Unlock()
		id := fmt.Sprintf("site-%04d", site)
		now := time.Now()
		b, _ := json.Marshal(northbound.AlarmMessage{V: northbound.ContractVersion, Site: id, Event: alerting.Event{
			Seq: s, Type: alerting.EventRaised, Time: now,
			Alarm: alerting.Alarm{ID: s, Site: id, Tag: "GT-1", Rule: "lel", Class: "lel", Severity: alerting.SeverityHigh,
				State: alerting.ActiveUnacked, Active: true, Value: 30, Peak: 30, RaisedAt: now, Count: 1}}})
		return cs[i%clients].Publish("hazgate/"+id+"/alarm", 1, false, b)
	}
	marks := pubMarks{Start: time.Now()}
	paced := int(float64(sites) * rate * seconds)
	every := time.Duration(float64(time.Second) / (float64(sites) * rate))
	var toks []paho.Token
	wait := func() {
		for _, t := range toks {
			if !t.WaitTimeout(60*time.Second) || t.Error() != nil {
				log.Fatalf("publish: %v", t.Error())
			}
		}
		toks = toks[:0]
	}
	for i := range paced {
		// Paced against the start, so a slow moment is caught up, not lost.
		if d := time.Until(marks.Start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		toks = append(toks, send(i))
		if len(toks) == 1000 {
			wait()
		}
	}
	wait()
	marks.PacedEnd = time.Now()
	for i := range flood {
		toks = append(toks, send(paced+i))
		if len(toks) == 1000 {
			wait()
		}
	}
	wait()
	marks.End = time.Now()
	json.NewEncoder(os.Stdout).Encode(marks)
	for _, c := range cs {
		c.Disconnect(100)
	}
}

// subscribe is the bare subscriber: it counts want messages and reports
// each one's latency from its site time, and when the last one arrived.
func subscribe(broker string, want int) {
	lat := make([]int64, 0, want+1)
	done := make(chan struct{})
	var n atomic.Int64
	var mu sync.Mutex
	cpu0 := benchenv.CPUTime()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("bench-bare").SetOrderMatters(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			var head struct {
				Time time.Time `json:"time"`
			}
			json.Unmarshal(m.Payload(), &head)
			mu.Lock()
			lat = append(lat, time.Since(head.Time).Microseconds())
			mu.Unlock()
			if n.Add(1) == int64(want) {
				close(done)
			}
		}))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := c.Subscribe("hazgate/+/alarm", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		log.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		log.Fatalf("bare subscriber got %d of %d", n.Load(), want)
	}
	last := time.Now().UnixMicro()
	cpu := benchenv.CPUTime() - cpu0
	c.Disconnect(100)
	mu.Lock()
	defer mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(result{Events: want, CPU: cpu.Seconds(), Latency: append(lat, last)})
}

// runHub is one hub process: the ingest on the store until SIGTERM, then
// its counts and CPU on stdout.
func runHub(broker, dsn, group, name, profile string) {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, d, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := hub.OpenStore(ctx, db, d)
	if err != nil {
		log.Fatal(err)
	}
	cfg := config.Hub{URL: broker, TopicPrefix: "hazgate", Group: group, OfflineAfter: time.Hour, MaxPayload: 1 << 20, KeepAlive: 30 * time.Second}
	in, err := hub.New(cfg, hub.Options{Store: store, Name: name, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		log.Fatal(err)
	}
	// The live feed is what the hub's SSE stream carries: the latency from
	// the site's time to it is the regulator's.
	live := in.Live().Subscribe()
	defer live.Close()
	var lat []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-live.C:
				if m.Alarm != nil {
					lat = append(lat, time.Since(m.Alarm.Time).Microseconds())
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	cpu0 := benchenv.CPUTime()
	in.Run(ctx)
	<-done
	st := in.Stats()
	json.NewEncoder(os.Stdout).Encode(result{Events: int(st.Stored + st.Duplicate), CPU: (benchenv.CPUTime() - cpu0).Seconds(), Latency: lat})
}

func runHubs(broker, dsn string, n, sites int, rate, seconds float64, flood, total int, profile string) measured {
	group := ""
	if n > 1 {
		group = "bench"
	}
	// The store's tables first, so the hubs do not race to migrate.
	db, d, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := hub.OpenStore(context.Background(), db, d)
	if err != nil {
		log.Fatal(err)
	}
	hubs := make([]*exec.Cmd, n)
	outs := make([]*json.Decoder, n)
	for i := range hubs {
		args := []string{"-role", "hub", "-broker", broker, "-store", dsn, "-group", group, "-name", fmt.Sprintf("bench-%d", i)}
		if profile != "" && i == 0 {
			args = append(args, "-cpuprofile", fmt.Sprintf("%s.%d", profile, n))
		}
		hubs[i] = self(args...)
		out, err := hubs[i].StdoutPipe()
		if err != nil {
			log.Fatal(err)
		}
		outs[i] = json.NewDecoder(out)
		if err := hubs[i].Start(); err != nil {
			log.Fatal(err)
		}
	}
	time.Sleep(time.Second) // connected and subscribed
	marks := runPublisher(broker, sites, rate, seconds, flood)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		alarms, _, err := store.EventCounts(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		got := 0
		for _, c := range alarms {
			got += c
		}
		if got >= total {
			if got > total {
				log.Fatalf("stored %d events of %d: repeats", got, total)
			}
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("hubs stored %d of %d in 10 minutes", got, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var events int
	var cpu float64
	var live []time.Duration
	for i, h := range hubs {
		h.Process.Signal(syscall.SIGTERM)
		var r result
		if err := outs[i].Decode(&r); err != nil {
			log.Fatalf("hub %d: %v", i, err)
		}
		h.Wait()
		events += r.Events
		cpu += r.CPU
		// The paced load's share of this hub's live feed.
		for _, us := range r.Latency {
			live = append(live, time.Duration(us)*time.Microsecond)
		}
	}
	lat, last := latencies(db, d, marks.PacedEnd)
	return measured{
		pacedRate:   float64(total-flood) / marks.PacedEnd.Sub(marks.Start).Seconds(),
		floodRate:   float64(flood) / last.Sub(marks.PacedEnd).Seconds(),
		cpuPerEvent: time.Duration(cpu * 1e9 / float64(events)),
		p50:         quantile(lat, 0.5), p99: quantile(lat, 0.99),
		liveP50: quantile(live[:min(len(live), pacedOf(live, lat))], 0.5),
		liveP99: quantile(live[:min(len(live), pacedOf(live, lat))], 0.99),
	}
}

// pacedOf is how many of the live latencies (in arrival order) belong to
// the paced load: as many as the store has for it.
func pacedOf(live, stored []time.Duration) int { return len(stored) }

// latencies reads, per stored event of the paced load, its site time to
// its receipt at the hub (stamped in the transaction that stored it), and
// the last receipt.
func latencies(db *sql.DB, d sqlstore.Dialect, pacedEnd time.Time) ([]time.Duration, time.Time) {
	rows, err := db.Query(`SELECT time, received FROM hub_alarm_events`)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	var out []time.Duration
	var last time.Time
	for rows.Next() {
		var at, recv time.Time
		if err := rows.Scan(sqlstore.ScanTime(&at), sqlstore.ScanTime(&recv)); err != nil {
			log.Fatal(err)
		}
		if recv.After(last) {
			last = recv
		}
		if at.Before(pacedEnd) {
			out = append(out, recv.Sub(at))
		}
	}
	return out, last
}

// freshStore is a new store: a SQLite file in tmp, or a new database on
// the PostgreSQL server, dropped by the returned func.
func freshStore(server, tmp, name string) (string, func()) {
	if server == "" {
		return filepath.Join(tmp, name+".db"), func() {}
	}
	u, err := url.Parse(server)
	if err != nil {
		log.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	dbName := "hazgate_bench_" + name + "_" + hex.EncodeToString(b[:])
	admin, _, err := sqlstore.Open(context.Background(), server)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + dbName); err != nil {
		log.Fatal(err)
	}
	u.Path = "/" + dbName
	return u.String(), func() {
		admin.Exec(`DROP DATABASE ` + dbName + ` WITH (FORCE)`)
		admin.Close()
	}
}
