package hazard

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"hazgate/alerting/sqlstore"
)

// right is what a step of the workflow needs of its actor.
type right uint8

const (
	rectify right = iota + 1
	verify
)

func (a Actor) has(r right) bool {
	switch r {
	case rectify:
		return a.Rectify
	case verify:
		return a.Verify
	}
	return false
}

func (r right) String() string {
	if r == rectify {
		return "rectify (整改)"
	}
	return "verify (验收)"
}

// step is one allowed status change.
type step struct {
	from, to Status
	right    right
	// reason: the change needs a comment (what was done, why rejected or
	// dismissed), kept in the history.
	reason bool
}

// steps is the workflow: the plant rectifies, a verifier signs off (销号),
// sends it back or dismisses it as a false alarm (误报). Nothing leaves
// closed or dismissed.
var steps = []step{
	{Open, InProgress, rectify, false},
	{InProgress, PendingVerification, rectify, true},
	{PendingVerification, Closed, verify, false},
	{PendingVerification, InProgress, verify, true},
	{Open, Dismissed, verify, true},
	{InProgress, Dismissed, verify, true},
	{PendingVerification, Dismissed, verify, true},
}

// TransitionRequest is a status change asked for through the API.
type TransitionRequest struct {
	To      Status `json:"to"`
	Comment string `json:"comment"`
	// Person (责任人) and Measures (整改措施), when given, replace the record's.
	Person   string `json:"person"`
	Measures string `json:"measures"`
	// Funds (整改资金, yuan), when given, replaces the record's; the
	// rectifier's, like person and measures.
	Funds *float64 `json:"funds"`
	// Remarks (备注), when given, replace the record's; anyone acting may.
	Remarks string `json:"remarks"`
	// OverrideReason lets a verifier close (销号) a record whose condition
	// is still active, saying why; kept in the history. Ignored otherwise.
	OverrideReason string `json:"override_reason"`
}

// Transition moves record id to req.To on behalf of actor, recording who,
// when, from, to and why. It fails wrapping ErrNotFound, ErrWrongState (no
// such step from the current status), ErrConditionActive (销号 while the
// record's alarms are still active, without an override reason),
// ErrForbidden (the actor lacks the step's right) or ErrInvalid (a comment
// is required).
func (e *Engine) Transition(ctx context.Context, id int64, actor Actor, req TransitionRequest) (Hazard, error) {
	if actor.Name == "" {
		return Hazard{}, fmt.Errorf("hazard %d: %w: who is acting is required", id, ErrInvalid)
	}
	return e.change(ctx, id, func(ctx context.Context, tx *sql.Tx, h Hazard) (Event, error) {
		var st *step
		for i := range steps {
			if steps[i].from == h.Status && steps[i].to == req.To {
				st = &steps[i]
			}
		}
		if st == nil {
			return Event{}, fmt.Errorf("hazard %s is %s (%s): cannot go to %q: %w", h.Number, h.Status, h.Status.Label(), req.To, ErrWrongState)
		}
		if !actor.has(st.right) {
			return Event{}, fmt.Errorf("hazard %s: %s → %s needs the %s right: %w", h.Number, h.Status, req.To, st.right, ErrForbidden)
		}
		if err := separateDuties(ctx, tx, h, st, actor, req); err != nil {
			return Event{}, err
		}
		comment := strings.TrimSpace(req.Comment)
		if st.reason && comment == "" {
			return Event{}, fmt.Errorf("hazard %s: %s → %s needs a comment saying what was done or why: %w", h.Number, h.Status, req.To, ErrInvalid)
		}
		if err := checkFunds(req.Funds); err != nil {
			return Event{}, fmt.Errorf("hazard %s: %w", h.Number, err)
		}
		// A record is closed when its hazard is gone: while the alarms
		// behind it hold, only a verifier who says why may close it.
		override := ""
		if req.To == Closed && h.ConditionActive {
			if override = strings.TrimSpace(req.OverrideReason); override == "" {
				return Event{}, fmt.Errorf("hazard %s: 销号 refused while alarms %v behind it are still active; clear them or state override_reason: %w",
					h.Number, h.AlarmIDs, ErrConditionActive)
			}
		}
		now := e.store.now()
		if req.Person != "" {
			h.Person = req.Person
		}
		if req.Measures != "" {
			h.Measures = req.Measures
		}
		if req.Funds != nil {
			h.Funds = req.Funds
		}
		if r := strings.TrimSpace(req.Remarks); r != "" {
			h.Remarks = r
		}
		closedAt, verifiedBy := h.ClosedAt, h.VerifiedBy
		if req.To.Done() {
			closedAt, verifiedBy = &now, actor.Name
		}
		// 整改完成时间 is the last hand-over to 待验收 (a rejection clears it);
		// 验收时间 and 验收意见 are the last verify step's.
		rectifiedAt, verifiedAt, opinion := h.RectifiedAt, h.VerifiedAt, h.VerifyComment
		switch {
		case req.To == PendingVerification:
			rectifiedAt = &now
		case st.right == verify:
			verifiedAt, opinion = &now, comment
			if req.To == InProgress {
				rectifiedAt = nil
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE hazards SET status = $1, person = $2, measures = $3,
			verified_by = $4, closed_at = $5, updated_at = $6, funds = $7, remarks = $8, rectified_at = $9,
			verified_at = $10, verify_comment = $11 WHERE id = $12 AND status = $13`,
			string(req.To), h.Person, h.Measures, verifiedBy, sqlstore.NullTime(closedAt), sqlstore.FormatTime(now),
			nullFloat(h.Funds), h.Remarks, sqlstore.NullTime(rectifiedAt), sqlstore.NullTime(verifiedAt), opinion,
			id, string(h.Status))
		if err != nil {
			return Event{}, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return Event{}, fmt.Errorf("hazard %d changed meanwhile: %w", id, ErrWrongState)
		}
		return appendEvent(ctx, tx, id, Event{Type: EventTransition, By: actor.Name, From: h.Status, To: req.To, Comment: comment,
			OverrideReason: override}, now)
	})
}

// checkFunds refuses an amount no ledger can carry.
func checkFunds(f *float64) error {
	if f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0) || *f < 0) {
		return fmt.Errorf("funds (整改资金) %v: want an amount in yuan, 0 or more: %w", *f, ErrInvalid)
	}
	return nil
}

// nullFloat is f for a nullable column.
func nullFloat(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// separateDuties keeps rectification and its acceptance in different hands
// (整改与验收分离): the person and measures are the rectifier's record, a
// verifier adds an opinion (the comment) but does not rewrite them, and
// whoever rectified a record may not verify, send back or dismiss it,
// whatever rights their role holds.
func separateDuties(ctx context.Context, tx *sql.Tx, h Hazard, st *step, actor Actor, req TransitionRequest) error {
	if st.right != verify {
		return nil
	}
	if req.Person != "" || req.Measures != "" || req.Funds != nil {
		return fmt.Errorf("hazard %s: person (责任人), measures (整改措施) and funds (整改资金) are the rectifier's; a verifier's opinion goes in the comment: %w", h.Number, ErrForbidden)
	}
	rectified, err := didRectify(ctx, tx, h.ID, actor.Name)
	if err != nil {
		return fmt.Errorf("hazard %s: who rectified it: %w", h.Number, err)
	}
	if rectified {
		return fmt.Errorf("hazard %s: %s rectified it, so someone else must verify (整改与验收分离): %w", h.Number, actor.Name, ErrForbidden)
	}
	return nil
}

// didRectify says whether name made any rectify step of record id.
func didRectify(ctx context.Context, tx *sql.Tx, id int64, name string) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT from_status, to_status FROM hazard_events
		WHERE hazard_id = $1 AND type = $2 AND actor = $3`, id, EventTransition, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var from, to Status
		if err := rows.Scan(&from, &to); err != nil {
			return false, err
		}
		for _, st := range steps {
			if st.from == from && st.to == to && st.right == rectify {
				return true, nil
			}
		}
	}
	return false, rows.Err()
}

// SuperviseRequest sets or lifts 挂牌督办.
type SuperviseRequest struct {
	Note string `json:"note"`
	Lift bool   `json:"lift"`
}

// Supervise flags a major hazard (重大隐患) as supervised by a regulator
// (挂牌督办), or lifts the flag; it changes nothing of the plant's work. It
// fails wrapping ErrForbidden without the supervise right, ErrWrongState
// for a general hazard, a closed one, or a flag already so, ErrInvalid
// without a note when setting.
func (e *Engine) Supervise(ctx context.Context, id int64, actor Actor, req SuperviseRequest) (Hazard, error) {
	if !actor.Supervise {
		return Hazard{}, fmt.Errorf("hazard %d: 挂牌督办 needs the supervise right: %w", id, ErrForbidden)
	}
	if actor.Name == "" {
		return Hazard{}, fmt.Errorf("hazard %d: %w: who is acting is required", id, ErrInvalid)
	}
	note := strings.TrimSpace(req.Note)
	return e.change(ctx, id, func(ctx context.Context, tx *sql.Tx, h Hazard) (Event, error) {
		switch {
		case h.Level != LevelMajor:
			return Event{}, fmt.Errorf("hazard %s is %s: only a %s is supervised: %w", h.Number, h.Level, LevelMajor, ErrWrongState)
		case h.Status.Done():
			return Event{}, fmt.Errorf("hazard %s is %s: %w", h.Number, h.Status.Label(), ErrWrongState)
		case req.Lift != h.Supervised:
			return Event{}, fmt.Errorf("hazard %s: supervised is already %v: %w", h.Number, h.Supervised, ErrWrongState)
		case !req.Lift && note == "":
			return Event{}, fmt.Errorf("hazard %s: 挂牌督办 needs a note: %w", h.Number, ErrInvalid)
		}
		now := e.store.now()
		typ, by, at := EventSupervised, actor.Name, &now
		if req.Lift {
			typ, by, at = EventUnsupervised, "", nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hazards SET supervised = $1, supervised_by = $2, supervised_at = $3,
			supervise_note = $4, updated_at = $5 WHERE id = $6`,
			!req.Lift, by, sqlstore.NullTime(at), note, sqlstore.FormatTime(now), id); err != nil {
			return Event{}, err
		}
		return appendEvent(ctx, tx, id, Event{Type: typ, By: actor.Name, Comment: note}, now)
	})
}

// change runs f on record id in a transaction and publishes its event once
// committed.
func (e *Engine) change(ctx context.Context, id int64, f func(context.Context, *sql.Tx, Hazard) (Event, error)) (Hazard, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ev Event
	err := sqlstore.InTx(ctx, e.store.db, func(tx *sql.Tx) error {
		h, err := getHazard(ctx, tx, id)
		if err != nil {
			return err
		}
		ev, err = f(ctx, tx, h)
		return err
	})
	if err != nil {
		return Hazard{}, err
	}
	e.published([]Event{ev})
	h := ev.Hazard
	derive(&h, e.store.now())
	return h, nil
}
