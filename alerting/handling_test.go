package alerting

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

var disposalRules = []config.Rule{{Name: "t", Above: ptr(50), Severity: SeverityHigh}}

var leak = Disposal{Cause: CauseLeak, Measures: "关闭根部阀，更换法兰垫片", Person: "李班长"}

func TestDisposalClosesTheLoop(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		require []string
		steps   []string // raise, clear, ack, dispose
		want    []string // event types in order
		state   State    // at the end
	}{
		{"required: acked then cleared waits for it", []string{SeverityHigh}, []string{"raise", "ack", "clear"},
			[]string{"raised", "acked", "cleared"}, AwaitingDisposal},
		{"required: cleared then acked waits for it", []string{SeverityHigh}, []string{"raise", "clear", "ack"},
			[]string{"raised", "cleared", "acked"}, AwaitingDisposal},
		{"required: the disposal closes it", []string{SeverityHigh}, []string{"raise", "ack", "clear", "dispose"},
			[]string{"raised", "acked", "cleared", "disposed"}, Normal},
		{"required: disposed while active closes as usual", []string{SeverityHigh}, []string{"raise", "dispose", "ack", "clear"},
			[]string{"raised", "disposed", "acked", "closed"}, Normal},
		{"required of another severity: closes without", []string{SeverityCritical}, []string{"raise", "ack", "clear"},
			[]string{"raised", "acked", "closed"}, Normal},
		{"not required: closes without", nil, []string{"raise", "clear", "ack"},
			[]string{"raised", "cleared", "closed"}, Normal},
		{"awaiting, the condition returns: announced again", []string{SeverityHigh}, []string{"raise", "ack", "clear", "raise"},
			[]string{"raised", "acked", "cleared", "raised"}, ActiveUnacked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", disposalRules, gasTag)
			r.e.SetHandling(config.AlarmHandling{RequireDisposal: tt.require})
			var id int64
			for _, st := range tt.steps {
				switch st {
				case "raise":
					r.sample("T1", 60, collector.Good, "")
					id = r.open("T1")["t"].ID
				case "clear":
					r.sample("T1", 10, collector.Good, "")
				case "ack":
					if err := r.ack("T1", "t"); err != nil {
						t.Fatal(err)
					}
				case "dispose":
					r.now = r.now.Add(time.Second)
					if _, err := r.e.Dispose(ctx, id, "op1", leak); err != nil {
						t.Fatal(err)
					}
				}
			}
			var got []string
			for _, ev := range r.events() {
				got = append(got, strings.TrimPrefix(ev, "t:"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			a, err := r.j.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if a.State != tt.state {
				t.Errorf("state %s, want %s", a.State, tt.state)
			}
			if tt.state == ActiveUnacked && a.AckedAt != nil {
				t.Errorf("announced again but still acked by %q", a.AckedBy)
			}
			if slicesContain(tt.steps, "dispose") {
				d := a.Disposal
				if d == nil || d.Cause != CauseLeak || d.Person != "李班长" || d.By != "op1" || d.At.IsZero() || d.Measures != leak.Measures {
					t.Errorf("stored disposal %+v", d)
				}
			}
		})
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestDisposalRefusals(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "", disposalRules, gasTag)
	r.sample("T1", 60, collector.Good, "")
	open := r.open("T1")["t"].ID
	r.sample("T1", 10, collector.Good, "")
	if err := r.ack("T1", "t"); err != nil {
		t.Fatal(err)
	}
	r.sample("T1", 60, collector.Good, "")
	if _, err := r.e.Ack(ctx, r.open("T1")["t"].ID, "op1"); err != nil {
		t.Fatal(err)
	}
	current := r.open("T1")["t"].ID
	r.events()
	with := func(f func(*Disposal)) Disposal { d := leak; f(&d); return d }
	tests := []struct {
		name  string
		id    int64
		d     Disposal
		is    error
		field string
	}{
		{"no cause", current, with(func(d *Disposal) { d.Cause = "" }), ErrInvalidDisposal, "cause"},
		{"unknown cause", current, with(func(d *Disposal) { d.Cause = "bad_luck" }), ErrInvalidDisposal, "cause"},
		{"no measures", current, with(func(d *Disposal) { d.Measures = "  " }), ErrInvalidDisposal, "measures"},
		{"in the future", current, with(func(d *Disposal) { d.At = r.now.Add(time.Hour) }), ErrInvalidDisposal, "future"},
		{"before the raise", current, with(func(d *Disposal) { d.At = t0.Add(-time.Hour) }), ErrInvalidDisposal, "before"},
		{"closed alarm", open, leak, ErrWrongState, "normal"},
		{"unknown alarm", 999, leak, ErrNotFound, "999"},
	}
	for _, tt := range tests {
		_, err := r.e.Dispose(ctx, tt.id, "op1", tt.d)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v, want %v naming %q", tt.name, err, tt.is, tt.field)
		}
	}
	if got := r.events(); len(got) != 0 {
		t.Errorf("refused disposals committed %v", got)
	}
	if a := r.open("T1")["t"]; a.Disposal != nil {
		t.Errorf("refused disposal kept: %+v", a.Disposal)
	}
}

func TestDisposalSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hazgate.db")
	r := newRig(t, path, disposalRules, gasTag)
	r.e.SetHandling(config.AlarmHandling{RequireDisposal: []string{SeverityHigh}})
	r.sample("T1", 60, collector.Good, "")
	id := r.open("T1")["t"].ID
	r.ack("T1", "t")
	r.sample("T1", 10, collector.Good, "")
	r.j.Close()

	r2 := newRig(t, path, disposalRules, gasTag)
	r2.now = r.now
	r2.e.SetHandling(config.AlarmHandling{RequireDisposal: []string{SeverityHigh}})
	if a := r2.open("T1")["t"]; a.ID != id || a.State != AwaitingDisposal {
		t.Fatalf("after restart %+v, want alarm %d awaiting disposal", a, id)
	}
	a, err := r2.e.Dispose(ctx, id, "op2", leak)
	if err != nil || a.State != Normal {
		t.Fatalf("dispose after restart: %+v, %v", a, err)
	}
	if len(r2.open("T1")) != 0 {
		t.Error("disposed alarm still open")
	}
}

func TestEscalation(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "", disposalRules, gasTag)
	r.e.SetHandling(config.AlarmHandling{Escalate: map[string]time.Duration{SeverityHigh: 10 * time.Minute, SeverityCritical: 5 * time.Minute}})
	r.sample("T1", 60, collector.Good, "")
	raised := r.now
	r.events()
	steps := []struct {
		after time.Duration
		want  []string
		sev   string
	}{
		{9 * time.Minute, nil, SeverityHigh},
		{10 * time.Minute, []string{"t:escalated"}, SeverityCritical},
		{14 * time.Minute, nil, SeverityCritical},
		{15 * time.Minute, []string{"t:escalated"}, SeverityCritical}, // critical escalates again
	}
	for _, st := range steps {
		r.e.Tick(ctx, raised.Add(st.after))
		if got := r.events(); !reflect.DeepEqual(got, st.want) {
			t.Errorf("at +%s: events %v, want %v", st.after, got, st.want)
		}
		if a := r.open("T1")["t"]; a.Severity != st.sev {
			t.Errorf("at +%s: severity %s, want %s", st.after, a.Severity, st.sev)
		}
	}
	a := r.open("T1")["t"]
	if a.Escalations != 2 || a.EscalatedAt == nil || !a.EscalatedAt.Equal(raised.Add(15*time.Minute)) {
		t.Errorf("escalated %d times, last at %v", a.Escalations, a.EscalatedAt)
	}
	r.now = raised.Add(16 * time.Minute)
	if _, err := r.e.Ack(ctx, a.ID, "op1"); err != nil {
		t.Fatal(err)
	}
	r.events()
	r.e.Tick(ctx, raised.Add(time.Hour))
	if got := r.events(); len(got) != 0 {
		t.Errorf("acknowledged alarm escalated: %v", got)
	}
	if s := r.e.Stats(); s.Escalated != 2 {
		t.Errorf("stats escalated %d, want 2", s.Escalated)
	}
}

func TestDeviceSuppression(t *testing.T) {
	ctx := context.Background()
	tag := func(id, dev string) collector.Tag {
		return collector.Tag{ID: id, Site: "s1", Device: dev, Kind: "combustible_gas", Unit: "%LEL"}
	}
	tags := []collector.Tag{tag("G1", "gds-1"), tag("G2", "gds-1"), tag("G3", "gds-1"), tag("H1", "gds-2")}
	rules := []config.Rule{{Name: "lel", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(50), Severity: SeverityHigh}}
	batch := func(r *rig, q collector.Quality, v float64, ids ...string) {
		r.now = r.now.Add(time.Second)
		var b []collector.Sample
		for _, id := range ids {
			s := collector.Sample{Tag: id, Value: v, Quality: q, Time: r.now}
			if q == collector.Bad {
				s.Reason = collector.ReasonCommLoss
			}
			b = append(b, s)
		}
		r.e.Consume(ctx, b)
	}
	states := func(r *rig) map[string]State {
		out := map[string]State{}
		for _, a := range r.e.Open() {
			out[a.Tag+"/"+a.Level] = a.State
		}
		return out
	}

	t.Run("one root alarm, released on return", func(t *testing.T) {
		r := newRig(t, "", rules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		batch(r, collector.Bad, 0, "G1", "G2", "G3")
		want := map[string]State{"gds-1/device": ActiveUnacked,
			"G1/": SuppressedByDesign, "G2/": SuppressedByDesign, "G3/": SuppressedByDesign}
		if got := states(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("open alarms %v, want %v", got, want)
		}
		root := r.open("gds-1")["comm_loss"]
		if root.Message != "设备 gds-1 通信中断（其点位报警已抑制）" || root.Level != LevelDevice || root.Suppressed != 3 {
			t.Errorf("root %+v", root)
		}
		if got := r.levelEvents(); got[0] != "comm_loss/device:raised" || len(got) != 4 {
			t.Errorf("events %v: the root first, then three suppressed raises", got)
		}
		if s := r.e.Stats(); s.Raised != 1 || s.Suppressed != 3 {
			t.Errorf("stats raised %d suppressed %d, want 1 and 3", s.Raised, s.Suppressed)
		}
		// A device of one tag: the tag's alarm is the root cause.
		batch(r, collector.Bad, 0, "H1")
		if got := states(r); got["gds-2/device"] != "" || got["H1/"] != ActiveUnacked {
			t.Errorf("gds-2 down: %v, want H1's own alarm", got)
		}
		// A tag of the half-failed device that reads is announced.
		batch(r, collector.Good, 60, "G1")
		if got := states(r); got["G1/"] != "" || got["G1/H"] != ActiveUnacked || got["gds-1/device"] != ActiveUnacked {
			t.Errorf("G1 reads again: %v, want its comm-loss alarm closed, its gas alarm announced, the root standing", got)
		}
		batch(r, collector.Good, 10, "G2", "G3")
		got := states(r)
		if got["gds-1/device"] != ClearedUnacked || got["G2/"] != "" || got["G3/"] != "" {
			t.Errorf("device answers: %v, want the root cleared and its tags' alarms closed", got)
		}
		evs, err := r.j.EventsAfter(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if a := ev.Alarm; a.Tag != "H1" && a.Rule == ClassCommLoss && a.Level == "" && a.State != SuppressedByDesign && a.State != Normal {
				t.Errorf("a tag's comm-loss alarm was announced: %s %+v", ev.Type, a)
			}
		}
	})
	t.Run("one dead detector on a live controller is its own alarm", func(t *testing.T) {
		r := newRig(t, "", rules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		batch(r, collector.Good, 1, "G1", "G2", "G3")
		r.now = r.now.Add(time.Second)
		r.e.Consume(ctx, []collector.Sample{
			{Tag: "G1", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: r.now},
			{Tag: "G2", Value: 1, Quality: collector.Good, Time: r.now},
			{Tag: "G3", Value: 1, Quality: collector.Good, Time: r.now},
		})
		if got := states(r); !reflect.DeepEqual(got, map[string]State{"G1/": ActiveUnacked}) {
			t.Errorf("open alarms %v, want G1's own", got)
		}
	})
	t.Run("a device answering for some tags again: the rest are their own", func(t *testing.T) {
		r := newRig(t, "", rules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		batch(r, collector.Bad, 0, "G1", "G2", "G3")
		batch(r, collector.Good, 1, "G1", "G2")
		r.e.Tick(ctx, r.now)
		if got := states(r); !reflect.DeepEqual(got, map[string]State{"gds-1/device": ClearedUnacked, "G3/": ActiveUnacked}) {
			t.Errorf("open alarms %v, want the root cleared and G3's alarm announced", got)
		}
	})
	t.Run("off: one alarm per tag", func(t *testing.T) {
		r := newRig(t, "", rules, tags...)
		batch(r, collector.Bad, 0, "G1", "G2")
		want := map[string]State{"G1/": ActiveUnacked, "G2/": ActiveUnacked}
		if got := states(r); !reflect.DeepEqual(got, want) {
			t.Errorf("open alarms %v, want %v", got, want)
		}
	})
	silentRules := append(rules[:1:1], config.Rule{Name: "silent", Match: config.Match{Kind: "combustible_gas"}, Stale: time.Minute, Severity: SeverityHigh})
	// each sends one message per tag, as an MQTT device does
	each := func(r *rig, ids ...string) {
		for _, id := range ids {
			batch(r, collector.Good, 1, id)
		}
	}
	t.Run("a device gone silent: one root alarm over its tags' stale alarms", func(t *testing.T) {
		r := newRig(t, "", silentRules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		each(r, "G1", "G2", "G3", "H1")
		r.now = r.now.Add(30 * time.Second)
		each(r, "H1")
		r.now = r.now.Add(25 * time.Second) // G1 silent for 59 s, G3 for 57 s, H1 for 25 s
		r.e.Tick(ctx, r.now)
		if got := states(r); len(got) != 0 {
			t.Fatalf("before the stale time: %v", got)
		}
		for range 3 {
			r.now = r.now.Add(time.Second)
			r.e.Tick(ctx, r.now)
		}
		want := map[string]State{"gds-1/device": ActiveUnacked,
			"G1/stale": SuppressedByDesign, "G2/stale": SuppressedByDesign, "G3/stale": SuppressedByDesign}
		if got := states(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("open alarms %v, want %v", got, want)
		}
		if s := r.e.Stats(); s.Raised != 1 || s.Suppressed != 3 {
			t.Errorf("stats raised %d suppressed %d, want 1 and 3", s.Raised, s.Suppressed)
		}
		// Still silent: the root stands tick after tick.
		for range 2 {
			r.now = r.now.Add(30 * time.Second)
			each(r, "H1")
			r.e.Tick(ctx, r.now)
		}
		if got := states(r)["gds-1/device"]; got != ActiveUnacked {
			t.Fatalf("still silent: root %q", got)
		}
		// Back, one message at a time: the root stands until the next tick,
		// by when every stale alarm has closed unannounced.
		each(r, "G1", "G2")
		if got := states(r); !reflect.DeepEqual(got, map[string]State{"gds-1/device": ActiveUnacked, "G3/stale": SuppressedByDesign}) {
			t.Errorf("two tags back: %v", got)
		}
		each(r, "G3", "H1")
		r.e.Tick(ctx, r.now)
		if got := states(r); !reflect.DeepEqual(got, map[string]State{"gds-1/device": ClearedUnacked}) {
			t.Errorf("device back: %v, want only the root, cleared", got)
		}
		r.flush()
		evs, err := r.j.EventsAfter(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if a := ev.Alarm; a.Level == LevelStale && a.State != SuppressedByDesign && a.State != Normal {
				t.Errorf("a stale alarm was announced: %s %+v", ev.Type, a)
			}
		}
	})
	t.Run("one silent tag of a device that sends is its own stale alarm", func(t *testing.T) {
		r := newRig(t, "", silentRules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		each(r, "G1", "G2", "G3", "H1")
		for range 3 {
			r.now = r.now.Add(25 * time.Second)
			each(r, "G2", "G3", "H1")
			r.e.Tick(ctx, r.now)
		}
		if got := states(r); !reflect.DeepEqual(got, map[string]State{"G1/stale": ActiveUnacked}) {
			t.Errorf("open alarms %v, want G1's own stale alarm", got)
		}
	})
	t.Run("a silent device's root survives a restart until it is heard", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hazgate.db")
		r := newRig(t, path, silentRules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		each(r, "G1", "G2", "G3")
		r.now = r.now.Add(2 * time.Minute)
		each(r, "H1")
		r.e.Tick(ctx, r.now)
		r.j.Close()
		r2 := newRig(t, path, silentRules, tags...)
		r2.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		r2.now = r.now.Add(time.Second)
		r2.e.Tick(ctx, r2.now)
		if got := states(r2)["gds-1/device"]; got != ActiveUnacked {
			t.Fatalf("restart, still silent: root %q", got)
		}
		each(r2, "G1", "G2", "G3", "H1")
		r2.e.Tick(ctx, r2.now)
		if got := states(r2); !reflect.DeepEqual(got, map[string]State{"gds-1/device": ClearedUnacked}) {
			t.Errorf("restart, device back: %v", got)
		}
	})
	t.Run("the root survives a restart", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hazgate.db")
		r := newRig(t, path, rules, tags...)
		r.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		batch(r, collector.Bad, 0, "G1", "G2", "G3")
		r.j.Close()
		r2 := newRig(t, path, rules, tags...)
		r2.e.SetHandling(config.AlarmHandling{DeviceSuppression: true})
		batch(r2, collector.Bad, 0, "G1", "G2", "G3") // still down: nothing new
		if got := r2.levelEvents(); len(got) != 0 {
			t.Errorf("restart, still down: events %v", got)
		}
		batch(r2, collector.Good, 1, "G1", "G2", "G3")
		if got := states(r2); !reflect.DeepEqual(got, map[string]State{"gds-1/device": ClearedUnacked}) {
			t.Errorf("restart, device back: %v", got)
		}
	})
}
