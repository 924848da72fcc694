package hazard

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"hazgate/alerting"
)

var (
	operator  = Actor{Name: "ctrl-room", Rectify: true}
	verifier  = Actor{Name: "checker", Verify: true}
	regulator = Actor{Name: "bureau", Supervise: true}
	admin     = Actor{Name: "root", Rectify: true, Verify: true, Supervise: true}
	viewer    = Actor{Name: "watcher"}
)

// newMajor makes one 重大隐患 (a gas detector down for 24 h) and returns its id.
func newMajor(h *harness) int64 {
	h.t.Helper()
	h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
	h.tick(t0.Add(day))
	return h.only().ID
}

// newRestoredMajor is newMajor with the detector back an hour after the
// record opened: its condition no longer holds, so it may be closed (销号).
func newRestoredMajor(h *harness) int64 {
	h.t.Helper()
	a := h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
	h.tick(t0.Add(day))
	h.clear(a, t0.Add(day+hour))
	return h.only().ID
}

// walk moves the record through steps, failing on any error: rectify steps
// by the operator, the others by the verifier, as duties are separated.
func walk(h *harness, id int64, path ...Status) {
	h.t.Helper()
	walkBy(h, id, Actor{}, path...)
}

// walkBy is walk with every step made by actor (zero: by the step's right).
func walkBy(h *harness, id int64, actor Actor, path ...Status) {
	h.t.Helper()
	for _, to := range path {
		by := actor
		if by.Name == "" {
			by = verifier
			cur, _ := h.e.Get(h.ctx, id)
			for _, st := range steps {
				if st.from == cur.Status && st.to == to && st.right == rectify {
					by = operator
				}
			}
		}
		if _, err := h.e.Transition(h.ctx, id, by, TransitionRequest{To: to, Comment: "step"}); err != nil {
			h.t.Fatalf("walk to %s: %v", to, err)
		}
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		from  []Status // path from open
		by    Actor    // who walks it; zero: the operator rectifies, the verifier verifies
		actor Actor
		req   TransitionRequest
		err   error // nil: allowed
	}{
		{"operator starts rectifying", nil, Actor{}, operator, TransitionRequest{To: InProgress, Person: "张三"}, nil},
		{"operator submits for verification", []Status{InProgress}, Actor{}, operator, TransitionRequest{To: PendingVerification, Comment: "已更换探测器"}, nil},
		{"submitting needs a comment", []Status{InProgress}, Actor{}, operator, TransitionRequest{To: PendingVerification, Comment: "  "}, ErrInvalid},
		{"verifier closes (销号)", []Status{InProgress, PendingVerification}, Actor{}, verifier, TransitionRequest{To: Closed}, nil},
		{"verifier rejects with a reason", []Status{InProgress, PendingVerification}, Actor{}, verifier, TransitionRequest{To: InProgress, Comment: "报警信号仍未上传"}, nil},
		{"rejecting needs a reason", []Status{InProgress, PendingVerification}, Actor{}, verifier, TransitionRequest{To: InProgress}, ErrInvalid},
		{"verifier dismisses a false alarm", nil, Actor{}, verifier, TransitionRequest{To: Dismissed, Comment: "探测器停用拆除"}, nil},
		{"admin does anything allowed", []Status{InProgress, PendingVerification}, Actor{}, admin, TransitionRequest{To: Closed}, nil},

		{"销号 from 待整改 is not a step", nil, Actor{}, admin, TransitionRequest{To: Closed}, ErrWrongState},
		{"skipping 整改中 is not a step", nil, Actor{}, operator, TransitionRequest{To: PendingVerification, Comment: "x"}, ErrWrongState},
		{"closed stays closed", []Status{InProgress, PendingVerification, Closed}, Actor{}, admin, TransitionRequest{To: InProgress, Comment: "x"}, ErrWrongState},
		{"dismissed stays dismissed", []Status{Dismissed}, Actor{}, admin, TransitionRequest{To: Open}, ErrWrongState},
		{"unknown status", nil, Actor{}, admin, TransitionRequest{To: "fixed"}, ErrWrongState},
		{"operator cannot close", []Status{InProgress, PendingVerification}, Actor{}, operator, TransitionRequest{To: Closed}, ErrForbidden},
		{"operator cannot dismiss", nil, Actor{}, operator, TransitionRequest{To: Dismissed, Comment: "x"}, ErrForbidden},
		{"verifier does not rectify", nil, Actor{}, verifier, TransitionRequest{To: InProgress}, ErrForbidden},
		{"regulator makes no plant-side change", nil, Actor{}, regulator, TransitionRequest{To: InProgress}, ErrForbidden},
		{"viewer cannot close", []Status{InProgress, PendingVerification}, Actor{}, viewer, TransitionRequest{To: Closed}, ErrForbidden},

		// Separation of duties (整改与验收分离).
		{"the rectifier cannot close it, even as admin", []Status{InProgress, PendingVerification}, admin, admin, TransitionRequest{To: Closed}, ErrForbidden},
		{"the rectifier cannot send it back", []Status{InProgress, PendingVerification}, admin, admin, TransitionRequest{To: InProgress, Comment: "x"}, ErrForbidden},
		{"the one who started it cannot dismiss it", []Status{InProgress}, admin, admin, TransitionRequest{To: Dismissed, Comment: "x"}, ErrForbidden},
		{"another admin may close it", []Status{InProgress, PendingVerification}, admin, Actor{Name: "root-2", Verify: true}, TransitionRequest{To: Closed}, nil},
		{"an admin who only verified may dismiss", nil, Actor{}, admin, TransitionRequest{To: Dismissed, Comment: "误报"}, nil},
		{"the verifier does not rewrite the person", []Status{InProgress, PendingVerification}, Actor{}, verifier, TransitionRequest{To: Closed, Person: "李四"}, ErrForbidden},
		{"the verifier does not rewrite the measures", []Status{InProgress, PendingVerification}, Actor{}, verifier, TransitionRequest{To: InProgress, Comment: "退回", Measures: "改为人工巡检"}, ErrForbidden},
		{"the rectifier may update the measures", []Status{InProgress}, Actor{}, operator, TransitionRequest{To: PendingVerification, Comment: "已更换", Measures: "更换探测器"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			id := newRestoredMajor(h)
			walkBy(h, id, tt.by, tt.from...)
			before, _ := h.e.Get(h.ctx, id)
			nEvents := len(h.events())
			h.clock.Set(t0.Add(2 * day))
			got, err := h.e.Transition(h.ctx, id, tt.actor, tt.req)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			stored, _ := h.e.Get(h.ctx, id)
			evs := h.events()
			if tt.err != nil {
				if stored.Status != before.Status || stored.Person != before.Person || stored.Measures != before.Measures || len(evs) != nEvents {
					t.Errorf("refused change still changed something: status %s, %d events", stored.Status, len(evs))
				}
				return
			}
			if got.Status != tt.req.To || stored.Status != tt.req.To {
				t.Errorf("status %s (stored %s), want %s", got.Status, stored.Status, tt.req.To)
			}
			last := evs[len(evs)-1]
			if len(evs) != nEvents+1 || last.Type != EventTransition || last.By != tt.actor.Name || last.From != before.Status ||
				last.To != tt.req.To || last.Comment != tt.req.Comment || !last.Time.Equal(t0.Add(2*day)) || last.Hazard.Status != tt.req.To {
				t.Errorf("history entry %+v", last)
			}
			if tt.req.Person != "" && stored.Person != tt.req.Person {
				t.Errorf("person %q", stored.Person)
			}
			if tt.req.Measures != "" && stored.Measures != tt.req.Measures {
				t.Errorf("measures %q", stored.Measures)
			}
			if tt.req.To.Done() {
				if stored.ClosedAt == nil || !stored.ClosedAt.Equal(t0.Add(2*day)) || stored.VerifiedBy != tt.actor.Name {
					t.Errorf("closed at %v by %q", stored.ClosedAt, stored.VerifiedBy)
				}
			}
		})
	}
}

func TestTransitionUnknownRecord(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.e.Transition(h.ctx, 42, admin, TransitionRequest{To: InProgress}); !errors.Is(err, ErrNotFound) {
		t.Errorf("err %v, want ErrNotFound", err)
	}
	if _, err := h.e.History(h.ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("history: %v, want ErrNotFound", err)
	}
}

func TestFullWorkflowHistory(t *testing.T) {
	h := newHarness(t, nil)
	id := newRestoredMajor(h)
	steps := []struct {
		actor Actor
		req   TransitionRequest
	}{
		{operator, TransitionRequest{To: InProgress, Person: "张三", Measures: "更换GT-101探测器"}},
		{operator, TransitionRequest{To: PendingVerification, Comment: "已更换，信号恢复"}},
		{verifier, TransitionRequest{To: InProgress, Comment: "未提供标定记录"}},
		{operator, TransitionRequest{To: PendingVerification, Comment: "补充标定记录"}},
		{verifier, TransitionRequest{To: Closed, Comment: "验收合格"}},
	}
	for i, s := range steps {
		h.clock.Set(t0.Add(day + time.Duration(i+1)*time.Hour))
		if _, err := h.e.Transition(h.ctx, id, s.actor, s.req); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	hist, err := h.e.History(h.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range hist {
		got = append(got, ev.Type+":"+ev.By+":"+string(ev.From)+">"+string(ev.To))
	}
	want := []string{"created::>", "transition:ctrl-room:open>in_progress", "transition:ctrl-room:in_progress>pending_verification",
		"transition:checker:pending_verification>in_progress", "transition:ctrl-room:in_progress>pending_verification",
		"transition:checker:pending_verification>closed"}
	if !slices.Equal(got, want) {
		t.Errorf("history\n got %v\nwant %v", got, want)
	}
	g, _ := h.e.Get(h.ctx, id)
	if g.Person != "张三" || g.Measures != "更换GT-101探测器" || g.VerifiedBy != "checker" || g.Status != Closed {
		t.Errorf("closed record %+v", g)
	}
	// Closed: the same condition again opens a new record.
	h.raise("GT-101", "sensor_fault", "", alerting.ClassSensorFault, 0, t0.Add(3*day))
	h.tick(t0.Add(4 * day))
	if n := len(h.hazards()); n != 2 {
		t.Errorf("%d records after the detector failed again, want 2", n)
	}
}

func TestSupervise(t *testing.T) {
	h := newHarness(t, nil)
	major := newMajor(h)
	h.raise("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, t0.Add(2*day))
	var general int64
	for _, g := range h.hazards() {
		if g.Level == LevelGeneral {
			general = g.ID
		}
	}
	tests := []struct {
		name  string
		id    int64
		actor Actor
		req   SuperviseRequest
		err   error
	}{
		{"operator may not", major, operator, SuperviseRequest{Note: "x"}, ErrForbidden},
		{"verifier may not", major, verifier, SuperviseRequest{Note: "x"}, ErrForbidden},
		{"needs a note", major, regulator, SuperviseRequest{}, ErrInvalid},
		{"not on a 一般隐患", general, regulator, SuperviseRequest{Note: "x"}, ErrWrongState},
		{"lifting what is not set", major, regulator, SuperviseRequest{Lift: true}, ErrWrongState},
		{"regulator flags a 重大隐患", major, regulator, SuperviseRequest{Note: "县应急局挂牌督办，限期30日"}, nil},
		{"not twice", major, admin, SuperviseRequest{Note: "again"}, ErrWrongState},
		{"unknown record", 99, regulator, SuperviseRequest{Note: "x"}, ErrNotFound},
	}
	for _, tt := range tests {
		h.clock.Set(t0.Add(3 * day))
		_, err := h.e.Supervise(h.ctx, tt.id, tt.actor, tt.req)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.err)
		}
	}
	g, _ := h.e.Get(h.ctx, major)
	if !g.Supervised || g.SupervisedBy != "bureau" || g.SupervisedAt == nil || !g.SupervisedAt.Equal(t0.Add(3*day)) ||
		g.SuperviseNote != "县应急局挂牌督办，限期30日" || g.Status != Open {
		t.Errorf("supervised record %+v", g)
	}
	if _, err := h.e.Supervise(h.ctx, major, regulator, SuperviseRequest{Lift: true, Note: "整改完成"}); err != nil {
		t.Fatal(err)
	}
	hist, _ := h.e.History(h.ctx, major)
	if n := len(hist); n < 3 || hist[n-2].Type != EventSupervised || hist[n-1].Type != EventUnsupervised || hist[n-1].By != "bureau" {
		t.Errorf("history %+v", hist)
	}
	if g, _ = h.e.Get(h.ctx, major); g.Supervised || g.SupervisedBy != "" {
		t.Errorf("lifted record %+v", g)
	}
}

func TestBusReplaysThenLive(t *testing.T) {
	h := newHarness(t, nil)
	newRestoredMajor(h)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	sub := h.e.Subscribe(ctx, 0)
	defer sub.Close()
	next := func() Event {
		t.Helper()
		select {
		case ev, ok := <-sub.C:
			if !ok {
				t.Fatalf("closed: %v", sub.Err())
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
		}
		return Event{}
	}
	if ev := next(); ev.Seq != 1 || ev.Type != EventCreated {
		t.Fatalf("replayed %+v", ev)
	}
	id := h.only().ID
	for i, to := range []Status{InProgress, PendingVerification, Closed} {
		walk(h, id, to)
		if ev := next(); ev.Seq != int64(i+2) || ev.To != to {
			t.Fatalf("live event %d: %+v", i, ev)
		}
	}
	// A late subscriber gets the same events with the same seqs.
	late := h.e.Subscribe(ctx, 2)
	defer late.Close()
	for want := int64(3); want <= 4; want++ {
		if ev := <-late.C; ev.Seq != want {
			t.Fatalf("late subscriber got seq %d, want %d", ev.Seq, want)
		}
	}
	sub.Close()
	if _, ok := <-sub.C; ok {
		t.Error("C open after Close")
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err after Close: %v", err)
	}
}

// TestTransitionFunds: 整改资金 is the rectifier's and a real amount; a
// refused request changes nothing.
func TestTransitionFunds(t *testing.T) {
	neg, nan, ok := -1.0, math.NaN(), 800.0
	tests := []struct {
		name  string
		actor Actor
		req   TransitionRequest
		want  error
	}{
		{"negative", operator, TransitionRequest{To: InProgress, Funds: &neg}, ErrInvalid},
		{"not a number", operator, TransitionRequest{To: InProgress, Funds: &nan}, ErrInvalid},
		{"a verifier's", verifier, TransitionRequest{To: Dismissed, Comment: "误报", Funds: &ok}, ErrForbidden},
		{"the rectifier's", operator, TransitionRequest{To: InProgress, Funds: &ok, Remarks: "夜班处理"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			id := newMajor(h)
			g, err := h.e.Transition(h.ctx, id, tt.actor, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				if g, _ := h.e.Get(h.ctx, id); g.Status != Open || g.Funds != nil {
					t.Errorf("refused request changed the record: %+v", g)
				}
				return
			}
			if g.Funds == nil || *g.Funds != ok || g.Remarks != "夜班处理" {
				t.Errorf("funds %v remarks %q", g.Funds, g.Remarks)
			}
		})
	}
}

// TestCloseWhileConditionActive: 销号 of a record whose alarm still holds is
// refused unless the verifier says why (kept in the history), and allowed
// once the alarm has cleared.
func TestCloseWhileConditionActive(t *testing.T) {
	tests := []struct {
		name     string
		cleared  bool
		req      TransitionRequest
		err      error
		override string // in the closing event
	}{
		{"refused while active", false, TransitionRequest{To: Closed, Comment: "验收合格"}, ErrConditionActive, ""},
		{"a blank reason is none", false, TransitionRequest{To: Closed, OverrideReason: "  "}, ErrConditionActive, ""},
		{"allowed with a reason", false, TransitionRequest{To: Closed, Comment: "已更换", OverrideReason: "探测器已拆除停用，报警待平台清除"}, nil,
			"探测器已拆除停用，报警待平台清除"},
		{"allowed once cleared", true, TransitionRequest{To: Closed, Comment: "验收合格"}, nil, ""},
		{"a reason when cleared is not kept", true, TransitionRequest{To: Closed, OverrideReason: "x"}, nil, ""},
		{"sending back needs none", false, TransitionRequest{To: InProgress, Comment: "报警仍在"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			a := h.raise("GT-101", "comm_loss", "", alerting.ClassCommLoss, 0, t0)
			h.tick(t0.Add(day))
			id := h.only().ID
			walk(h, id, InProgress, PendingVerification)
			if tt.cleared {
				h.clear(a, t0.Add(day+hour))
			}
			n := len(h.events())
			got, err := h.e.Transition(h.ctx, id, verifier, tt.req)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			evs := h.events()
			if tt.err != nil {
				if !errors.Is(err, ErrWrongState) {
					t.Errorf("%v is not a wrong state (409)", err)
				}
				if g, _ := h.e.Get(h.ctx, id); g.Status != PendingVerification || len(evs) != n {
					t.Errorf("refused 销号 changed the record: %s, %d events", g.Status, len(evs))
				}
				return
			}
			if got.Status != tt.req.To {
				t.Errorf("status %s", got.Status)
			}
			if last := evs[len(evs)-1]; last.OverrideReason != tt.override {
				t.Errorf("override reason %q in the history, want %q", last.OverrideReason, tt.override)
			}
		})
	}
}
