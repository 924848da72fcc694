package alerting

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

func ptr(v float64) *float64 { return &v }

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func testRegistry(t testing.TB, tags ...collector.Tag) *collector.Registry {
	t.Helper()
	reg := collector.NewRegistry()
	for _, tag := range tags {
		if err := reg.Add(tag); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

var gasTag = collector.Tag{ID: "T1", Site: "s1", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "A"}

// rig is an engine on a fresh journal with a fixed clock.
type rig struct {
	t   *testing.T
	e   *Engine
	j   *Journal
	bus *Bus
	seq int64 // last journal seq seen by events()
	now time.Time
}

func newRig(t *testing.T, path string, rules []config.Rule, tags ...collector.Tag) *rig {
	t.Helper()
	j := openTestJournal(t, path)
	bus := NewBus(j, discard)
	e, err := NewEngine("s1", rules, testRegistry(t, tags...), j, bus, discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, e: e, j: j, bus: bus, now: t0}
	e.now = func() time.Time { return r.now }
	r.seq, _ = j.LastSeq(context.Background())
	return r
}

func (r *rig) sample(tag string, v float64, q collector.Quality, reason string) {
	r.now = r.now.Add(time.Second)
	r.e.Consume(context.Background(), []collector.Sample{{Tag: tag, Value: v, Quality: q, Reason: reason, Time: r.now}})
}

// flush waits for the journal's writer to commit what the engine submitted.
func (r *rig) flush() {
	r.t.Helper()
	if err := r.j.Flush(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// events returns the types of the events committed since the last call.
func (r *rig) events() []string {
	r.t.Helper()
	r.flush()
	evs, err := r.j.EventsAfter(context.Background(), r.seq, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Alarm.Rule+":"+ev.Type)
		r.seq = ev.Seq
	}
	return types
}

// open returns the open alarms by rule, from memory and from the journal,
// failing if the two disagree.
func (r *rig) open(tag string) map[string]Alarm {
	r.t.Helper()
	r.flush()
	mem := map[string]Alarm{}
	for _, a := range r.e.Open() {
		if a.Tag == tag {
			mem[a.Rule] = a
		}
	}
	stored, err := r.j.List(context.Background(), AlarmFilter{Tag: tag, OpenOnly: true})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(stored) != len(mem) {
		r.t.Fatalf("memory has %d open alarms on %s, journal %d", len(mem), tag, len(stored))
	}
	for _, a := range stored {
		m := mem[a.Rule]
		if m.ID != a.ID || m.State != a.State {
			r.t.Fatalf("alarm %s: memory %d/%s, journal %d/%s", a.Rule, m.ID, m.State, a.ID, a.State)
		}
	}
	return mem
}

func (r *rig) ack(tag, rule string) error {
	a, ok := r.open(tag)[rule]
	if !ok {
		r.t.Fatalf("no open %s alarm on %s to ack", rule, tag)
	}
	r.now = r.now.Add(time.Second)
	_, err := r.e.Ack(context.Background(), a.ID, "op1")
	return err
}

var levelRules = []config.Rule{
	{Name: "lel-1", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(25), Severity: "medium"},
	{Name: "lel-2", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(50), Severity: "high", Class: "lel"},
	{Name: "o2-low", Match: config.Match{Tag: "O2-*"}, Below: ptr(19.5), Severity: "high"},
}

func TestEngineLifecycle(t *testing.T) {
	const good, unc, bad = collector.Good, collector.Uncertain, collector.Bad
	type step struct {
		v      float64
		q      collector.Quality
		reason string
		ack    string           // ack this rule's alarm instead of sending a sample
		events []string         // rule:type committed by the step
		open   map[string]State // open alarms after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"quiet", []step{
			{v: 10},
		}},
		{"clear before ack", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 35, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 10, events: []string{"lel-1:cleared"}, open: map[string]State{"lel-1": ClearedUnacked}},
			{v: 5, open: map[string]State{"lel-1": ClearedUnacked}},
			{ack: "lel-1", events: []string{"lel-1:closed"}},
		}},
		{"ack before clear", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{ack: "lel-1", events: []string{"lel-1:acked"}, open: map[string]State{"lel-1": ActiveAcked}},
			{v: 31, open: map[string]State{"lel-1": ActiveAcked}},
			{v: 10, events: []string{"lel-1:closed"}},
		}},
		{"two levels", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 60, events: []string{"lel-2:raised"}, open: map[string]State{"lel-1": ActiveUnacked, "lel-2": ActiveUnacked}},
			{v: 30, events: []string{"lel-2:cleared"}, open: map[string]State{"lel-1": ActiveUnacked, "lel-2": ClearedUnacked}},
			{v: 0, events: []string{"lel-1:cleared"}, open: map[string]State{"lel-1": ClearedUnacked, "lel-2": ClearedUnacked}},
		}},
		{"re-raise before ack is the same alarm", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 10, events: []string{"lel-1:cleared"}, open: map[string]State{"lel-1": ClearedUnacked}},
			{v: 40, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
		}},
		{"uncertain evaluates", []step{
			{v: 30, q: unc, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 10, q: unc, events: []string{"lel-1:cleared"}, open: map[string]State{"lel-1": ClearedUnacked}},
		}},
		{"bad keeps the threshold alarm", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: 0, q: bad, reason: collector.ReasonCommLoss, events: []string{"comm_loss:raised"},
				open: map[string]State{"lel-1": ActiveUnacked, "comm_loss": ActiveUnacked}},
			{v: 0, q: bad, reason: collector.ReasonCommLoss,
				open: map[string]State{"lel-1": ActiveUnacked, "comm_loss": ActiveUnacked}},
			{v: 10, events: []string{"comm_loss:cleared", "lel-1:cleared"},
				open: map[string]State{"lel-1": ClearedUnacked, "comm_loss": ClearedUnacked}},
		}},
		{"bad never raises a threshold", []step{
			{v: 99, q: bad, reason: collector.ReasonDecode, events: []string{"bad_quality:raised"},
				open: map[string]State{"bad_quality": ActiveUnacked}},
			{ack: "bad_quality", events: []string{"bad_quality:acked"}, open: map[string]State{"bad_quality": ActiveAcked}},
			{v: 10, events: []string{"bad_quality:closed"}},
		}},
		{"NaN holds", []step{
			{v: 30, events: []string{"lel-1:raised"}, open: map[string]State{"lel-1": ActiveUnacked}},
			{v: math.NaN(), open: map[string]State{"lel-1": ActiveUnacked}},
		}},
		{"one quality alarm per class", []step{
			{q: bad, reason: collector.ReasonSensorFault, events: []string{"sensor_fault:raised"},
				open: map[string]State{"sensor_fault": ActiveUnacked}},
			{q: bad, reason: collector.ReasonCommLoss, events: []string{"comm_loss:raised", "sensor_fault:cleared"},
				open: map[string]State{"sensor_fault": ClearedUnacked, "comm_loss": ActiveUnacked}},
			{q: bad, reason: collector.ReasonException, events: []string{"comm_loss:cleared", "bad_quality:raised"},
				open: map[string]State{"sensor_fault": ClearedUnacked, "comm_loss": ClearedUnacked, "bad_quality": ActiveUnacked}},
			{q: bad, reason: collector.ReasonCommLoss, events: []string{"comm_loss:raised", "bad_quality:cleared"},
				open: map[string]State{"sensor_fault": ClearedUnacked, "comm_loss": ActiveUnacked, "bad_quality": ClearedUnacked}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", levelRules, gasTag)
			for i, st := range tt.steps {
				if st.ack != "" {
					if err := r.ack("T1", st.ack); err != nil {
						t.Fatalf("step %d: ack %s: %v", i, st.ack, err)
					}
				} else {
					r.sample("T1", st.v, st.q, st.reason)
				}
				if got := r.events(); !reflect.DeepEqual(got, st.events) {
					t.Errorf("step %d: events %v, want %v", i, got, st.events)
				}
				got := map[string]State{}
				for rule, a := range r.open("T1") {
					got[rule] = a.State
				}
				if st.open == nil {
					st.open = map[string]State{}
				}
				if !reflect.DeepEqual(got, st.open) {
					t.Errorf("step %d: open %v, want %v", i, got, st.open)
				}
			}
		})
	}
}

func TestEngineAlarmFields(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag, collector.Tag{ID: "O2-1", Kind: "oxygen", Unit: "%vol"})
	r.sample("T1", 60, collector.Good, "")
	raisedAt := r.now
	r.sample("T1", 80, collector.Good, "") // peak, in memory only
	r.sample("T1", 70, collector.Good, "")
	r.sample("O2-1", 18, collector.Good, "")
	r.sample("O2-1", 17, collector.Good, "")
	r.sample("O2-1", 0, collector.Bad, collector.ReasonCommLoss)

	open := r.open("T1")
	want := Alarm{ID: open["lel-2"].ID, Site: "s1", Tag: "T1", Rule: "lel-2", Level: LevelH, Class: "lel", Severity: "high", Active: true, Count: 1,
		State: ActiveUnacked, Value: 60, Peak: 80, Message: "T1 60 %LEL 超过高报警值 50", MessageEN: "T1 60 %LEL above high limit 50", RaisedAt: raisedAt}
	if got := open["lel-2"]; !reflect.DeepEqual(got, want) {
		t.Errorf("lel-2 in memory:\n got %+v\nwant %+v", got, want)
	}
	if got, _ := r.j.Get(context.Background(), want.ID); got.Peak != 60 {
		t.Errorf("journal peak %g before the next transition, want 60 (persisted with transitions only)", got.Peak)
	}
	if got := r.open("T1")["lel-1"]; got.Class != "lel-1" || got.Severity != "medium" {
		t.Errorf("lel-1: class %q severity %q, want the rule name and medium", got.Class, got.Severity)
	}
	o2 := r.open("O2-1")
	if got := o2["o2-low"]; got.Peak != 17 {
		t.Errorf("o2-low peak %g, want 17 (the lowest)", got.Peak)
	}
	if got := o2["comm_loss"]; got.Class != ClassCommLoss || got.Severity != SeverityHigh || got.Message != "O2-1 通信中断" || got.MessageEN != "O2-1: communication lost" {
		t.Errorf("comm_loss alarm %+v", got)
	}

	// The ack persists the peak.
	r.now = r.now.Add(time.Second)
	ackAt := r.now
	a, err := r.e.Ack(context.Background(), want.ID, "张工")
	if err != nil {
		t.Fatal(err)
	}
	if a.Peak != 80 || a.AckedBy != "张工" || a.AckedAt == nil || !a.AckedAt.Equal(ackAt) {
		t.Errorf("acked alarm %+v", a)
	}
	if got, _ := r.j.Get(context.Background(), want.ID); !reflect.DeepEqual(got, a) {
		t.Errorf("journal after ack %+v, want %+v", got, a)
	}
	r.sample("T1", 10, collector.Good, "")
	r.flush()
	closed, _ := r.j.Get(context.Background(), want.ID)
	if closed.State != Normal || closed.ClearedAt == nil || !closed.ClearedAt.Equal(r.now) || closed.Value != 10 {
		t.Errorf("closed alarm %+v", closed)
	}
	if s := r.e.Stats(); s != (Stats{Raised: 4, Cleared: 2, Acked: 1}) {
		t.Errorf("stats %+v", s)
	}
}

func TestEngineAckErrors(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag)
	r.sample("T1", 30, collector.Good, "")
	id := r.open("T1")["lel-1"].ID
	ctx := context.Background()
	if _, err := r.e.Ack(ctx, id, ""); err == nil {
		t.Error("ack without a user accepted")
	}
	if _, err := r.e.Ack(ctx, id, "op1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Ack(ctx, id, "op1"); !errors.Is(err, ErrNotAckable) {
		t.Errorf("second ack: %v, want ErrNotAckable", err)
	}
	r.sample("T1", 10, collector.Good, "") // closes
	if _, err := r.e.Ack(ctx, id, "op1"); !errors.Is(err, ErrNotAckable) {
		t.Errorf("ack of a closed alarm: %v, want ErrNotAckable", err)
	}
	if _, err := r.e.Ack(ctx, 999, "op1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ack of an unknown alarm: %v, want ErrNotFound", err)
	}
}

func TestEngineRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hazgate.db")
	gas2 := gasTag
	gas2.ID = "T2"
	tags := []collector.Tag{gasTag, gas2}

	r := newRig(t, path, levelRules, tags...)
	r.sample("T1", 60, collector.Good, "") // lel-1 and lel-2
	r.sample("T1", 70, collector.Good, "") // peak 70, not yet in the journal
	r.sample("T2", 0, collector.Bad, collector.ReasonCommLoss)
	if err := r.ack("T1", "lel-2"); err != nil { // persists peak 70
		t.Fatal(err)
	}
	// What comes back is what the journal has: lel-1's peak of 70 was never
	// part of a transition, so the restored alarm has 60.
	before, err := r.j.List(context.Background(), AlarmFilter{OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 3 {
		t.Fatalf("%d open alarms before restart, want 3", len(before))
	}
	r.j.Close()

	// Same rules: everything comes back, nothing is raised again.
	r2 := newRig(t, path, levelRules, tags...)
	if got := r2.e.Open(); !reflect.DeepEqual(got, before) {
		t.Fatalf("after restart open alarms\n %+v\nwant %+v", got, before)
	}
	r2.sample("T1", 65, collector.Good, "")
	r2.sample("T2", 0, collector.Bad, collector.ReasonCommLoss)
	if ev := r2.events(); ev != nil {
		t.Errorf("restart re-raised: %v", ev)
	}
	// The condition went away while we were down: the next sample clears.
	r2.sample("T2", 1, collector.Good, "")
	r2.sample("T1", 1, collector.Good, "")
	if got, want := r2.events(), []string{"comm_loss:cleared", "lel-1:cleared", "lel-2:closed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after restart: events %v, want %v", got, want)
	}
	r2.sample("T1", 60, collector.Good, "")
	r2.j.Close()

	// lel-2 removed from the config: its active alarm is cleared at start;
	// lel-1, re-raised and still unacked, stays open.
	r3 := newRig(t, path, levelRules[:1], tags...)
	open := r3.open("T1")
	if len(open) != 2 || open["lel-1"].State != ActiveUnacked || open["lel-2"].State != ClearedUnacked {
		t.Errorf("with lel-2 removed: open %+v", open)
	}
	if err := r3.ack("T1", "lel-2"); err != nil {
		t.Errorf("ack of an alarm whose rule was removed: %v", err)
	}
}

func TestEngineCommitFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hazgate.db")
	r := newRig(t, path, levelRules, gasTag)
	live := r.bus.register() // sees exactly what is published

	r.j.Close() // every commit now fails
	r.sample("T1", 30, collector.Good, "")
	if s := r.e.Stats(); s.CommitErrors != 1 || s.Raised != 0 {
		t.Errorf("stats after a failed commit %+v", s)
	}
	if open := r.e.Open(); len(open) != 0 {
		t.Errorf("an uncommitted alarm is open in memory: %+v", open)
	}
	if len(live) != 0 {
		t.Errorf("an uncommitted transition was published: %+v", <-live)
	}

	// The store is back: the next sample raises it.
	r.e.j = openTestJournal(t, path)
	r.j = r.e.j
	r.sample("T1", 31, collector.Good, "")
	r.flush()
	if len(live) != 1 {
		t.Fatalf("%d events published after the store came back, want 1", len(live))
	}
	if ev := <-live; ev.Seq != 1 || ev.Type != EventRaised || ev.Alarm.Value != 31 {
		t.Errorf("first published event %+v, want seq 1 raised at 31", ev)
	}
}

// TestCommitBeforePublish checks, inside a subscriber, that every event it
// receives is already readable from the journal.
func TestCommitBeforePublish(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag)
	sub := r.bus.Subscribe(context.Background(), 0)
	defer sub.Close()

	const cycles = 50
	done := make(chan int)
	go func() {
		n := 0
		for ev := range sub.C {
			got, err := r.j.EventsAfter(context.Background(), ev.Seq-1, 1)
			if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], ev) {
				t.Errorf("event %d published but the journal has %+v (err %v)", ev.Seq, got, err)
			}
			if _, err := r.j.Get(context.Background(), ev.Alarm.ID); err != nil {
				t.Errorf("event %d: alarm %d not in the journal: %v", ev.Seq, ev.Alarm.ID, err)
			}
			if n++; n == 3*cycles {
				break
			}
		}
		done <- n
	}()
	for range cycles { // raised, cleared, closed
		r.sample("T1", 30, collector.Good, "")
		r.sample("T1", 10, collector.Good, "")
		if err := r.ack("T1", "lel-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-done; n != 3*cycles {
		t.Errorf("subscriber saw %d events, want %d", n, 3*cycles)
	}
}

// TestEngineConcurrentAck runs acks against Consume under the race detector.
func TestEngineConcurrentAck(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag)
	r.e.now = time.Now
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			r.e.Consume(context.Background(), []collector.Sample{{Tag: "T1", Value: float64(i % 60), Time: time.Now()}})
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		for _, a := range r.e.Open() {
			if _, err := r.e.Ack(context.Background(), a.ID, "op1"); err != nil && !errors.Is(err, ErrNotAckable) {
				t.Fatal(err)
			}
		}
	}
}

func TestRuleMatch(t *testing.T) {
	rules, err := compileRules([]config.Rule{
		{Name: "all", Above: ptr(1)},
		{Name: "kind", Match: config.Match{Kind: "toxic_gas"}, Above: ptr(1)},
		{Name: "glob", Match: config.Match{Tag: "T1*-LEL"}, Above: ptr(1)},
		{Name: "area+device", Match: config.Match{Area: "罐区A", Device: "gds-1"}, Above: ptr(1)},
		{Name: "everything", Match: config.Match{Tag: "T1?1-*", Kind: "combustible_gas", Area: "罐区A", Device: "gds-1"}, Above: ptr(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tag  collector.Tag
		want []string
	}{
		{collector.Tag{ID: "T101-LEL", Kind: "combustible_gas", Area: "罐区A", Device: "gds-1"},
			[]string{"all", "glob", "area+device", "everything"}},
		{collector.Tag{ID: "T101-H2S", Kind: "toxic_gas", Area: "罐区A", Device: "gds-2"}, []string{"all", "kind"}},
		{collector.Tag{ID: "T2-LEL", Kind: "combustible_gas", Area: "罐区A", Device: "gds-1"}, []string{"all", "area+device"}},
		{collector.Tag{ID: "T1-LEL"}, []string{"all", "glob"}},
	}
	for _, tt := range tests {
		t.Run(tt.tag.ID, func(t *testing.T) {
			var got []string
			for _, r := range rules {
				if r.matches(tt.tag) {
					got = append(got, r.meta().name)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name  string
		rules []config.Rule
		want  string // "" for valid
	}{
		{"valid", []config.Rule{{Name: "a", Above: ptr(1), Severity: "low"}, {Name: "b", Below: ptr(1)}}, ""},
		{"band", []config.Rule{{Name: "a", Above: ptr(23.5), Below: ptr(19.5), Severity: "critical"}}, ""},
		{"no name", []config.Rule{{Above: ptr(1)}}, `rule "" (#1): name is required`},
		{"duplicate", []config.Rule{{Name: "a", Above: ptr(1)}, {Name: "a", Above: ptr(2)}}, `rule "a" (#2): duplicate rule name`},
		{"no limit", []config.Rule{{Name: "a"}}, `rule "a" (#1): needs above or below`},
		{"inverted band", []config.Rule{{Name: "a", Above: ptr(1), Below: ptr(2)}}, `rule "a" (#1): below (2) must be less than above (1)`},
		{"severity", []config.Rule{{Name: "a", Above: ptr(1), Severity: "urgent"}}, `rule "a" (#1): severity "urgent"`},
		{"glob", []config.Rule{{Name: "a", Above: ptr(1), Match: config.Match{Tag: "T[1"}}}, `rule "a" (#1): match.tag "T[1" is not a valid glob`},
		{"reserved", []config.Rule{{Name: "comm_loss", Above: ptr(1)}}, `rule "comm_loss" (#1): name is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileRules(tt.rules)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// NewEngine reports every problem at once.
	j := openTestJournal(t, "")
	_, err := NewEngine("s1", []config.Rule{{Name: "a"}, {Name: "b", Above: ptr(1), Severity: "x"}}, collector.NewRegistry(), j, NewBus(j, discard), discard)
	if err == nil || !strings.Contains(err.Error(), `rule "a"`) || !strings.Contains(err.Error(), `rule "b"`) {
		t.Errorf("NewEngine error %v, want both rules named", err)
	}
}

// BenchmarkConsumeQuiet is the hot path: a batch of 1000 samples, no transitions.
func BenchmarkConsumeQuiet(b *testing.B) {
	const n = 1000
	var tags []collector.Tag
	batch := make([]collector.Sample, n)
	for i := range n {
		id := fmt.Sprintf("T%04d-LEL", i)
		tags = append(tags, collector.Tag{ID: id, Kind: "combustible_gas", Area: "A", Device: "gds-1"})
		batch[i] = collector.Sample{Tag: id, Value: 5, Time: t0}
	}
	j := openTestJournal(b, "")
	e, err := NewEngine("s1", levelRules, testRegistry(b, tags...), j, NewBus(j, discard), discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e.Consume(ctx, batch) // learn the tags
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Consume(ctx, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
}
