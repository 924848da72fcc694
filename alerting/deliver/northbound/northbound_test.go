package northbound

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/config"
	"hazgate/sim/testenv"
)

var (
	quiet = slog.New(slog.DiscardHandler)
	tagN  atomic.Uint64
)

// TestIntegrationResume: events committed while the broker is down
// and while the publisher is stopped all reach a regulator's subscriber, in
// journal order, with no gap.
func TestIntegrationResume(t *testing.T) {
	m := testenv.StartMosquitto(t)
	ctx := context.Background()
	dir := t.TempDir()
	j, err := alerting.OpenJournal(ctx, filepath.Join(dir, "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bus := alerting.NewBus(j, quiet)
	commit := func(n int) {
		t.Helper()
		for range n {
			now := time.Now()
			ev, err := j.Commit(ctx, alerting.EventRaised, alerting.Alarm{Site: "s1", Tag: fmt.Sprintf("T%d", tagN.Add(1)), Rule: "r",
				Severity: alerting.SeverityHigh, State: alerting.ActiveUnacked, RaisedAt: now}, now)
			if err != nil {
				t.Fatal(err)
			}
			bus.Publish(ev)
		}
	}

	var mu sync.Mutex
	var got []int64
	received := func() []int64 { mu.Lock(); defer mu.Unlock(); return append([]int64(nil), got...) }
	topic := "hz/s1/alarm"
	handler := func(_ paho.Client, msg paho.Message) {
		var ev AlarmMessage
		if err := json.Unmarshal(msg.Payload(), &ev); err != nil || ev.Alarm.Site != "s1" || ev.V != ContractVersion || ev.Site != "s1" {
			t.Errorf("event %s: %v", msg.Payload(), err)
		}
		mu.Lock()
		got = append(got, ev.Seq)
		mu.Unlock()
	}
	// The regulator keeps a session so the broker queues for it across restarts.
	regulator := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL()).SetClientID(fmt.Sprintf("regulator-%d", time.Now().UnixNano())).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe(topic, 1, handler) }))
	if tok := regulator.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("regulator: connect: %v", tok.Error())
	}
	defer regulator.Disconnect(100)
	time.Sleep(200 * time.Millisecond)

	cfg := config.Northbound{URL: m.URL(), TopicPrefix: "hz", QoS: 1, Timeout: 2 * time.Second, KeepAlive: 2 * time.Second}
	cursorPath := filepath.Join(dir, "northbound.seq")
	run := func() (*Publisher, func()) {
		n, err := New(cfg, Options{Site: "s1", Source: bus, Cursor: deliver.NewFileCursor(cursorPath), Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := n.Run(rctx); err != nil {
				t.Errorf("northbound: %v", err)
			}
		}()
		return n, func() { cancel(); <-done }
	}
	maxSeen := func() int64 {
		var hi int64
		for _, s := range received() {
			hi = max(hi, s)
		}
		return hi
	}

	commit(50)
	nb, stop := run()
	testenv.WaitFor(t, 10*time.Second, "first 50 events", func() bool { return maxSeen() >= 50 })

	m.Stop()
	commit(50) // during the outage
	time.Sleep(500 * time.Millisecond)
	m.Start()
	testenv.WaitFor(t, 30*time.Second, "events of the outage", func() bool { return maxSeen() >= 100 })
	testenv.WaitFor(t, 10*time.Second, "last acknowledged seq 100", func() bool { return nb.Stats().LastSeq == 100 })
	stop()

	commit(50) // while the publisher is down
	_, stop = run()
	defer stop()
	testenv.WaitFor(t, 10*time.Second, "events committed while stopped", func() bool { return maxSeen() >= 150 })

	// Repeats of an event whose acknowledgement was lost are allowed; after
	// dropping them the seqs must run 1..150 with no gap and no reordering.
	var want int64 = 1
	repeats := 0
	for _, s := range received() {
		switch {
		case s == want:
			want++
		case s < want:
			repeats++
		default:
			t.Fatalf("got seq %d, expected %d next: a gap or reordering (all: %v)", s, want, received())
		}
	}
	if want != 151 {
		t.Errorf("received up to seq %d, want 150", want-1)
	}
	// The broker may deliver to the subscriber before its PUBACK reaches the
	// publisher, which saves the cursor only then: wait for it.
	testenv.WaitFor(t, 10*time.Second, "the cursor at 150", func() bool {
		seq, err := deliver.NewFileCursor(cursorPath).Load()
		return err == nil && seq == 150
	})
	t.Logf("repeats: %d", repeats)
}
