package statmetrics_test

import (
	"testing"
	"time"

	"hazgate/collector/statmetrics"
	"hazgate/collector/statmetrics/statmetricstest"
)

type tagged struct {
	Sent     uint64        `metric:"x_sent_total" help:"Sent."`
	Lag      int64         `metric:"x_lag" help:"Behind."`
	Ratio    float64       `metric:"x_ratio" help:"Ratio."`
	Down     bool          `metric:"x_down" help:"1 while down."`
	Age      time.Duration `metric:"x_age_seconds" help:"Age."`
	Last     time.Time     `metric:"x_last_timestamp_seconds" help:"When."`
	Never    time.Time     `metric:"x_never_timestamp_seconds" help:"Never."`
	Untagged uint64
}

func TestFields(t *testing.T) {
	snap := tagged{Sent: 7, Lag: -2, Ratio: 0.5, Down: true, Age: 1500 * time.Millisecond, Last: time.Unix(1700000000, 500_000_000), Untagged: 9}
	stats := statmetrics.Fields[tagged]()
	if len(stats) != 7 {
		t.Fatalf("%d stats, want 7 (the untagged field has none)", len(stats))
	}
	statmetricstest.Scrape(t, statmetrics.New("", statmetrics.One(func() tagged { return snap }), stats...), nil,
		"# TYPE x_sent_total counter",
		"x_sent_total 7",
		"# TYPE x_lag gauge",
		"x_lag -2",
		"x_ratio 0.5",
		"x_down 1",
		"x_age_seconds 1.5",
		"x_last_timestamp_seconds 1.7000000005e+09",
		"x_never_timestamp_seconds 0",
	)
}

func TestFieldsRefusesOtherTypes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a tagged string field did not panic")
		}
	}()
	statmetrics.Fields[struct {
		Name string `metric:"x_name" help:"No."`
	}]()
}
