package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting/hazard"
)

// Hazards is the hazard records' store and workflow (*hazard.Engine). Each
// method's errors wrap hazard.ErrNotFound, ErrForbidden, ErrWrongState or
// ErrInvalid where those apply.
type Hazards interface {
	List(ctx context.Context, f hazard.Filter) ([]hazard.Hazard, error)
	Get(ctx context.Context, id int64) (hazard.Hazard, error)
	History(ctx context.Context, id int64) ([]hazard.Event, error)
	Transition(ctx context.Context, id int64, actor hazard.Actor, req hazard.TransitionRequest) (hazard.Hazard, error)
	Supervise(ctx context.Context, id int64, actor hazard.Actor, req hazard.SuperviseRequest) (hazard.Hazard, error)
	Create(ctx context.Context, actor hazard.Actor, req hazard.CreateRequest) (hazard.Hazard, error)
}

// actorOf maps the caller's role to the workflow's rights; the workflow
// (not the API) decides which change each right allows.
func actorOf(p principal) hazard.Actor {
	return hazard.Actor{Name: p.Name, Rectify: p.Role.Can(PermRectify), Verify: p.Role.Can(PermVerify),
		Supervise: p.Role.Can(PermSupervise), Create: p.Role.Can(PermHazardCreate)}
}

// withHazards answers 501 when the gateway runs without hazard records.
func (a *API) withHazards(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.hazards == nil {
			writeError(w, http.StatusNotImplemented, "hazard records are not enabled on this gateway")
			return
		}
		h(w, r)
	}
}

// parseHazardFilter reads ?status=a,b (API values, repeatable), ?category=,
// ?level=, ?overdue=1, ?from= and ?to= (RFC 3339, on the time found) and
// ?limit=. The site is always the gateway's own.
func (a *API) parseHazardFilter(r *http.Request) (hazard.Filter, error) {
	qs := r.URL.Query()
	f := hazard.Filter{Site: a.site, Category: qs.Get("category"), Level: qs.Get("level")}
	for _, v := range qs["status"] {
		for s := range strings.SplitSeq(v, ",") {
			st := hazard.Status(strings.TrimSpace(s))
			if st == "" || slices.Contains(f.Statuses, st) {
				continue
			}
			if !slices.Contains(hazard.Statuses, st) {
				names := make([]string, len(hazard.Statuses))
				for i, k := range hazard.Statuses {
					names[i] = string(k)
				}
				return f, fmt.Errorf("unknown hazard status %q (want one of %s)", st, strings.Join(names, ", "))
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if v := qs.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, fmt.Errorf("overdue=%q: want 1 or 0", v)
		}
		f.Overdue = b
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := qs.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2025-03-01T08:00:00+08:00", p.key, v)
			}
			*p.dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, fmt.Errorf("from (%s) must be before to (%s)", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxHistoryLimit {
			return f, fmt.Errorf("limit=%q: want 1 to %d", v, maxHistoryLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func (a *API) hazardList() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		f, err := a.parseHazardFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		hs, err := a.hazards.List(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "listing hazards", err)
			return
		}
		if hs == nil {
			hs = []hazard.Hazard{}
		}
		writeJSON(w, http.StatusOK, hs)
	})
}

// hazardExport serves the ledger (隐患排查治理台账) of the records the same
// filters select, as CSV in UTF-8 with a byte-order mark.
func (a *API) hazardExport() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		f, err := a.parseHazardFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		hs, err := a.hazards.List(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "listing hazards", err)
			return
		}
		a.writeLedger(w, r, a.site, hs)
	})
}

// ledgerFormats are the ledger's download formats: ?format=csv (the
// default) or xlsx.
var ledgerFormats = map[string]struct {
	write       func(io.Writer, []hazard.Hazard) error
	contentType string
}{
	"csv":  {hazard.WriteCSV, "text/csv; charset=utf-8"},
	"xlsx": {hazard.WriteXLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
}

// ledgerFormat reads ?format=, answering 400 for one it does not know.
func ledgerFormat(w http.ResponseWriter, r *http.Request) (string, bool) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if _, ok := ledgerFormats[format]; !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format=%q: want csv or xlsx", format))
		return "", false
	}
	return format, true
}

// writeLedger answers the hazard ledger of hs as a download (?format=csv
// or xlsx) named after who (the site, or the hub).
func (a *API) writeLedger(w http.ResponseWriter, r *http.Request, who string, hs []hazard.Hazard) {
	format, ok := ledgerFormat(w, r)
	if !ok {
		return
	}
	lf := ledgerFormats[format]
	var buf bytes.Buffer
	if err := lf.write(&buf, hs); err != nil {
		a.internalError(w, r, "writing the hazard ledger", err)
		return
	}
	name := fmt.Sprintf("hazards-%s-%s.%s", who, time.Now().In(hazard.Beijing).Format("20060102"), format)
	w.Header().Set("Content-Type", lf.contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func hazardID(w http.ResponseWriter, r *http.Request) (int64, bool) { return pathID(w, r, "hazard") }

// hazardResult answers with v, or maps err to 404, 403, 409, 400 or 500.
func (a *API) hazardResult(w http.ResponseWriter, r *http.Request, what string, id int64, v any, err error) {
	switch {
	case errors.Is(err, hazard.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("hazard %d not found", id))
	case errors.Is(err, hazard.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, hazard.ErrWrongState):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, hazard.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.internalError(w, r, fmt.Sprintf("hazard %d: %s", id, what), err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) hazardGet() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		id, ok := hazardID(w, r)
		if !ok {
			return
		}
		h, err := a.hazards.Get(r.Context(), id)
		a.hazardResult(w, r, "reading", id, h, err)
	})
}

func (a *API) hazardHistory() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		id, ok := hazardID(w, r)
		if !ok {
			return
		}
		evs, err := a.hazards.History(r.Context(), id)
		if evs == nil {
			evs = []hazard.Event{}
		}
		a.hazardResult(w, r, "reading history", id, evs, err)
	})
}

func (a *API) hazardTransition() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		id, ok := hazardID(w, r)
		if !ok {
			return
		}
		var body hazard.TransitionRequest
		if !readBody(w, r, &body, false) {
			return
		}
		p, _ := principalFrom(r.Context())
		h, err := a.hazards.Transition(r.Context(), id, actorOf(p), body)
		if err == nil {
			a.log.Info("api: hazard transition", "hazard", h.Number, "to", h.Status, "user", p.Name, "site", a.site)
		}
		a.hazardResult(w, r, "transition", id, h, err)
	})
}

// hazardCreate enters a hazard found on a walk-round (排查): 200 with the
// record, or 400 naming the field that is missing or wrong.
func (a *API) hazardCreate() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		var body hazard.CreateRequest
		if !readBody(w, r, &body, false) {
			return
		}
		p, _ := principalFrom(r.Context())
		h, err := a.hazards.Create(r.Context(), actorOf(p), body)
		switch {
		case errors.Is(err, hazard.ErrForbidden):
			writeError(w, http.StatusForbidden, err.Error())
		case errors.Is(err, hazard.ErrInvalid):
			writeError(w, http.StatusBadRequest, err.Error())
		case err != nil:
			a.internalError(w, r, "entering a hazard", err)
		default:
			a.log.Info("api: hazard entered", "hazard", h.Number, "level", h.Level, "user", p.Name, "site", a.site)
			writeJSON(w, http.StatusOK, h)
		}
	})
}

func (a *API) hazardSupervise() http.HandlerFunc {
	return a.withHazards(func(w http.ResponseWriter, r *http.Request) {
		id, ok := hazardID(w, r)
		if !ok {
			return
		}
		var body hazard.SuperviseRequest
		if !readBody(w, r, &body, false) {
			return
		}
		p, _ := principalFrom(r.Context())
		h, err := a.hazards.Supervise(r.Context(), id, actorOf(p), body)
		if err == nil {
			a.log.Info("api: hazard supervision", "hazard", h.Number, "supervised", h.Supervised, "user", p.Name, "site", a.site)
		}
		a.hazardResult(w, r, "supervise", id, h, err)
	})
}
