package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"hazgate/alerting"
)

// fakeLimits serves fixed limits per tag, standing in for the engine.
type fakeLimits map[string][]alerting.Limit

func (f fakeLimits) Limits(tag string) []alerting.Limit { return f[tag] }

var testLimits = fakeLimits{"T101-LEL": {
	{Rule: "gas", Level: alerting.LevelH, Value: 25, High: true, Severity: alerting.SeverityHigh,
		Words: "一级报警值", WordsEN: "level-1 alarm value", Clause: "GB/T 50493-2019 5.5.1"},
	{Rule: "gas", Level: alerting.LevelHH, Value: 50, High: true, Severity: alerting.SeverityCritical,
		Words: "二级报警值", WordsEN: "level-2 alarm value", Clause: "GB/T 50493-2019 5.5.1"},
}}

func TestPointLimits(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		noEngine bool
		code     int
		want     []alerting.Limit // on 200
		err      string           // on an error, part of the message
	}{
		{name: "limits", path: "/api/v1/points/T101-LEL/limits", code: 200, want: testLimits["T101-LEL"]},
		{name: "no limit rule", path: "/api/v1/points/T102-LEL/limits", code: 200, want: []alerting.Limit{}},
		{name: "escaped tag", path: "/api/v1/points/T101%2DLEL/limits", code: 200, want: testLimits["T101-LEL"]},
		{name: "unknown tag", path: "/api/v1/points/NOPE/limits", code: 404, err: `tag "NOPE" not found`},
		{name: "unregistered tag with a reading", path: "/api/v1/points/X-UNREGISTERED/limits", code: 404, err: `tag "X-UNREGISTERED" not found`},
		{name: "no engine", path: "/api/v1/points/T101-LEL/limits", noEngine: true, code: 501, err: "no alarm engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixtureWith(t, nil, func(o *Options) {
				if tt.noEngine {
					o.Limits = nil
				}
			})
			rec := f.do(t, http.MethodGet, tt.path, "")
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if tt.code != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, tt.err) {
					t.Errorf("body %s, want an error saying %q", rec.Body, tt.err)
				}
				return
			}
			var got []alerting.Limit
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decoding %s: %v", rec.Body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("limits %+v, want %+v", got, tt.want)
			}
		})
	}
}
