package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/hub"
	"hazgate/alerting/kpi"
)

// HubView is a regulator hub's store of the sites' alarms, hazard records
// and health (*hub.Store).
type HubView interface {
	Sites(ctx context.Context) ([]hub.SiteHealth, error)
	Alarms(ctx context.Context, f hub.AlarmFilter) ([]hub.RemoteAlarm, int, error)
	Hazards(ctx context.Context, f hub.HazardFilter) ([]hazard.Hazard, int, error)
	Commands(ctx context.Context, sites []string, pendingOnly bool, limit int) ([]hub.CommandRecord, error)
	HazardHistory(ctx context.Context, site string, id int64) ([]hazard.Event, error)
	Outages(ctx context.Context, site string, from, to time.Time) ([]hub.Outage, error)
	Readings(ctx context.Context, site string) ([]northbound.Reading, error)
	DailyKPI(ctx context.Context, site string, from, to, now time.Time, points int) ([]kpi.Day, error)
}

// HubControl sends a regulator's instructions south to a site (*hub.Ingest):
// recorded first, then delivered and resent until the site answers.
type HubControl interface {
	Command(ctx context.Context, c northbound.Command) (hub.CommandRecord, error)
}

// HubSite is one site on the hub's site list: its health and the colour
// of its most urgent open alarm or hazard, from its last summary.
type HubSite struct {
	hub.SiteHealth
	Colour string `json:"colour"`
}

// siteColour is a site's 红橙黄蓝: red for an open critical alarm or 重大隐患,
// orange for an open high alarm, yellow for any other open alarm or
// hazard, blue for nothing open (or no summary yet).
func siteColour(s *hub.SiteHealth) string {
	sum := s.Summary
	switch {
	case sum == nil:
		return alerting.ColourBlue
	case sum.Open[alerting.SeverityCritical] > 0 || sum.MajorHazards > 0:
		return alerting.ColourRed
	case sum.Open[alerting.SeverityHigh] > 0:
		return alerting.ColourOrange
	case sum.OpenHazards > 0:
		return alerting.ColourYellow
	}
	for _, n := range sum.Open {
		if n > 0 {
			return alerting.ColourYellow
		}
	}
	return alerting.ColourBlue
}

// withHub answers 501 when this process is not a hub.
func (a *API) withHub(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.hub == nil {
			writeError(w, http.StatusNotImplemented, "this gateway is not a hub (no hub block in its config)")
			return
		}
		h(w, r)
	}
}

// withSite is withHub for a route of one site ({site} in its path), within
// the caller's scope.
func (a *API) withSite(h func(w http.ResponseWriter, r *http.Request, site string)) http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		site := chi.URLParam(r, "site")
		if a.requireSite(w, r, site) {
			h(w, r, site)
		}
	})
}

// answer writes v, or the error as a 500 about what was being done.
func (a *API) answer(w http.ResponseWriter, r *http.Request, what string, v any, err error) {
	if err != nil {
		a.internalError(w, r, what, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// hubScope resolves the sites the caller may see, with ?site= (comma
// separated), ?region= and ?type= narrowing them: nil is every site. A
// site named outside the caller's scope is an error (403), not an empty
// answer, so a typo and a denial read differently.
func (a *API) hubScope(r *http.Request) (sites []string, status int, err error) {
	sites, _, status, err = a.hubScopeAll(r)
	return sites, status, err
}

// hubScopeAll is hubScope that also returns the hub's sites when it had to
// read them (nil when it did not), for a handler that needs them anyway.
func (a *API) hubScopeAll(r *http.Request) (sites []string, all []hub.SiteHealth, status int, err error) {
	p, _ := principalFrom(r.Context())
	named := listParam(r, "site")
	if !p.scoped() && len(named) == 0 {
		return nil, nil, 0, nil
	}
	if all, err = a.hub.Sites(r.Context()); err != nil {
		return nil, nil, http.StatusInternalServerError, err
	}
	for _, s := range all {
		if p.sees(s.Site, s.Region) && (len(named) == 0 || slices.Contains(named, s.Site)) {
			sites = append(sites, s.Site)
		}
	}
	for _, s := range named {
		if !slices.Contains(sites, s) && p.scoped() {
			return nil, nil, http.StatusForbidden, fmt.Errorf("site %q is outside the sites and regions of token %q", s, p.Name)
		}
	}
	if sites == nil {
		sites = []string{} // none: an empty scope, not every site
	}
	return sites, all, 0, nil
}

func (a *API) hubSites() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		scope, all, status, err := a.hubScopeAll(r)
		if err != nil {
			a.hubError(w, r, status, err)
			return
		}
		if all == nil {
			if all, err = a.hub.Sites(r.Context()); err != nil {
				a.internalError(w, r, "listing hub sites", err)
				return
			}
		}
		qs := r.URL.Query()
		out := []HubSite{}
		for _, s := range all {
			if scope != nil && !slices.Contains(scope, s.Site) {
				continue
			}
			if v := qs.Get("region"); v != "" && s.Region != v {
				continue
			}
			if v := qs.Get("type"); v != "" && s.Type != v {
				continue
			}
			out = append(out, HubSite{SiteHealth: s, Colour: siteColour(&s)})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// hubPage is a page of a cross-site list.
type hubPage[T any] struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Items  []T `json:"items"`
}

func pageParams(r *http.Request) (limit, offset int, err error) {
	qs := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &limit}, {"offset", &offset}} {
		if v := qs.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, 0, fmt.Errorf("%s=%q: want a non-negative integer", p.name, v)
			}
			*p.dst = n
		}
	}
	if limit > hub.MaxLimit {
		return 0, 0, fmt.Errorf("limit=%d: at most %d", limit, hub.MaxLimit)
	}
	return limit, offset, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
	}
	return b, nil
}

func (a *API) hubAlarms() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		scope, status, err := a.hubScope(r)
		if err != nil {
			a.hubError(w, r, status, err)
			return
		}
		qs := r.URL.Query()
		f := hub.AlarmFilter{Sites: scope, Region: qs.Get("region"), Type: qs.Get("type"),
			Severity: qs.Get("severity"), Class: qs.Get("class"), Now: time.Now()}
		if f.Limit, f.Offset, err = pageParams(r); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		all, err := boolParam(r, "all")
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.OpenOnly = !all
		if v := qs.Get("unacked_for"); v != "" {
			if f.UnackedFor, err = time.ParseDuration(v); err != nil || f.UnackedFor <= 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("unacked_for=%q: want a positive duration such as 10m", v))
				return
			}
		}
		items, total, err := a.hub.Alarms(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "listing hub alarms", err)
			return
		}
		writeJSON(w, http.StatusOK, hubPage[hub.RemoteAlarm]{Total: total, Offset: f.Offset, Items: items})
	})
}

// hubHazardFilter reads a cross-site hazard query within the caller's
// scope; it has answered the request when ok is false.
func (a *API) hubHazardFilter(w http.ResponseWriter, r *http.Request) (f hub.HazardFilter, ok bool) {
	scope, status, err := a.hubScope(r)
	if err != nil {
		a.hubError(w, r, status, err)
		return f, false
	}
	qs := r.URL.Query()
	f = hub.HazardFilter{Sites: scope, Region: qs.Get("region"), Level: qs.Get("level"), Now: time.Now()}
	if f.Limit, f.Offset, err = pageParams(r); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return f, false
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"open", &f.Open}, {"overdue", &f.Overdue}, {"supervised", &f.Supervised}} {
		if *b.dst, err = boolParam(r, b.name); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return f, false
		}
	}
	return f, true
}

// hubHazardExport is the cross-site ledger (台账) of the records the query
// selects, as CSV: the site ledger's columns, every site in the scope.
func (a *API) hubHazardExport() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.hubHazardFilter(w, r)
		if !ok {
			return
		}
		if f.Limit == 0 {
			f.Limit = hub.MaxLimit
		}
		items, _, err := a.hub.Hazards(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "listing hub hazards", err)
			return
		}
		a.writeLedger(w, r, a.site, items)
	})
}

// hubHazardHistory is one site's record's history as the hub received it.
func (a *API) hubHazardHistory() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		if id, ok := hazardID(w, r); ok {
			evs, err := a.hub.HazardHistory(r.Context(), site, id)
			a.answer(w, r, "reading a hub hazard's history", evs, err)
		}
	})
}

// hubAvailability is a site's 在线率 and 离线时长 per day (Beijing time)
// over ?days= (default 7, at most 90) up to today.
func (a *API) hubAvailability() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		days := 7
		if v := r.URL.Query().Get("days"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 90 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("days=%q: want 1 to 90", v))
				return
			}
			days = n
		}
		now := time.Now()
		y, m, d := now.In(hazard.Beijing).Date()
		from := time.Date(y, m, d, 0, 0, 0, 0, hazard.Beijing).AddDate(0, 0, 1-days)
		outages, err := a.hub.Outages(r.Context(), site, from, now)
		a.answer(w, r, "reading a site's outages", map[string]any{"site": site, "days": hub.Availability(outages, from, now, now, hazard.Beijing), "outages": outages}, err)
	})
}

// HubTrends reads any site's readings from the central InfluxDB
// (collector.InfluxHistory.ForSite), where the sites write.
type HubTrends interface {
	ForSite(site string) PointHistory
}

// hubTrend is a site's tag's readings in a period, from the central
// InfluxDB, thinned like a gateway's own history.
func (a *API) hubTrend() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		if a.hubTrends == nil {
			writeError(w, http.StatusNotImplemented, "this hub has no influxdb block: trends stay in each site's InfluxDB")
			return
		}
		tag, err := url.PathUnescape(chi.URLParam(r, "tag"))
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tag %q: %v", chi.URLParam(r, "tag"), err))
			return
		}
		from, to, err := parsePeriod(r, defaultHistoryPeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		samples, err := a.hubTrends.ForSite(site).Range(r.Context(), tag, from, to)
		if err != nil {
			a.internalError(w, r, "reading the trend of "+site+" "+tag, err)
			return
		}
		writeJSON(w, http.StatusOK, historyPoints(samples))
	})
}

// hubReadings is a site's newest reading per tag, from the readings it
// publishes (northbound.readings at the site).
func (a *API) hubReadings() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		rs, err := a.hub.Readings(r.Context(), site)
		a.answer(w, r, "reading a site's readings", rs, err)
	})
}

func (a *API) hubHazards() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.hubHazardFilter(w, r)
		if !ok {
			return
		}
		items, total, err := a.hub.Hazards(r.Context(), f)
		if err != nil {
			a.internalError(w, r, "listing hub hazards", err)
			return
		}
		writeJSON(w, http.StatusOK, hubPage[hazard.Hazard]{Total: total, Offset: f.Offset, Items: items})
	})
}

// superviseBody is a regulator's 挂牌督办 of a site's hazard record.
type superviseBody struct {
	Note     string     `json:"note"`
	Lift     bool       `json:"lift"`
	Deadline *time.Time `json:"deadline"`
}

// hubSupervise sends 挂牌督办 (or its lifting) to the site that holds the
// record. The site applies it to its own record, which then comes back
// north as a hazard event; the answer here is the command as recorded.
func (a *API) hubSupervise() http.HandlerFunc {
	return a.withSite(func(w http.ResponseWriter, r *http.Request, site string) {
		if a.hubControl == nil {
			writeError(w, http.StatusNotImplemented, "this hub cannot send commands")
			return
		}
		id, ok := hazardID(w, r)
		if !ok {
			return
		}
		p, _ := principalFrom(r.Context())
		var body superviseBody
		if !readBody(w, r, &body, false) {
			return
		}
		c := northbound.Command{Site: site, Hazard: id, By: p.Name, Note: strings.TrimSpace(body.Note), Deadline: body.Deadline, Type: hub.CommandSupervise}
		if body.Lift {
			c.Type = hub.CommandLift
		} else if c.Note == "" {
			writeError(w, http.StatusBadRequest, "note: 挂牌督办 needs a note (督办意见)")
			return
		}
		rec, err := a.hubControl.Command(r.Context(), c)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.log.Info("api: hub command recorded", "command", rec.ID, "type", rec.Type, "site", site, "hazard", id, "user", p.Name)
		writeJSON(w, http.StatusOK, rec)
	})
}

// requireSite answers 403 unless the caller may see site.
func (a *API) requireSite(w http.ResponseWriter, r *http.Request, site string) bool {
	p, _ := principalFrom(r.Context())
	if a.inScope(r, p, site) {
		return true
	}
	writeError(w, http.StatusForbidden, fmt.Sprintf("site %q is outside the sites and regions of token %q", site, p.Name))
	return false
}

// inScope reports whether p may see site, looking up its region.
func (a *API) inScope(r *http.Request, p principal, site string) bool {
	if !p.scoped() {
		return true
	}
	sites, err := a.hub.Sites(r.Context())
	if err != nil {
		return false
	}
	for _, s := range sites {
		if s.Site == site {
			return p.sees(s.Site, s.Region)
		}
	}
	return false
}

func (a *API) hubCommands() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		scope, status, err := a.hubScope(r)
		if err != nil {
			a.hubError(w, r, status, err)
			return
		}
		pending, err := boolParam(r, "pending")
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		limit, _, err := pageParams(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		out, err := a.hub.Commands(r.Context(), scope, pending, limit)
		if err != nil {
			a.internalError(w, r, "listing hub commands", err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (a *API) hubError(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == http.StatusInternalServerError {
		a.internalError(w, r, "resolving the caller's sites", err)
		return
	}
	writeError(w, status, err.Error())
}
