// Package testenv finds the real services integration tests run against
// (InfluxDB, Mosquitto, PostgreSQL, a pymodbus peer), which scripts/test.sh
// starts on loopback and announces through environment variables.
//
// A test that needs a missing service skips on a developer's laptop but fails
// when HAZGATE_INTEGRATION=1, so CI can never pass by skipping.
package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Environment variables set by scripts/test.sh.
const (
	EnvIntegration = "HAZGATE_INTEGRATION"  // "1": a missing service is a failure
	EnvInfluxURL   = "HAZGATE_INFLUX_URL"   // http://127.0.0.1:port of InfluxDB 1.8
	EnvMQTTURL     = "HAZGATE_MQTT_URL"     // tcp://127.0.0.1:port of Mosquitto
	EnvPython      = "HAZGATE_PYTHON"       // a python3 that imports pymodbus
	EnvPostgresURL = "HAZGATE_POSTGRES_URL" // postgres://hazgate@127.0.0.1:port/hazgate_test?sslmode=disable
)

// Integration reports whether missing services must fail tests.
func Integration() bool { return os.Getenv(EnvIntegration) == "1" }

// Missing skips t, or fails it under HAZGATE_INTEGRATION=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Integration() {
		t.Fatalf("%s (required: %s=1; run ./scripts/test.sh)", msg, EnvIntegration)
	}
	t.Skipf("%s; run ./scripts/test.sh for the real services", msg)
}

// InfluxURL returns the test InfluxDB's URL after checking /health answers.
func InfluxURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvInfluxURL)
	if u == "" {
		Missing(t, "InfluxDB: %s not set", EnvInfluxURL)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		Missing(t, "InfluxDB at %s: %v", u, err)
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		Missing(t, "InfluxDB at %s: /health answered %s", u, resp.Status)
	}
	return u
}

// InfluxDatabase creates a fresh database on the test InfluxDB (1.8 never
// creates one on write) and returns its v2 bucket name, db/autogen.
func InfluxDatabase(t testing.TB, influxURL string) string {
	t.Helper()
	db := strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(t.Name()) + fmt.Sprintf("_%d", time.Now().UnixNano())
	q := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", db)}}
	resp, err := http.PostForm(influxURL+"/query", q)
	if err != nil {
		t.Fatalf("create database %s: %v", db, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create database %s: %s", db, resp.Status)
	}
	t.Cleanup(func() {
		r, err := http.PostForm(influxURL+"/query", url.Values{"q": {fmt.Sprintf("DROP DATABASE %q", db)}})
		if err == nil {
			r.Body.Close()
		}
	})
	return db + "/autogen"
}

// MQTTURL returns the test broker's URL.
func MQTTURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvMQTTURL)
	if u == "" {
		Missing(t, "MQTT broker: %s not set", EnvMQTTURL)
	}
	return u
}

// Python returns a python3 interpreter that can import pymodbus.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv(EnvPython)
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import pymodbus").Run(); err != nil {
		Missing(t, "pymodbus: %s -c 'import pymodbus': %v", py, err)
	}
	return py
}
