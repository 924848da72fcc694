package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hazgate/alerting/deliver/northbound"
	"hazgate/collector"
)

// TestNorthboundCounts: the status's and summary's gauges come from the
// registry and the latest values, a tag's quality being its last sample's
// as on /points/latest; without InfluxDB the spool backlog is 0.
func TestNorthboundCounts(t *testing.T) {
	g := &gateway{registry: collector.NewRegistry(), latest: collector.NewLatest()}
	for _, id := range []string{"T1", "T2", "T3"} {
		if err := g.registry.Add(collector.Tag{ID: id, Site: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	g.latest.Update([]collector.Sample{
		{Tag: "T1", Value: 1, Quality: collector.Good, Time: now},
		{Tag: "T2", Quality: collector.Bad, Reason: collector.ReasonCommLoss, Time: now},
		{Tag: "T3", Value: 2, Quality: collector.Uncertain, Time: now},
	})
	if got, want := g.counts(), (northbound.Counts{Tags: 3, TagsBad: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// TestConfigDigest: the sha256 of the file's bytes, empty without a file.
func TestConfigDigest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.yaml")
	text := []byte("site: {id: s}\n")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(text)
	if got := configDigest(path); got != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %q", got)
	}
	if got := configDigest(""); got != "" {
		t.Errorf("digest without a file %q", got)
	}
}
