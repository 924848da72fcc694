package northbound

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting/deliver"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/sim/testenv"
)

func readingsRegistry(t *testing.T) *collector.Registry {
	t.Helper()
	reg := collector.NewRegistry()
	for _, tg := range []collector.Tag{
		{ID: "GT-1", Kind: "combustible_gas", Unit: "%LEL", Site: "s1"},
		{ID: "LT-1", Kind: "tank_level", Unit: "m", Site: "s1"},
		{ID: "TT-1", Kind: "temperature", Unit: "℃", Site: "s1"}, // not listed: never goes
	} {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// TestReadingsDeadbandQualityRefresh: which samples go north.
func TestReadingsDeadbandQualityRefresh(t *testing.T) {
	cfg := config.NorthboundReadings{Kinds: []string{"combustible_gas", "tank_level"}, Deadband: 0.5, Refresh: time.Hour, MaxBatch: 2}
	r := newReadings(cfg, readingsRegistry(t), time.UnixMilli(1000))
	at := time.Now()
	steps := []struct {
		sample collector.Sample
		goes   bool
	}{
		{collector.Sample{Tag: "GT-1", Value: 10, Time: at}, true}, // first
		{collector.Sample{Tag: "GT-1", Value: 10.4, Time: at.Add(1)}, false},
		{collector.Sample{Tag: "GT-1", Value: 10.6, Time: at.Add(2)}, true}, // past the deadband from 10
		{collector.Sample{Tag: "GT-1", Value: 10.6, Quality: collector.Bad, Time: at.Add(3)}, true},
		{collector.Sample{Tag: "TT-1", Value: 80, Time: at}, false}, // a kind not listed
		{collector.Sample{Tag: "XX-9", Value: 1, Time: at}, false},  // an unknown tag
		{collector.Sample{Tag: "LT-1", Value: 8.4, Time: at}, true},
	}
	want := 0
	for i, st := range steps {
		r.Consume(context.Background(), []collector.Sample{st.sample})
		if st.goes {
			want++
		}
		if len(r.pending) != want {
			t.Fatalf("step %d (%s %g): %d pending, want %d", i, st.sample.Tag, st.sample.Value, len(r.pending), want)
		}
	}
	// Batches of max_batch, seqs rising from the start.
	m1, _ := r.next("s1", at)
	m2, _ := r.next("s1", at)
	if _, more := r.next("s1", at); more || len(m1.Readings) != 2 || len(m2.Readings) != 2 || m1.Seq != 1001 || m2.Seq != 1002 {
		t.Fatalf("batches %+v %+v", m1, m2)
	}
	if m1.Readings[0].Unit != "%LEL" || m2.Readings[1].Kind != "tank_level" || m2.Readings[0].Quality != "bad" {
		t.Errorf("readings %+v %+v", m1.Readings, m2.Readings)
	}
	// Not taken by the broker: back in front of newer ones.
	r.put(m2)
	r.Consume(context.Background(), []collector.Sample{{Tag: "LT-1", Value: 9.9, Time: at.Add(4)}})
	if m, _ := r.next("s1", at); m.Readings[0].Tag != "GT-1" || m.Readings[1].Tag != "LT-1" || m.Readings[1].Value != 8.4 {
		t.Errorf("after put: %+v", m.Readings)
	}
	// A quiet tag is refreshed once its refresh has passed.
	latest := func(tag string) (collector.Sample, bool) {
		return collector.Sample{Tag: tag, Value: 42, Time: at}, true
	}
	r.next("s1", at) // drain
	r.refreshDue(time.Now(), latest)
	if len(r.pending) != 0 {
		t.Fatalf("refreshed before the refresh: %+v", r.pending)
	}
	r.refreshDue(time.Now().Add(2*time.Hour), latest)
	if len(r.pending) != 2 {
		t.Errorf("refresh: %d pending, want both tags", len(r.pending))
	}
}

func TestReadingsDropOldestWhenFull(t *testing.T) {
	cfg := config.NorthboundReadings{Kinds: []string{"combustible_gas"}, Refresh: time.Hour, MaxBatch: 1}
	r := newReadings(cfg, readingsRegistry(t), time.Now())
	for i := range 25 {
		r.Consume(context.Background(), []collector.Sample{{Tag: "GT-1", Value: float64(i), Time: time.Now()}})
	}
	if len(r.pending) != 20 || r.droppedCount() != 5 || r.pending[0].Value != 5 {
		t.Errorf("%d pending (first %g), %d dropped; want the newest 20 and 5 dropped", len(r.pending), r.pending[0].Value, r.droppedCount())
	}
}

// TestIntegrationReadings: readings go north through a real broker, in
// messages that satisfy the schema, counted on the publisher's stats.
func TestIntegrationReadings(t *testing.T) {
	m := testenv.StartMosquitto(t)
	if m == nil {
		return
	}
	s := newTestSite(t)
	reg := readingsRegistry(t)
	latest := collector.NewLatest()
	sub := subscribe(t, m.URL(), "hz/s1/reading", false)
	time.Sleep(200 * time.Millisecond)
	cfg := testConfig(m.URL())
	cfg.Readings = &config.NorthboundReadings{Kinds: []string{"combustible_gas", "tank_level"}, Refresh: time.Minute, Interval: 100 * time.Millisecond, MaxBatch: 3}
	n, stop := runPublisher(t, cfg, Options{Site: "s1", Source: s.bus,
		Cursor: deliver.NewFileCursor(filepath.Join(t.TempDir(), "northbound.seq")), Tags: reg, Latest: latest.Get})
	for i := range 10 {
		batch := []collector.Sample{{Tag: "GT-1", Value: float64(i), Time: time.Now()}, {Tag: "TT-1", Value: 70, Time: time.Now()}}
		n.Readings().Consume(context.Background(), batch)
	}
	testenv.Poll(t, 10*time.Second, 50*time.Millisecond, "10 readings at the subscriber", func() bool {
		got := 0
		for _, r := range sub.on("hz/s1/reading") {
			var msg ReadingMessage
			json.Unmarshal(r.Payload, &msg)
			got += len(msg.Readings)
		}
		return got == 10
	})
	stop()
	if counts := sub.checkSchema(t, "hz/s1/"); counts[TopicReading] != 4 { // 10 readings, 3 a message
		t.Errorf("reading messages %d, want 4", counts[TopicReading])
	}
	if st := n.Stats(); st.Readings != 10 || st.ReadingsDropped != 0 {
		t.Errorf("stats %+v", st)
	}
}
