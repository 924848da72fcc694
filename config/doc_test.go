package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestUndocumentedWalk: the walk flattens inline blocks, skips yaml:"-"
// fields and finds keys without a doc tag. The reference of the real
// schema, protocols included, is tested in cmd/hazgate, which links them all.
func TestUndocumentedWalk(t *testing.T) {
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
}
