package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/collector"
)

// PointHistory answers a tag's readings in [from, to), oldest first:
// collector.InfluxHistory when the gateway writes to InfluxDB, else the
// in-memory window (MemoryHistory).
type PointHistory interface {
	Range(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, error)
}

// MemoryHistory serves history from the pipeline's in-memory window.
func MemoryHistory(h *collector.History) PointHistory { return memoryHistory{h} }

type memoryHistory struct{ h *collector.History }

func (m memoryHistory) Range(_ context.Context, tag string, from, to time.Time) ([]collector.Sample, error) {
	return m.h.Range(tag, from, to), nil
}

// maxHistoryPoints bounds a history answer; longer series are thinned
// evenly, which a trend on a screen a few hundred pixels wide cannot show
// anyway.
const maxHistoryPoints = 5000

// defaultHistoryPeriod is what a trend covers without from.
const defaultHistoryPeriod = time.Hour

// HistoryPoint is one reading of a trend.
type HistoryPoint struct {
	Time time.Time `json:"time"`
	// Value is null when the reading was bad or not finite: a gap in the trend.
	Value   *float64          `json:"value"`
	Quality collector.Quality `json:"quality"`
}

// pointHistory serves GET /api/v1/points/{tag}/history?from=&to=.
// historyPoints thins samples evenly to at most maxHistoryPoints; a Bad
// reading (or one with no number) has no value.
func historyPoints(samples []collector.Sample) []HistoryPoint {
	step := max(1, (len(samples)+maxHistoryPoints-1)/maxHistoryPoints)
	out := make([]HistoryPoint, 0, len(samples)/step+1)
	for i := 0; i < len(samples); i += step {
		s := samples[i]
		p := HistoryPoint{Time: s.Time, Quality: s.Quality}
		if s.Quality != collector.Bad && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
			v := s.Value
			p.Value = &v
		}
		out = append(out, p)
	}
	return out
}

func (a *API) pointHistory() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.points == nil {
			writeError(w, http.StatusNotImplemented, "no reading history is kept on this gateway")
			return
		}
		tag, ok := a.knownTag(w, r)
		if !ok {
			return
		}
		from, to, err := parsePeriod(r, defaultHistoryPeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var samples []collector.Sample
		source := sourceName(a.points)
		if hs, ok := a.points.(historySource); ok {
			samples, source, err = hs.rangeFrom(r.Context(), tag, from, to)
		} else {
			samples, err = a.points.Range(r.Context(), tag, from, to)
		}
		if err != nil {
			a.internalError(w, r, "reading the history of "+tag, err)
			return
		}
		if source != "" {
			w.Header().Set(HistorySourceHeader, source)
		}
		writeJSON(w, http.StatusOK, historyPoints(samples))
	}
}

// pointLimits serves GET /api/v1/points/{tag}/limits: the alarm limits the
// engine judges the tag by, [] when no limit rule applies.
func (a *API) pointLimits() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.limits == nil {
			writeError(w, http.StatusNotImplemented, "no alarm engine serves limits on this gateway")
			return
		}
		tag, ok := a.knownTag(w, r)
		if !ok {
			return
		}
		limits := a.limits.Limits(tag)
		if limits == nil {
			limits = []alerting.Limit{}
		}
		writeJSON(w, http.StatusOK, limits)
	}
}

// areas serves GET /api/v1/areas: every area of the registry's tags with
// the colour of its most urgent open alarm or hazard.
func (a *API) areas() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		open, err := a.alarms.List(r.Context(), alerting.AlarmFilter{OpenOnly: true})
		if err != nil {
			a.internalError(w, r, "listing alarms", err)
			return
		}
		var hazards []alerting.AreaHazard
		if a.hazards != nil {
			hs, err := a.hazards.List(r.Context(), hazard.Filter{Site: a.site,
				Statuses: []hazard.Status{hazard.Open, hazard.InProgress, hazard.PendingVerification}})
			if err != nil {
				a.internalError(w, r, "listing hazards", err)
				return
			}
			for _, h := range hs {
				hazards = append(hazards, alerting.AreaHazard{Area: h.Area, Major: h.Level == hazard.LevelMajor})
			}
		}
		writeJSON(w, http.StatusOK, alerting.Overview(a.tags, open, hazards))
	}
}

// knownTag reads the {tag} path parameter and answers 400 or 404 itself
// unless it names a tag of this gateway.
func (a *API) knownTag(w http.ResponseWriter, r *http.Request) (string, bool) {
	tag, err := url.PathUnescape(chi.URLParam(r, "tag"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("tag %q: %v", chi.URLParam(r, "tag"), err))
		return "", false
	}
	if _, ok := a.tags.Lookup(tag); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("tag %q not found: no device of this gateway declares it", tag))
		return "", false
	}
	return tag, true
}
