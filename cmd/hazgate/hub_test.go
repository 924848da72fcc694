package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/selfalarm"
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
