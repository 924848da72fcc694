package config

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

const referenceFile = "../docs/configuration.md"

// TestConfigDoc fails when a key has no doc tag or the committed reference
// differs from the structs.
func TestConfigDoc(t *testing.T) {
	if missing := Undocumented(); len(missing) > 0 {
		t.Errorf("keys without a doc tag (add doc:\"...\" to the struct field):\n  %s", strings.Join(missing, "\n  "))
	}
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(referenceFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./config -run TestConfigDoc -update)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is stale: the config structs changed; regenerate with go test ./config -run TestConfigDoc -update", referenceFile)
	}
}

// TestReferenceWalk checks the walk against keys we know: inline protocol
// blocks flatten under the device with their protocol, defaults and
// secret/required marks come from the tags, lists and maps nest.
func TestReferenceWalk(t *testing.T) {
	keys := map[string]KeyDoc{}
	for _, s := range Reference() {
		for _, k := range s.Keys {
			if _, dup := keys[k.Path]; dup {
				t.Errorf("key %s listed twice", k.Path)
			}
			keys[k.Path] = k
		}
	}
	tests := []struct {
		path string
		want KeyDoc
	}{
		{"site.id", KeyDoc{Type: "string", Required: true}},
		{"data_dir", KeyDoc{Type: "string", Default: "./var"}},
		{"http.tokens[].token", KeyDoc{Type: "string", Required: true, Secret: true}},
		{"devices[].interval", KeyDoc{Type: "duration", Default: "1s"}},
		{"devices[].unit_id", KeyDoc{Type: "integer", Default: "1", Protocol: "modbus"}},
		{"devices[].subscriptions[].topic", KeyDoc{Type: "string", Required: true, Protocol: "mqtt"}},
		{"devices[].listen", KeyDoc{Type: "string", Protocol: "gb26875"}},
		{"devices[].tags[].register.raw", KeyDoc{Type: "list of numbers"}},
		{"devices[].tags[].register.states", KeyDoc{Type: "mapping of integer to string"}},
		{"devices[].tags[].register.bands.fault_low", KeyDoc{Type: "number", Default: "3.6"}},
		{"influxdb.spool.max_bytes", KeyDoc{Type: "size", Default: "1GiB"}},
		{"rules[].hh.value", KeyDoc{Type: "number", Required: true}},
		{"rules[].match.tag", KeyDoc{Type: "string"}},
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
	type inner struct {
		Documented string `yaml:"documented" doc:"yes"`
		Bare       int    `yaml:"bare"`
	}
	type block struct {
		Flat string `yaml:"flat"`
	}
	type outer struct {
		Items []inner `yaml:"items" doc:"yes"`
		block `yaml:",inline"`
		Gone  string `yaml:"-"`
	}
	if got, want := strings.Join(undocumented(referenceOf(reflect.TypeOf(outer{}))), " "), "flat items[].bare"; got != want {
		t.Errorf("undocumented keys %q, want %q", got, want)
	}
	for _, absent := range []string{"file", "devices[].modbusdevice"} {
		if _, ok := keys[absent]; ok {
			t.Errorf("%s should not be a key", absent)
		}
	}
}
