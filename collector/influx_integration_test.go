package collector

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"hazgate/sim/testenv"
)

// TestInfluxIntegration writes known samples through the sink into the real
// InfluxDB 1.8 and reads them back with Flux: every point once, exact
// timestamps and values, metadata as tags.
func TestInfluxIntegration(t *testing.T) {
	influxURL := testenv.InfluxURL(t)
	bucket := testenv.InfluxDatabase(t, influxURL)

	tags := []Tag{
		{ID: "T101-LEL", Site: "cz-demo-01", Device: "gds-1", Kind: "combustible_gas", Unit: "%LEL", Area: "罐区A"},
		{ID: "T102-H2S", Site: "cz-demo-01", Device: "gds-1", Kind: "toxic_gas", Unit: "ppm", Area: "Tank farm, B=2"},
		{ID: "P201", Site: "cz-demo-01", Device: "hyd-1", Kind: "hydrant_pressure", Unit: "MPa", Area: "消防泵房"},
	}
	reg := NewRegistry()
	for _, tg := range tags {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	// A batch size that does not divide the total, so full and partial
	// batches both happen.
	sink, err := NewInfluxSink(InfluxOptions{URL: influxURL, Bucket: bucket, BatchSize: 7, FlushInterval: 50 * time.Millisecond},
		"cz-demo-01", reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sink.Check(ctx); err != nil {
		t.Errorf("Check against a healthy InfluxDB: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sink.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	defer stop()

	const n = 60
	base := time.Date(2024, 5, 1, 8, 0, 0, 123456789, time.UTC)
	type key struct {
		tag string
		at  time.Time
	}
	want := map[key]float64{}
	value := func(k, i int) float64 {
		switch {
		case i == 0:
			return 1.5e-7 // exponent notation on the wire
		case i == 1:
			return -3e21
		}
		return float64(k*1000+i) + 0.25
	}
	var batch []Sample
	for i := range n {
		for k, tg := range tags {
			s := Sample{Tag: tg.ID, Value: value(k, i), Time: base.Add(time.Duration(i)*time.Second + time.Duration(k)*time.Nanosecond)}
			want[key{s.Tag, s.Time}] = s.Value
			batch = append(batch, s)
			if len(batch) == 10 {
				sink.Consume(ctx, batch)
				batch = nil
			}
		}
	}
	badAt := base.Add(-time.Hour)
	batch = append(batch, Sample{Tag: "T101-LEL", Value: 99, Quality: Bad, Reason: ReasonCommLoss, Time: badAt})
	sink.Consume(ctx, batch)

	total := uint64(len(tags)*n + 1)
	deadline := time.Now().Add(30 * time.Second)
	for sink.Stats().PointsWritten < total {
		if time.Now().After(deadline) {
			t.Fatalf("written %+v, want %d points", sink.Stats(), total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if st := sink.Stats(); st.PointsWritten != total || st.PointsDropped != 0 || st.WriteErrors != 0 {
		t.Errorf("stats %+v", st)
	}

	client := influxdb2.NewClient(influxURL, "")
	defer client.Close()
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	query := func(field string) string {
		return fmt.Sprintf(`from(bucket:%q) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "reading" and r._field == %q)`,
			bucket, base.Add(-2*time.Hour).Format(time.RFC3339Nano), base.Add(time.Hour).Format(time.RFC3339Nano), field)
	}

	res, err := client.QueryAPI("").Query(qctx, query("value"))
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	byTag := map[string]int{}
	for res.Next() {
		r := res.Record()
		tag, _ := r.ValueByKey("tag").(string)
		byTag[tag]++
		k := key{tag, r.Time()}
		wv, ok := want[k]
		if !ok {
			t.Errorf("unexpected point %s at %s = %v", tag, r.Time().Format(time.RFC3339Nano), r.Value())
			continue
		}
		delete(want, k)
		if v, _ := r.Value().(float64); v != wv || math.IsNaN(v) {
			t.Errorf("%s at %s: value %v, want %v", tag, r.Time().Format(time.RFC3339Nano), r.Value(), wv)
		}
		var meta Tag
		for _, tg := range tags {
			if tg.ID == tag {
				meta = tg
			}
		}
		for name, w := range map[string]string{"site": meta.Site, "device": meta.Device, "kind": meta.Kind, "unit": meta.Unit, "area": meta.Area} {
			if got, _ := r.ValueByKey(name).(string); got != w {
				t.Errorf("%s: tag %s = %q, want %q", tag, name, got, w)
			}
		}
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux result: %v", err)
	}
	for _, tg := range tags {
		if byTag[tg.ID] != n {
			t.Errorf("%s: %d value points, want %d (the Bad reading must have none)", tg.ID, byTag[tg.ID], n)
		}
	}
	if len(want) > 0 {
		t.Errorf("%d points missing", len(want))
	}

	// The Bad reading: quality and reason, no value.
	res, err = client.QueryAPI("").Query(qctx, query("quality")+` |> filter(fn: (r) => r.tag == "T101-LEL" and r._value == "bad")`)
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	var bad []time.Time
	for res.Next() {
		bad = append(bad, res.Record().Time())
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux result: %v", err)
	}
	if len(bad) != 1 || !bad[0].Equal(badAt) {
		t.Errorf("bad-quality points at %v, want one at %s", bad, badAt.Format(time.RFC3339Nano))
	}
	res, err = client.QueryAPI("").Query(qctx, query("reason"))
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	var reasons []string
	for res.Next() {
		reasons = append(reasons, fmt.Sprint(res.Record().Value()))
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux result: %v", err)
	}
	if len(reasons) != 1 || reasons[0] != ReasonCommLoss {
		t.Errorf("reasons %v, want [%s]", reasons, ReasonCommLoss)
	}
}
