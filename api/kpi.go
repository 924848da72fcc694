package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"hazgate/alerting/kpi"
)

// defaultKPIDays is what the daily KPIs cover without from: today and the
// six days before, in Beijing time.
const defaultKPIDays = 7

func (a *API) alarmKPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.kpis == nil {
			writeError(w, http.StatusNotImplemented, "alarm KPIs are not available on this gateway")
			return
		}
		from, to, err := parsePeriod(r, defaultPeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		k, err := a.kpis.KPI(r.Context(), a.site, from, to)
		if err != nil {
			a.internalError(w, r, "computing alarm KPIs", err)
			return
		}
		writeJSON(w, http.StatusOK, k)
	}
}

// dailyKPIs is the answer of GET /alarms/kpi/daily.
type dailyKPIs struct {
	Site   string `json:"site"`
	Points int    `json:"points"`
	// Guidance is EEMUA 191's acceptable alarms per operator and day, for
	// the chart's line.
	Guidance int       `json:"guidance_per_day"`
	Days     []kpi.Day `json:"days"`
}

func (a *API) alarmKPIDaily() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.kpis == nil {
			writeError(w, http.StatusNotImplemented, "alarm KPIs are not available on this gateway")
			return
		}
		from, to, err := parseDays(r, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		points := a.sitePoints()
		days, err := a.kpis.Daily(r.Context(), a.site, from, to, points)
		if err != nil {
			a.internalError(w, r, "computing daily alarm KPIs", err)
			return
		}
		if days == nil {
			days = []kpi.Day{}
		}
		writeJSON(w, http.StatusOK, dailyKPIs{Site: a.site, Points: points, Guidance: kpi.DailyGuidance, Days: days})
	}
}

// maxPoints bounds ?points= at a hub.
const maxPoints = 1_000_000

// hubKPIDaily is a site's daily KPIs at a hub, from the alarms the site
// sent, as its own gateway computes them. The hub does not know a site's
// tags: the points are ?points=, else the tags it publishes readings of
// (northbound.readings), else 0 (no per-point rates).
func (a *API) hubKPIDaily() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		now := time.Now()
		from, to, err := parseDays(r, now)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		points := 0
		if v := r.URL.Query().Get("points"); v != "" {
			if points, err = strconv.Atoi(v); err != nil || points < 1 || points > maxPoints {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("points=%q: want 1 to %d", v, maxPoints))
				return
			}
		} else {
			rs, err := a.hub.Readings(r.Context(), site)
			if err != nil {
				a.internalError(w, r, "reading a site's tags", err)
				return
			}
			points = len(rs)
		}
		days, err := a.hub.DailyKPI(r.Context(), site, from, to, now, points)
		if days == nil {
			days = []kpi.Day{}
		}
		a.answer(w, r, "computing a site's daily alarm KPIs", dailyKPIs{Site: site, Points: points, Guidance: kpi.DailyGuidance, Days: days}, err)
	})
}

// sitePoints is the site's point count the rates divide by: its tags.
func (a *API) sitePoints() int {
	n := 0
	for _, t := range a.tags.All() {
		if t.Site == "" || t.Site == a.site {
			n++
		}
	}
	return n
}

// parseDays reads ?from= and ?to=, dates in Beijing time, both included:
// the answer is [from's midnight, the midnight after to). Without to it is
// today, without from the six days before to.
func parseDays(r *http.Request, now time.Time) (from, to time.Time, err error) {
	qs := r.URL.Query()
	last := kpi.DayStart(now)
	if v := qs.Get("to"); v != "" {
		if last, err = time.ParseInLocation(time.DateOnly, v, kpi.Beijing); err != nil {
			return from, to, fmt.Errorf("to=%q: want a date such as 2025-03-01 (Beijing time)", v)
		}
	}
	first := last.AddDate(0, 0, 1-defaultKPIDays)
	if v := qs.Get("from"); v != "" {
		if first, err = time.ParseInLocation(time.DateOnly, v, kpi.Beijing); err != nil {
			return from, to, fmt.Errorf("from=%q: want a date such as 2025-03-01 (Beijing time)", v)
		}
	}
	if first.After(last) {
		return from, to, fmt.Errorf("from (%s) must not be after to (%s)", first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
	end := last.AddDate(0, 0, 1)
	if n := int(end.Sub(first).Hours() / 24); n > kpi.MaxDays {
		return from, to, fmt.Errorf("from=%s to=%s: %d days, at most %d", first.Format(time.DateOnly), last.Format(time.DateOnly), n, kpi.MaxDays)
	}
	return first, end, nil
}
