package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/hub"
	"hazgate/alerting/selfalarm"
	"hazgate/sim"
	"hazgate/sim/testenv"
)

// TestHubSiteOfflineIsAnAlarm: a gateway with a hub block, on a real
// Mosquitto. A site's death (its retained offline status) raises the
// hub's own site_offline alarm (class comm_loss) on the site's tag, its
// birth clears it, and silence past offline_after raises it again.
func TestHubSiteOfflineIsAnAlarm(t *testing.T) {
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	cfg := parseConfig(t, `
site: {id: nj-hub, name: 南京市应急管理局}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
hub:
  url: ${BROKER}
  offline_after: 2s
  sites:
    - {id: s1, name: 甲化工, region: 江北新区}
`, map[string]string{"DIR": t.TempDir(), "BROKER": m.URL()})
	_, base, _ := startGateway(t, cfg)
	pub := mqttClient(t, m.URL(), "site-s1")
	status := func(state, reason string) {
		t.Helper()
		b, _ := json.Marshal(northbound.Status{V: 1, Site: "s1", State: state, Reason: reason, Time: time.Now()})
		if tok := pub.Publish("hazgate/s1/status", 1, true, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish status: %v", tok.Error())
		}
	}
	isSiteAlarm := func(a alerting.Alarm) bool {
		return a.Tag == selfalarm.HubSiteTag("s1") && a.Rule == selfalarm.HubOfflineRule && a.Class == alerting.ClassCommLoss
	}

	status(northbound.SiteOnline, "")
	waitSite(t, base, "s1", func(s map[string]any) bool { return s["online"] == true })
	status(northbound.SiteOffline, "stopped")
	a := waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool { return isSiteAlarm(a) && a.Active })
	if a.Severity != alerting.SeverityHigh {
		t.Errorf("site_offline alarm %+v, want severity high", a)
	}
	status(northbound.SiteOnline, "")
	waitAlarm(t, base, 10*time.Second, func(a alerting.Alarm) bool { return isSiteAlarm(a) && !a.Active })
	// Silence: nothing after the birth for offline_after.
	waitAlarm(t, base, 15*time.Second, func(a alerting.Alarm) bool {
		return isSiteAlarm(a) && a.Active && a.Count >= 2
	})
}

// gasSite is a site with one Modbus gas detector (${MODBUS}, tag GT-1)
// and the GB 50493 levels, its data in ${DIR}: append its northbound.
const gasSite = `
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: gds-1, protocol: modbus, url: "tcp://${MODBUS}", interval: 100ms, tags: [{id: GT-1, kind: combustible_gas, register: {table: input, address: 0, scale: 0.1}}]}
rules:
  - {name: lel, match: {kind: combustible_gas}, preset: gb50493-combustible}
`

// hubStore is a fresh hub store: a PostgreSQL database when the test
// script runs one, else a SQLite file.
func hubStore(t *testing.T) string {
	if dsn := testenv.PostgresDB(t); dsn != "" {
		return dsn
	}
	return filepath.Join(t.TempDir(), "hub.db")
}

// waitSite polls /api/v1/hub/sites until site satisfies ok.
func waitSite(t *testing.T, base, site string, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []map[string]any
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v1/hub/sites")
		if err != nil {
			t.Fatal(err)
		}
		last = nil
		json.NewDecoder(resp.Body).Decode(&last)
		resp.Body.Close()
		for _, s := range last {
			if s["site"] == site && ok(s) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("site %s: not as wanted within 10s: %v", site, last)
}

// TestSiteToHubEndToEnd: a site gateway (Modbus gas detector, northbound
// on) and a hub gateway on one real Mosquitto and, when the test script
// runs it, a real PostgreSQL. An alarm raised and acknowledged at the site
// appears at the hub as the site has it, with the site's times; the
// hazard the alarm opened appears too; a regulator's 挂牌督办 at the hub
// reaches the site's hazard history and is acknowledged back to the hub.
func TestSiteToHubEndToEnd(t *testing.T) {
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	store := hubStore(t)
	ctrl := startGasController(t, 1)
	site := parseConfig(t, `
site: {id: s1, name: 甲化工}`+gasSite+`hazard_rules:
  - {name: gas-alarm, match: {kind: combustible_gas}, rule: lel, immediate: true, level: 重大隐患, category: 重大危险源, basis: "test basis"}
northbound: {url: "${BROKER}", summary_interval: 1s, readings: {kinds: [combustible_gas], interval: 200ms}}
`, map[string]string{"DIR": t.TempDir(), "MODBUS": ctrl.Addr(), "BROKER": m.URL()})
	hubCfg := parseConfig(t, `
site: {id: nj-hub, name: 南京市应急管理局}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
hub:
  url: ${BROKER}
  store: "${STORE}"
  sites: [{id: s1, name: 甲化工, region: 江北新区}]
`, map[string]string{"DIR": t.TempDir(), "BROKER": m.URL(), "STORE": store})
	_, hubBase, _ := startGateway(t, hubCfg)
	_, siteBase, _ := startGateway(t, site)

	waitSite(t, hubBase, "s1", func(s map[string]any) bool { return s["online"] == true })
	ctrl.SetLEL(0, 30)
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "the detector's reading at the hub", func() bool {
		var rs []northbound.Reading
		getJSON(t, hubBase+"/api/v1/hub/sites/s1/readings", &rs)
		return len(rs) == 1 && rs[0].Tag == "GT-1" && rs[0].Value == 30 && rs[0].Kind == "combustible_gas" && rs[0].Quality == "good"
	})
	local := waitAlarm(t, siteBase, 10*time.Second, func(a alerting.Alarm) bool { return a.Tag == "GT-1" })
	postJSON(t, siteBase+"/api/v1/alarms/"+strconv.FormatInt(local.ID, 10)+"/ack", `{"comment": "现场确认"}`)

	var remote hub.RemoteAlarm
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "the site's ack at the hub", func() bool {
		var page struct{ Items []hub.RemoteAlarm }
		getJSON(t, hubBase+"/api/v1/hub/alarms", &page)
		for _, a := range page.Items {
			if a.Site == "s1" && a.Tag == "GT-1" && a.AckedAt != nil {
				remote = a
				return true
			}
		}
		return false
	})
	if remote.ID != local.ID || !remote.RaisedAt.Equal(local.RaisedAt) || remote.AckedBy != "local" || remote.AckComment != "现场确认" || remote.SiteName != "甲化工" {
		t.Errorf("at the hub %+v; at the site %+v", remote, local)
	}

	var hz hazard.Hazard
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "the hazard at the hub", func() bool {
		var page struct{ Items []hazard.Hazard }
		getJSON(t, hubBase+"/api/v1/hub/hazards?open=1", &page)
		if len(page.Items) == 1 {
			hz = page.Items[0]
		}
		return len(page.Items) == 1
	})
	postJSON(t, hubBase+"/api/v1/hub/hazards/s1/"+strconv.FormatInt(hz.ID, 10)+"/supervise", `{"note": "限期整改，每日报告"}`)
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "督办 acknowledged by the site", func() bool {
		var cmds []hub.CommandRecord
		getJSON(t, hubBase+"/api/v1/hub/commands", &cmds)
		return len(cmds) == 1 && cmds[0].AckedAt != nil && cmds[0].OK
	})
	var hist []hazard.Event
	getJSON(t, siteBase+"/api/v1/hazards/"+strconv.FormatInt(hz.ID, 10)+"/history", &hist)
	if last := hist[len(hist)-1]; last.Type != hazard.EventSupervised || last.By != "local" || !strings.Contains(last.Comment, "限期整改") {
		t.Errorf("the site's hazard history ends with %+v, want the hub's supervision", last)
	}
	testenv.Poll(t, 15*time.Second, 100*time.Millisecond, "the supervision back at the hub", func() bool {
		var page struct{ Items []hazard.Hazard }
		getJSON(t, hubBase+"/api/v1/hub/hazards?supervised=1", &page)
		return len(page.Items) == 1
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", url, resp.Status, b)
	}
}

// TestKilledSiteIsOfflineAtTheHub: a site gateway in a child process is
// killed with SIGKILL; its broker-sent last will makes it offline at the
// hub at once (the hub's site_offline alarm), and its restart clears it.
func TestKilledSiteIsOfflineAtTheHub(t *testing.T) {
	if os.Getenv("HAZGATE_KILL_CHILD") != "" {
		t.Skip("child side runs in TestKillNineChild")
	}
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	hubCfg := parseConfig(t, `
site: {id: nj-hub}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
hub:
  url: ${BROKER}
  offline_after: 1m
  sites: [{id: s1, name: 甲化工}]
`, map[string]string{"DIR": t.TempDir(), "BROKER": m.URL()})
	_, hubBase, _ := startGateway(t, hubCfg)
	dir := t.TempDir()
	conf := writeSite(t, dir, `
site: {id: s1}
data_dir: `+filepath.Join(dir, "data")+`
http: {listen: "127.0.0.1:0"}
northbound: {url: "`+m.URL()+`", keepalive: 5s}
`)
	site, _ := startGatewayChild(t, conf)
	waitSite(t, hubBase, "s1", func(s map[string]any) bool { return s["online"] == true })

	killed := time.Now()
	site.Process.Kill()
	site.Wait()
	isOffline := func(a alerting.Alarm) bool { return a.Tag == selfalarm.HubSiteTag("s1") && a.Active }
	waitAlarm(t, hubBase, 10*time.Second, isOffline)
	// The will comes when the broker sees the socket close, not after the
	// 1 min offline_after.
	if d := time.Since(killed); d > 5*time.Second {
		t.Errorf("offline alarm %v after the kill, want seconds", d)
	}
	waitSite(t, hubBase, "s1", func(s map[string]any) bool { return s["online"] == false && s["reason"] == "lost" })

	startGatewayChild(t, conf)
	waitAlarm(t, hubBase, 15*time.Second, func(a alerting.Alarm) bool { return a.Tag == selfalarm.HubSiteTag("s1") && !a.Active })
}

// TestHubStartedLateGetsTheWholeJournal: a site raises and clears alarms
// while no hub listens (the broker keeps nothing for a subscriber that
// does not exist yet). The hub, started later, sees from the site's status
// and summary how far its journal goes, finds the gap, asks for a replay,
// and ends up with every event.
func TestHubStartedLateGetsTheWholeJournal(t *testing.T) {
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	ctrl := startGasController(t, 1)
	site := parseConfig(t, `
site: {id: s1}`+gasSite+`northbound: {url: "${BROKER}", summary_interval: 1s}
`, map[string]string{"DIR": t.TempDir(), "MODBUS": ctrl.Addr(), "BROKER": m.URL()})
	siteGW, _, _ := startGateway(t, site)
	for _, lel := range []float64{30, 5, 30, 5} { // raise, clear, raise, clear
		ctrl.SetLEL(0, lel)
		time.Sleep(400 * time.Millisecond)
	}
	want, err := siteGW.journal.LastSeq(context.Background())
	if err != nil || want < 4 {
		t.Fatalf("site journal at %d (%v), want at least 4 events", want, err)
	}

	hubCfg := parseConfig(t, `
site: {id: nj-hub}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
hub: {url: "${BROKER}", offline_after: 1s, sites: [{id: s1}]}
`, map[string]string{"DIR": t.TempDir(), "BROKER": m.URL()})
	hubGW, _, _ := startGateway(t, hubCfg)
	testenv.Poll(t, 20*time.Second, 100*time.Millisecond, "every event at the hub", func() bool {
		alarms, _, err := hubGW.hub.store.EventCounts(context.Background())
		return err == nil && int64(alarms["s1"]) == want
	})
	if st := hubGW.hub.ingest.Stats(); st.Replays == 0 {
		t.Errorf("stats %+v: the events came without a replay; the test did not test it", st)
	}
}

// TestTwoSitesTwoHubs is the whole picture: two site gateways and
// two hub gateways (one store, PostgreSQL when the test script runs it) on
// one Mosquitto. Alarms raised and cleared at both sites, with a broker
// restart and a hub restart between, reach the hubs' store exactly once
// each: every site's journal, counted event by event.
func TestTwoSitesTwoHubs(t *testing.T) {
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	store := hubStore(t)
	type site struct {
		id   string
		ctrl *sim.GasController
		gw   *gateway
	}
	var sites []*site
	for _, id := range []string{"s1", "s2"} {
		ctrl := startGasController(t, 1)
		cfg := parseConfig(t, `
site: {id: "${ID}"}`+gasSite+`northbound: {url: "${BROKER}", summary_interval: 1s}
`, map[string]string{"ID": id, "DIR": t.TempDir(), "MODBUS": ctrl.Addr(), "BROKER": m.URL()})
		gw, _, _ := startGateway(t, cfg)
		sites = append(sites, &site{id: id, ctrl: ctrl, gw: gw})
	}
	hubConfig := func(n int) string {
		return `
site: {id: hub-` + strconv.Itoa(n) + `}
data_dir: ` + t.TempDir() + `
http: {listen: "127.0.0.1:0"}
hub:
  url: "` + m.URL() + `"
  client_id: hub-` + strconv.Itoa(n) + `
  store: "` + store + `"
  offline_after: 2s
  sites: [{id: s1}, {id: s2}]
`
	}
	hub1, _, _ := startGateway(t, parseConfig(t, hubConfig(1), nil))
	_, _, stopHub2 := startGateway(t, parseConfig(t, hubConfig(2), nil))
	swing := func(n int) {
		for range n {
			for _, lel := range []float64{30, 5} { // raise, clear
				for _, s := range sites {
					s.ctrl.SetLEL(0, lel)
				}
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	swing(2)
	m.Stop() // the broker restarts, keeping its sessions
	m.Start()
	swing(2)
	stopHub2() // one hub goes; the other carries on
	swing(1)
	startGateway(t, parseConfig(t, hubConfig(2), nil))
	swing(1)

	testenv.Poll(t, 30*time.Second, 200*time.Millisecond, "every site event at the hubs once", func() bool {
		stored, _, err := hub1.hub.store.EventCounts(context.Background())
		if err != nil {
			return false
		}
		ok := true
		for _, s := range sites {
			want, err := s.gw.journal.LastSeq(context.Background())
			if err != nil || want < 4 || int64(stored[s.id]) != want {
				ok = false
			}
		}
		return ok
	})
}
