package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hub"
	"hazgate/sim/testenv"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/api.md (from the OpenAPI document) and docs/configuration.md (from the config schema)")

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// setExampleEnv sets every ${NAME} a file refers to, to a value long enough
// for an API token, and returns the names.
func setExampleEnv(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	for _, m := range envRef.FindAllSubmatch(data, -1) {
		name := string(m[1])
		names = append(names, name)
		val := "example-secret-" + strings.ToLower(name)
		switch {
		case strings.Contains(name, "INFLUX") && strings.HasSuffix(name, "_URL"):
			val = "http://127.0.0.1:8086"
		case strings.HasSuffix(name, "_URL"):
			val = "tcp://127.0.0.1:1883"
		}
		t.Setenv(name, val)
	}
	return names
}

// TestDeployConfigsCheck runs `hazgate check -plan` on every example and the
// container's config, with each ${NAME} they use set.
func TestDeployConfigsCheck(t *testing.T) {
	files, err := filepath.Glob("../../deploy/examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../deploy/container/hazgate.yaml", "../../deploy/container/hub.yaml")
	want := []string{"chemical-plant.yaml", "fire-control-room.yaml", "hydrant-rs485.yaml", "regulator-hub.yaml", "site.yaml", "hazgate.yaml", "hub.yaml"}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deploy configs %v, want %v (add a new example to this test)", got, want)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			setExampleEnv(t, data)
			var out, errb bytes.Buffer
			if code := mainArgs([]string{"check", "-plan", "-config", f}, &out, &errb); code != 0 {
				t.Fatalf("hazgate check %s: exit %d\n%s", f, code, errb.String())
			}
			if !strings.Contains(out.String(), ": ok: site ") {
				t.Errorf("stdout %q", out.String())
			}
			if !bytes.HasPrefix(data, []byte("#")) {
				t.Errorf("%s: starts without a comment saying what site it is", f)
			}
		})
	}
}

// TestRegulatorHubExample: a site gateway publishes a fire alarm northbound
// through a real Mosquitto; a gateway running deploy/examples/regulator-hub.yaml
// shows it in its cross-site alarm list as the site has it (critical,
// active), then cleared, and the site online.
func TestRegulatorHubExample(t *testing.T) {
	broker := testenv.MQTTURL(t)
	run := fmt.Sprintf("hub%d", time.Now().UnixNano())

	site := parseConfig(t, `
site: {id: nj-hg-0001}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - id: fas
    protocol: mqtt
    url: ${MQTT}
    client_id: ${RUN}-site
    subscriptions:
      - {topic: "${RUN}/fas/+/event", format: fire_panel, tag: "{2}.L{loop}.P{point}"}
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical}}
northbound: {url: "${MQTT}", client_id: "${RUN}-north", topic_prefix: "${RUN}"}
`, map[string]string{"DIR": t.TempDir(), "MQTT": broker, "RUN": run})

	data, err := os.ReadFile("../../deploy/examples/regulator-hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"HUB_MQTT_URL": broker, "HUB_STORE_URL": filepath.Join(t.TempDir(), "hub.db")}
	for _, n := range setExampleEnv(t, data) {
		if _, ok := vars[n]; !ok {
			vars[n] = os.Getenv(n)
		}
	}
	hubCfg := parseConfig(t, string(data), vars)
	// This run's prefix and client id keep it apart from other tests on the
	// same broker.
	hubCfg.DataDir, hubCfg.HTTP.Listen, hubCfg.HTTP.Tokens, hubCfg.InfluxDB = t.TempDir(), "127.0.0.1:0", nil, nil
	hubCfg.Hub.TopicPrefix, hubCfg.Hub.ClientID, hubCfg.Hub.Username, hubCfg.Hub.Password = run, run+"-hub", "", ""

	_, hubBase, _ := startGateway(t, hubCfg)
	_, siteBase, _ := startGateway(t, site)
	client := mqttClient(t, broker, run+"-panel")
	publish := func(payload string) {
		t.Helper()
		if tok := client.Publish(run+"/fas/FAS-1/event", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// The site's collector subscribes once connected; repeat until it has.
	deadline := time.Now().Add(10 * time.Second)
	for len(getAlarms(t, siteBase)) == 0 && time.Now().Before(deadline) {
		publish(`{"loop":1,"point":23,"type":"fire","active":true}`)
		time.Sleep(200 * time.Millisecond)
	}
	remote := func(active bool) bool {
		var page struct{ Items []hub.RemoteAlarm }
		getJSON(t, hubBase+"/api/v1/hub/alarms?all=1", &page)
		for _, a := range page.Items {
			if a.Site == "nj-hg-0001" && a.Tag == "FAS-1.L1.P23.fire" && a.Severity == alerting.SeverityCritical &&
				a.Active == active && a.SiteName == "南京某化工有限公司" && a.Region == "江北新区" {
				return true
			}
		}
		return false
	}
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "the site's fire alarm at the hub", func() bool { return remote(true) })
	waitSite(t, hubBase, "nj-hg-0001", func(s map[string]any) bool { return s["online"] == true })
	publish(`{"loop":1,"point":23,"type":"fire","active":false}`)
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "cleared at the hub", func() bool { return remote(false) })
}

const apiDocFile = "../../docs/api.md"

// TestAPIDoc fails when docs/api.md differs from what the running API's
// GET /api/v1/openapi.json describes; -update rewrites it.
func TestAPIDoc(t *testing.T) {
	cfg := parseConfig(t, `
site: {id: docs}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
`, map[string]string{"DIR": t.TempDir()})
	_, base, _ := startGateway(t, cfg)
	resp, err := http.Get(base + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %s", resp.Status)
	}
	var doc openAPI
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	md := renderAPIDoc(doc)
	if len(doc.Paths) < 10 || !strings.Contains(md, "`/api/v1/alarms/{id}/ack`") {
		t.Fatalf("the OpenAPI document lists %d paths; the route table looks wrong", len(doc.Paths))
	}
	if *updateDocs {
		if err := os.WriteFile(apiDocFile, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(apiDocFile)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/hazgate -run TestAPIDoc -update)", err)
	}
	if string(got) != md {
		t.Errorf("%s is stale: the API's routes changed; regenerate with go test ./cmd/hazgate -run TestAPIDoc -update", apiDocFile)
	}
}

// openAPI is the part of the OpenAPI 3 document the reference shows.
type openAPI struct {
	Info struct {
		Description string `json:"description"`
	} `json:"info"`
	Paths map[string]map[string]struct {
		Summary     string `json:"summary"`
		Description string `json:"description"`
		Parameters  []struct {
			Name        string `json:"name"`
			In          string `json:"in"`
			Description string `json:"description"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]struct {
						Description string `json:"description"`
					} `json:"properties"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]any `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
}

func renderAPIDoc(doc openAPI) string {
	var b strings.Builder
	b.WriteString(`# API reference

<!-- Generated from GET /api/v1/openapi.json by TestAPIDoc in cmd/hazgate/deploy_test.go; do not edit.
     Regenerate with: go test ./cmd/hazgate -run TestAPIDoc -update -->

The gateway serves this API on ` + "`http.listen`" + `; the running gateway describes itself
at ` + "`GET /api/v1/openapi.json`" + ` (OpenAPI 3). Every route but ` + "`/healthz`" + ` and the console
(` + "`/`" + `) needs ` + "`Authorization: Bearer <token>`" + ` when ` + "`http.tokens`" + ` is configured; without
tokens the gateway listens on loopback only and asks for none. A missing or
wrong token answers 401, a role without the route's permission 403, and a
wrong token from a client with too many failed attempts 429 (a valid token
always passes). Every POST needs ` + "`Content-Type: application/json`" + `, with a body
or without (415 otherwise), and is refused with 403 when its ` + "`Origin`" + ` is another
site. A request whose ` + "`Host`" + ` names neither the listen address nor an
` + "`http.allowed_hosts`" + ` entry is 421 (with tokens and no allowed_hosts, any Host is
answered). Without tokens, changes are taken only from the console's own
page or a client that is no browser (no ` + "`Origin`" + `, no cross-site
` + "`Sec-Fetch-Site`" + `). Errors are ` + "`{\"error\": \"...\"}`" + `.

Roles and their permissions (` + "`api/auth.go`" + `): viewer: read; operator (control
room): read, ack, hazard_work, rectify; verifier: read, hazard_work, verify;
regulator: read, supervise; admin: every permission.

Hazard records keep rectification and its acceptance apart (整改与验收分离),
whatever the role: whoever made a rectify step of a record (start, submit for
verification) cannot close, send back or dismiss that record, and a verify
step may not change the person (责任人) or measures (整改措施), which are the
rectifier's: the verifier's opinion is the comment. Both answer 403. Without
` + "`http.tokens`" + ` every request is the one user ` + "`local`" + `, so a record rectified
there needs a token user to verify it.

| method | path | permission | what |
|---|---|---|---|
`)
	type op struct{ path, method string }
	var ops []op
	for p, methods := range doc.Paths {
		for m := range methods {
			ops = append(ops, op{p, m})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	cell := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	for _, o := range ops {
		d := doc.Paths[o.path][o.method]
		perm := strings.TrimSuffix(strings.TrimPrefix(d.Description, "Permission: "), ".")
		if d.Description == "" {
			perm = "none"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", strings.ToUpper(o.method), o.path, perm, cell.Replace(d.Summary))
	}
	for _, o := range ops {
		d := doc.Paths[o.path][o.method]
		var query, body []string
		for _, p := range d.Parameters {
			if p.In == "query" {
				query = append(query, fmt.Sprintf("- `%s`: %s", p.Name, p.Description))
			}
		}
		if d.RequestBody != nil {
			for _, c := range d.RequestBody.Content {
				keys := make([]string, 0, len(c.Schema.Properties))
				for k := range c.Schema.Properties {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					body = append(body, fmt.Sprintf("- `%s`: %s", k, c.Schema.Properties[k].Description))
				}
			}
		}
		var produces []string
		for ct := range d.Responses["200"].Content {
			if ct != "application/json" {
				produces = append(produces, ct)
			}
		}
		if len(query) == 0 && len(body) == 0 && len(produces) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s %s\n\n%s\n", strings.ToUpper(o.method), o.path, cell.Replace(d.Summary))
		if len(produces) > 0 {
			sort.Strings(produces)
			fmt.Fprintf(&b, "\nAnswers `%s`.\n", strings.Join(produces, "`, `"))
		}
		if len(query) > 0 {
			b.WriteString("\nQuery parameters:\n\n" + strings.Join(query, "\n") + "\n")
		}
		if len(body) > 0 {
			b.WriteString("\nJSON body:\n\n" + strings.Join(body, "\n") + "\n")
		}
	}
	return b.String()
}
