package mqtt

import (
	"encoding/json"
	"reflect"
	"testing"
)

// walkAny is the field-path walk over encoding/json's tree that jv.walk
// replaced: the reference FuzzJSONRaw holds it to.
func walkAny(v any, path []PathStep) (any, bool) {
	for _, st := range path {
		if st.Key != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[st.Key]; !ok {
				return nil, false
			}
			continue
		}
		a, ok := v.([]any)
		if !ok || st.Index >= len(a) {
			return nil, false
		}
		v = a[st.Index]
	}
	return v, true
}

// scalarOf is what jv.scalar gives for an encoding/json value.
func scalarOf(v any) any {
	switch v.(type) {
	case []any:
		return anArray
	case map[string]any:
		return anObject
	}
	return v
}

var fuzzPaths = []string{".", "v", "a.b", "a[0]", "a[1].b", "[0]", "[2]", "\u00e9", "k"}

// FuzzJSONRaw: parseJV accepts exactly what encoding/json decodes into an
// any, with the same error, and every path reads the same value.
func FuzzJSONRaw(f *testing.F) {
	for _, s := range []string{
		`{"v":0.234,"ts":1732250000123}`, ` {"a":{"b":1},"a":[{"b":"x"},{"b":true}]} `, `[1,"2",[3],{"k":null}]`,
		`{"v":1e400}`, `{"v":-0.0e-5}`, `{"\u0076":2,"v":3}`, `{"é":"\u00e9\ud800"}`, `"a\"b\\"`, `{"v":01}`, `[1,]`, `{"a":}`,
		"{\"k\":\"\xff\"}", `tru`, `nul`, `{}`, `[]`, `  `, `{"v":1}x`, `[[[[[[]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	var paths [][]PathStep
	for _, p := range fuzzPaths {
		steps, err := ParseFieldPath(p)
		if err != nil {
			f.Fatal(err)
		}
		paths = append(paths, steps)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var want any
		werr := json.Unmarshal(payload, &want)
		root, err := parseJV(payload)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("%q: parseJV error %v, encoding/json %v", payload, err, werr)
		}
		if err != nil {
			return
		}
		for i, p := range paths {
			w, wok := walkAny(want, p)
			g, gok := root.walk(p)
			if wok != gok {
				t.Fatalf("%q path %s: found %v, encoding/json %v", payload, fuzzPaths[i], gok, wok)
			}
			if !gok {
				continue
			}
			if gs, ws := g.scalar(), scalarOf(w); !reflect.DeepEqual(gs, ws) {
				t.Fatalf("%q path %s: %#v, encoding/json %#v", payload, fuzzPaths[i], gs, ws)
			}
			if _, isArr := w.([]any); isArr {
				el, ok := g.elems()
				if !ok || len(el) != len(w.([]any)) {
					t.Fatalf("%q path %s: %d elements, encoding/json %d", payload, fuzzPaths[i], len(el), len(w.([]any)))
				}
			}
		}
	})
}
