package alerting

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"hazgate/alerting/sqlstore"
	"hazgate/collector"
	"hazgate/config"
)

func TestAckWithComment(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag)
	r.sample("T1", 30, collector.Good, "")
	id := r.open("T1")["lel-1"].ID
	a, err := r.e.AckWithComment(context.Background(), id, "张工", "现场确认，已通风")
	if err != nil {
		t.Fatal(err)
	}
	if a.AckComment != "现场确认，已通风" || a.AckedBy != "张工" {
		t.Errorf("acked %+v", a)
	}
	evs, _ := r.j.EventsAfter(context.Background(), 0, 10)
	if last := evs[len(evs)-1]; last.Type != EventAcked || last.By != "张工" || last.Alarm.AckComment != a.AckComment {
		t.Errorf("ack event %+v", last)
	}
}

func TestShelve(t *testing.T) {
	ctx := context.Background()
	rules := []config.Rule{{Name: "t", Above: ptr(50)}}
	t.Run("cleared while shelved closes on unshelve", func(t *testing.T) {
		r := newRig(t, "", rules, gasTag)
		r.sample("T1", 60, collector.Good, "")
		id := r.open("T1")["t"].ID
		r.levelEvents()
		a, err := r.e.Shelve(ctx, id, "op1", "sensor being recalibrated", r.now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if a.State != Shelved || a.ShelvedBy != "op1" || a.ShelveReason != "sensor being recalibrated" || !a.ShelvedUntil.Equal(r.now.Add(time.Hour)) {
			t.Errorf("shelved %+v", a)
		}
		r.sample("T1", 70, collector.Good, "") // peak, no event
		r.sample("T1", 10, collector.Good, "") // cleared, no event
		r.sample("T1", 60, collector.Good, "") // raised again: counted
		r.sample("T1", 10, collector.Good, "")
		if got := r.levelEvents(); !reflect.DeepEqual(got, []string{"t/H:shelved"}) {
			t.Errorf("events while shelved %v", got)
		}
		if _, err := r.e.Ack(ctx, id, "op1"); !errors.Is(err, ErrNotAckable) {
			t.Errorf("ack of a shelved alarm: %v", err)
		}
		a, err = r.e.Unshelve(ctx, id, "op2")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != Normal || a.Peak != 70 || a.Count != 2 || a.ShelvedBy != "" || a.ClearedAt == nil {
			t.Errorf("unshelved %+v, want closed with peak 70, count 2", a)
		}
		if len(r.open("T1")) != 0 {
			t.Error("closed alarm still open")
		}
	})
	t.Run("expiry while active re-announces", func(t *testing.T) {
		r := newRig(t, "", rules, gasTag)
		r.sample("T1", 60, collector.Good, "")
		id := r.open("T1")["t"].ID
		if _, err := r.e.Ack(ctx, id, "op1"); err != nil {
			t.Fatal(err)
		}
		until := r.now.Add(10 * time.Minute)
		if _, err := r.e.Shelve(ctx, id, "op1", "known leak, crew on site", until); err != nil {
			t.Fatal(err)
		}
		r.levelEvents()
		r.e.Tick(ctx, until.Add(-time.Second))
		r.e.Tick(ctx, until)
		if got := r.levelEvents(); !reflect.DeepEqual(got, []string{"t/H:unshelved"}) {
			t.Errorf("events at expiry %v", got)
		}
		a := r.open("T1")["t"]
		if a.State != ActiveUnacked || a.AckedBy != "" || a.ShelvedUntil != nil {
			t.Errorf("after expiry %+v, want active_unacked, ack cleared", a)
		}
	})
	t.Run("out of service", func(t *testing.T) {
		r := newRig(t, "", rules, gasTag)
		r.sample("T1", 60, collector.Good, "")
		id := r.open("T1")["t"].ID
		a, err := r.e.RemoveFromService(ctx, id, "maint", "work permit 2025-117")
		if err != nil || a.State != OutOfService || a.ShelvedUntil != nil {
			t.Fatalf("out of service: %+v, %v", a, err)
		}
		if _, err := r.e.Shelve(ctx, id, "op1", "x", r.now.Add(time.Hour)); !errors.Is(err, ErrWrongState) {
			t.Errorf("shelving an out-of-service alarm: %v", err)
		}
		r.e.Tick(ctx, r.now.Add(48*time.Hour)) // no expiry
		if a := r.open("T1")["t"]; a.State != OutOfService {
			t.Errorf("after two days %s", a.State)
		}
		if a, err := r.e.Unshelve(ctx, id, "maint"); err != nil || a.State != ActiveUnacked {
			t.Errorf("returned to service: %+v, %v", a, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		r := newRig(t, "", rules, gasTag)
		r.sample("T1", 60, collector.Good, "")
		id := r.open("T1")["t"].ID
		for _, tc := range []struct {
			user, reason string
			until        time.Time
			want         error
		}{
			{"", "why", r.now.Add(time.Hour), nil},
			{"op", " ", r.now.Add(time.Hour), nil},
			{"op", "why", r.now, nil},
		} {
			if _, err := r.e.Shelve(ctx, id, tc.user, tc.reason, tc.until); err == nil {
				t.Errorf("shelve %+v accepted", tc)
			}
		}
		if _, err := r.e.Unshelve(ctx, id, "op"); !errors.Is(err, ErrWrongState) {
			t.Errorf("unshelve of an unshelved alarm: %v", err)
		}
		if _, err := r.e.Shelve(ctx, 999, "op", "why", r.now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("shelve of an unknown alarm: %v", err)
		}
		r.sample("T1", 10, collector.Good, "")
		if _, err := r.e.Ack(ctx, id, "op"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.e.Shelve(ctx, id, "op", "why", r.now.Add(time.Hour)); !errors.Is(err, ErrWrongState) {
			t.Errorf("shelve of a closed alarm: %v", err)
		}
	})
}

func TestShelvedSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/hazgate.db"
	rules := []config.Rule{{Name: "t", Above: ptr(50)}}
	r := newRig(t, path, rules, gasTag)
	r.sample("T1", 60, collector.Good, "")
	id := r.open("T1")["t"].ID
	until := r.now.Add(time.Hour)
	if _, err := r.e.Shelve(ctx, id, "op1", "why", until); err != nil {
		t.Fatal(err)
	}
	r.j.Close()
	r2 := newRig(t, path, rules, gasTag)
	r2.now = r.now
	if a := r2.open("T1")["t"]; a.State != Shelved || !a.Active || !a.ShelvedUntil.Equal(until) {
		t.Fatalf("restored %+v", a)
	}
	r2.sample("T1", 65, collector.Good, "")
	r2.e.Tick(ctx, until)
	if got := r2.levelEvents(); !reflect.DeepEqual(got, []string{"t/H:unshelved"}) {
		t.Errorf("events %v", got)
	}
}

func TestReload(t *testing.T) {
	ctx := context.Background()
	tags := []collector.Tag{gasTag, {ID: "O2-1", Kind: "oxygen"}}
	r := newRig(t, "", levelRules, tags...)
	r.sample("T1", 60, collector.Good, "")
	r.sample("O2-1", 18, collector.Good, "")
	before := r.open("T1")
	r.levelEvents()

	// lel-2 goes, lel-1 gets a deadband, a stale rule arrives.
	next := []config.Rule{
		{Name: "lel-1", Match: config.Match{Kind: "combustible_gas"}, Above: ptr(25), Deadband: 10, Severity: "medium"},
		levelRules[2],
		{Name: "silent", Stale: time.Minute},
	}
	if err := r.e.Reload(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := r.levelEvents(); !reflect.DeepEqual(got, []string{"lel-2/H:cleared"}) {
		t.Errorf("events at reload %v, want lel-2 cleared", got)
	}
	after := r.open("T1")
	if after["lel-1"].ID != before["lel-1"].ID || after["lel-1"].State != ActiveUnacked {
		t.Errorf("lel-1 across reload: %+v -> %+v", before["lel-1"], after["lel-1"])
	}
	if r.open("O2-1")["o2-low"].State != ActiveUnacked {
		t.Error("o2-low lost")
	}
	r.sample("T1", 20, collector.Good, "") // inside the new deadband
	if got := r.levelEvents(); got != nil {
		t.Errorf("deadband not applied: %v", got)
	}
	r.e.Tick(ctx, r.now.Add(time.Minute))
	if got := r.levelEvents(); len(got) != 2 || got[0] != "silent/stale:raised" {
		t.Errorf("new stale rule: %v", got)
	}
	// A bad rule set changes nothing.
	if err := r.e.Reload(ctx, []config.Rule{{Name: "x"}}); err == nil {
		t.Error("invalid rules accepted")
	}
	r.sample("T1", 14, collector.Good, "")
	if got := r.levelEvents(); !reflect.DeepEqual(got, []string{"lel-1/H:cleared", "silent/stale:cleared"}) {
		t.Errorf("after a failed reload: %v", got)
	}
}

// TestOneOpenAlarmPerLevel: the store itself refuses a second open alarm of
// the same (site, tag, rule, level), even from concurrent writers.
func TestOneOpenAlarmPerLevel(t *testing.T) {
	j := openTestJournal(t, "")
	ctx := context.Background()
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			a := Alarm{Site: "s1", Tag: "T1", Rule: "lel", Level: LevelH, Class: "lel", Severity: "high",
				State: ActiveUnacked, Active: true, Value: float64(i), Count: 1, RaisedAt: t0}
			_, errs[i] = j.Commit(ctx, EventRaised, a, t0)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicateOpen):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent inserts succeeded, want 1", ok)
	}
	// Another level, or the same once closed, is fine.
	hh := Alarm{Site: "s1", Tag: "T1", Rule: "lel", Level: LevelHH, Class: "lel", Severity: "critical", State: ActiveUnacked, RaisedAt: t0}
	if _, err := j.Commit(ctx, EventRaised, hh, t0); err != nil {
		t.Errorf("HH beside H: %v", err)
	}
	open, _ := j.List(ctx, AlarmFilter{OpenOnly: true})
	for _, a := range open {
		a.State = Normal
		if _, err := j.Commit(ctx, EventClosed, a, t0); err != nil {
			t.Fatal(err)
		}
	}
	hh.ID = 0
	if _, err := j.Commit(ctx, EventRaised, hh, t0); err != nil {
		t.Errorf("new HH after the old closed: %v", err)
	}
}

// TestMigrationFromV1 opens a journal written by the foundation's schema
// and checks its open alarm comes back with the new columns filled.
func TestMigrationFromV1(t *testing.T) {
	path := t.TempDir() + "/old.db"
	ctx := context.Background()
	saved := migrations
	migrations = migrations[:1]
	j, err := OpenJournal(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.db.ExecContext(ctx, `INSERT INTO alarms (site, tag, rule, class, severity, state, value, peak, raised_at)
		VALUES ('s1', 'T1', 'lel-1', 'lel-1', 'medium', 'active_unacked', 30, 30, $1)`, sqlstore.FormatTime(t0))
	j.Close()
	migrations = saved
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, path, levelRules, gasTag)
	a := r.open("T1")["lel-1"]
	if !a.Active || a.Count != 1 || a.Level != LevelH {
		t.Errorf("migrated alarm %+v, want active, count 1, adopted by level H", a)
	}
	r.sample("T1", 30, collector.Good, "")
	r.sample("T1", 10, collector.Good, "")
	if got := r.levelEvents(); !reflect.DeepEqual(got, []string{"lel-1/H:cleared"}) {
		t.Errorf("events %v, want the old alarm cleared, not a new one", got)
	}
	if got, _ := r.j.Get(ctx, a.ID); got.Level != LevelH {
		t.Errorf("stored level %q", got.Level)
	}
}
