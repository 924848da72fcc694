// Package configtest helps a protocol's tests check how the site file
// decodes its keys and reports their problems.
package configtest

import (
	"errors"
	"strings"
	"testing"

	"hazgate/config"
)

// Env resolves ${NAME} from m (nil: nothing is set).
func Env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Problems parses text as the file name and fails t unless it reports
// exactly len(want) problems, the i-th containing want[i]
// ("LINE:COL: message").
func Problems(t testing.TB, name, text string, env map[string]string, want ...string) {
	t.Helper()
	_, err := config.Parse(name, []byte(text), Env(env))
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want Problems", err)
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if got := ps[i].Error(); !strings.Contains(got, w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
		}
	}
}
