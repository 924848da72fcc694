package alerting

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hazgate/alerting/sqlstore"
	"hazgate/collector"
)

// submitted records what the writer answered for each submission.
type submitted struct {
	mu   sync.Mutex
	evs  []Event
	errs []error
}

func (s *submitted) done(ev Event, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err)
		return
	}
	s.evs = append(s.evs, ev)
}

func gasAlarm(tag string, state State) Alarm {
	return Alarm{Site: "s1", Tag: tag, Rule: "lel", Level: LevelH, Class: "lel", Severity: "high",
		State: state, Active: state == ActiveUnacked || state == SuppressedByDesign, Count: 1, RaisedAt: t0}
}

// TestGroupCommitOrder: a flood of 1,000 raises in one burst, then one
// alarm raised, cleared and raised again in another: the single alarm
// overtakes the flood (it shares the first transactions), its own three
// transitions keep their order, and every seq is given once, in the order
// events are published.
func TestGroupCommitOrder(t *testing.T) {
	j := openTestJournal(t, "")
	var got submitted
	flood := j.NewBurst()
	for i := range 1000 {
		if _, err := j.Submit(EventRaised, gasAlarm(fmt.Sprintf("GT-%04d", i), ActiveUnacked), t0, flood, got.done); err != nil {
			t.Fatal(err)
		}
	}
	probe := j.NewBurst()
	// The writer is already at work on the flood: the probe may follow
	// what it holds and one group more.
	before := j.WriterStats().Committed + maxGroup
	ev, err := j.Submit(EventRaised, gasAlarm("PROBE", ActiveUnacked), t0, probe, got.done)
	if err != nil {
		t.Fatal(err)
	}
	a := ev.Alarm
	a.State, a.Active = ClearedUnacked, false
	if _, err := j.Submit(EventCleared, a, t0.Add(time.Second), probe, got.done); err != nil {
		t.Fatal(err)
	}
	a.State, a.Active, a.Count = ActiveUnacked, true, 2
	if _, err := j.Submit(EventRaised, a, t0.Add(2*time.Second), j.NewBurst(), got.done); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.errs) != 0 || len(got.evs) != 1003 {
		t.Fatalf("%d committed, errors %v; want 1003 and none", len(got.evs), got.errs)
	}
	var probeAt []int
	for i, ev := range got.evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d published with seq %d", i, ev.Seq)
		}
		if ev.Alarm.Tag == "PROBE" {
			probeAt = append(probeAt, i)
		}
	}
	if len(probeAt) != 3 || got.evs[probeAt[0]].Type != EventRaised || got.evs[probeAt[1]].Type != EventCleared ||
		got.evs[probeAt[2]].Type != EventRaised {
		t.Fatalf("the probe's events at %v, want raised, cleared, raised", probeAt)
	}
	if probeAt[2] >= int(before)+2*maxGroup {
		t.Errorf("the probe's last transition committed after %d of the flood's, %d of them before it came; want within the next groups", probeAt[2], before-maxGroup)
	}
	stored, err := j.Get(context.Background(), a.ID)
	if err != nil || stored.Count != 2 || stored.State != ActiveUnacked {
		t.Errorf("the probe's row %+v (%v), want its last transition", stored, err)
	}
	if ws := j.WriterStats(); ws.Committed != 1003 || ws.Pending != 0 || ws.Groups < 1003/maxGroup {
		t.Errorf("writer stats %+v", ws)
	}
}

// TestGroupCommitBySeverity: in one burst (one batch of samples), a
// critical alarm judged after a flood of 1,000 medium ones commits in the
// first groups, and its later transitions keep their order behind it even
// once it is no longer critical; a low alarm older than a flood of critical
// ones is not starved by them.
func TestGroupCommitBySeverity(t *testing.T) {
	alarm := func(tag, severity string) Alarm {
		a := gasAlarm(tag, ActiveUnacked)
		a.Severity = severity
		return a
	}
	t.Run("critical overtakes a medium flood", func(t *testing.T) {
		j := openTestJournal(t, "")
		var got submitted
		b := j.NewBurst()
		for i := range 1000 {
			if _, err := j.Submit(EventRaised, alarm(fmt.Sprintf("GT-%04d", i), SeverityMedium), t0, b, got.done); err != nil {
				t.Fatal(err)
			}
		}
		before := j.WriterStats().Committed + maxGroup
		ev, err := j.Submit(EventRaised, alarm("PROBE", SeverityCritical), t0, b, got.done)
		if err != nil {
			t.Fatal(err)
		}
		a := ev.Alarm
		a.Severity, a.State = SeverityMedium, ActiveAcked // a change of severity while it waits
		if _, err := j.Submit(EventAcked, a, t0.Add(time.Second), b, got.done); err != nil {
			t.Fatal(err)
		}
		if err := j.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		var at []int
		for i, ev := range got.evs {
			if ev.Alarm.Tag == "PROBE" {
				at = append(at, i)
			}
		}
		if len(got.evs) != 1002 || len(at) != 2 || got.evs[at[0]].Type != EventRaised || got.evs[at[1]].Type != EventAcked {
			t.Fatalf("%d committed, the probe's at %v; want 1002, raised then acked", len(got.evs), at)
		}
		if at[1] >= int(before)+maxGroup {
			t.Errorf("the critical alarm's transitions committed at %v, after %d of the medium flood's; want within the next group", at, before-maxGroup)
		}
	})
	t.Run("the oldest is not starved", func(t *testing.T) {
		j := openTestJournal(t, "")
		var got submitted
		if _, err := j.Submit(EventRaised, alarm("LOW", SeverityLow), t0, j.NewBurst(), got.done); err != nil {
			t.Fatal(err)
		}
		b := j.NewBurst()
		for i := range 1000 {
			if _, err := j.Submit(EventRaised, alarm(fmt.Sprintf("GT-%04d", i), SeverityCritical), t0, b, got.done); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, ev := range got.evs {
			if ev.Alarm.Tag == "LOW" {
				if i >= maxGroup {
					t.Errorf("the low alarm submitted first committed at %d, after a critical flood; want in the first group", i)
				}
				return
			}
		}
		t.Fatal("the low alarm never committed")
	})
}

// TestGroupCommitBulkNotStarved: alarms suppressed by design wait behind
// annunciated ones, but keep a share of every transaction.
func TestGroupCommitBulkNotStarved(t *testing.T) {
	j := openTestJournal(t, "")
	var got submitted
	for i := range 200 {
		if _, err := j.Submit(EventRaised, gasAlarm(fmt.Sprintf("S-%03d", i), SuppressedByDesign), t0, 1, got.done); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 400 {
		if _, err := j.Submit(EventRaised, gasAlarm(fmt.Sprintf("A-%03d", i), ActiveUnacked), t0, j.NewBurst(), got.done); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := -1
	for i, ev := range got.evs {
		if ev.Alarm.State == SuppressedByDesign {
			first = i
			break
		}
	}
	if first < 0 || first >= maxGroup {
		t.Errorf("the first suppressed alarm committed at %d, want in the first group", first)
	}
}

// TestGroupCommitRefusedData: a transition the store refuses (a second
// open alarm of one tag, rule and level) is answered with its error; the
// rest of its group commits.
func TestGroupCommitRefusedData(t *testing.T) {
	j := openTestJournal(t, "")
	var got submitted
	b := j.NewBurst()
	for _, tag := range []string{"T1", "T2", "T1", "T3"} {
		if _, err := j.Submit(EventRaised, gasAlarm(tag, ActiveUnacked), t0, b, got.done); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.errs) != 1 || !errors.Is(got.errs[0], ErrDuplicateOpen) {
		t.Fatalf("errors %v, want one ErrDuplicateOpen", got.errs)
	}
	if len(got.evs) != 3 || got.evs[2].Seq != 3 || got.evs[2].Alarm.Tag != "T3" {
		t.Fatalf("committed %+v, want T1, T2, T3 with seqs 1-3", got.evs)
	}
	if _, err := j.Submit(EventRaised, gasAlarm("T4", ActiveUnacked), t0, b, got.done); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Commit(context.Background(), EventRaised, gasAlarm("T5", ActiveUnacked), t0); err != nil {
		t.Fatal(err)
	}
	if seq, _ := j.LastSeq(context.Background()); seq != 5 {
		t.Errorf("last seq %d after two more, want 5: a refused transition uses no seq", seq)
	}
}

// TestGroupCommitStoreFailing: while another writer holds the file's lock
// past the busy timeout, the engine's transitions wait and are retried,
// nothing is published or reported durable, and what a user waits for
// fails at once; once the lock is gone everything waiting commits.
func TestGroupCommitStoreFailing(t *testing.T) {
	if testing.Short() {
		t.Skip("holds a lock past SQLite's 5 s busy timeout")
	}
	path := filepath.Join(t.TempDir(), "hazgate.db")
	j := openTestJournal(t, path)
	other, err := sqlstore.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	var got submitted
	if _, err := j.Submit(EventRaised, gasAlarm("T1", ActiveUnacked), t0, j.NewBurst(), got.done); err != nil {
		t.Fatal(err)
	}
	durable := make(chan struct{})
	j.WhenDurable(func() { close(durable) })
	if _, err := j.Commit(ctx, EventRaised, gasAlarm("T2", ActiveUnacked), t0); err == nil {
		t.Error("a user's commit succeeded while the store was locked")
	}
	select {
	case <-durable:
		t.Fatal("reported durable while the store was locked")
	default:
	}
	if ws := j.WriterStats(); ws.Retries == 0 || ws.Committed != 0 {
		t.Errorf("writer stats while locked %+v, want retries and nothing committed", ws)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-durable:
	case <-time.After(10 * time.Second):
		t.Fatal("not durable 10 s after the lock went")
	}
	if len(got.evs) != 1 || got.evs[0].Alarm.Tag != "T1" || len(got.errs) != 0 {
		t.Errorf("committed %+v, errors %v; want T1", got.evs, got.errs)
	}
}

// TestGroupCommitClose: Close commits what is queued; a submission after
// it is refused.
func TestGroupCommitClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hazgate.db")
	j, err := OpenJournal(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var got submitted
	for i := range 300 {
		if _, err := j.Submit(EventRaised, gasAlarm(fmt.Sprintf("T%d", i), ActiveUnacked), t0, 1, got.done); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got.evs) != 300 {
		t.Errorf("%d committed by Close, want 300", len(got.evs))
	}
	if _, err := j.Submit(EventRaised, gasAlarm("late", ActiveUnacked), t0, 1, got.done); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("submit after Close: %v, want ErrJournalClosed", err)
	}
	db, err := sqlstore.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM alarms`).Scan(&n); err != nil || n != 300 {
		t.Errorf("%d alarms on disk (%v), want 300", n, err)
	}
	j2 := openTestJournal(t, path)
	ev, err := j2.Commit(context.Background(), EventRaised, gasAlarm("next", ActiveUnacked), t0)
	if err != nil || ev.Alarm.ID != 301 || ev.Seq != 301 {
		t.Errorf("first commit after reopening: id %d seq %d (%v), want 301 and 301", ev.Alarm.ID, ev.Seq, err)
	}
}

// TestDeviceAckedAfterCommit: the pipeline tells a device its batch was
// received (a PUBACK, a GB/T 26875.3 confirm) only once the alarm
// transitions it caused are in the journal.
func TestDeviceAckedAfterCommit(t *testing.T) {
	r := newRig(t, "", levelRules, gasTag)
	pipe := collector.NewPipeline(collector.NewLatest(), r.e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pipe.Run(ctx)
	for i := range 20 {
		acked := make(chan []Event, 1)
		v := []float64{60, 10}[i%2] // raises, clears, raises again
		before, err := r.j.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = pipe.EmitDurable(ctx, []collector.Sample{{Tag: "T1", Value: v, Time: t0.Add(time.Duration(i) * time.Second)}}, func() {
			evs, _ := r.j.EventsAfter(context.Background(), before, 10)
			acked <- evs
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case evs := <-acked:
			if len(evs) != 2 { // lel-1 and lel-2
				t.Fatalf("batch %d acknowledged before its transition was committed", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d not acknowledged", i)
		}
	}
}
