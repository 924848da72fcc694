package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"hazgate/config"
)

// referenceFile is the configuration reference, generated from the schema
// and every protocol's block: this package links them all.
const referenceFile = "../../docs/configuration.md"

// TestConfigDoc fails when a key has no doc tag or the committed reference
// differs from the structs.
func TestConfigDoc(t *testing.T) {
	if missing := config.Undocumented(); len(missing) > 0 {
		t.Errorf("keys without a doc tag (add doc:\"...\" to the struct field):\n  %s", strings.Join(missing, "\n  "))
	}
	var b bytes.Buffer
	if err := config.WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		if err := os.WriteFile(referenceFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/hazgate -run TestConfigDoc -update)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is stale: the config structs changed; regenerate with go test ./cmd/hazgate -run TestConfigDoc -update", referenceFile)
	}
}

// TestReferenceWalk checks the walk against keys we know: inline protocol
// blocks flatten under the device with their protocol, defaults and
// secret/required marks come from the tags, lists and maps nest.
func TestReferenceWalk(t *testing.T) {
	keys := map[string]config.KeyDoc{}
	for _, s := range config.Reference() {
		for _, k := range s.Keys {
			if _, dup := keys[k.Path]; dup {
				t.Errorf("key %s listed twice", k.Path)
			}
			keys[k.Path] = k
		}
	}
	tests := []struct {
		path string
		want config.KeyDoc
	}{
		{"site.id", config.KeyDoc{Type: "string", Required: true}},
		{"data_dir", config.KeyDoc{Type: "string", Default: "./var"}},
		{"http.tokens[].token", config.KeyDoc{Type: "string", Required: true, Secret: true}},
		{"devices[].interval", config.KeyDoc{Type: "duration", Default: "1s"}},
		{"devices[].unit_id", config.KeyDoc{Type: "integer", Default: "1", Protocol: "modbus"}},
		{"devices[].subscriptions[].topic", config.KeyDoc{Type: "string", Required: true, Protocol: "mqtt"}},
		{"devices[].listen", config.KeyDoc{Type: "string", Protocol: "gb26875"}},
		{"devices[].tags[].register.raw", config.KeyDoc{Type: "list of numbers", Protocol: "modbus"}},
		{"devices[].tags[].register.states", config.KeyDoc{Type: "mapping of integer to string", Protocol: "modbus"}},
		{"devices[].tags[].register.bands.fault_low", config.KeyDoc{Type: "number", Default: "3.6", Protocol: "modbus"}},
		{"influxdb.spool.max_bytes", config.KeyDoc{Type: "size", Default: "1GiB"}},
		{"rules[].hh.value", config.KeyDoc{Type: "number", Required: true}},
		{"rules[].match.tag", config.KeyDoc{Type: "string"}},
	}
	for _, tt := range tests {
		got, ok := keys[tt.path]
		if !ok {
			t.Errorf("%s: not in the reference", tt.path)
			continue
		}
		got.Path, got.Doc = "", ""
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.path, got, tt.want)
		}
	}
	for _, absent := range []string{"file", "devices[].modbusdevice"} {
		if _, ok := keys[absent]; ok {
			t.Errorf("%s should not be a key", absent)
		}
	}
}
