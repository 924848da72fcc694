// Package api is hazgate's HTTP API: a chi router serving the latest
// readings, tag metadata and alarms, behind Bearer-token auth with roles.
// It only reads stores and asks the alarm engine to acknowledge; it holds no
// business rules of its own.
package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"hazgate/alerting"
	"hazgate/alerting/kpi"
	"hazgate/collector"
	"hazgate/config"
)

// Latest is what the API reads current values from (collector.Latest).
type Latest interface {
	All() []collector.Sample
}

// Tags is what the API reads tag metadata from (collector.Registry).
type Tags interface {
	Lookup(id string) (collector.Tag, bool)
	All() []collector.Tag
}

// Alarms is what the API reads alarms from (the alarm journal). Get returns
// an error matching alerting.ErrNotFound for an unknown id.
type Alarms interface {
	List(ctx context.Context, f alerting.AlarmFilter) ([]alerting.Alarm, error)
	Get(ctx context.Context, id int64) (alerting.Alarm, error)
}

// AlarmControl is the alarm engine's operator actions (*alerting.Engine):
// acknowledging with a comment, shelving, taking out of service, and
// unshelving, which also returns to service. Each returns the alarm
// as committed, an error matching alerting.ErrNotFound for an unknown id and
// one matching alerting.ErrWrongState when the alarm's state does not allow it.
type AlarmControl interface {
	AckWithComment(ctx context.Context, id int64, user, comment string) (alerting.Alarm, error)
	Shelve(ctx context.Context, id int64, user, reason string, until time.Time) (alerting.Alarm, error)
	RemoveFromService(ctx context.Context, id int64, user, reason string) (alerting.Alarm, error)
	Unshelve(ctx context.Context, id int64, user string) (alerting.Alarm, error)
	Dispose(ctx context.Context, id int64, user string, d alerting.Disposal) (alerting.Alarm, error)
}

// AlarmHistory reads the alarm journal's transitions (*alerting.Journal).
type AlarmHistory interface {
	History(ctx context.Context, f alerting.HistoryFilter) ([]alerting.Event, error)
	// LastSeq is the newest event's seq: where a live stream starts.
	LastSeq(ctx context.Context) (int64, error)
}

// KPIs computes the alarm-system KPIs (*kpi.Reader): over a period, and
// per Beijing day with the site's point count.
type KPIs interface {
	KPI(ctx context.Context, site string, from, to time.Time) (kpi.Report, error)
	Daily(ctx context.Context, site string, from, to time.Time, points int) ([]kpi.Day, error)
}

// PointLimits gives the alarm limits a tag is judged by (*alerting.Engine),
// for a trend to draw.
type PointLimits interface {
	Limits(tag string) []alerting.Limit
}

// Reloader re-reads the configuration's rules (the gateway's SIGHUP path).
type Reloader interface {
	Reload(ctx context.Context) error
}

// Options configures New.
type Options struct {
	// Site is the id of the site this gateway serves, for logs.
	Site string
	// Notice is a line the console shows every user (http.notice).
	Notice string
	// SiteName is the enterprise's name (site.name), which the console's
	// header shows instead of the id.
	SiteName string
	Latest   Latest
	Tags     Tags
	Alarms   Alarms
	// Control acknowledges and shelves; History serves history.
	Control AlarmControl
	History AlarmHistory
	// KPIs serves the alarm-system KPIs; nil answers that route with 501.
	KPIs KPIs
	// Shift builds 交接班 reports (*shift.Builder); nil answers that route
	// with 501.
	Shift ShiftReports
	// Forward is the link to the fire remote-monitoring centre (the
	// forward block); nil answers its routes with 501.
	Forward Forwarder
	// UITD sends commands to GB/T 26875.3 transmission devices (the
	// gateway's listeners); nil answers those routes with 501.
	UITD UITDControl
	// Hazards serves hazard records and their workflow (*hazard.Engine);
	// nil answers those routes with 501.
	Hazards Hazards
	// AlarmFeed (*alerting.Bus) and HazardFeed (*hazard.Engine) feed the
	// live stream; without AlarmFeed the stream answers 501, without
	// HazardFeed it carries alarm events only.
	AlarmFeed  AlarmFeed
	HazardFeed HazardFeed
	// Hub serves the cross-site routes of a regulator's hub (*hub.Store);
	// nil answers them with 501.
	Hub HubView
	// HubControl sends a hub's instructions to sites (*hub.Ingest); nil
	// answers that route with 501.
	HubControl HubControl
	// HubLive feeds the hub's live stream (*hub.Live); nil answers it 501.
	HubLive HubLive
	// HubTrends reads the sites' trends from the central InfluxDB; nil
	// answers that route 501.
	HubTrends HubTrends
	// Points serves reading history: collector.InfluxHistory with InfluxDB,
	// else MemoryHistory; nil answers the route with 501.
	Points PointHistory
	// Limits gives a tag's alarm limits (*alerting.Engine); nil answers
	// that route with 501.
	Limits PointLimits
	// Reload re-reads the rules for an admin; nil answers 501.
	Reload Reloader
	// Metrics is the registry /metrics serves; the API adds its HTTP
	// metrics to it. Nil: a registry of the API's metrics alone.
	Metrics *prometheus.Registry
	// Heartbeat is how often an idle stream sends a comment; 0 means
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// Tokens, when non-empty, make a Bearer token mandatory on every route
	// but /healthz and the console's files. Without them every request acts
	// as user "local" with the admin role, which is why Listen then keeps
	// to loopback.
	Tokens []config.Token
	// AllowedHosts are the names (host or host:port) Listen's server
	// answers to besides its own address (http.allowed_hosts); see
	// newHostPolicy.
	AllowedHosts []string
	// BodyTimeout bounds how long Listen's server waits for a request's
	// body (http.body_timeout); 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// MaxConnsPerClient caps the connections Listen's server keeps open
	// per client IP (http.max_conns_per_client); 0 means
	// DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	Log               *slog.Logger
}

// API is the handler New builds.
type API struct {
	site       string
	notice     string
	siteName   string
	latest     Latest
	tags       Tags
	alarms     Alarms
	control    AlarmControl
	history    AlarmHistory
	kpis       KPIs
	shift      ShiftReports
	forward    Forwarder
	uitd       UITDControl
	hazards    Hazards
	hub        HubView
	hubControl HubControl
	hubLive    HubLive
	hubTrends  HubTrends
	auth       *authenticator // nil: unauthenticated (loopback) mode
	allowed    []hostEntry    // http.allowed_hosts, for Listen's Host check
	// For Listen's server: how long a body may take, and how many
	// connections one client address may hold.
	bodyTimeout       time.Duration
	maxConnsPerClient int
	limiter           *failLimiter
	log               *slog.Logger
	mux               *chi.Mux

	alarmFeed  AlarmFeed
	hazardFeed HazardFeed
	points     PointHistory
	limits     PointLimits
	reloader   Reloader
	heartbeat  time.Duration
	metrics    *apiMetrics
	gatherer   prometheus.Gatherer
	spec       json.RawMessage // the OpenAPI document, encoded once (47 KB; the map it is built from holds 250 KB)
	// streamsCtx ends every live stream when the server shuts down, which
	// would otherwise wait for them until its timeout.
	streamsCtx  context.Context
	stopStreams context.CancelFunc
}

// route is one authenticated endpoint. Every API route is declared in
// routes, so the role tests and the OpenAPI description (openapi.go, whose
// test walks the router) cover each one without a second list to keep in
// step.
type route struct {
	method  string
	pattern string
	perm    Permission
	handler func(a *API) http.HandlerFunc
}

var routes = []route{
	{http.MethodGet, "/api/v1/whoami", PermRead, (*API).whoami},
	{http.MethodGet, "/api/v1/openapi.json", PermRead, (*API).openAPI},
	{http.MethodGet, "/metrics", PermRead, (*API).metricsHandler},
	{http.MethodGet, streamPath, PermRead, (*API).stream},
	{http.MethodGet, "/api/v1/points/latest", PermRead, (*API).pointsLatest},
	{http.MethodGet, "/api/v1/points/{tag}/history", PermRead, (*API).pointHistory},
	{http.MethodGet, "/api/v1/points/{tag}/limits", PermRead, (*API).pointLimits},
	{http.MethodGet, "/api/v1/tags", PermRead, (*API).tagList},
	{http.MethodGet, "/api/v1/areas", PermRead, (*API).areas},
	{http.MethodPost, "/api/v1/admin/reload", PermAdmin, (*API).reload},
	{http.MethodGet, "/api/v1/alarms", PermRead, (*API).alarmList},
	{http.MethodGet, "/api/v1/alarms/{id}", PermRead, (*API).alarmGet},
	{http.MethodGet, "/api/v1/alarms/history", PermRead, (*API).alarmHistory},
	{http.MethodGet, "/api/v1/alarms/kpi/daily", PermRead, (*API).alarmKPIDaily},
	{http.MethodGet, "/api/v1/reports/shift", PermRead, (*API).shiftReport},
	{http.MethodGet, "/api/v1/alarms/export", PermRead, (*API).alarmExport},
	{http.MethodGet, "/api/v1/alarms/kpi", PermRead, (*API).alarmKPI},
	{http.MethodGet, "/api/v1/alarms/causes", PermRead, (*API).alarmCauses},
	{http.MethodPost, "/api/v1/alarms/{id}/ack", PermAck, (*API).alarmAck},
	{http.MethodPost, "/api/v1/alarms/{id}/dispose", PermDispose, (*API).alarmDispose},
	{http.MethodGet, "/api/v1/forward", PermRead, (*API).forwardStatus},
	{http.MethodPost, "/api/v1/forward/duty-check", PermAck, (*API).answerDutyCheck},
	{http.MethodPost, "/api/v1/alarms/{id}/shelve", PermAck, (*API).alarmShelve},
	{http.MethodPost, "/api/v1/alarms/{id}/unshelve", PermAck, (*API).alarmUnshelve},
	{http.MethodPost, "/api/v1/alarms/{id}/out-of-service", PermAdmin, (*API).alarmOutOfService},
	{http.MethodPost, "/api/v1/alarms/{id}/return-to-service", PermAdmin, (*API).alarmReturnToService},
	{http.MethodGet, "/api/v1/uitds", PermRead, (*API).uitdList},
	{http.MethodGet, "/api/v1/uitds/{id}", PermRead, (*API).uitdGet},
	{http.MethodPost, "/api/v1/uitds/{id}/sync-clock", PermAck, (*API).uitdSyncClock},
	{http.MethodPost, "/api/v1/uitds/{id}/duty-check", PermAck, (*API).uitdDutyCheck},
	{http.MethodGet, "/api/v1/hub/sites", PermRead, (*API).hubSites},
	{http.MethodGet, "/api/v1/hub/alarms", PermRead, (*API).hubAlarms},
	{http.MethodGet, "/api/v1/hub/hazards", PermRead, (*API).hubHazards},
	{http.MethodGet, "/api/v1/hub/hazards/export", PermRead, (*API).hubHazardExport},
	{http.MethodGet, "/api/v1/hub/hazards/{site}/{id}/history", PermRead, (*API).hubHazardHistory},
	{http.MethodPost, "/api/v1/hub/hazards/{site}/{id}/supervise", PermSupervise, (*API).hubSupervise},
	{http.MethodGet, "/api/v1/hub/sites/{site}/availability", PermRead, (*API).hubAvailability},
	{http.MethodGet, "/api/v1/hub/sites/{site}/kpi/daily", PermRead, (*API).hubKPIDaily},
	{http.MethodGet, "/api/v1/hub/sites/{site}/readings", PermRead, (*API).hubReadings},
	{http.MethodGet, "/api/v1/hub/sites/{site}/points/{tag}/history", PermRead, (*API).hubTrend},
	{http.MethodGet, "/api/v1/hub/commands", PermRead, (*API).hubCommands},
	{http.MethodGet, "/api/v1/hub/stream", PermRead, (*API).hubStream},
	{http.MethodGet, "/api/v1/hazards", PermRead, (*API).hazardList},
	{http.MethodPost, "/api/v1/hazards", PermHazardCreate, (*API).hazardCreate},
	{http.MethodGet, "/api/v1/hazards/export", PermRead, (*API).hazardExport},
	{http.MethodGet, "/api/v1/hazards/{id}", PermRead, (*API).hazardGet},
	{http.MethodGet, "/api/v1/hazards/{id}/history", PermRead, (*API).hazardHistory},
	{http.MethodPost, "/api/v1/hazards/{id}/transition", PermHazardWork, (*API).hazardTransition},
	{http.MethodPost, "/api/v1/hazards/{id}/supervise", PermSupervise, (*API).hazardSupervise},
}

// New builds the API's handler. It fails on a missing dependency or a bad
// token list (empty or duplicate token, unknown role).
func New(opts Options) (*API, error) {
	var missing []string
	if opts.Latest == nil {
		missing = append(missing, "Latest")
	}
	if opts.Tags == nil {
		missing = append(missing, "Tags")
	}
	if opts.Alarms == nil {
		missing = append(missing, "Alarms")
	}
	if opts.Control == nil {
		missing = append(missing, "Control")
	}
	if opts.History == nil {
		missing = append(missing, "History")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api: options missing %s", strings.Join(missing, ", "))
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		site:       opts.Site,
		notice:     opts.Notice,
		siteName:   opts.SiteName,
		latest:     opts.Latest,
		tags:       opts.Tags,
		alarms:     opts.Alarms,
		control:    opts.Control,
		history:    opts.History,
		kpis:       opts.KPIs,
		shift:      opts.Shift,
		forward:    opts.Forward,
		hub:        opts.Hub,
		hubControl: opts.HubControl,
		hubLive:    opts.HubLive,
		hubTrends:  opts.HubTrends,
		uitd:       opts.UITD,
		hazards:    opts.Hazards,
		limiter:    newFailLimiter(authFailBurst, authFailInterval),
		log:        log,

		alarmFeed:  opts.AlarmFeed,
		hazardFeed: opts.HazardFeed,
		points:     opts.Points,
		limits:     opts.Limits,
		reloader:   opts.Reload,
		heartbeat:  opts.Heartbeat,
	}
	if a.heartbeat <= 0 {
		a.heartbeat = DefaultHeartbeat
	}
	if opts.BodyTimeout < 0 || opts.MaxConnsPerClient < 0 {
		return nil, fmt.Errorf("api: negative BodyTimeout (%s) or MaxConnsPerClient (%d)", opts.BodyTimeout, opts.MaxConnsPerClient)
	}
	a.bodyTimeout = cmp.Or(opts.BodyTimeout, DefaultBodyTimeout)
	a.maxConnsPerClient = cmp.Or(opts.MaxConnsPerClient, DefaultMaxConnsPerClient)
	if len(opts.Tokens) > 0 {
		auth, err := newAuthenticator(opts.Tokens, log)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		a.auth = auth
	}
	allowed, err := parseAllowedHosts(opts.AllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	a.allowed = allowed
	a.streamsCtx, a.stopStreams = context.WithCancel(context.Background())
	reg := opts.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if a.metrics, err = newAPIMetrics(reg); err != nil {
		return nil, fmt.Errorf("api: metrics: %w", err)
	}
	a.gatherer = reg
	if a.spec, err = json.Marshal(a.openAPIDoc()); err != nil {
		return nil, fmt.Errorf("api: OpenAPI document: %w", err)
	}
	a.mux = a.router()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) router() *chi.Mux {
	r := chi.NewRouter()
	// Outermost first: the access log sees the id, and the recoverer's 500.
	r.Use(middleware.RequestID, echoRequestID, a.instrument, a.accessLog, a.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route for "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allowed := allowedMethods(r, req.URL.Path)
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		writeError(w, http.StatusMethodNotAllowed, "method "+req.Method+" not allowed on "+req.URL.Path)
	})

	// Open on purpose: container and systemd health checks carry no token.
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	// The console's files are open: they hold no data, and the page asks
	// for a token before it reads any.
	r.Get("/", http.RedirectHandler(consolePath, http.StatusFound).ServeHTTP)
	r.Get(consolePath+"*", a.console())

	r.Group(func(r chi.Router) {
		// Cross-site writes are refused before any token is looked at, so
		// they never count as failed authentications.
		r.Use(guardWrites, a.authenticate)
		for _, rt := range routes {
			r.With(requirePermission(rt.perm), allowScoped(rt.pattern)).Method(rt.method, rt.pattern, rt.handler(a))
		}
	})
	return r
}

// allowedMethods lists the methods some route answers on path, for the Allow
// header of a 405 (chi only sets it when its own 405 handler is used).
func allowedMethods(r chi.Routes, path string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if r.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}
