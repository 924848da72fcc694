package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/alerting/hazard"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/sim/testenv"
)

// receiver is a webhook endpoint that answers the statuses in script, one
// per request, then 200, and records what it took.
type receiver struct {
	mu       sync.Mutex
	script   []int
	attempts int
	taken    []payloadIn
	headers  []http.Header
	srv      *httptest.Server
}

type payloadIn struct {
	ID    string         `json:"id"`
	Event string         `json:"event"`
	Site  string         `json:"site"`
	Data  alerting.Event `json:"data"`
	raw   []byte
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.attempts++
		if len(r.script) > 0 {
			code := r.script[0]
			r.script = r.script[1:]
			if code != 200 {
				w.WriteHeader(code)
				return
			}
		}
		var p payloadIn
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		p.raw = body
		r.taken = append(r.taken, p)
		r.headers = append(r.headers, req.Header.Clone())
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() ([]payloadIn, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]payloadIn(nil), r.taken...), r.attempts
}

type fixture struct {
	j    *alerting.Journal
	bus  *alerting.Bus
	dir  string
	n    int
	stop func()
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	j, err := alerting.OpenJournal(context.Background(), filepath.Join(dir, "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &fixture{j: j, bus: alerting.NewBus(j, nil), dir: dir}
}

func (f *fixture) raise(t *testing.T, severity string) alerting.Event {
	t.Helper()
	f.n++
	a := alerting.Alarm{Site: "cz-demo-01", Tag: "T101-LEL", Rule: fmt.Sprintf("r%d", f.n), Severity: severity,
		State: alerting.ActiveUnacked, Active: true, Count: 1, RaisedAt: time.Now()}
	ev, err := f.j.Commit(context.Background(), alerting.EventRaised, a, a.RaisedAt)
	if err != nil {
		t.Fatal(err)
	}
	f.bus.Publish(ev)
	return ev
}

// start runs a dispatcher for cfg until the test ends or stop is called.
func (f *fixture) start(t *testing.T, cfg config.Webhook) *Dispatcher {
	t.Helper()
	d, err := New(Options{Config: cfg, Site: "cz-demo-01", Alarms: f.bus,
		AlarmCursor: deliver.NewFileCursor(filepath.Join(f.dir, "webhook-"+cfg.Name+".alarms.seq"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	f.stop = func() { cancel(); <-done }
	t.Cleanup(f.stop)
	return d
}

func hookConfig(url string) config.Webhook {
	return config.Webhook{Name: "platform", URL: url, Timeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
}

func TestRetriesUntilTheReceiverTakesIt(t *testing.T) {
	r := newReceiver(t, http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusBadGateway)
	f := newFixture(t)
	cfg := hookConfig(r.srv.URL)
	cfg.Secret = "webhook-secret"
	d := f.start(t, cfg)
	e1 := f.raise(t, alerting.SeverityHigh)
	e2 := f.raise(t, alerting.SeverityLow)
	testenv.WaitFor(t, 10*time.Second, "two deliveries", func() bool { got, _ := r.got(); return len(got) == 2 })
	// The receiver has the second event before the dispatcher has its answer.
	testenv.WaitFor(t, 10*time.Second, "two deliveries acknowledged", func() bool { return d.Stats().Delivered == 2 })
	got, attempts := r.got()
	if attempts != 5 {
		t.Errorf("%d attempts, want 3 failures + 2", attempts)
	}
	for i, want := range []alerting.Event{e1, e2} {
		p := got[i]
		if p.ID != fmt.Sprintf("a%d", want.Seq) || p.Event != "alarm.raised" || p.Site != "cz-demo-01" || p.Data.Seq != want.Seq || p.Data.Alarm.Rule != want.Alarm.Rule {
			t.Errorf("delivery %d: %+v, want event %d", i, p, want.Seq)
		}
		h := r.headers[i]
		if h.Get("X-Hazgate-Delivery") != p.ID || h.Get("X-Hazgate-Event") != "alarm.raised" {
			t.Errorf("headers %v", h)
		}
		if sig := Sign("webhook-secret", h.Get("X-Hazgate-Timestamp"), p.raw); h.Get("X-Hazgate-Signature") != sig {
			t.Errorf("signature %q, want %q", h.Get("X-Hazgate-Signature"), sig)
		}
	}
	if s := d.Stats(); s.Delivered != 2 || s.Failed != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestResumesFromTheCursorAfterRestart(t *testing.T) {
	r := newReceiver(t)
	f := newFixture(t)
	f.raise(t, alerting.SeverityHigh) // before the first start: delivered too
	d := f.start(t, hookConfig(r.srv.URL))
	f.raise(t, alerting.SeverityHigh)
	// Stop only once the dispatcher has the receiver's answer and its cursor:
	// a stop while the answer is on the wire resends that event (at least
	// once, deduplicated by X-Hazgate-Delivery), which is not what this
	// test is about.
	testenv.WaitFor(t, 10*time.Second, "two deliveries acknowledged", func() bool { return d.Stats().Delivered == 2 })
	f.stop()

	// Down: three more events, then a new dispatcher on the same cursor.
	for range 3 {
		f.raise(t, alerting.SeverityHigh)
	}
	f.start(t, hookConfig(r.srv.URL))
	f.raise(t, alerting.SeverityHigh)
	testenv.WaitFor(t, 10*time.Second, "six deliveries", func() bool { got, _ := r.got(); return len(got) >= 6 })
	time.Sleep(50 * time.Millisecond) // room for a duplicate to show
	got, _ := r.got()
	if len(got) != 6 {
		t.Fatalf("%d deliveries, want 6", len(got))
	}
	for i, p := range got {
		if p.Data.Seq != int64(i+1) {
			t.Fatalf("delivery %d is seq %d: out of order, missing or repeated", i, p.Data.Seq)
		}
	}
}

func TestFiltersAndRefusals(t *testing.T) {
	r := newReceiver(t, http.StatusBadRequest)
	f := newFixture(t)
	cfg := hookConfig(r.srv.URL)
	cfg.Events = []string{"alarm.*"}
	cfg.Severities = []string{alerting.SeverityHigh, alerting.SeverityCritical}
	d := f.start(t, cfg)
	f.raise(t, alerting.SeverityHigh) // refused with 400: not retried
	f.raise(t, alerting.SeverityLow)  // filtered
	e3 := f.raise(t, alerting.SeverityCritical)
	// The receiver has the event before the dispatcher has its answer.
	testenv.WaitFor(t, 10*time.Second, "one delivery", func() bool { got, _ := r.got(); return len(got) == 1 && d.Stats().Delivered == 1 })
	got, attempts := r.got()
	if got[0].Data.Seq != e3.Seq || attempts != 2 {
		t.Fatalf("delivered %+v after %d attempts", got, attempts)
	}
	if s := d.Stats(); s.Rejected != 1 || s.Filtered != 1 || s.Delivered != 1 {
		t.Errorf("stats %+v", s)
	}
	flt := d.followers[0].Filter
	if flt.Hazard(&hazard.Event{Type: "created"}) || !flt.Alarm(&alerting.Event{Type: "cleared", Alarm: alerting.Alarm{Severity: alerting.SeverityHigh}}) {
		t.Error("events filter")
	}
}

// TestEscalationsAndSuppression: a duty manager's hook that takes only
// alarm.escalated gets the engine's escalation, and the alarms a device's
// root alarm stands for never reach it.
func TestEscalationsAndSuppression(t *testing.T) {
	r := newReceiver(t)
	f := newFixture(t)
	cfg := hookConfig(r.srv.URL)
	cfg.Events = []string{"alarm.escalated", "alarm.raised"}
	d := f.start(t, cfg)
	reg := collector.NewRegistry()
	for _, id := range []string{"G1", "G2"} {
		if err := reg.Add(collector.Tag{ID: id, Site: "cz-demo-01", Device: "gds-1", Kind: "combustible_gas"}); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := alerting.NewEngine("cz-demo-01", nil, reg, f.j, f.bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng.SetHandling(config.AlarmHandling{DeviceSuppression: true, Escalate: map[string]time.Duration{alerting.SeverityHigh: time.Minute}})
	ctx := context.Background()
	at := time.Now()
	eng.Consume(ctx, []collector.Sample{
		{Tag: "G1", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: at},
		{Tag: "G2", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: at},
	})
	eng.Tick(ctx, time.Now().Add(2*time.Minute))
	testenv.WaitFor(t, 10*time.Second, "the root's raise and escalation", func() bool { got, _ := r.got(); return len(got) == 2 })
	time.Sleep(200 * time.Millisecond) // anything more would have come by now
	got, _ := r.got()
	if len(got) != 2 || got[0].Event != "alarm.raised" || got[1].Event != "alarm.escalated" ||
		got[0].Data.Alarm.Tag != "gds-1" || got[1].Data.Alarm.Severity != alerting.SeverityCritical {
		t.Fatalf("delivered %+v", got)
	}
	if s := d.Stats(); s.Filtered != 2 {
		t.Errorf("stats %+v: want the two suppressed raises filtered", s)
	}
}
