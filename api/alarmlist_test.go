package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
)

// controlRoom is an API over a real journal and engine, in loopback mode.
type controlRoom struct {
	h   http.Handler
	eng *alerting.Engine
	j   *alerting.Journal
}

func newControlRoom(t *testing.T, tags []collector.Tag, rules []config.Rule, h config.AlarmHandling) *controlRoom {
	t.Helper()
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "hazgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	reg := collector.NewRegistry()
	for _, tg := range tags {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := alerting.NewEngine("s1", rules, reg, j, alerting.NewBus(j, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	eng.SetHandling(h)
	api, err := New(Options{Site: "s1", Latest: collector.NewLatest(), Tags: reg, Alarms: j, Control: eng, History: j})
	if err != nil {
		t.Fatal(err)
	}
	return &controlRoom{h: api, eng: eng, j: j}
}

func (c *controlRoom) send(t *testing.T, samples ...collector.Sample) {
	t.Helper()
	c.eng.Consume(context.Background(), samples)
}

func (c *controlRoom) do(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	asJSON(req)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec
}

var roomTags = []collector.Tag{
	{ID: "GT-101", Name: "1号储罐区可燃气体", Area: "罐区A", Kind: "combustible_gas", Unit: "%LEL", Device: "gds-1"},
	{ID: "GT-102", Name: "泵房可燃气体", Area: "泵房", Kind: "combustible_gas", Unit: "%LEL", Device: "gds-1"},
	{ID: "GT-201", Name: "污水站可燃气体", Area: "污水站", Kind: "combustible_gas", Unit: "%LEL", Device: "gds-2"},
	{ID: "GT-202", Name: "罐区B可燃气体", Area: "罐区B", Kind: "combustible_gas", Unit: "%LEL", Device: "gds-2"},
}

var roomRules = []config.Rule{{Name: "lel", Match: config.Match{Kind: "combustible_gas"}, Preset: alerting.PresetCombustible}}

func TestAlarmListForTheControlRoom(t *testing.T) {
	c := newControlRoom(t, roomTags, roomRules, config.AlarmHandling{DeviceSuppression: true})
	t0 := time.Now().Add(-time.Hour)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c.send(t, collector.Sample{Tag: "GT-101", Value: 30, Time: at(1)})                                                // level 1 (high)
	c.send(t, collector.Sample{Tag: "GT-102", Value: 60, Time: at(2)})                                                // levels 1 and 2
	c.send(t, collector.Sample{Tag: "GT-201", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: at(3)}, // gds-2 down
		collector.Sample{Tag: "GT-202", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: at(3)})
	var first alerting.Alarm
	for _, a := range c.eng.Open() {
		if a.Tag == "GT-101" {
			first = a
		}
	}
	if _, err := c.eng.Ack(context.Background(), first.ID, "op1"); err != nil {
		t.Fatal(err)
	}

	list := func(query string) ([]AlarmView, string) {
		t.Helper()
		rec := c.do(t, http.MethodGet, "/api/v1/alarms"+query, "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
		}
		var out []AlarmView
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out, rec.Header().Get("X-Total-Count")
	}
	names := func(vs []AlarmView) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Tag+"/"+v.Level+"/"+string(v.State))
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		query, want, total string
	}{
		// Unacknowledged first, the most severe first, longest waiting first; the acknowledged last.
		{"?sort=attention", "GT-102/HH/active_unacked GT-102/H/active_unacked gds-2/device/active_unacked GT-101/H/active_acked", "4"},
		{"?sort=attention&limit=2&offset=1", "GT-102/H/active_unacked gds-2/device/active_unacked", "4"},
		{"?area=泵房", "GT-102/HH/active_unacked GT-102/H/active_unacked", "2"},
		{"?severity=critical", "GT-102/HH/active_unacked", "1"},
		{"?q=储罐", "GT-101/H/active_acked", "1"},
		{"?suppressed=1&class=comm_loss&sort=attention", "gds-2/device/active_unacked GT-202//suppressed_by_design GT-201//suppressed_by_design", "3"},
	}
	for _, tt := range tests {
		got, total := list(tt.query)
		if names(got) != tt.want || total != tt.total {
			t.Errorf("%s:\n got %s (total %s)\nwant %s (total %s)", tt.query, names(got), total, tt.want, tt.total)
		}
	}
	// A reading has its value; a lost device or tag none (not 0).
	rec := c.do(t, http.MethodGet, "/api/v1/alarms?suppressed=1", "")
	var raw []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		v, has := r["value"]
		switch {
		case r["class"] == alerting.ClassCommLoss && has:
			t.Errorf("comm-loss alarm %v/%v has value %v", r["tag"], r["level"], v)
		case r["class"] != alerting.ClassCommLoss && r["tag"] == "GT-102" && r["level"] == "HH" && (v != 60.0 || r["peak"] != 60.0):
			t.Errorf("GT-102 HH has value %v, peak %v, want 60", v, r["peak"])
		}
	}
	if len(raw) != 6 {
		t.Errorf("%d alarms with the suppressed, want 6", len(raw))
	}
	got, _ := list("?tag=GT-102&state=active_unacked")
	for _, v := range got {
		if v.Point != "泵房可燃气体" || v.Area != "泵房" || v.Unit != "%LEL" || v.Kind != "combustible_gas" || !strings.HasPrefix(v.Message, "泵房可燃气体 60 %LEL 超过") {
			t.Errorf("view %+v", v)
		}
	}
}

func TestDisposeRoute(t *testing.T) {
	c := newControlRoom(t, roomTags, roomRules, config.AlarmHandling{RequireDisposal: []string{alerting.SeverityCritical}})
	now := time.Now()
	c.send(t, collector.Sample{Tag: "GT-102", Value: 60, Time: now.Add(-time.Minute)})
	c.send(t, collector.Sample{Tag: "GT-102", Value: 1, Time: now.Add(-30 * time.Second)})
	var hh alerting.Alarm
	for _, a := range c.eng.Open() {
		if a.Level == alerting.LevelHH {
			hh = a
		}
	}
	if rec := c.do(t, http.MethodPost, fmt.Sprintf("/api/v1/alarms/%d/ack", hh.ID), `{"comment": "现场确认"}`); rec.Code != 200 {
		t.Fatalf("ack: %d %s", rec.Code, rec.Body)
	}
	if a, _ := c.j.Get(context.Background(), hh.ID); a.State != alerting.AwaitingDisposal {
		t.Fatalf("acked and cleared: %s, want awaiting_disposal", a.State)
	}
	path := fmt.Sprintf("/api/v1/alarms/%d/dispose", hh.ID)
	for _, tt := range []struct {
		path, body string
		status     int
		says       string
	}{
		{path, `{"cause": "bad_luck", "measures": "x"}`, 400, "cause"},
		{path, `{"cause": "leak"}`, 400, "measures"},
		{path, `{"cause": "leak", "measures": "x", "colour": "red"}`, 400, "colour"},
		{path, `{"cause": "leak", "measures": "x", "at": "2999-01-01T00:00:00Z"}`, 400, "future"},
		{path, ``, 400, "JSON object"},
		{"/api/v1/alarms/999/dispose", `{"cause": "leak", "measures": "x"}`, 404, "999"},
	} {
		rec := c.do(t, http.MethodPost, tt.path, tt.body)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
			t.Errorf("%s %s: %d %s, want %d naming %q", tt.path, tt.body, rec.Code, rec.Body, tt.status, tt.says)
		}
	}
	if a, _ := c.j.Get(context.Background(), hh.ID); a.State != alerting.AwaitingDisposal || a.Disposal != nil {
		t.Fatalf("refused disposals changed the alarm: %+v", a)
	}
	rec := c.do(t, http.MethodPost, path, `{"cause": "leak", "measures": "关闭根部阀，更换垫片", "person": "李班长", "note": "法兰渗漏"}`)
	var a alerting.Alarm
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.State != alerting.Normal || a.Disposal == nil || a.Disposal.Person != "李班长" || a.Disposal.By != "local" {
		t.Fatalf("dispose: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do(t, http.MethodPost, path, `{"cause": "leak", "measures": "again"}`); rec.Code != 409 {
		t.Errorf("disposal of a closed alarm: %d %s, want 409", rec.Code, rec.Body)
	}
	rec = c.do(t, http.MethodGet, "/api/v1/alarms/causes", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `{"code":"false_alarm","name":"误报"}`) {
		t.Errorf("causes: %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkAlarmListFlood is the control room's first page during a flood:
// 5,000 open alarms on 1,000 tags, sorted by attention and filtered by area
// on the server, one page of 100 answered.
func BenchmarkAlarmListFlood(b *testing.B) {
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(b.TempDir(), "hazgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	reg := collector.NewRegistry()
	now := time.Now()
	for i := range 1000 {
		id := fmt.Sprintf("GT-%04d", i)
		if err := reg.Add(collector.Tag{ID: id, Name: "可燃气体" + id, Area: fmt.Sprintf("区域%d", i%10), Kind: "combustible_gas", Unit: "%LEL"}); err != nil {
			b.Fatal(err)
		}
		for k, lvl := range []string{"HH", "H", "L", "LL", "rise"} {
			rule := "lel"
			if lvl == "rise" {
				rule = "lel-rate"
			}
			a := alerting.Alarm{Site: "s1", Tag: id, Rule: rule, Level: lvl, Severity: alerting.SeverityHigh, State: alerting.ActiveUnacked,
				Active: true, Value: 60, Count: 1, Message: id + " 60 %LEL", RaisedAt: now.Add(time.Duration(i*5+k) * time.Millisecond)}
			if _, err := j.Commit(ctx, alerting.EventRaised, a, a.RaisedAt); err != nil {
				b.Fatal(err)
			}
		}
	}
	lvl := func(v float64) *config.Level { return &config.Level{Value: v} }
	rules := []config.Rule{{Name: "lel", HH: lvl(50), H: lvl(25), L: lvl(1), LL: lvl(0.5)},
		{Name: "lel-rate", Rate: &config.Rate{Rising: 10, Per: time.Minute, Window: time.Minute}}}
	eng, err := alerting.NewEngine("s1", rules, reg, j, alerting.NewBus(j, nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(eng.Open()); n != 5000 {
		b.Fatalf("%d open alarms, want 5000", n)
	}
	// The engine answers from memory; a control without Open sends the
	// list to the journal, as before.
	for _, src := range []struct {
		name string
		c    AlarmControl
	}{{"memory", eng}, {"journal", &fakeAlarms{}}} {
		h, err := New(Options{Site: "s1", Latest: collector.NewLatest(), Tags: reg, Alarms: j, Control: src.c, History: j})
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{"?sort=attention&limit=100", "?sort=attention&limit=100&area=区域3"} {
			b.Run(src.name+q, func(b *testing.B) {
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/alarms"+q, nil))
					if rec.Code != 200 || rec.Header().Get("X-Total-Count") == "" {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
