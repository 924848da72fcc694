package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"hazgate/protocols/gb26875"
)

// UITDControl is the operator side of the GB/T 26875.3 listeners
// (gb26875.Listeners): the transmission devices heard, and the clock-sync
// and duty-check (查岗) commands. A command waits for the device's confirm,
// resending per the listener's command_timeout and command_tries.
type UITDControl interface {
	Devices() []gb26875.DeviceStatus
	Device(a gb26875.Address) (gb26875.DeviceStatus, bool)
	SyncClock(ctx context.Context, a gb26875.Address, user string) (gb26875.CommandResult, error)
	DutyCheck(ctx context.Context, a gb26875.Address, minutes int, user string) (gb26875.CommandResult, error)
}

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

// uitdAddress reads the {id} path parameter as a device address; it
// answers 400 itself and reports false.
func uitdAddress(w http.ResponseWriter, r *http.Request) (gb26875.Address, bool) {
	addr, err := gb26875.ParseAddress(chi.URLParam(r, "id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return addr, true
}

func (a *API) uitdList() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		out := a.uitd.Devices()
		if out == nil {
			out = []gb26875.DeviceStatus{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *API) uitdGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.uitdReady(w) {
			return
		}
		addr, ok := uitdAddress(w, r)
		if !ok {
			return
		}
		st, ok := a.uitd.Device(addr)
		if !ok {
			writeError(w, http.StatusNotFound, "transmission device "+addr.String()+" has not been heard")
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

func (a *API) uitdSyncClock() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr, user, ok := a.uitdTarget(w, r)
		if !ok {
			return
		}
		res, err := a.uitd.SyncClock(r.Context(), addr, user)
		a.commandAnswer(w, r, res, err)
	}
}

func (a *API) uitdDutyCheck() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr, user, ok := a.uitdTarget(w, r)
		if !ok {
			return
		}
		body := dutyBody{Minutes: gb26875.DefaultDutyMinutes}
		if !readBody(w, r, &body, true) {
			return
		}
		if body.Minutes < 1 || body.Minutes > 255 {
			writeError(w, http.StatusBadRequest, "minutes: want 1 to 255 (the answer window the device gives the person on duty)")
			return
		}
		res, err := a.uitd.DutyCheck(r.Context(), addr, body.Minutes, user)
		a.commandAnswer(w, r, res, err)
	}
}

// uitdTarget reads a command's device and user; it answers 501 or 400
// itself and reports false.
func (a *API) uitdTarget(w http.ResponseWriter, r *http.Request) (gb26875.Address, string, bool) {
	if !a.uitdReady(w) {
		return 0, "", false
	}
	addr, ok := uitdAddress(w, r)
	if !ok {
		return 0, "", false
	}
	p, _ := principalFrom(r.Context())
	return addr, p.Name, true
}

// commandAnswer answers a command's result: 200 confirmed, 409 not
// connected, 502 denied, 504 no confirm after every try.
func (a *API) commandAnswer(w http.ResponseWriter, r *http.Request, res gb26875.CommandResult, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, gb26875.ErrNotConnected):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, gb26875.ErrDenied):
		writeError(w, http.StatusBadGateway, err.Error())
	case errors.Is(err, gb26875.ErrNoReply):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "request ended before the device answered: "+err.Error())
	default:
		a.internalError(w, r, "uitd command", err)
	}
}
