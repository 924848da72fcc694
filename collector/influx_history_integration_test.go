package collector

import (
	"context"
	"testing"
	"time"

	"hazgate/sim/testenv"
)

// TestInfluxHistoryReadsWhatTheSinkWrote writes readings through the real
// InfluxDB sink to InfluxDB 1.8 and reads them back with InfluxHistory.
func TestInfluxHistoryReadsWhatTheSinkWrote(t *testing.T) {
	u := testenv.InfluxURL(t)
	bucket := testenv.InfluxDatabase(t, u)
	reg := NewRegistry()
	for _, id := range []string{"GT-101", `odd "${tag}"`} {
		if err := reg.Add(Tag{ID: id, Site: "flux-01", Kind: "combustible_gas", Unit: "%LEL"}); err != nil {
			t.Fatal(err)
		}
	}
	sink, err := NewInfluxSink(InfluxOptions{URL: u, Bucket: bucket, BatchSize: 100,
		FlushInterval: 20 * time.Millisecond, Timeout: 5 * time.Second,
		Spool: SpoolOptions{Dir: t.TempDir()}}, "flux-01", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sink.Run(ctx) }()
	defer func() { cancel(); <-done }()

	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var batch []Sample
	for i := range 10 {
		s := Sample{Tag: "GT-101", Value: float64(i), Time: t0.Add(time.Duration(i) * time.Second)}
		if i == 5 {
			s.Quality, s.Reason = Bad, ReasonCommLoss
		}
		batch = append(batch, s)
	}
	batch = append(batch, Sample{Tag: `odd "${tag}"`, Value: 42, Time: t0})
	sink.Consume(ctx, batch)
	deadline := time.Now().Add(10 * time.Second)
	for sink.Stats().PointsWritten < uint64(len(batch)) {
		if time.Now().After(deadline) {
			t.Fatalf("sink wrote %+v", sink.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}

	fh := NewInfluxHistory(u, "", "", bucket, "flux-01")
	defer fh.Close()
	got, err := fh.Range(ctx, "GT-101", t0.Add(2*time.Second), t0.Add(8*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("got %d samples %+v, want seconds 2 to 7", len(got), got)
	}
	for i, s := range got {
		sec := i + 2
		if !s.Time.Equal(t0.Add(time.Duration(sec)*time.Second)) || (sec != 5 && (s.Value != float64(sec) || s.Quality != Good)) {
			t.Errorf("sample %d: %+v", i, s)
		}
		if sec == 5 && s.Quality != Bad {
			t.Errorf("the bad reading came back as %+v", s)
		}
	}
	odd, err := fh.Range(ctx, `odd "${tag}"`, t0.Add(-time.Second), t0.Add(time.Second))
	if err != nil || len(odd) != 1 || odd[0].Value != 42 {
		t.Fatalf("tag with quotes: %+v, %v", odd, err)
	}
	// A hub reading the central InfluxDB: the same tag of another site is
	// not this one's.
	central := NewInfluxHistory(u, "", "", bucket, "hub")
	defer central.Close()
	if other, err := central.ForSite("other-site").Range(ctx, "GT-101", t0, t0.Add(10*time.Second)); err != nil || len(other) != 0 {
		t.Errorf("another site's GT-101: %+v %v, want none", other, err)
	}
	if same, err := central.ForSite("flux-01").Range(ctx, "GT-101", t0, t0.Add(10*time.Second)); err != nil || len(same) != 10 {
		t.Errorf("flux-01's GT-101 read by a hub: %d samples %v, want 10", len(same), err)
	}
}
