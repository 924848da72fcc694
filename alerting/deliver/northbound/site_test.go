package northbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/alerting/hazard"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/sim/testenv"
)

// testSite is a site's stores as the gateway wires them: the alarm journal
// with its bus and the hazard engine on the same file, fed each alarm
// event as it is committed.
type testSite struct {
	t    *testing.T
	ctx  context.Context
	path string
	reg  *collector.Registry
	j    *alerting.Journal
	bus  *alerting.Bus
	hz   *hazard.Engine
}

// siteRules make a record of every HH alarm at once: 重大隐患 on level
// tags, 一般隐患 on pressure tags.
func siteRules() []config.HazardRule {
	rule := func(name, kind, level string) config.HazardRule {
		return config.HazardRule{Name: name, Kinds: []string{kind}, AlarmLevels: []string{alerting.LevelHH}, Immediate: true, By: "tag",
			Category: "重大危险源", Level: level, Description: "{area}{point}高高报", Basis: "test basis", Measures: "test measures",
			Responsible: "test", Deadline: 72 * time.Hour}
	}
	return []config.HazardRule{rule("level-hh", "level", hazard.LevelMajor), rule("pressure-hh", "pressure", hazard.LevelGeneral)}
}

func newTestSite(t *testing.T) *testSite {
	t.Helper()
	s := &testSite{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "hazgate.db"), reg: collector.NewRegistry()}
	for i := range 100 {
		for _, kind := range []string{"level", "pressure"} {
			id := fmt.Sprintf("%s-%d", strings.ToUpper(kind[:1]), i)
			if err := s.reg.Add(collector.Tag{ID: id, Name: id, Site: "s1", Device: "dcs", Kind: kind, Area: "罐区A", HazardSource: "HS-01"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.open()
	t.Cleanup(func() { s.j.Close() })
	return s
}

// open (re)opens the stores on the same file, as a gateway restart does.
func (s *testSite) open() {
	s.t.Helper()
	var err error
	if s.j, err = alerting.OpenJournal(s.ctx, s.path); err != nil {
		s.t.Fatal(err)
	}
	s.bus = alerting.NewBus(s.j, quiet)
	if s.hz, err = hazard.NewEngine(s.ctx, s.j.DB(), hazard.Options{Site: "s1", Unit: "测试化工", Rules: siteRules(), Tags: s.reg, Log: quiet}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *testSite) restart() {
	s.t.Helper()
	s.j.Close()
	s.open()
}

// commit journals one alarm transition, publishes it and lets the hazard
// engine judge it.
func (s *testSite) commit(typ string, a alerting.Alarm) alerting.Alarm {
	s.t.Helper()
	ev, err := s.j.Commit(s.ctx, typ, a, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	s.bus.Publish(ev)
	if err := s.hz.Apply(s.ctx, []alerting.Event{ev}); err != nil {
		s.t.Fatal(err)
	}
	return ev.Alarm
}

// raise opens an HH alarm on tag, which opens a hazard record.
func (s *testSite) raise(tag, severity string) alerting.Alarm {
	now := time.Now()
	return s.commit(alerting.EventRaised, alerting.Alarm{Site: "s1", Tag: tag, Rule: "hh", Level: alerting.LevelHH, Class: "limit",
		Severity: severity, State: alerting.ActiveUnacked, Active: true, Value: 9.5, Peak: 9.5, Count: 1, RaisedAt: now})
}

func (s *testSite) hazardSeq() int64 {
	seq, err := s.hz.LastSeq(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return seq
}

// received is one message a test subscriber got.
type received struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// subscriber records what it receives on filter, in order.
type subscriber struct {
	mu   sync.Mutex
	msgs []received
}

// subscribe connects a subscriber to url; durable keeps its session, so
// the broker queues for it across its own restarts.
func subscribe(t *testing.T, url, filter string, durable bool) *subscriber {
	t.Helper()
	s := &subscriber{}
	handler := func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, received{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()})
		s.mu.Unlock()
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("sub-%d", time.Now().UnixNano())).
		SetCleanSession(!durable).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).SetOrderMatters(true).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe(filter, 1, handler) }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return s
}

func (s *subscriber) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// on returns what arrived on topic.
func (s *subscriber) on(topic string) []received {
	var out []received
	for _, m := range s.all() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// statuses decodes what arrived on topic as statuses.
func (s *subscriber) statuses(t *testing.T, topic string) []Status {
	t.Helper()
	var out []Status
	for _, m := range s.on(topic) {
		var st Status
		if err := json.Unmarshal(m.Payload, &st); err != nil {
			t.Fatalf("status %s: %v", m.Payload, err)
		}
		out = append(out, st)
	}
	return out
}

// waitStatus waits for a status at index >= from matching ok and returns
// its index.
func (s *subscriber) waitStatus(t *testing.T, topic, what string, from int, ok func(Status) bool) (int, Status) {
	t.Helper()
	var at int
	var got Status
	testenv.WaitFor(t, 20*time.Second, what, func() bool {
		for i, st := range s.statuses(t, topic) {
			if i >= from && ok(st) {
				at, got = i, st
				return true
			}
		}
		return false
	})
	return at, got
}

// seqs decodes the seq of each message on topic.
func (s *subscriber) seqs(t *testing.T, topic string) []int64 {
	t.Helper()
	var out []int64
	for _, m := range s.on(topic) {
		var ev struct {
			Seq int64 `json:"seq"`
		}
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatalf("%s: %s: %v", topic, m.Payload, err)
		}
		out = append(out, ev.Seq)
	}
	return out
}

// checkSchema validates every message the subscriber got against the
// schema's definition for its topic.
func (s *subscriber) checkSchema(t *testing.T, prefix string) map[string]int {
	t.Helper()
	schemas := contractSchemas(t)
	counts := map[string]int{}
	for _, m := range s.all() {
		topic := strings.TrimPrefix(m.Topic, prefix)
		def, ok := topicSchema[topic]
		if !ok {
			t.Errorf("message on %s, a topic the contract does not have", m.Topic)
			continue
		}
		if err := validate(schemas, def, m.Payload); err != nil {
			t.Errorf("%s: %v\n%s", m.Topic, err, m.Payload)
		}
		counts[topic]++
	}
	return counts
}

// runPublisher runs a publisher until the returned stop, a clean stop.
func runPublisher(t *testing.T, cfg config.Northbound, o Options) (*Publisher, func()) {
	t.Helper()
	n, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			t.Errorf("northbound: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return n, stop
}

// proxy relays TCP to a broker, so a test can cut the publisher's
// connection the way a network failure does: no DISCONNECT, the broker
// sends the last will.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, brokerURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: strings.TrimPrefix(brokerURL, "tcp://")}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// cut closes every relayed connection at once, both sides.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func testConfig(url string) config.Northbound {
	return config.Northbound{URL: url, TopicPrefix: "hz", QoS: 1, Timeout: 2 * time.Second, KeepAlive: 2 * time.Second}
}

// TestIntegrationStatus: the birth is retained (a subscriber that comes
// later gets it), a cut connection brings the broker's last will (offline,
// lost, the connect time), the reconnect a new birth, and a clean stop a
// retained offline, stopped. Without a hazard feed nothing goes to hazard;
// everything sent satisfies the schema.
func TestIntegrationStatus(t *testing.T) {
	m := testenv.StartMosquitto(t)
	s := newTestSite(t)
	s.raise("L-1", alerting.SeverityHigh)
	s.raise("P-1", alerting.SeverityLow)
	alarmSeq, err := s.j.LastSeq(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := subscribe(t, m.URL(), "hz/s1/#", false)
	time.Sleep(200 * time.Millisecond)

	sum := sha256.Sum256([]byte("site: {id: s1}\n"))
	digest := hex.EncodeToString(sum[:])
	p := newProxy(t, m.URL())
	cfg := testConfig(p.URL())
	cfg.SummaryInterval = time.Hour // one after each connect
	dir := t.TempDir()
	_, stop := runPublisher(t, cfg, Options{
		Site: "s1", Name: "测试化工", Version: "1.2.3", ConfigDigest: digest,
		Source: s.bus, Cursor: deliver.NewFileCursor(filepath.Join(dir, "northbound.seq")), Journal: s.j,
		Counts: func() Counts { return Counts{Devices: 2, Tags: 200} }, Log: quiet,
	})
	const topic = "hz/s1/status"
	_, birth := live.waitStatus(t, topic, "the birth", 0, func(st Status) bool { return st.State == SiteOnline })
	want := Status{V: ContractVersion, Site: "s1", State: SiteOnline, Time: birth.Time, Name: "测试化工", Version: "1.2.3", ConfigDigest: digest,
		Devices: 2, Tags: 200, AlarmSeq: alarmSeq}
	if birth != want {
		t.Errorf("birth %+v, want %+v", birth, want)
	}
	if time.Since(birth.Time) > time.Minute {
		t.Errorf("birth time %v", birth.Time)
	}

	late := subscribe(t, m.URL(), topic, false)
	testenv.WaitFor(t, 10*time.Second, "the retained birth", func() bool { return len(late.on(topic)) > 0 })
	if r := late.on(topic)[0]; !r.Retained || late.statuses(t, topic)[0] != birth {
		t.Errorf("a late subscriber got %s (retained %v), want the birth", r.Payload, r.Retained)
	}
	testenv.WaitFor(t, 10*time.Second, "all alarm events", func() bool { return len(live.on("hz/s1/alarm")) == int(alarmSeq) })

	p.cut()
	at, will := live.waitStatus(t, topic, "the last will", 0, func(st Status) bool { return st.State == SiteOffline })
	if will.Reason != "lost" || will.Time.After(birth.Time) || will.Name != "测试化工" || will.ConfigDigest != digest {
		t.Errorf("last will %+v: want reason lost, the connect time (at or before the birth's %v)", will, birth.Time)
	}
	live.waitStatus(t, topic, "a birth after the reconnect", at+1, func(st Status) bool { return st.State == SiteOnline })
	testenv.WaitFor(t, 10*time.Second, "a summary after each connect", func() bool { return len(live.on("hz/s1/summary")) >= 2 })

	stop()
	_, gone := live.waitStatus(t, topic, "offline after the clean stop", at+2, func(st Status) bool { return st.State == SiteOffline })
	if gone.Reason != "stopped" || !gone.Time.After(birth.Time) {
		t.Errorf("clean stop %+v: want reason stopped, now", gone)
	}
	later := subscribe(t, m.URL(), topic, false)
	testenv.WaitFor(t, 10*time.Second, "the retained offline", func() bool { return len(later.on(topic)) > 0 })
	if st := later.statuses(t, topic)[0]; st.State != SiteOffline || st.Reason != "stopped" {
		t.Errorf("after the stop a late subscriber got %+v", st)
	}

	counts := live.checkSchema(t, "hz/s1/")
	if counts[TopicHazard] != 0 {
		t.Errorf("%d messages on hazard without a hazard feed", counts[TopicHazard])
	}
	if counts[TopicSummary] < 2 {
		t.Errorf("summaries: %d, want one after each of two connects", counts[TopicSummary])
	}
	t.Logf("checked against the schema: %v", counts)
}

// TestIntegrationHazardResume: hazard events reach a subscriber across a
// gateway restart (stores reopened, publisher started again from its
// cursor) and a broker restart, each seq exactly once and in order, beside
// the alarm events on their own cursor; all of them satisfy the schema.
func TestIntegrationHazardResume(t *testing.T) {
	m := testenv.StartMosquitto(t)
	s := newTestSite(t)
	sub := subscribe(t, m.URL(), "hz/s1/#", true)
	time.Sleep(200 * time.Millisecond)
	dir := t.TempDir()
	hazardCursor := filepath.Join(dir, "northbound-hazards.seq")
	run := func() (*Publisher, func()) {
		return runPublisher(t, testConfig(m.URL()), Options{
			Site: "s1", Source: s.bus, Cursor: deliver.NewFileCursor(filepath.Join(dir, "northbound.seq")), Journal: s.j,
			Hazards: s.hz, HazardCursor: deliver.NewFileCursor(hazardCursor), Log: quiet,
		})
	}
	tags := 0
	raise := func(n int) {
		for range n {
			kind := "L"
			if tags%3 == 0 {
				kind = "P"
			}
			s.raise(fmt.Sprintf("%s-%d", kind, tags), alerting.SeverityHigh)
			tags++
		}
	}
	// settled waits until both journals are published and acknowledged up
	// to n: nothing is in flight, so a stop or a broker restart then cannot
	// cause a repeat.
	settled := func(nb *Publisher, n int) {
		t.Helper()
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("both journals published and acknowledged up to %d", n), func() bool {
			st := nb.Stats()
			return len(sub.on("hz/s1/hazard")) >= n && len(sub.on("hz/s1/alarm")) >= n &&
				st.HazardLastSeq == int64(n) && st.LastSeq == int64(n)
		})
	}

	raise(10) // before the first start
	nb, stop := run()
	settled(nb, 10)
	raise(5) // live
	settled(nb, 15)
	testenv.WaitFor(t, 10*time.Second, "the hazard cursor file at 15", func() bool {
		seq, err := deliver.NewFileCursor(hazardCursor).Load()
		return err == nil && seq == 15
	})
	stop()

	raise(10) // while the gateway is down
	s.restart()
	nb, stop = run()
	defer stop()
	settled(nb, 25)

	beforeOutage := map[string]int{"hz/s1/hazard": len(sub.on("hz/s1/hazard")), "hz/s1/alarm": len(sub.on("hz/s1/alarm"))}
	m.Stop()
	raise(10) // while the broker is down
	time.Sleep(500 * time.Millisecond)
	m.Start()
	raise(5)
	settled(nb, 40)

	if last := s.hazardSeq(); last != 40 {
		t.Fatalf("hazard journal at %d, want one event a raise (40)", last)
	}
	// Every seq counted, per journal: 1..40 in order, each once. Nothing was
	// in flight at the gateway's stop, so up to the outage there is no
	// repeat at all. An event published in the instant the broker went down
	// may come twice (paho resends its copy on reconnect, the follower its
	// own after the timeout): the contract's repeat, right after itself,
	// which a consumer drops by site + seq.
	for _, topic := range []string{"hz/s1/hazard", "hz/s1/alarm"} {
		got := sub.seqs(t, topic)
		want, repeats := int64(1), 0
		for i, seq := range got {
			switch {
			case seq == want:
				want++
			case seq == want-1 && i >= beforeOutage[topic]:
				repeats++
			default:
				t.Fatalf("%s seqs %v: at %d got %d, want %d (a gap, repeat or reordering)", topic, got, i, seq, want)
			}
		}
		if want != 41 {
			t.Errorf("%s: up to seq %d, want 40", topic, want-1)
		}
		if repeats > 0 {
			t.Logf("%s: %d repeats after the broker restart", topic, repeats)
		}
	}
	var created HazardMessage
	if err := json.Unmarshal(sub.on("hz/s1/hazard")[0].Payload, &created); err != nil {
		t.Fatal(err)
	}
	if created.V != ContractVersion || created.Site != "s1" || created.Type != hazard.EventCreated || created.Hazard.ID != 1 || len(created.Hazard.AlarmIDs) != 1 {
		t.Errorf("first hazard message %+v", created)
	}
	t.Logf("checked against the schema: %v", sub.checkSchema(t, "hz/s1/"))
}

// TestIntegrationSummary: the retained summary counts what the journal
// and the hazard records hold, and the next one follows a change.
func TestIntegrationSummary(t *testing.T) {
	m := testenv.StartMosquitto(t)
	s := newTestSite(t)
	now := time.Now()
	critical := s.raise("L-1", alerting.SeverityCritical) // active_unacked; a 重大隐患
	acked := s.raise("L-2", alerting.SeverityHigh)        // a 重大隐患, rectification started below
	acked.State, acked.AckedAt, acked.AckedBy = alerting.ActiveAcked, &now, "op"
	s.commit(alerting.EventAcked, acked)
	cleared := s.raise("P-1", alerting.SeverityHigh) // cleared_unacked; a 一般隐患
	cleared.State, cleared.Active, cleared.ClearedAt = alerting.ClearedUnacked, false, &now
	s.commit(alerting.EventCleared, cleared)
	closed := s.raise("L-3", alerting.SeverityLow) // acked and cleared: closed, not open; its 重大隐患 dismissed
	closed.State, closed.Active, closed.AckedAt, closed.ClearedAt = alerting.Normal, false, &now, &now
	s.commit(alerting.EventClosed, closed)
	shelved := s.commit(alerting.EventRaised, alerting.Alarm{Site: "s1", Tag: "P-2", Rule: "stale", Level: alerting.LevelStale, Class: "stale",
		Severity: alerting.SeverityMedium, State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: now})
	shelved.State, shelved.ShelvedAt, shelved.ShelvedBy = alerting.Shelved, &now, "op"
	s.commit(alerting.EventShelved, shelved) // open, not unacked; no hazard (not HH)

	hazards, err := s.hz.List(s.ctx, hazard.Filter{})
	if err != nil || len(hazards) != 4 {
		t.Fatalf("hazards %v: %v", len(hazards), err)
	}
	for _, h := range hazards {
		switch h.Tag {
		case "L-2":
			if _, err := s.hz.Transition(s.ctx, h.ID, hazard.Actor{Name: "op", Rectify: true}, hazard.TransitionRequest{To: hazard.InProgress}); err != nil {
				t.Fatal(err)
			}
		case "L-3":
			if _, err := s.hz.Transition(s.ctx, h.ID, hazard.Actor{Name: "verifier", Verify: true}, hazard.TransitionRequest{To: hazard.Dismissed, Comment: "误报"}); err != nil {
				t.Fatal(err)
			}
		}
	}

	cfg := testConfig(m.URL())
	cfg.SummaryInterval = time.Second
	dir := t.TempDir()
	runPublisher(t, cfg, Options{
		Site: "s1", Source: s.bus, Cursor: deliver.NewFileCursor(filepath.Join(dir, "northbound.seq")), Journal: s.j,
		Hazards: s.hz, HazardCursor: deliver.NewFileCursor(filepath.Join(dir, "northbound-hazards.seq")),
		Counts: func() Counts { return Counts{Devices: 1, Tags: 200, TagsBad: 3, SpoolBacklog: 7} }, Log: quiet,
	})
	const topic = "hz/s1/summary"
	live := subscribe(t, m.URL(), "hz/s1/#", false) // the retained summary, then the periodic ones
	testenv.WaitFor(t, 10*time.Second, "a summary", func() bool { return len(live.on(topic)) > 0 })
	var got Summary
	if err := json.Unmarshal(live.on(topic)[0].Payload, &got); err != nil {
		t.Fatal(err)
	}
	alarmSeq, _ := s.j.LastSeq(s.ctx)
	hazardSeq, _ := s.hz.LastSeq(s.ctx)
	want := Summary{V: ContractVersion, Site: "s1", Time: got.Time, AlarmSeq: alarmSeq, HazardSeq: hazardSeq,
		Open:    map[string]int{alerting.SeverityCritical: 1, alerting.SeverityHigh: 2, alerting.SeverityMedium: 1},
		Unacked: 2, TagsBad: 3, SpoolBacklog: 7, OpenHazards: 3, MajorHazards: 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary\n%+v, want\n%+v", got, want)
	}

	// Acknowledging the critical alarm shows in a following summary.
	critical.State, critical.AckedAt, critical.AckedBy = alerting.ActiveAcked, &now, "op"
	s.commit(alerting.EventAcked, critical)
	testenv.WaitFor(t, 10*time.Second, "a summary with one unacked", func() bool {
		for _, r := range live.on(topic) {
			var x Summary
			if json.Unmarshal(r.Payload, &x) == nil && x.Unacked == 1 && x.AlarmSeq == alarmSeq+1 {
				return true
			}
		}
		return false
	})
	t.Logf("checked against the schema: %v", live.checkSchema(t, "hz/s1/"))
}

// TestIntegrationHazardOverdue: a record past its deadline reaches the
// hazard topic once as an overdue message the schema accepts.
func TestIntegrationHazardOverdue(t *testing.T) {
	m := testenv.StartMosquitto(t)
	s := newTestSite(t)
	sub := subscribe(t, m.URL(), "hz/s1/#", true)
	time.Sleep(200 * time.Millisecond)
	dir := t.TempDir()
	runPublisher(t, testConfig(m.URL()), Options{
		Site: "s1", Source: s.bus, Cursor: deliver.NewFileCursor(filepath.Join(dir, "northbound.seq")), Journal: s.j,
		Hazards: s.hz, HazardCursor: deliver.NewFileCursor(filepath.Join(dir, "northbound-hazards.seq")), Log: quiet,
	})
	s.raise("L-1", alerting.SeverityHigh) // a 重大隐患, 72 h to rectify
	for _, at := range []time.Time{time.Now().Add(73 * time.Hour), time.Now().Add(74 * time.Hour)} {
		if err := s.hz.Tick(s.ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "the overdue message", func() bool { return len(sub.on("hz/s1/hazard")) >= 2 })
	time.Sleep(300 * time.Millisecond) // a second overdue would be here by now
	msgs := sub.on("hz/s1/hazard")
	var types []string
	for _, r := range msgs {
		var hm HazardMessage
		if err := json.Unmarshal(r.Payload, &hm); err != nil {
			t.Fatal(err)
		}
		types = append(types, hm.Type)
	}
	if !slices.Equal(types, []string{hazard.EventCreated, hazard.EventOverdue}) {
		t.Errorf("hazard messages %v, want created then one overdue", types)
	}
	t.Logf("checked against the schema: %v", sub.checkSchema(t, "hz/s1/"))
}

// TestIntegrationAlarmDisposalAndEscalation: an escalation and a disposal
// record reach the alarm topic in journal order, with the raised severity
// and the record (cause, measures, person), as messages the schema accepts.
func TestIntegrationAlarmDisposalAndEscalation(t *testing.T) {
	m := testenv.StartMosquitto(t)
	s := newTestSite(t)
	sub := subscribe(t, m.URL(), "hz/s1/#", true)
	time.Sleep(200 * time.Millisecond)
	runPublisher(t, testConfig(m.URL()), Options{
		Site: "s1", Source: s.bus, Cursor: deliver.NewFileCursor(filepath.Join(t.TempDir(), "northbound.seq")), Journal: s.j, Log: quiet,
	})
	a := s.raise("P-1", alerting.SeverityHigh)
	now := time.Now().UTC().Truncate(time.Second)
	a.Severity, a.Escalations, a.EscalatedAt = alerting.SeverityCritical, 1, &now
	a = s.commit(alerting.EventEscalated, a)
	a.Disposal = &alerting.Disposal{Cause: alerting.CauseLeak, Measures: "关闭根部阀，更换法兰垫片", Person: "李班长", At: now, By: "op1"}
	s.commit(alerting.EventDisposed, a)

	testenv.WaitFor(t, 10*time.Second, "three alarm messages", func() bool { return len(sub.on("hz/s1/alarm")) >= 3 })
	var got []AlarmMessage
	for _, r := range sub.on("hz/s1/alarm") {
		var am AlarmMessage
		if err := json.Unmarshal(r.Payload, &am); err != nil {
			t.Fatal(err)
		}
		got = append(got, am)
	}
	if len(got) != 3 || got[0].Type != alerting.EventRaised || got[1].Type != alerting.EventEscalated || got[2].Type != alerting.EventDisposed {
		t.Fatalf("alarm messages %+v, want raised, escalated, disposed", got)
	}
	if esc := got[1].Alarm; esc.Severity != alerting.SeverityCritical || esc.Escalations != 1 || esc.EscalatedAt == nil || !esc.EscalatedAt.Equal(now) {
		t.Errorf("escalated message %+v", esc)
	}
	if d := got[2].Alarm.Disposal; d == nil || d.Cause != alerting.CauseLeak || d.Measures != "关闭根部阀，更换法兰垫片" ||
		d.Person != "李班长" || d.By != "op1" || !d.At.Equal(now) {
		t.Errorf("disposed message's disposal %+v", d)
	}
	counts := sub.checkSchema(t, "hz/s1/")
	if counts[TopicAlarm] != 3 {
		t.Errorf("checked %v, want the three alarm messages among them", counts)
	}
}
