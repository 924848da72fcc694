package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"hazgate/collector"
)

// FluxHistory reads a tag's readings from the `reading` measurement in
// InfluxDB with a Flux query (InfluxDB 1.8 needs flux-enabled = true).
type FluxHistory struct {
	client influxdb2.Client
	org    string
	bucket string
	site   string
}

// NewFluxHistory queries bucket (for 1.8, database/retention-policy) for
// readings of site; close it with Close.
func NewFluxHistory(url, token, org, bucket, site string) *FluxHistory {
	return &FluxHistory{client: influxdb2.NewClient(url, token), org: org, bucket: bucket, site: site}
}

// Close releases the client's connections.
func (f *FluxHistory) Close() { f.client.Close() }

// fluxString quotes s as a Flux string literal, interpolation included.
func fluxString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`).Replace(s) + `"`
}

// Range implements PointHistory.
func (f *FluxHistory) Range(ctx context.Context, tag string, from, to time.Time) ([]collector.Sample, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r.site == %s and r.tag == %s and (r._field == "value" or r._field == "quality"))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])`,
		// InfluxDB 1.8 reads stop inclusively, whatever Flux documents: stop
		// a nanosecond early so the range is [from, to) as PointHistory says.
		fluxString(f.bucket), from.UTC().Format(time.RFC3339Nano), to.Add(-time.Nanosecond).UTC().Format(time.RFC3339Nano),
		fluxString(collector.MeasurementReading), fluxString(f.site), fluxString(tag))
	res, err := f.client.QueryAPI(f.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influxdb history of %s: %w", tag, err)
	}
	defer res.Close()
	var out []collector.Sample
	for res.Next() {
		r := res.Record()
		s := collector.Sample{Tag: tag, Time: r.Time(), Quality: collector.Bad}
		if q, ok := r.ValueByKey("quality").(string); ok {
			_ = s.Quality.UnmarshalText([]byte(q))
		}
		if v, ok := r.ValueByKey("value").(float64); ok {
			s.Value = v
		} else {
			s.Quality = collector.Bad // no value was written: the reading was bad
		}
		out = append(out, s)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb history of %s: %w", tag, err)
	}
	return out, nil
}
