package alerting

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func openTestJournal(t testing.TB, path string) *Journal {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "hazgate.db")
	}
	j, err := OpenJournal(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJournalPragmas(t *testing.T) {
	j := openTestJournal(t, "")
	ctx := context.Background()
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1"} {
		var got string
		if err := j.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestJournalMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "hazgate.db")
	ctx := context.Background()
	for range 2 {
		j, err := OpenJournal(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var n, v int
		if err := j.db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || v != len(migrations) {
			t.Errorf("schema_migrations has %d rows, max version %d; want %d", n, v, len(migrations))
		}
		j.Close()
	}
}

func TestJournalCommitAndRead(t *testing.T) {
	j := openTestJournal(t, "")
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

	raised, err := j.Commit(ctx, EventRaised, Alarm{
		Site: "s1", Tag: "T1", Rule: "hi", Class: "hi", Severity: SeverityHigh,
		State: ActiveUnacked, Value: 60, Peak: 60, Message: "T1 60 above 50", RaisedAt: t0,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if raised.Seq != 1 || raised.Alarm.ID != 1 {
		t.Fatalf("first commit: seq %d id %d, want 1 and 1", raised.Seq, raised.Alarm.ID)
	}
	if raised.Alarm.RaisedAt.Location() != time.UTC || !raised.Alarm.RaisedAt.Equal(t0) {
		t.Errorf("raised_at %v, want %v in UTC", raised.Alarm.RaisedAt, t0)
	}

	t1 := t0.Add(1500 * time.Millisecond)
	a := raised.Alarm
	a.State, a.AckedAt, a.AckedBy = ActiveAcked, &t1, "op1"
	acked, err := j.Commit(ctx, EventAcked, a, t1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := j.Commit(ctx, EventRaised, Alarm{Site: "s1", Tag: "T2", Rule: "hi", State: ActiveUnacked, RaisedAt: t1}, t1)
	if err != nil {
		t.Fatal(err)
	}

	got, err := j.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, acked.Alarm) {
		t.Errorf("Get = %+v\nwant %+v", got, acked.Alarm)
	}
	if _, err := j.Get(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(99) error %v, want ErrNotFound", err)
	}

	evs, err := j.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{raised, acked, other}; !reflect.DeepEqual(evs, want) {
		t.Errorf("EventsAfter(0) = %+v\nwant %+v", evs, want)
	}
	if evs, _ := j.EventsAfter(ctx, 1, 1); len(evs) != 1 || evs[0].Seq != 2 {
		t.Errorf("EventsAfter(1, 1) = %+v, want only seq 2", evs)
	}
	if seq, err := j.LastSeq(ctx); err != nil || seq != 3 {
		t.Errorf("LastSeq = %d, %v; want 3", seq, err)
	}

	// A second open alarm for the same (site, tag, rule) is refused by the store.
	if _, err := j.Commit(ctx, EventRaised, Alarm{Site: "s1", Tag: "T1", Rule: "hi", State: ActiveUnacked, RaisedAt: t1}, t1); err == nil {
		t.Error("a second open alarm for s1/T1/hi was accepted")
	}
	// Updating an alarm that does not exist fails rather than inventing it.
	if _, err := j.Commit(ctx, EventAcked, Alarm{ID: 42, State: ActiveAcked, RaisedAt: t1}, t1); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of unknown alarm: %v, want ErrNotFound", err)
	}
	if seq, _ := j.LastSeq(ctx); seq != 3 {
		t.Errorf("failed commits left events behind: last seq %d", seq)
	}
}

func TestJournalList(t *testing.T) {
	j := openTestJournal(t, "")
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	add := func(site, tag, rule string, st State, at time.Time) int64 {
		ev, err := j.Commit(ctx, EventRaised, Alarm{Site: site, Tag: tag, Rule: rule, State: st, RaisedAt: at}, at)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Alarm.ID
	}
	a := add("s1", "T1", "hi", ActiveUnacked, t0)
	b := add("s1", "T2", "hi", ActiveAcked, t0.Add(time.Second))
	c := add("s1", "T1", "lo", Normal, t0.Add(2*time.Second))
	d := add("s1", "T1", "hi2", ClearedUnacked, t0.Add(time.Millisecond)) // newer than a by 1 ms
	e := add("s2", "T1", "hi", ActiveUnacked, t0.Add(3*time.Second))

	tests := []struct {
		name string
		f    AlarmFilter
		want []int64
	}{
		{"all newest first", AlarmFilter{}, []int64{e, c, b, d, a}},
		{"site", AlarmFilter{Site: "s1"}, []int64{c, b, d, a}},
		{"open only", AlarmFilter{Site: "s1", OpenOnly: true}, []int64{b, d, a}},
		{"states", AlarmFilter{States: []State{ActiveUnacked, ClearedUnacked}}, []int64{e, d, a}},
		{"tag", AlarmFilter{Site: "s1", Tag: "T1"}, []int64{c, d, a}},
		{"limit", AlarmFilter{Limit: 2}, []int64{e, c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
		})
	}
}
