package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// UITDControl is the operator side of the GB/T 26875.3 listeners, wired by
// the gateway: the transmission devices heard, and the clock-sync and
// duty-check (查岗) commands. A command waits for the device's confirm,
// resending per the listener's command_timeout and command_tries.
//
// A device is named by its address as the path writes it; the protocol
// reads it. Statuses and results are the protocol's own JSON documents,
// served as they are: the API reads none of their fields. Errors wrap one of
// the ErrUITD sentinels, whose status the API answers with the error's text.
type UITDControl interface {
	Devices() []any
	Device(id string) (any, error)
	SyncClock(ctx context.Context, id, user string) (any, error)
	DutyCheck(ctx context.Context, id string, minutes int, user string) (any, error)
}

// What a UITDControl's errors mean to an operator, by the status they get.
var (
	ErrUITDAddress      = errors.New("not a transmission device address")          // 400
	ErrUITDNotHeard     = errors.New("transmission device has not been heard")     // 404
	ErrUITDNotConnected = errors.New("transmission device not connected")          // 409
	ErrUITDDenied       = errors.New("the transmission device denied the command") // 502
	ErrUITDNoReply      = errors.New("no confirm from the transmission device")    // 504
)

// DefaultDutyMinutes is the answer window of a duty check whose body names
// none.
const DefaultDutyMinutes = 10

// dutyBody is the optional body of POST /uitds/{id}/duty-check.
type dutyBody struct {
	Minutes int `json:"minutes"`
}

// uitdReady answers 501 when no listener is wired and reports false.
func (a *API) uitdReady(w http.ResponseWriter) bool {
	if a.uitd == nil {
		writeError(w, http.StatusNotImplemented, "no gb26875 listener is configured on this gateway")
		return false
	}
	return true
}

func (a *API) uitdList() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		out := a.uitd.Devices()
		if out == nil {
			out = []any{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *API) uitdGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		st, err := a.uitd.Device(chi.URLParam(r, "id"))
		a.uitdAnswer(w, r, "uitd status", st, err)
	}
}

func (a *API) uitdSyncClock() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		res, err := a.uitd.SyncClock(r.Context(), chi.URLParam(r, "id"), userOf(r))
		a.uitdAnswer(w, r, "uitd command", res, err)
	}
}

func (a *API) uitdDutyCheck() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		body := dutyBody{Minutes: DefaultDutyMinutes}
		if !readBody(w, r, &body, true) {
			return
		}
		if body.Minutes < 1 || body.Minutes > 255 {
			writeError(w, http.StatusBadRequest, "minutes: want 1 to 255 (the answer window the device gives the person on duty)")
			return
		}
		res, err := a.uitd.DutyCheck(r.Context(), chi.URLParam(r, "id"), body.Minutes, userOf(r))
		a.uitdAnswer(w, r, "uitd command", res, err)
	}
}

// userOf is who sends a command, for the device's log and status.
func userOf(r *http.Request) string {
	p, _ := principalFrom(r.Context())
	return p.Name
}

// uitdAnswer answers a status or a command's result: 200, 400 for a bad
// address, 404 not heard, 409 not connected, 502 denied, 504 no confirm
// after every try.
func (a *API) uitdAnswer(w http.ResponseWriter, r *http.Request, what string, v any, err error) {
	for _, e := range []struct {
		err    error
		status int
	}{
		{ErrUITDAddress, http.StatusBadRequest},
		{ErrUITDNotHeard, http.StatusNotFound},
		{ErrUITDNotConnected, http.StatusConflict},
		{ErrUITDDenied, http.StatusBadGateway},
		{ErrUITDNoReply, http.StatusGatewayTimeout},
	} {
		if errors.Is(err, e.err) {
			writeError(w, e.status, err.Error())
			return
		}
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "request ended before the device answered: "+err.Error())
	default:
		a.internalError(w, r, what, err)
	}
}
