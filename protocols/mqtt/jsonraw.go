package mqtt

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// jv is one JSON value of a payload that validJSON accepted, as its bytes.
// Field paths are followed over the bytes, so a payload costs no tree of
// maps and interfaces (encoding/json into an any was most of a message's
// decoding); only the values a subscription reads become Go values, the
// same ones encoding/json would give (see scalar).
type jv []byte

// maxJSONDepth is encoding/json's nesting limit, so the same payloads fail.
const maxJSONDepth = 10000

// parseJV checks payload as encoding/json's Unmarshal into an any would
// and returns its value. Refused, the error is encoding/json's own.
func parseJV(payload []byte) (jv, error) {
	start := skipSpace(payload, 0)
	if end, ok := validValue(payload, start, 0); ok && skipSpace(payload, end) == len(payload) {
		return jv(payload[start:end]), nil
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, err
	}
	// Not reached while validValue agrees with encoding/json (FuzzJSONRaw).
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jv(b), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// validValue checks the value at b[i:] and returns where it ends.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = validValue(b, skipSpace(b, i+1), depth); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == '[':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(b, i, depth); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == '"':
		return validString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(b, i)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	}
	return i, false
}

func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// validString checks the string starting at the quote b[i] and returns the
// index after its closing quote. Like encoding/json it takes any bytes but
// control characters (invalid UTF-8 becomes U+FFFD when read).
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks a JSON number. One with an exponent or of many digits
// may be out of float64's range, which encoding/json refuses in an any.
func validNumber(b []byte, i int) (int, bool) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	exp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if exp || i-start > 300 {
		if _, err := strconv.ParseFloat(string(b[start:i]), 64); err != nil {
			return i, false
		}
	}
	return i, true
}

// skip returns the end of the (valid) value at v[i:].
func (v jv) skip(i int) int {
	switch v[i] {
	case '"':
		for i++; ; i++ {
			switch v[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch v[i] {
			case '"':
				i = v.skip(i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(v) && v[i] != ',' && v[i] != '}' && v[i] != ']' && !isSpace(v[i]) {
		i++
	}
	return i
}

// member returns the value of key in object v; the last one when the key
// repeats, as encoding/json keeps.
func (v jv) member(key string) (jv, bool) {
	if len(v) == 0 || v[0] != '{' {
		return nil, false
	}
	var found jv
	ok := false
	i := skipSpace(v, 1)
	for i < len(v) && v[i] == '"' {
		kend := v.skip(i)
		k := v[i:kend]
		i = skipSpace(v, kend)
		i = skipSpace(v, i+1) // the colon
		end := v.skip(i)
		if keyIs(k, key) {
			found, ok = v[i:end], true
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return found, ok
}

// keyIs compares a quoted key with name as encoding/json would unquote it.
func keyIs(quoted jv, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	if plainString(raw) {
		return string(raw) == name
	}
	return quoted.str() == name
}

// plainString reports whether a string's bytes are its value: no escapes,
// valid UTF-8.
func plainString(raw []byte) bool {
	ascii := true
	for _, c := range raw {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(raw)
}

// str is the string value of quoted, v a JSON string.
func (v jv) str() string {
	raw := v[1 : len(v)-1]
	if plainString(raw) {
		return string(raw)
	}
	var s string
	json.Unmarshal(v, &s) //nolint:errcheck // validated
	return s
}

// elems returns the elements of array v.
func (v jv) elems() ([]jv, bool) {
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	var out []jv
	i := skipSpace(v, 1)
	for i < len(v) && v[i] != ']' {
		end := v.skip(i)
		out = append(out, v[i:end])
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return out, true
}

// index returns element n of array v.
func (v jv) index(n int) (jv, bool) {
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	i := skipSpace(v, 1)
	for k := 0; i < len(v) && v[i] != ']'; k++ {
		end := v.skip(i)
		if k == n {
			return v[i:end], true
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return nil, false
}

// walk follows a field path into v.
func (v jv) walk(path []PathStep) (jv, bool) {
	ok := true
	for _, st := range path {
		if st.Key != "" {
			v, ok = v.member(st.Key)
		} else {
			v, ok = v.index(st.Index)
		}
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// Stand-ins scalar gives for containers, so typeName names them.
var (
	anArray  = []any(nil)
	anObject = map[string]any(nil)
)

// scalar is v as encoding/json decodes it into an any: float64, string,
// bool or nil; a container is anArray or anObject.
func (v jv) scalar() any {
	switch v[0] {
	case '"':
		return v.str()
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '[':
		return anArray
	case '{':
		return anObject
	}
	f, _ := strconv.ParseFloat(string(v), 64) // validated, in range
	return f
}
