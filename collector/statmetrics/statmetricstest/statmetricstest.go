// Package statmetricstest scrapes a component's collector the way the
// gateway serves it, for the component's own tests.
package statmetricstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Scrape registers c with labels added, as the gateway adds a device's,
// and returns the /metrics text; it fails t for each line of want the text
// lacks and if the series do not lint.
func Scrape(t testing.TB, c prometheus.Collector, labels prometheus.Labels, want ...string) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(labels, reg).MustRegister(c)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	body := rec.Body.String()
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	return body
}
