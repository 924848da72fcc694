package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting"
)

// Limits of the alarm action and history routes.
const (
	maxBodyBytes = 64 << 10
	// maxShelveMinutes bounds shelving: a week. Longer is maintenance, which
	// is out of service, not shelving.
	maxShelveMinutes = 7 * 24 * 60
	maxHistoryLimit  = 10000
	// defaultPeriod is what history and KPIs cover without from.
	defaultPeriod = 24 * time.Hour
)

// ackBody is the optional body of POST /alarms/{id}/ack.
type ackBody struct {
	Comment string `json:"comment"`
}

// shelveBody is the body of POST /alarms/{id}/shelve.
type shelveBody struct {
	Minutes int    `json:"minutes"`
	Reason  string `json:"reason"`
}

// readBody decodes a small JSON body into v; an empty body leaves v as is
// when optional. It answers 400 itself and reports false.
func readBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %v", err))
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "body: a JSON object is required")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body: %v", err))
		return false
	}
	return true
}

// alarmResult answers an alarm action: the alarm, or the error mapped to
// 404, 409 or 500.
func (a *API) alarmResult(w http.ResponseWriter, r *http.Request, what string, id int64, al alerting.Alarm, err error) {
	switch {
	case errors.Is(err, alerting.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("alarm %d not found", id))
	case errors.Is(err, alerting.ErrWrongState):
		writeError(w, http.StatusConflict, fmt.Sprintf("alarm %d cannot be %s: %v", id, what, err))
	case err != nil:
		a.internalError(w, r, fmt.Sprintf("alarm %d: %s", id, what), err)
	default:
		p, _ := principalFrom(r.Context())
		a.log.Info("api: alarm "+what, "alarm", id, "tag", al.Tag, "user", p.Name, "site", a.site)
		writeJSON(w, http.StatusOK, al)
	}
}

func (a *API) alarmAck() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		var body ackBody
		if !readBody(w, r, &body, true) {
			return
		}
		p, _ := principalFrom(r.Context())
		al, err := a.control.AckWithComment(r.Context(), id, p.Name, body.Comment)
		a.alarmResult(w, r, "acknowledged", id, al, err)
	}
}

func (a *API) alarmShelve() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		var body shelveBody
		if !readBody(w, r, &body, false) {
			return
		}
		if body.Minutes <= 0 || body.Minutes > maxShelveMinutes {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("minutes %d: want 1 to %d", body.Minutes, maxShelveMinutes))
			return
		}
		if strings.TrimSpace(body.Reason) == "" {
			writeError(w, http.StatusBadRequest, "reason is required: say why the alarm is shelved")
			return
		}
		p, _ := principalFrom(r.Context())
		until := time.Now().Add(time.Duration(body.Minutes) * time.Minute)
		al, err := a.control.Shelve(r.Context(), id, p.Name, body.Reason, until)
		a.alarmResult(w, r, "shelved", id, al, err)
	}
}

// reasonBody is the body of POST /alarms/{id}/out-of-service.
type reasonBody struct {
	Reason string `json:"reason"`
}

func (a *API) alarmUnshelve() http.HandlerFunc {
	return a.endSuppression(false, "unshelved")
}

func (a *API) alarmReturnToService() http.HandlerFunc {
	return a.endSuppression(true, "returned to service")
}

// endSuppression unshelves (outOfService false) or returns to service: the
// engine's Unshelve does both, but ending maintenance is an admin's call
// and ending a shelving an operator's, so the alarm's state is read first.
// Were the state to change between the read and the Unshelve, the alarm
// would come back to service, the safe side.
func (a *API) endSuppression(outOfService bool, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		al, err := a.alarms.Get(r.Context(), id)
		if err != nil {
			a.alarmResult(w, r, what, id, al, err)
			return
		}
		if is := al.State == alerting.OutOfService; is != outOfService {
			msg := fmt.Sprintf("alarm %d is out of service: an admin returns it with return-to-service", id)
			if outOfService {
				msg = fmt.Sprintf("alarm %d is %s, not out of service", id, al.State)
			}
			writeError(w, http.StatusConflict, msg)
			return
		}
		p, _ := principalFrom(r.Context())
		al, err = a.control.Unshelve(r.Context(), id, p.Name)
		a.alarmResult(w, r, what, id, al, err)
	}
}

func (a *API) alarmOutOfService() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		var body reasonBody
		if !readBody(w, r, &body, false) {
			return
		}
		if strings.TrimSpace(body.Reason) == "" {
			writeError(w, http.StatusBadRequest, "reason is required: say why the alarm is taken out of service")
			return
		}
		p, _ := principalFrom(r.Context())
		al, err := a.control.RemoveFromService(r.Context(), id, p.Name, body.Reason)
		a.alarmResult(w, r, "taken out of service", id, al, err)
	}
}

// parsePeriod reads ?from= and ?to= (RFC 3339); to defaults to now and from
// to period before to.
func parsePeriod(r *http.Request, period time.Duration) (from, to time.Time, err error) {
	qs := r.URL.Query()
	to = time.Now()
	if v := qs.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, fmt.Errorf("to=%q: want an RFC 3339 time such as 2025-03-01T08:00:00+08:00", v)
		}
	}
	from = to.Add(-period)
	if v := qs.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, fmt.Errorf("from=%q: want an RFC 3339 time such as 2025-03-01T08:00:00+08:00", v)
		}
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

func (a *API) alarmHistory() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		from, to, err := parsePeriod(r, defaultPeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		qs := r.URL.Query()
		f := alerting.HistoryFilter{Site: a.site, From: from, To: to, Tag: qs.Get("tag"), Class: qs.Get("class")}
		if v := qs.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > maxHistoryLimit {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: want 1 to %d", v, maxHistoryLimit))
				return
			}
			f.Limit = n
		}
		evs, err := a.history.History(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "reading alarm history", err)
			return
		}
		if evs == nil {
			evs = []alerting.Event{}
		}
		writeJSON(w, http.StatusOK, evs)
	}
}
