package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseLargeSite parses a site of 200 devices × 40 tags (testbus: Modbus's shape),
// each tag with a rule: bench/peers' Modbus run at its largest.
func BenchmarkParseLargeSite(b *testing.B) {
	var y strings.Builder
	y.WriteString("site: {id: s, name: bench}\ndevices:\n")
	for d := range 200 {
		fmt.Fprintf(&y, "  - id: m%03d\n    protocol: testbus\n    url: tcp://127.0.0.1:%d\n    unit_id: 1\n    interval: 1s\n    tags:\n", d, 10000+d)
		for r := range 40 {
			fmt.Fprintf(&y, "      - {id: m%03dr%02d, kind: pipe_pressure, unit: MPa, register: {table: holding, address: %d}}\n", d, r, r)
		}
	}
	y.WriteString("rules:\n")
	for d := range 200 {
		for r := range 40 {
			fmt.Fprintf(&y, "  - {name: hi-m%03dr%02d, match: {tag: m%03dr%02d}, above: 100}\n", d, r, d, r)
		}
	}
	data := []byte(y.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("site.yaml", data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
