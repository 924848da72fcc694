package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"hazgate/alerting"
	"hazgate/collector"
)

// Point is one tag's latest reading with the metadata a display needs.
type Point struct {
	Tag string `json:"tag"`
	// Value is null when the quality is bad (there is no usable value) or
	// the number is not finite.
	Value   *float64          `json:"value"`
	Quality collector.Quality `json:"quality"`
	Reason  string            `json:"reason,omitempty"`
	Time    time.Time         `json:"time"`
	Unit    string            `json:"unit"`
	Kind    string            `json:"kind"`
	Area    string            `json:"area"`
	Device  string            `json:"device"`
	Name    string            `json:"name"`
}

func (a *API) pointsLatest() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		samples := a.latest.All()
		out := make([]Point, 0, len(samples))
		for _, s := range samples {
			p := Point{Tag: s.Tag, Quality: s.Quality, Reason: s.Reason, Time: s.Time}
			if s.Quality != collector.Bad && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
				v := s.Value
				p.Value = &v
			}
			// A sample whose tag is not registered still shows, bare.
			if t, ok := a.tags.Lookup(s.Tag); ok {
				p.Unit, p.Kind, p.Area, p.Device, p.Name = t.Unit, t.Kind, t.Area, t.Device, t.Name
			}
			out = append(out, p)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
		writeJSON(w, http.StatusOK, out)
	}
}

func (a *API) tagList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tags := a.tags.All()
		if tags == nil {
			tags = []collector.Tag{}
		}
		writeJSON(w, http.StatusOK, tags)
	}
}

// pathID parses the {id} path parameter of a `what` ("alarm", "hazard"),
// answering 400 when it is not a positive integer.
func pathID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	s := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s id %q: want a positive integer", what, s))
		return 0, false
	}
	return id, true
}

func alarmID(w http.ResponseWriter, r *http.Request) (int64, bool) { return pathID(w, r, "alarm") }

func (a *API) alarmGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := alarmID(w, r)
		if !ok {
			return
		}
		al, err := a.alarms.Get(r.Context(), id)
		switch {
		case errors.Is(err, alerting.ErrNotFound):
			writeError(w, http.StatusNotFound, fmt.Sprintf("alarm %d not found", id))
		case err != nil:
			a.internalError(w, r, fmt.Sprintf("reading alarm %d", id), err)
		default:
			writeJSON(w, http.StatusOK, a.view(al))
		}
	}
}

// internalError logs err and answers 500 without it: store errors may name
// files and queries the client has no business seeing.
func (a *API) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.Error("api: "+what+" failed", "err", err, "path", r.URL.Path, "request_id", requestID(r))
	writeError(w, http.StatusInternalServerError, what+" failed")
}

// writeJSON encodes v before writing anything, so an encoding error still
// gets a clean 500 rather than half a body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(errorBody{Error: "encoding response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store") // live values and alarms: never serve a stale copy
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// listParam reads a repeatable, comma-separated query parameter: each
// value once, blanks dropped.
func listParam(r *http.Request, key string) []string {
	var out []string
	for _, v := range r.URL.Query()[key] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
