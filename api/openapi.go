package api

import (
	"net/http"
	"regexp"
	"strings"
)

// routeDoc describes a route for the OpenAPI document. Every entry of
// routes needs one (TestOpenAPIMatchesRouter).
type routeDoc struct {
	summary string
	query   []param
	// body names the JSON body's fields, for POST routes that take one.
	body map[string]string
	// produces is the success content type; JSON when empty.
	produces string
	// headers are the success answer's own response headers.
	headers []param
}

type param struct{ name, desc string }

var (
	periodParams = []param{{"from", "Start, RFC 3339 (default: to minus the route's period)"}, {"to", "End, RFC 3339 (default: now)"}}
	hazardParams = []param{{"status", "Comma-separated statuses: open, in_progress, pending_verification, closed, dismissed"},
		{"category", "Category"}, {"level", "一般隐患 or 重大隐患"}, {"overdue", "1: only records past their deadline"},
		{"from", "Found at or after, RFC 3339"}, {"to", "Found before, RFC 3339"}, {"limit", "At most this many"}}
)

var pageParamDocs = []param{{"limit", "Page size (default 200, at most 5000)"}, {"offset", "Items to skip"}}

var docs = map[string]routeDoc{
	"GET /api/v1/whoami":       {summary: "The caller's name, role and permissions"},
	"GET /api/v1/openapi.json": {summary: "This description"},
	"GET /metrics":             {summary: "Prometheus metrics: HTTP, stream, alarms, InfluxDB sink and spool, Modbus, MQTT, northbound MQTT, GB/T 26875.3, webhooks", produces: "text/plain"},
	"GET /api/v1/stream": {summary: "Server-Sent Events of alarm and hazard events. Each event's id is a cursor a<alarm seq>.h<hazard seq>; " +
		"reconnecting with Last-Event-ID (or ?after=) replays every event after it, in order, then live ones. " +
		"Events: ready (first, with the starting cursor), alarm, hazard; a comment every heartbeat.",
		produces: "text/event-stream",
		query: []param{{"after", "Cursor to resume after when Last-Event-ID is not sent (default: live events only)"},
			{"kind", "alarm, hazard or both (default)"}, {"site", "Comma-separated site ids"},
			{"severity", "Comma-separated alarm severities: low, medium, high, critical (hazard events are not filtered by it)"},
			{"class", "Comma-separated alarm classes or hazard categories"}}},
	"GET /api/v1/points/latest": {summary: "Newest reading of every tag with its metadata"},
	"GET /api/v1/points/{tag}/history": {summary: "A tag's readings in a period (InfluxDB, or the in-memory window), at most 5000, thinned evenly; " +
		"header " + HistorySourceHeader + " says which store answered: memory while InfluxDB is unreachable (the last hour or so only)",
		query: periodParams, headers: []param{{HistorySourceHeader, "influxdb or memory: the store that answered"}}},
	"GET /api/v1/points/{tag}/limits": {summary: "The alarm limits a tag is judged by, from its limit rules (a tag's own rule replacing the general ones): " +
		"rule, level (HH, H, L, LL), value, high (alarms above it), deadband, severity, words and words_en as its alarm messages name it (二级报警值), " +
		"clause its preset cites (GB/T 50493-2019 5.5.1); [] when none applies, 404 for a tag no device declares"},
	"GET /api/v1/tags":          {summary: "Tag metadata"},
	"GET /api/v1/areas":         {summary: "Site overview: each area coloured red, orange, yellow or blue by its most urgent open alarm or hazard"},
	"POST /api/v1/admin/reload": {summary: "Re-read the configuration's alarm rules"},
	"GET /api/v1/hub/sites": {summary: "At a hub: the sites in the caller's scope with their health (online, last seen, offline since, version) and colour from their last summary",
		query: []param{{"site", "Comma-separated site ids"}, {"region", "Region"}, {"type", "Enterprise type"}}},
	"GET /api/v1/hub/alarms": {summary: "At a hub: the sites' alarms as each site has them (acks, shelving, comments, site times), newest raised first, open ones by default; stale while the site is offline",
		query: append([]param{{"site", "Comma-separated site ids"}, {"region", "Region"}, {"type", "Enterprise type"},
			{"severity", "low, medium, high or critical"}, {"class", "Alarm class"}, {"unacked_for", "Only alarms unacknowledged longer than this, such as 10m"},
			{"all", "1: closed ones too"}}, pageParamDocs...)},
	"GET /api/v1/hub/hazards": {summary: "At a hub: the sites' hazard records as each site has them",
		query: append([]param{{"site", "Comma-separated site ids"}, {"region", "Region"}, {"level", "一般隐患 or 重大隐患"},
			{"open", "1: only records not closed or dismissed"}, {"overdue", "1: only open records past their deadline (超期)"},
			{"supervised", "1: only records under 挂牌督办"}}, pageParamDocs...)},
	"GET /api/v1/hub/hazards/export": {summary: "At a hub: the cross-site hazard ledger (台账) as CSV or XLSX, with the site ledger's columns, for the records the filters select in the caller's scope",
		produces: "text/csv", query: []param{{"format", "csv (default) or xlsx"}, {"site", "Comma-separated site ids"}, {"region", "Region"}, {"level", "一般隐患 or 重大隐患"},
			{"open", "1: only records not closed or dismissed"}, {"overdue", "1: only 超期"}, {"supervised", "1: only 挂牌督办"}}},
	"GET /api/v1/hub/hazards/{site}/{id}/history": {summary: "At a hub: one site's hazard record's events as the site sent them, oldest first"},
	"GET /api/v1/hub/sites/{site}/availability": {summary: "At a hub: a site's 在线率 and 离线时长 per day (Beijing time), and its outages",
		query: []param{{"days", "Days up to today (default 7, at most 90)"}}},
	"GET /api/v1/hub/sites/{site}/kpi/daily": {summary: "At a hub: a site's alarm KPIs per Beijing day (as GET /api/v1/alarms/kpi/daily on the site), from the alarms the site sent, in the caller's scope",
		query: []param{{"from", "First day, 2025-03-01 in Beijing time (default: six days before to)"}, {"to", "Last day, included (default: today)"},
			{"points", "The site's point count for the per-point rates (default: the tags it publishes readings of)"}}},
	"GET /api/v1/alarms/kpi/daily": {summary: "Alarm KPIs per Beijing day, as regulators read them beside EEMUA 191: 报警次数 (alarms annunciated; suppressed by design not counted), " +
		"报警率 (per point), 处置率 and 误报率 (share of the day's alarms disposed, disposed as false_alarm), median seconds to acknowledge and to dispose, " +
		"离线率 (share of point-hours Bad), floods, chattering and the top 10 sources; with the point count and EEMUA 191's 144 a day per operator",
		query: []param{{"from", "First day, 2025-03-01 in Beijing time (default: six days before to)"}, {"to", "Last day, included (default: today)"}}},
	"GET /api/v1/reports/shift": {summary: "交接班 shift report: alarms open at the end (as they stood then), alarms acknowledged, disposed or closed during the shift (who, when, cause, measures), " +
		"hazard records created or changed, devices offline; a printable Chinese HTML page (default), an XLSX workbook (a sheet each, frozen headers, Beijing time) or JSON. Any role that reads may read it.",
		produces: "text/html",
		query: []param{{"from", "Start, RFC 3339 (default: to minus 8 hours)"}, {"to", "End, RFC 3339 (default: now); at most 7 days after from"},
			{"format", "html (default), xlsx or json"}}},
	"GET /api/v1/alarms/export": {summary: "The alarm ledger (报警处置记录): every alarm raised in the period (suppressed by design left to its device's root), as it stands now, " +
		"with value and peak in the point's unit, when it ended, who acknowledged it and why, its disposal (cause, 是否误报, measures, person, time) and escalations; CSV for Excel (UTF-8 with BOM) or XLSX, Beijing time. At most 50,000 rows (the XLSX says when cut).",
		produces: "text/csv",
		query: []param{{"from", "Start, RFC 3339 (default: to minus 30 days)"}, {"to", "End, RFC 3339 (default: now); at most 93 days after from"},
			{"format", "csv (default) or xlsx"}}},
	"GET /api/v1/hub/sites/{site}/readings":             {summary: "At a hub: a site's newest reading per tag, from what it publishes with northbound.readings (kinds, deadband, refresh); the trends stay in the site's InfluxDB"},
	"GET /api/v1/hub/sites/{site}/points/{tag}/history": {summary: "At a hub: a site's tag's readings in a period from the central InfluxDB (where the sites' influxdb blocks write), at most 5000, thinned evenly", query: periodParams},
	"POST /api/v1/hub/hazards/{site}/{id}/supervise": {summary: "At a hub: 挂牌督办 of a site's major hazard record (or lift: true to lift it), sent to the site over MQTT and resent until it answers; the answer is the command as recorded (see /api/v1/hub/commands for delivered and acknowledged). Regulators instruct; they never acknowledge a plant's alarms.",
		body: map[string]string{"note": "督办意见 (required unless lifting)", "lift": "true to lift the supervision", "deadline": "Optional 督办期限, RFC 3339"}},
	"GET /api/v1/hub/stream": {summary: "At a hub: Server-Sent Events of what the hub stores, live, across the sites in the caller's scope: alarm and hazard events as the sites send them, and site status (online, offline). " +
		"Ids are {site}.a{seq}, {site}.h{seq} or {site}.status; drop repeats by id. Live only: after a reconnect, or an event lagged (the client was too slow), read the lists again.",
		produces: "text/event-stream",
		query: []param{{"site", "Comma-separated site ids"}, {"region", "Region"}, {"kind", "Comma-separated: alarm, hazard, site"},
			{"severity", "Comma-separated alarm severities"}}},
	"GET /api/v1/hub/commands": {summary: "At a hub: instructions sent to sites, newest first, with sent_at (the broker took it) and acked_at, ok, error (the site's answer)",
		query: []param{{"site", "Comma-separated site ids"}, {"pending", "1: only those the site has not answered"}, {"limit", "At most this many"}}},
	"GET /api/v1/alarms": {summary: "Alarms, newest first (open ones by default), each with its point's name, area, kind and unit; value and peak only where measured (a limit or rate alarm: none for comm_loss, sensor_fault, bad_quality, a device, stale or a panel state); suppressed_by_design ones only when asked. With a filter beyond state, tag and all, the X-Total-Count header counts every match", query: []param{
		{"state", "Comma-separated states"}, {"all", "1: closed ones too"}, {"tag", "Tag id"}, {"limit", "At most this many"},
		{"offset", "Skip this many (paging)"}, {"area", "Comma-separated areas"}, {"severity", "Comma-separated severities"},
		{"class", "Comma-separated classes"}, {"q", "Text in the tag, point name or message"},
		{"suppressed", "1: include alarms suppressed by design"}, {"sort", "raised (default, newest first) or attention (unacknowledged first, most severe, longest waiting)"}}},
	"GET /api/v1/alarms/{id}":      {summary: "One alarm, as the list has it"},
	"GET /api/v1/alarms/history":   {summary: "Alarm transitions in a period", query: append([]param{{"tag", "Tag id"}, {"class", "Class"}, {"limit", "At most this many"}}, periodParams...)},
	"GET /api/v1/alarms/kpi":       {summary: "Alarm-system KPIs (EEMUA 191 / ISA-18.2) for a period", query: periodParams},
	"POST /api/v1/alarms/{id}/ack": {summary: "Acknowledge", body: map[string]string{"comment": "string, optional"}},
	"POST /api/v1/alarms/{id}/dispose": {summary: "File how an open alarm was handled (报警处置); closes one awaiting its disposal",
		body: map[string]string{"cause": "false_alarm, device_fault, process_upset, leak, maintenance, drill or other", "measures": "string (处置措施)",
			"person": "string, optional (处置人; default the user)", "at": "RFC 3339, optional (default now)", "note": "string, optional"}},
	"GET /api/v1/alarms/causes":         {summary: "The disposal causes, with their Chinese names"},
	"GET /api/v1/forward":               {summary: "The link to the fire remote-monitoring centre (this gateway as its transmission device): connected, what waits by class and for how long, p99 to the centre's confirm against GB 25506's 10 s / 100 s, the clock offset, the 查岗 waiting and the recent ones"},
	"POST /api/v1/forward/duty-check":   {summary: "Answer the centre's waiting 查岗 (duty check) as the user on duty; 409 when none waits"},
	"POST /api/v1/alarms/{id}/shelve":   {summary: "Shelve for some minutes, with a reason", body: map[string]string{"minutes": "integer 1-10080", "reason": "string"}},
	"POST /api/v1/alarms/{id}/unshelve": {summary: "Return a shelved alarm to service (an out-of-service one needs return-to-service)"},
	"POST /api/v1/alarms/{id}/out-of-service": {summary: "Take an open alarm out of service (maintenance) until returned; suppressed like shelving, with no expiry",
		body: map[string]string{"reason": "string"}},
	"POST /api/v1/alarms/{id}/return-to-service": {summary: "Return an out-of-service alarm to service: active and unacknowledged again if its condition holds, else closed"},
	"GET /api/v1/uitds":                          {summary: "GB/T 26875.3 transmission devices heard"},
	"GET /api/v1/uitds/{id}":                     {summary: "One transmission device"},
	"POST /api/v1/uitds/{id}/sync-clock":         {summary: "Synchronise a transmission device's clock"},
	"POST /api/v1/uitds/{id}/duty-check":         {summary: "Duty check (查岗)", body: map[string]string{"minutes": "integer 1-255, optional"}},
	"GET /api/v1/hazards":                        {summary: "Hazard records (隐患)", query: hazardParams},
	"GET /api/v1/hazards/export":                 {summary: "Hazard ledger (隐患排查治理台账) as CSV (UTF-8 with a byte-order mark) or XLSX (styled, frozen header, filter, Beijing time)", query: append([]param{{"format", "csv (default) or xlsx"}}, hazardParams...), produces: "text/csv"},
	"POST /api/v1/hazards": {summary: "Enter a hazard found on a walk-round (排查), with no alarm behind it: source manual, the creator in its history, published like any record. Required: description, level (一般隐患 or 重大隐患), area or point (a tag id or a place), deadline (RFC 3339) or days (1-366), person (责任人); a missing or wrong field is 400 naming it",
		body: map[string]string{"description": "string", "level": "一般隐患 or 重大隐患", "area": "string", "point": "string: a tag id or a place",
			"deadline": "RFC 3339 time, or days", "days": "integer 1-366, or deadline", "person": "string", "basis": "string, optional",
			"measures": "string, optional", "category": "string, optional (default 现场排查)", "responsible": "string, optional",
			"funds": "number (yuan), optional", "remarks": "string, optional"}},
	"GET /api/v1/hazards/{id}":         {summary: "One hazard record"},
	"GET /api/v1/hazards/{id}/history": {summary: "A hazard record's changes"},
	"POST /api/v1/hazards/{id}/transition": {summary: "Change a record's status (整改, 验收, 销号, 误报); which changes a role may make the workflow decides. 销号 (to closed) of a record whose alarms are still active (condition_active) is 409 unless override_reason says why; the reason is kept in the history",
		body: map[string]string{"to": "status", "comment": "string", "measures": "string, optional", "person": "string, optional",
			"funds": "number (整改资金, yuan), optional; the rectifier's", "remarks": "string (备注), optional",
			"override_reason": "string: why close a record whose condition is still active, optional"}},
	"POST /api/v1/hazards/{id}/supervise": {summary: "挂牌督办: set or lift supervision", body: map[string]string{"note": "string", "lift": "boolean, optional"}},
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIDoc builds the OpenAPI 3 document from routes and docs.
func (a *API) openAPIDoc() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		d, ok := docs[rt.method+" "+rt.pattern]
		if !ok {
			d.summary = rt.pattern
		}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		for _, q := range d.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": map[string]string{"type": "string"}})
		}
		produces := d.produces
		if produces == "" {
			produces = "application/json"
		}
		ok200 := map[string]any{"description": "OK", "content": map[string]any{produces: map[string]any{}}}
		if d.headers != nil {
			hs := map[string]any{}
			for _, h := range d.headers {
				hs[h.name] = map[string]any{"description": h.desc, "schema": map[string]string{"type": "string"}}
			}
			ok200["headers"] = hs
		}
		op := map[string]any{
			"summary":     d.summary,
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(rt.pattern),
			"description": "Permission: " + string(rt.perm) + ".",
			"responses": map[string]any{
				"200": ok200,
				"401": map[string]any{"$ref": "#/components/responses/Unauthorized"},
				"403": map[string]any{"$ref": "#/components/responses/Forbidden"},
				"421": map[string]any{"description": "The Host header names neither the listen address nor an http.allowed_hosts entry"},
				"429": map[string]any{"description": "A wrong token from a client past its failed-authentication limit"},
			},
		}
		if !safeMethod(rt.method) {
			op["responses"].(map[string]any)["415"] = map[string]any{"description": "Content-Type is not application/json (required on every change, body or not)"}
		}
		if params != nil {
			op["parameters"] = params
		}
		if d.body != nil {
			props := map[string]any{}
			for k, v := range d.body {
				props[k] = map[string]string{"description": v}
			}
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object", "properties": props}}}}
		}
		if paths[rt.pattern] == nil {
			paths[rt.pattern] = map[string]any{}
		}
		paths[rt.pattern][strings.ToLower(rt.method)] = op
	}
	paths["/healthz"] = map[string]any{"get": map[string]any{"summary": "Liveness, no token", "security": []any{},
		"responses": map[string]any{"200": map[string]any{"description": "OK"}}}}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"type": "object", "properties": map[string]any{"error": map[string]string{"type": "string"}}}}}}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "hazgate API", "version": "1",
			"description": "Site " + a.site + ". Roles: viewer, operator, verifier, regulator, admin; each route names the permission it needs."},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"responses": map[string]any{
				"Unauthorized": errResp("No or an invalid bearer token"),
				"Forbidden":    errResp("The token's role lacks the route's permission"),
			},
		},
	}
}

// openAPI serves the document New built (building it here would make the
// routes table refer to itself).
func (a *API) openAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, a.spec) }
}
