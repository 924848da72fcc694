package collector

import (
	"context"
	"fmt"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// InfluxHistory reads a tag's readings back from the `reading` measurement
// the InfluxSink writes, with a Flux query (InfluxDB 1.8 needs
// flux-enabled = true).
type InfluxHistory struct {
	client influxdb2.Client
	org    string
	bucket string
	site   string
}

// NewInfluxHistory queries bucket (for 1.8, database/retention-policy) for
// readings of site; close it with Close.
func NewInfluxHistory(url, token, org, bucket, site string) *InfluxHistory {
	return &InfluxHistory{client: influxdb2.NewClient(url, token), org: org, bucket: bucket, site: site}
}

// Close releases the client's connections.
// ForSite reads another site's readings from the same InfluxDB (a hub on
// the central one). It shares f's client: close f, not it.
func (f *InfluxHistory) ForSite(site string) *InfluxHistory {
	c := *f
	c.site = site
	return &c
}

func (f *InfluxHistory) Close() { f.client.Close() }

// Source names the store for the API's history-source header.
func (f *InfluxHistory) Source() string { return "influxdb" }

// fluxString quotes s as a Flux string literal, interpolation included.
func fluxString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`).Replace(s) + `"`
}

// Range answers tag's readings in [from, to), oldest first.
func (f *InfluxHistory) Range(ctx context.Context, tag string, from, to time.Time) ([]Sample, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and r.%s == %s and r.%s == %s and (r._field == %q or r._field == %q))
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])`,
		// InfluxDB 1.8 reads stop inclusively, whatever Flux documents: stop
		// a nanosecond early so the range is [from, to).
		fluxString(f.bucket), from.UTC().Format(time.RFC3339Nano), to.Add(-time.Nanosecond).UTC().Format(time.RFC3339Nano),
		fluxString(MeasurementReading), readingSite, fluxString(f.site), readingTag, fluxString(tag), readingValue, readingQuality)
	res, err := f.client.QueryAPI(f.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influxdb history of %s: %w", tag, err)
	}
	defer res.Close()
	var out []Sample
	for res.Next() {
		r := res.Record()
		s := Sample{Tag: tag, Time: r.Time(), Quality: Bad}
		if q, ok := r.ValueByKey(readingQuality).(string); ok {
			_ = s.Quality.UnmarshalText([]byte(q))
		}
		if v, ok := r.ValueByKey(readingValue).(float64); ok {
			s.Value = v
		} else {
			s.Quality = Bad // no value was written: the reading was bad
		}
		out = append(out, s)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb history of %s: %w", tag, err)
	}
	return out, nil
}
