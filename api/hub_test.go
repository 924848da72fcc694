package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/hub"
	"hazgate/alerting/sqlstore"
	"hazgate/config"
)

func openHubStore(t *testing.T) *hub.Store {
	t.Helper()
	db, d, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := hub.OpenStore(context.Background(), db, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scopedTokens: a district bureau limited to its region, a fire brigade
// limited to one site, and a city bureau that sees all.
var scopedTokens = []config.Token{
	{Name: "江北新区应急局", Role: "regulator", Token: "region-token-0123456789", Regions: []string{"江北新区"}},
	{Name: "某消防站", Role: "regulator", Token: "site-token-0123456789", Sites: []string{"nj-03"}},
	{Name: "市应急局", Role: "regulator", Token: "city-token-0123456789"},
}

// fillHub gives the hub three sites: nj-01 and nj-02 in 江北新区 (nj-02
// offline), nj-03 in 江宁区, each with open alarms and a hazard.
func fillHub(t *testing.T, s *hub.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.Expect(ctx, []config.HubSite{
		{ID: "nj-01", Name: "甲化工", Region: "江北新区", Type: "危化品生产"},
		{ID: "nj-02", Name: "乙化工", Region: "江北新区", Type: "危化品经营"},
		{ID: "nj-03", Name: "丙商场", Region: "江宁区", Type: "消防控制室"},
	}); err != nil {
		t.Fatal(err)
	}
	for i, site := range []string{"nj-01", "nj-02", "nj-03"} {
		if err := s.ApplyStatus(ctx, northbound.Status{V: 1, Site: site, State: northbound.SiteOnline, Time: now}, now); err != nil {
			t.Fatal(err)
		}
		for n := int64(1); n <= 2; n++ {
			a := alerting.Alarm{ID: n, Site: site, Tag: "GT-1", Rule: "lel", Class: "lel", Severity: alerting.SeverityHigh,
				State: alerting.ActiveUnacked, Active: true, RaisedAt: now.Add(-time.Duration(n*30) * time.Minute)}
			if n == 2 {
				a.Severity = alerting.SeverityCritical
			}
			if _, err := s.ApplyAlarm(ctx, northbound.AlarmMessage{V: 1, Site: site, Event: alerting.Event{Seq: n, Type: alerting.EventRaised, Time: a.RaisedAt, Alarm: a}}, now); err != nil {
				t.Fatal(err)
			}
		}
		h := hazard.Hazard{ID: 1, Number: site + "-20261203-0001", Site: site, Unit: []string{"甲化工", "乙化工", "丙商场"}[i],
			Level: hazard.LevelMajor, Status: hazard.Open, Deadline: now.Add(time.Duration(i-1) * time.Hour)}
		if _, err := s.ApplyHazard(ctx, northbound.HazardMessage{V: 1, Site: site, Event: hazard.Event{Seq: 1, Type: "created", Time: now, Hazard: h}}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplySummary(ctx, northbound.Summary{V: 1, Site: site, Time: now, Open: map[string]int{alerting.SeverityHigh: 1}}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ApplyStatus(ctx, northbound.Status{V: 1, Site: "nj-02", State: northbound.SiteOffline, Reason: "lost", Time: now}, now); err != nil {
		t.Fatal(err)
	}
}

func hubSitesOf(t *testing.T, body []byte) []string {
	t.Helper()
	var page struct {
		Items []struct {
			Site string `json:"site"`
		} `json:"items"`
	}
	var list []struct {
		Site string `json:"site"`
	}
	if err := json.Unmarshal(body, &page); err == nil && page.Items != nil {
		list = page.Items
	} else if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s.Site] {
			seen[s.Site] = true
			out = append(out, s.Site)
		}
	}
	return out
}

// TestHubRoutesHonourTokenScope walks every hub route with each scoped
// token: each sees only its sites, and naming a site outside its scope is
// refused.
func TestHubRoutesHonourTokenScope(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	paths := []string{"/api/v1/hub/sites", "/api/v1/hub/alarms", "/api/v1/hub/hazards"}
	tests := []struct {
		token string
		want  string // sites seen, joined
		deny  string // a site outside the scope
	}{
		{"region-token-0123456789", "nj-01,nj-02", "nj-03"},
		{"site-token-0123456789", "nj-03", "nj-01"},
		{"city-token-0123456789", "nj-01,nj-02,nj-03", ""},
	}
	for _, tt := range tests {
		for _, p := range paths {
			rec := f.do(t, http.MethodGet, p, tt.token)
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
			}
			if got := strings.Join(hubSitesOf(t, rec.Body.Bytes()), ","); got != tt.want {
				t.Errorf("%s with %s: sites %s, want %s", p, tt.token, got, tt.want)
			}
			if tt.deny != "" {
				rec := f.do(t, http.MethodGet, p+"?site="+tt.deny, tt.token)
				if rec.Code != http.StatusForbidden {
					t.Errorf("%s?site=%s with %s: %d, want 403", p, tt.deny, tt.token, rec.Code)
				}
				assertErrorBody(t, rec)
			}
		}
	}
}

func TestHubAlarmFiltersAndPaging(t *testing.T) {
	f := newFixture(t, nil)
	fillHub(t, f.hub)
	get := func(q string) (total int, items []hub.RemoteAlarm) {
		t.Helper()
		rec := f.do(t, http.MethodGet, "/api/v1/hub/alarms"+q, "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
		}
		var page hubPage[hub.RemoteAlarm]
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		return page.Total, page.Items
	}
	if total, items := get(""); total != 6 || len(items) != 6 {
		t.Errorf("all open: total %d, %d items; want 6", total, len(items))
	}
	if total, items := get("?limit=4&offset=4"); total != 6 || len(items) != 2 {
		t.Errorf("second page: total %d, %d items; want 6 and 2", total, len(items))
	}
	if total, _ := get("?severity=critical&region=江北新区"); total != 2 {
		t.Errorf("critical in 江北新区: %d, want 2", total)
	}
	if total, _ := get("?type=消防控制室"); total != 2 {
		t.Errorf("by enterprise type: %d, want 2", total)
	}
	// Raised 30 and 60 minutes ago, unacknowledged: 45 minutes keeps one per site.
	if total, _ := get("?unacked_for=45m"); total != 3 {
		t.Errorf("unacked for 45m: %d, want 3", total)
	}
	_, items := get("?site=nj-02")
	for _, a := range items {
		if !a.Stale || a.SiteName != "乙化工" {
			t.Errorf("an offline site's alarm %+v: want stale, with its name", a)
		}
	}
	for _, q := range []string{"?unacked_for=soon", "?limit=-1", "?limit=999999", "?all=maybe"} {
		if rec := f.do(t, http.MethodGet, "/api/v1/hub/alarms"+q, ""); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
	}
}

func TestHubSitesAndHazards(t *testing.T) {
	f := newFixture(t, nil)
	fillHub(t, f.hub)
	rec := f.do(t, http.MethodGet, "/api/v1/hub/sites", "")
	var sites []HubSite
	if err := json.Unmarshal(rec.Body.Bytes(), &sites); err != nil || len(sites) != 3 {
		t.Fatalf("sites %s %v", rec.Body, err)
	}
	if !sites[0].Online || sites[0].OfflineSince != nil || sites[1].Online || sites[1].OfflineSince == nil || sites[1].Reason != "lost" {
		t.Errorf("health: %+v / %+v", sites[0], sites[1])
	}
	if sites[0].Colour != alerting.ColourOrange {
		t.Errorf("colour %s, want orange for an open high alarm", sites[0].Colour)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/hub/hazards?overdue=1", "")
	var page hubPage[hazard.Hazard]
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	// Deadlines an hour ago, now and in an hour: the first is overdue for sure.
	if page.Total < 1 || page.Total > 2 || page.Items[0].Site != "nj-01" || !page.Items[0].Overdue {
		t.Errorf("overdue hazards %+v", page)
	}
}

func TestSiteColour(t *testing.T) {
	tests := []struct {
		sum  *northbound.Summary
		want string
	}{
		{nil, alerting.ColourBlue},
		{&northbound.Summary{}, alerting.ColourBlue},
		{&northbound.Summary{Open: map[string]int{"low": 1}}, alerting.ColourYellow},
		{&northbound.Summary{OpenHazards: 1}, alerting.ColourYellow},
		{&northbound.Summary{Open: map[string]int{"high": 2}}, alerting.ColourOrange},
		{&northbound.Summary{Open: map[string]int{"high": 2, "critical": 1}}, alerting.ColourRed},
		{&northbound.Summary{MajorHazards: 1}, alerting.ColourRed},
	}
	for _, tt := range tests {
		if got := siteColour(&hub.SiteHealth{Summary: tt.sum}); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.sum, got, tt.want)
		}
	}
}

// TestNoHubAnswers501: a plant gateway is not a hub.
func TestNoHubAnswers501(t *testing.T) {
	f := newFixtureWith(t, nil, func(o *Options) { o.Hub = nil })
	if rec := f.do(t, http.MethodGet, "/api/v1/hub/sites", ""); rec.Code != http.StatusNotImplemented {
		t.Errorf("%d, want 501", rec.Code)
	}
}

// TestHubSuperviseScopeAndCommands: a regulator sends 挂牌督办 to a site in
// its scope; out of scope is 403, without a note 400; the command is then
// listed as pending, not yet sent or answered.
func TestHubSuperviseScopeAndCommands(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	region := "region-token-0123456789"
	if rec := f.doBody(t, http.MethodPost, "/api/v1/hub/hazards/nj-03/1/supervise", region, `{"note": "限期整改"}`); rec.Code != http.StatusForbidden {
		t.Errorf("out of scope: %d, want 403", rec.Code)
	}
	if rec := f.doBody(t, http.MethodPost, "/api/v1/hub/hazards/nj-01/1/supervise", region, `{"note": " "}`); rec.Code != http.StatusBadRequest {
		t.Errorf("no note: %d, want 400", rec.Code)
	}
	rec := f.doBody(t, http.MethodPost, "/api/v1/hub/hazards/nj-01/1/supervise", region, `{"note": "限期整改", "deadline": "2026-12-31T00:00:00+08:00"}`)
	if rec.Code != 200 {
		t.Fatalf("supervise: %d %s", rec.Code, rec.Body)
	}
	var sent hub.CommandRecord
	if err := json.Unmarshal(rec.Body.Bytes(), &sent); err != nil || sent.ID == "" || sent.By != "江北新区应急局" || sent.Type != hub.CommandSupervise {
		t.Fatalf("command %+v %v", sent, err)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/hub/commands?pending=1", region)
	var list []hub.CommandRecord
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].ID != sent.ID ||
		list[0].SentAt != nil || list[0].AckedAt != nil || list[0].Deadline == nil || !list[0].Deadline.Equal(time.Date(2026, 12, 30, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("pending commands %s %v", rec.Body, err)
	}
	// Another region's token does not see it.
	rec = f.do(t, http.MethodGet, "/api/v1/hub/commands", "site-token-0123456789")
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 0 {
		t.Errorf("out-of-scope commands listed: %s", rec.Body)
	}
}

// TestHubStreamHonoursScope: the hub's live stream carries what the hub
// stores as it commits, and a regional token sees only its region's sites.
func TestHubStreamHonoursScope(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	open := func(token, query string) *bufio.Scanner {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/hub/stream"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %v %v", resp, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() && sc.Text() != "event: ready" {
		}
		return sc
	}
	region := open("region-token-0123456789", "")
	city := open("city-token-0123456789", "?kind=alarm&severity=critical")
	for _, m := range []struct{ site, sev string }{{"nj-03", alerting.SeverityCritical}, {"nj-01", alerting.SeverityHigh}, {"nj-01", alerting.SeverityCritical}} {
		msg := northbound.AlarmMessage{V: 1, Site: m.site, Event: alerting.Event{Seq: 100, Type: alerting.EventRaised, Time: time.Now(),
			Alarm: alerting.Alarm{ID: 100, Site: m.site, Tag: "GT-9", Rule: "lel", Severity: m.sev, State: alerting.ActiveUnacked, RaisedAt: time.Now()}}}
		if m.sev == alerting.SeverityCritical && m.site == "nj-01" {
			msg.Seq, msg.Alarm.ID = 101, 101
		}
		b, _ := json.Marshal(msg)
		if err := f.ingest.Handle(context.Background(), "hazgate/"+m.site+"/alarm", b); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(sc *bufio.Scanner, n int) []string {
		var out []string
		for len(out) < n && sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				out = append(out, id)
			}
		}
		return out
	}
	// The region token: nj-01's two, not nj-03's (another region).
	if got := strings.Join(ids(region, 2), " "); got != "nj-01.a100 nj-01.a101" {
		t.Errorf("region stream ids %q, want nj-01.a100 nj-01.a101", got)
	}
	// The city token with severity=critical: nj-03's and nj-01's critical ones.
	if got := strings.Join(ids(city, 2), " "); got != "nj-03.a100 nj-01.a101" {
		t.Errorf("city stream ids %q, want nj-03.a100 nj-01.a101", got)
	}
}

// TestHubLedgerHistoryAvailability: the cross-site ledger honours the
// token's scope, a remote record's history reads back, and a site's
// availability is refused outside the scope and counts its outage inside.
func TestHubLedgerHistoryAvailability(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	region, city := "region-token-0123456789", "city-token-0123456789"
	rec := f.do(t, http.MethodGet, "/api/v1/hub/hazards/export", region)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", rec.Code, rec.Header())
	}
	body := rec.Body.String()
	if n := strings.Count(body, "\n"); n != 3 || !strings.Contains(body, "甲化工") || !strings.Contains(body, "乙化工") || strings.Contains(body, "丙商场") {
		t.Errorf("regional ledger (%d lines): want a header and nj-01's and nj-02's records only:\n%s", n, body)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/hub/hazards/nj-01/1/history", region)
	var hist []hazard.Event
	if err := json.Unmarshal(rec.Body.Bytes(), &hist); err != nil || len(hist) != 1 || hist[0].Type != "created" {
		t.Errorf("history %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodGet, "/api/v1/hub/hazards/nj-03/1/history", region); rec.Code != http.StatusForbidden {
		t.Errorf("out-of-scope history: %d, want 403", rec.Code)
	}
	for _, p := range []string{"/api/v1/hub/sites/nj-03/readings", "/api/v1/hub/sites/nj-03/points/GT-1/history"} {
		if rec := f.do(t, http.MethodGet, p, region); rec.Code != http.StatusForbidden {
			t.Errorf("out of scope %s: %d, want 403", p, rec.Code)
		}
	}
	if rec := f.do(t, http.MethodGet, "/api/v1/hub/sites/nj-03/availability", region); rec.Code != http.StatusForbidden {
		t.Errorf("out-of-scope availability: %d, want 403", rec.Code)
	}
	rec = f.do(t, http.MethodGet, "/api/v1/hub/sites/nj-02/availability?days=2", city)
	var av struct {
		Days    []hub.Day    `json:"days"`
		Outages []hub.Outage `json:"outages"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &av); err != nil || len(av.Days) != 2 || len(av.Outages) != 1 || av.Outages[0].Until != nil {
		t.Fatalf("availability %d %s", rec.Code, rec.Body)
	}
	if today := av.Days[1]; today.Outages != 1 || today.Online >= 1 {
		t.Errorf("today %+v: want the outage (nj-02 went offline just now) counted", today)
	}
	if rec := f.do(t, http.MethodGet, "/api/v1/hub/sites/nj-02/availability?days=0", city); rec.Code != 400 {
		t.Errorf("days=0: %d, want 400", rec.Code)
	}
}

// TestScopedTokenOnlyOnHubRoutes walks every route with a scoped token:
// the hub routes honour the scope, every other route is refused, since the
// gateway's own lists span all the sites a hub watches.
func TestScopedTokenOnlyOnHubRoutes(t *testing.T) {
	f := newFixture(t, scopedTokens)
	fillHub(t, f.hub)
	for _, rt := range routes {
		if rt.method != http.MethodGet {
			continue
		}
		rec := f.do(t, rt.method, concrete(rt.pattern), "region-token-0123456789")
		want := http.StatusForbidden
		if scopedRoute(rt.pattern) {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("GET %s with a scoped token: %d, want %d (%s)", rt.pattern, rec.Code, want, rec.Body)
		}
	}
}
