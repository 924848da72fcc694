package api

import (
	"fmt"
	"net/http"
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
