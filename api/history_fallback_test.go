package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hazgate/collector"
)

// fakeHistory answers one reading of value, or fails while down is set.
type fakeHistory struct {
	name  string
	value float64
	down  atomic.Bool
	calls atomic.Int64
}

func (f *fakeHistory) Source() string { return f.name }

func (f *fakeHistory) Range(_ context.Context, tag string, from, _ time.Time) ([]collector.Sample, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errors.New(f.name + ": connection refused")
	}
	return []collector.Sample{{Tag: tag, Value: f.value, Time: from.Add(time.Second)}}, nil
}

func TestFallbackHistory(t *testing.T) {
	tests := []struct {
		name                      string
		primaryDown, fallbackDown bool
		status                    int
		source                    string
		value                     float64
	}{
		{"primary answers", false, false, 200, "influxdb", 1},
		{"primary down: fallback answers", true, false, 200, "memory", 2},
		{"both down", true, true, 500, "", 0},
		{"fallback down only: never asked", false, true, 200, "influxdb", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary, fallback := &fakeHistory{name: "influxdb", value: 1}, &fakeHistory{name: "memory", value: 2}
			primary.down.Store(tt.primaryDown)
			fallback.down.Store(tt.fallbackDown)
			h := newHistoryAPI(t, FallbackHistory(primary, fallback, nil))
			rec := getHistory(h)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get(HistorySourceHeader); got != tt.source {
				t.Errorf("%s %q, want %q", HistorySourceHeader, got, tt.source)
			}
			if tt.status != 200 {
				assertErrorBody(t, rec)
				if strings.Contains(rec.Body.String(), "connection refused") {
					t.Errorf("500 shows the store's error: %s", rec.Body)
				}
				return
			}
			var pts []HistoryPoint
			if err := json.Unmarshal(rec.Body.Bytes(), &pts); err != nil || len(pts) != 1 || pts[0].Value == nil || *pts[0].Value != tt.value {
				t.Errorf("answer %s (%v), want one point of %v", rec.Body, err, tt.value)
			}
			if !tt.primaryDown && fallback.calls.Load() != 0 {
				t.Errorf("fallback asked %d times while the primary answered", fallback.calls.Load())
			}
		})
	}
}

// TestFallbackHistoryLogsOncePerOutage: an outage is one warning however
// many requests it fails, and the recovery one line; the next outage warns
// again.
func TestFallbackHistoryLogsOncePerOutage(t *testing.T) {
	primary, fallback := &fakeHistory{name: "influxdb", value: 1}, &fakeHistory{name: "memory", value: 2}
	var buf bytes.Buffer
	h := newHistoryAPI(t, FallbackHistory(primary, fallback, slog.New(slog.NewTextHandler(&buf, nil))))
	warnings := func() int { return strings.Count(buf.String(), "level=WARN msg=\"history: primary store failing") }
	recoveries := func() int { return strings.Count(buf.String(), "primary store answers again") }
	steps := []struct {
		down                 bool
		requests             int
		warnings, recoveries int
	}{
		{false, 2, 0, 0},
		{true, 5, 1, 0},
		{false, 3, 1, 1},
		{true, 2, 2, 1},
	}
	for i, s := range steps {
		primary.down.Store(s.down)
		for range s.requests {
			if rec := getHistory(h); rec.Code != 200 {
				t.Fatalf("step %d: %d %s", i, rec.Code, rec.Body)
			}
		}
		if warnings() != s.warnings || recoveries() != s.recoveries {
			t.Fatalf("step %d: %d warnings, %d recoveries, want %d, %d; log:\n%s", i, warnings(), recoveries(), s.warnings, s.recoveries, &buf)
		}
	}
	if !strings.Contains(buf.String(), "connection refused") {
		t.Errorf("the warning does not say why:\n%s", &buf)
	}
}

// A client that leaves is no outage: no fallback, no warning.
func TestFallbackHistoryIgnoresCancelledRequests(t *testing.T) {
	primary, fallback := &fakeHistory{name: "influxdb"}, &fakeHistory{name: "memory"}
	primary.down.Store(true)
	var buf bytes.Buffer
	fh := FallbackHistory(primary, fallback, slog.New(slog.NewTextHandler(&buf, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fh.Range(ctx, "T101-LEL", time.Now().Add(-time.Hour), time.Now()); err == nil {
		t.Fatal("a cancelled request got an answer")
	}
	if fallback.calls.Load() != 0 || buf.Len() != 0 {
		t.Errorf("fallback asked %d times; log %q", fallback.calls.Load(), &buf)
	}
}

func TestHistorySourceHeaderWithoutFallback(t *testing.T) {
	h := newHistoryAPI(t, MemoryHistory(collector.NewHistory(0, 0)))
	if rec := getHistory(h); rec.Code != 200 || rec.Header().Get(HistorySourceHeader) != "memory" {
		t.Errorf("%d %q", rec.Code, rec.Header().Get(HistorySourceHeader))
	}
}

func newHistoryAPI(t *testing.T, points PointHistory) http.Handler {
	t.Helper()
	fa := newFakeAlarms(testAlarms()...)
	h, err := New(Options{Latest: testLatest(), Tags: testTags(t), Alarms: fa, Control: fa, History: fa, Points: points})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func getHistory(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/points/T101-LEL/history", nil))
	return rec
}

// With the real InfluxDB client and nothing listening, the trend comes from
// memory and says so.
func TestFallbackHistoryWithUnreachableInfluxDB(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a port nobody listens on: connection refused
	flux := collector.NewInfluxHistory("http://"+addr, "", "", "hazgate", "cz-demo-01")
	defer flux.Close()
	hist := collector.NewHistory(0, 0)
	hist.Consume(context.Background(), []collector.Sample{{Tag: "T101-LEL", Value: 12.5, Time: time.Now().Add(-time.Minute)}})
	rec := getHistory(newHistoryAPI(t, FallbackHistory(flux, MemoryHistory(hist), nil)))
	var pts []HistoryPoint
	if err := json.Unmarshal(rec.Body.Bytes(), &pts); rec.Code != 200 || err != nil || len(pts) != 1 {
		t.Fatalf("%d %s (%v)", rec.Code, rec.Body, err)
	}
	if got := rec.Header().Get(HistorySourceHeader); got != "memory" {
		t.Errorf("%s %q, want memory", HistorySourceHeader, got)
	}
}
