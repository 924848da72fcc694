package api

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ForwardStatus is what the control room sees of the link to the city's
// fire remote-monitoring centre (this gateway as its 用户信息传输装置).
type ForwardStatus struct {
	Connected bool   `json:"connected"`
	Centre    string `json:"centre,omitempty"` // host:port in use
	// Pending and OldestSeconds are the outbox by class (alarm, status):
	// what waits for the centre's confirm, and for how long the oldest has.
	Pending       map[string]int     `json:"pending"`
	OldestSeconds map[string]float64 `json:"oldest_seconds"`
	// P99Seconds is, per class, the 99th percentile from a change entering
	// the gateway to the centre's confirm, against LimitSeconds (GB 25506:
	// 10 s for fire alarms and linkage, 100 s for status).
	P99Seconds   map[string]float64 `json:"p99_seconds"`
	LimitSeconds map[string]float64 `json:"limit_seconds"`
	// ClockOffsetSeconds is the centre's clock minus the gateway's, from
	// its last clock sync; the gateway's reports carry it.
	ClockOffsetSeconds float64 `json:"clock_offset_seconds"`
	// DutyCheck is the centre's 查岗 waiting for an answer, if any;
	// DutyChecks the recent ones, newest first.
	DutyCheck  *DutyCheck  `json:"duty_check,omitempty"`
	DutyChecks []DutyCheck `json:"duty_checks"`
}

// DutyCheck is one 查岗: the centre asks whether someone is on duty and
// expects an answer within minutes.
type DutyCheck struct {
	Received   time.Time  `json:"received"`
	Deadline   time.Time  `json:"deadline"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	AnsweredBy string     `json:"answered_by,omitempty"`
	Missed     bool       `json:"missed,omitempty"` // the deadline passed unanswered
}

// ErrNoDutyCheck is what Forwarder.AnswerDutyCheck returns (wrapped) when
// no 查岗 waits: answered already, missed, or none came.
var ErrNoDutyCheck = errors.New("no duty check is waiting for an answer")

// ErrCentreUnreachable is what Forwarder.AnswerDutyCheck returns (wrapped)
// while the link is down: the answer cannot reach the centre now.
var ErrCentreUnreachable = errors.New("the monitoring centre is not connected")

// Forwarder is the link to the monitoring centre.
type Forwarder interface {
	ForwardStatus(ctx context.Context) (ForwardStatus, error)
	// AnswerDutyCheck answers the waiting 查岗 on behalf of user, who is
	// recorded with the time.
	AnswerDutyCheck(ctx context.Context, user string) (DutyCheck, error)
}

func (a *API) forwardStatus() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.forward == nil {
			writeError(w, http.StatusNotImplemented, "this gateway forwards nothing to a monitoring centre (no forward block)")
			return
		}
		st, err := a.forward.ForwardStatus(r.Context())
		if err != nil {
			a.internalError(w, r, "reading the forwarding link's status", err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

func (a *API) answerDutyCheck() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.forward == nil {
			writeError(w, http.StatusNotImplemented, "this gateway forwards nothing to a monitoring centre (no forward block)")
			return
		}
		p, _ := principalFrom(r.Context())
		dc, err := a.forward.AnswerDutyCheck(r.Context(), p.Name)
		switch {
		case errors.Is(err, ErrNoDutyCheck):
			writeError(w, http.StatusConflict, err.Error())
		case errors.Is(err, ErrCentreUnreachable):
			writeError(w, http.StatusServiceUnavailable, err.Error()+": answer again once the link is back (the console shows it)")
		case err != nil:
			a.internalError(w, r, "answering the duty check", err)
		default:
			a.log.Info("api: duty check answered", "user", p.Name, "received", dc.Received, "site", a.site)
			writeJSON(w, http.StatusOK, dc)
		}
	}
}
