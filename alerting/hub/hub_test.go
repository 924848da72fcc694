package hub

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/sqlstore"
	"hazgate/config"
	"hazgate/sim/testenv"
)

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

// openStoreAt opens the hub store dsn names: a SQLite path or a
// PostgreSQL URL.
func openStoreAt(t *testing.T, dsn string) *Store {
	t.Helper()
	db, d, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := OpenStore(context.Background(), db, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openTestStore(t *testing.T) *Store {
	return openStoreAt(t, filepath.Join(t.TempDir(), "hub.db"))
}

// onEachStore runs f on a SQLite store and on a fresh PostgreSQL database:
// one set of migrations and queries for both.
func onEachStore(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openTestStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.PostgresDB(t)
		if dsn == "" {
			return
		}
		f(t, openStoreAt(t, dsn))
	})
}

func alarmMsg(site string, seq, id int64, typ string, st alerting.State) northbound.AlarmMessage {
	return northbound.AlarmMessage{V: 1, Site: site, Event: alerting.Event{Seq: seq, Type: typ, Time: t0.Add(time.Duration(seq) * time.Second),
		Alarm: alerting.Alarm{ID: id, Site: site, Tag: "GT-1", Rule: "lel", Severity: alerting.SeverityHigh, State: st, RaisedAt: t0}}}
}

func TestStoreAppliesEachEventOnceAndOnlyForward(t *testing.T) {
	onEachStore(t, testAppliesEachEventOnce)
}

func testAppliesEachEventOnce(t *testing.T, s *Store) {
	ctx := context.Background()
	steps := []struct {
		msg  northbound.AlarmMessage
		want Applied
	}{
		{alarmMsg("s1", 1, 7, alerting.EventRaised, alerting.ActiveUnacked), Stored},
		{alarmMsg("s1", 1, 7, alerting.EventRaised, alerting.ActiveUnacked), Duplicate}, // redelivered
		{alarmMsg("s1", 3, 7, alerting.EventCleared, alerting.ClearedUnacked), Stored},
		{alarmMsg("s1", 2, 7, alerting.EventAcked, alerting.ActiveAcked), Late},      // older than the copy
		{alarmMsg("s2", 1, 7, alerting.EventRaised, alerting.ActiveUnacked), Stored}, // same seq and id, other site
	}
	for i, st := range steps {
		got, err := s.ApplyAlarm(ctx, st.msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("step %d (site %s seq %d): %v, want %v", i, st.msg.Site, st.msg.Seq, got, st.want)
		}
	}
	alarms, _, err := s.EventCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if alarms["s1"] != 3 || alarms["s2"] != 1 {
		t.Errorf("events stored %v, want s1 3 and s2 1", alarms)
	}
	list, total, err := s.Alarms(ctx, AlarmFilter{Sites: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || total != 1 || list[0].State != alerting.ClearedUnacked {
		t.Errorf("s1's alarm %+v (total %d), want its seq-3 state cleared_unacked", list, total)
	}
	if list, _, _ := s.Alarms(ctx, AlarmFilter{Sites: []string{}}); len(list) != 0 {
		t.Errorf("an empty scope listed %d alarms", len(list))
	}
	sites, err := s.Sites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || sites[0].AlarmSeq != 3 {
		t.Errorf("sites %+v, want s1 at alarm seq 3", sites)
	}
}

func TestStoreHazardsAndOutages(t *testing.T) { onEachStore(t, testHazardsAndOutages) }

func testHazardsAndOutages(t *testing.T, s *Store) {
	ctx := context.Background()
	h := hazard.Hazard{ID: 4, Site: "s1", Level: hazard.LevelMajor, Status: hazard.Open, Deadline: t0.Add(24 * time.Hour)}
	if _, err := s.ApplyHazard(ctx, northbound.HazardMessage{V: 1, Site: "s1", Event: hazard.Event{Seq: 1, Type: "created", Time: t0, Hazard: h}}, t0); err != nil {
		t.Fatal(err)
	}
	h.Supervised = true
	if _, err := s.ApplyHazard(ctx, northbound.HazardMessage{V: 1, Site: "s1", Event: hazard.Event{Seq: 2, Type: "supervised", Time: t0, Hazard: h}}, t0); err != nil {
		t.Fatal(err)
	}
	hz, _, err := s.Hazards(ctx, HazardFilter{Supervised: true, Now: t0})
	if err != nil || len(hz) != 1 || !hz[0].Supervised || hz[0].Overdue {
		t.Fatalf("hazards %+v %v, want one, supervised, not overdue", hz, err)
	}
	if hz, _, _ := s.Hazards(ctx, HazardFilter{Overdue: true, Now: t0.Add(25 * time.Hour)}); len(hz) != 1 || !hz[0].Overdue {
		t.Errorf("overdue a day later: %+v", hz)
	}
	if hz, _, _ := s.Hazards(ctx, HazardFilter{Overdue: true, Now: t0}); len(hz) != 0 {
		t.Errorf("overdue before the deadline: %+v", hz)
	}

	// A last will opens an outage; a birth closes it.
	if err := s.ApplyStatus(ctx, northbound.Status{V: 1, Site: "s1", State: northbound.SiteOffline, Reason: "lost", Time: t0}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	sites, _ := s.Sites(ctx)
	if sites[0].Online || sites[0].OfflineSince == nil || !sites[0].OfflineSince.Equal(t0.Add(time.Minute)) {
		t.Errorf("after the will: %+v", sites[0])
	}
	if err := s.ApplyStatus(ctx, northbound.Status{V: 1, Site: "s1", State: northbound.SiteOnline, Version: "1.2", Time: t0}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	sites, _ = s.Sites(ctx)
	if !sites[0].Online || sites[0].OfflineSince != nil || sites[0].Version != "1.2" {
		t.Errorf("after the birth: %+v", sites[0])
	}

	// Silence past the cutoff marks it offline once; speaking again ends it.
	for range 2 {
		marked, err := s.MarkSilent(ctx, t0.Add(10*time.Minute), t0.Add(10*time.Minute), false)
		if err != nil {
			t.Fatal(err)
		}
		if len(marked) > 1 {
			t.Errorf("marked %v", marked)
		}
	}
	sites, _ = s.Sites(ctx)
	if sites[0].Online || sites[0].Reason != "silent" {
		t.Errorf("after the silence: %+v", sites[0])
	}
	if back, err := s.Back(ctx, "s1", t0.Add(11*time.Minute)); err != nil || !back {
		t.Errorf("back = %v %v, want true", back, err)
	}
	if back, _ := s.Back(ctx, "s1", t0.Add(12*time.Minute)); back {
		t.Error("back twice")
	}
	var outages int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM hub_outages WHERE site = 's1' AND until IS NOT NULL`).Scan(&outages); err != nil || outages != 2 {
		t.Errorf("closed outages %d %v, want 2", outages, err)
	}
	// A listed site that never spoke: offline once the hub has been up
	// offline_after, not before.
	if err := s.Expect(ctx, []config.HubSite{{ID: "s1"}, {ID: "never"}}); err != nil {
		t.Fatal(err)
	}
	if marked, _ := s.MarkSilent(ctx, t0, t0.Add(13*time.Minute), false); len(marked) != 0 {
		t.Errorf("marked %v before the hub has been up offline_after", marked)
	}
	if marked, _ := s.MarkSilent(ctx, t0, t0.Add(13*time.Minute), true); len(marked) != 1 || marked[0] != "never" {
		t.Errorf("marked %v, want the site that never spoke", marked)
	}
}

func TestHandleRefusesBadInput(t *testing.T) {
	good, _ := json.Marshal(alarmMsg("s1", 1, 1, alerting.EventRaised, alerting.ActiveUnacked))
	tests := []struct {
		name    string
		topic   string
		payload string
		counter func(Stats) uint64
		want    string
	}{
		{"unknown site", "hazgate/s9/alarm", strings.Replace(string(good), `"s1"`, `"s9"`, -1), func(s Stats) uint64 { return s.RefusedSite }, `site "s9" is not in hub.sites`},
		{"payload names another site", "hazgate/s2/alarm", string(good), func(s Stats) uint64 { return s.RefusedSite }, `payload names site "s1"`},
		{"version", "hazgate/s1/alarm", strings.Replace(string(good), `"v":1`, `"v":2`, 1), func(s Stats) uint64 { return s.RefusedVersion }, "contract version 2"},
		{"not json", "hazgate/s1/alarm", `{"v":1,`, func(s Stats) uint64 { return s.RefusedMalformed }, "not JSON"},
		{"no seq", "hazgate/s1/alarm", `{"v":1,"site":"s1","alarm":{"id":1}}`, func(s Stats) uint64 { return s.RefusedMalformed }, "seq 0"},
		{"unknown kind", "hazgate/s1/readings", `{"v":1,"site":"s1"}`, func(s Stats) uint64 { return s.RefusedMalformed }, `unknown topic kind "readings"`},
		{"other prefix", "other/s1/alarm", string(good), func(s Stats) uint64 { return s.RefusedMalformed }, "topic"},
		{"bad status", "hazgate/s1/status", `{"v":1,"site":"s1","state":"sleeping"}`, func(s Stats) uint64 { return s.RefusedMalformed }, `state "sleeping"`},
		{"oversize", "hazgate/s1/alarm", `{"v":1,"site":"s1","pad":"` + strings.Repeat("x", 2048) + `"}`, func(s Stats) uint64 { return s.RefusedOversize }, "hub.max_payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := openTestStore(t)
			in, err := New(config.Hub{TopicPrefix: "hazgate", Group: "g", MaxPayload: 1024,
				Sites: []config.HubSite{{ID: "s1"}, {ID: "s2"}}}, Options{Store: store, Name: "t"})
			if err != nil {
				t.Fatal(err)
			}
			err = in.Handle(context.Background(), tt.topic, []byte(tt.payload))
			if !IsRefusal(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want a refusal containing %q", err, tt.want)
			}
			if n := tt.counter(in.Stats()); n != 1 {
				t.Errorf("counter %d, want 1 (stats %+v)", n, in.Stats())
			}
			// Nothing else is affected: a good message after it is stored.
			if err := in.Handle(context.Background(), "hazgate/s1/alarm", good); err != nil {
				t.Errorf("good message after the bad one: %v", err)
			}
			if st := in.Stats(); st.Stored != 1 {
				t.Errorf("stored %d, want 1", st.Stored)
			}
		})
	}
}

// fakeMessage is a received MQTT message, for the batch path without a broker.
type fakeMessage struct {
	topic   string
	payload []byte
	acked   bool
}

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return 1 }
func (m *fakeMessage) Payload() []byte   { return m.payload }
func (m *fakeMessage) Ack()              { m.acked = true }

// TestPoisonMessageDoesNotHoldTheFeed: PostgreSQL refuses a NUL byte in
// text. In a batch, the others are stored and the poison is refused; alone,
// a data error is refused too. Everything is acknowledged.
func TestPoisonMessageDoesNotHoldTheFeed(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	if dsn == "" {
		return
	}
	s := openStoreAt(t, dsn)
	in, err := New(config.Hub{TopicPrefix: "hazgate", MaxPayload: 1 << 20}, Options{Store: s, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(seq int64, tag string) *fakeMessage {
		m := alarmMsg("s1", seq, seq, alerting.EventRaised, alerting.ActiveUnacked)
		m.Alarm.Tag = tag
		b, _ := json.Marshal(m)
		return &fakeMessage{topic: "hazgate/s1/alarm", payload: b}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	batch := []*fakeMessage{msg(1, "GT-1"), msg(2, "GT\x00-2"), msg(3, "GT-3")}
	in.storeUntilDone(ctx, []paho.Message{batch[0], batch[1], batch[2]})
	alone := msg(4, "\x00")
	in.storeUntilDone(ctx, []paho.Message{alone})
	if ctx.Err() != nil {
		t.Fatal("the poison held the feed")
	}
	for i, m := range append(batch, alone) {
		if !m.acked {
			t.Errorf("message %d not acknowledged", i)
		}
	}
	alarms, _, _ := s.EventCounts(ctx)
	if st := in.Stats(); alarms["s1"] != 2 || st.RefusedMalformed != 2 {
		t.Errorf("stored %v, refused %d; want 2 stored (seq 1 and 3), 2 refused", alarms, st.RefusedMalformed)
	}
}

// TestApplyBatch: one batch holding a repeat within itself, three events
// of one alarm out of order, and an event older than the stored copy: each
// stored once, the copy at the newest seq, the old one Late.
func TestApplyBatch(t *testing.T) { onEachStore(t, testApplyBatch) }

func testApplyBatch(t *testing.T, s *Store) {
	ctx := context.Background()
	if _, err := s.ApplyAlarm(ctx, alarmMsg("s1", 10, 2, alerting.EventAcked, alerting.ActiveAcked), t0); err != nil {
		t.Fatal(err)
	}
	msg := func(site string, seq, id int64, st alerting.State) Message {
		m := alarmMsg(site, seq, id, alerting.EventRaised, st)
		return Message{Site: site, Alarm: &m}
	}
	batch := []Message{
		msg("s1", 3, 1, alerting.ActiveUnacked),
		msg("s1", 5, 1, alerting.ClearedUnacked),
		msg("s1", 4, 1, alerting.ActiveAcked),
		msg("s1", 3, 1, alerting.ActiveUnacked), // repeat within the batch
		msg("s1", 9, 2, alerting.ActiveUnacked), // older than the stored seq 10
		msg("s2", 1, 1, alerting.ActiveUnacked),
	}
	res, err := s.Apply(ctx, batch, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Applied{Stored, Stored, Stored, Duplicate, Late, Stored}
	for i := range want {
		if res.Applied[i] != want[i] {
			t.Errorf("message %d: %v, want %v", i, res.Applied[i], want[i])
		}
	}
	alarms, _, _ := s.EventCounts(ctx)
	if alarms["s1"] != 5 || alarms["s2"] != 1 {
		t.Errorf("events %v, want s1 5, s2 1", alarms)
	}
	list, _, _ := s.Alarms(ctx, AlarmFilter{Sites: []string{"s1"}, Limit: 10})
	states := map[int64]alerting.State{}
	for _, a := range list {
		states[a.ID] = a.State
	}
	if states[1] != alerting.ClearedUnacked || states[2] != alerting.ActiveAcked {
		t.Errorf("current %v: want alarm 1 at seq 5 (cleared_unacked), alarm 2 kept at seq 10 (active_acked)", states)
	}
	sites, _ := s.Sites(ctx)
	if sites[0].AlarmSeq != 10 {
		t.Errorf("s1 alarm seq %d, want 10", sites[0].AlarmSeq)
	}
}

// TestReadingsKeepTheNewest: the hub keeps each tag's newest reading, an
// older one arriving late changes nothing.
func TestReadingsKeepTheNewest(t *testing.T) { onEachStore(t, testReadingsKeepTheNewest) }

func testReadingsKeepTheNewest(t *testing.T, s *Store) {
	ctx := context.Background()
	msg := func(seq int64, rs ...northbound.Reading) Message {
		return Message{Site: "s1", Readings: &northbound.ReadingMessage{V: 1, Site: "s1", Time: t0, Seq: seq, Readings: rs}}
	}
	r := func(tag string, v float64, at time.Duration) northbound.Reading {
		return northbound.Reading{Tag: tag, Kind: "combustible_gas", Unit: "%LEL", Value: v, Quality: "good", Time: t0.Add(at * time.Millisecond)}
	}
	if _, err := s.Apply(ctx, []Message{msg(1, r("GT-1", 10, 1), r("GT-1", 12, 2), r("GT-2", 5, 1))}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, []Message{msg(2, r("GT-1", 11, 0)), msg(3, r("GT-2", 6, 3))}, t0); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Readings(ctx, "s1")
	if err != nil || len(rs) != 2 || rs[0].Value != 12 || rs[1].Value != 6 || !rs[0].Time.Equal(t0.Add(2*time.Millisecond)) {
		t.Errorf("readings %+v %v, want GT-1 12 (the late 11 ignored) and GT-2 6", rs, err)
	}
}
