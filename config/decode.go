package config

import (
	"cmp"
	"encoding"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Pos is a place in the config file.
type Pos struct{ Line, Col int }

// Problem is one thing wrong with a config file.
type Problem struct {
	File string
	Pos  Pos
	Msg  string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Pos.Line, p.Pos.Col, p.Msg)
}

// Problems is every problem found in one file, in file order. Load returns
// them all at once so a user fixes a file in one pass, not one error per run.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// decoder walks a yaml.Node tree into the config structs by reflection. We do
// not use yaml's own Decode: it reports neither columns nor every problem, and
// it cannot expand ${ENV} before a value is converted to its type.
type decoder struct {
	file     string
	lookup   func(string) (string, bool)
	problems Problems
	// pos maps a path such as devices[0].tags[1].id to where its value is,
	// so validation after decoding can still point at the line.
	pos map[string]Pos
	// protocol is the registered protocol of the device being decoded, for
	// the keys it adds to the device and its tags.
	protocol     *Protocol
	protocolName string
}

var durationType = reflect.TypeOf(time.Duration(0))

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorAt(path string, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Pos: d.posOf(path), Msg: fmt.Sprintf(format, args...)})
}

// posOf finds the closest recorded position for path, walking up to a parent
// when the key itself is absent (a missing key is reported at its mapping).
func (d *decoder) posOf(path string) Pos {
	for p := path; ; {
		if pos, ok := d.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return d.pos[""]
		}
		p = p[:i]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected node"
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = Pos{n.Line, n.Column}
	if v.Kind() == reflect.Pointer {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: expected a list, got %s", path, kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

// decodeMap fills a map whose keys are scalars (a state-code name map such
// as {0: normal, 1: fault}).
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", path, kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		k := reflect.New(v.Type().Key()).Elem()
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kn, "%s: a key must be a single value", path)
			continue
		}
		if err := setScalar(k, kn.Value); err != nil {
			d.errorf(kn, "%s: key: %v", path, err)
			continue
		}
		if m.MapIndex(k).IsValid() {
			d.errorf(kn, "duplicate key %q in %s", kn.Value, path)
			continue
		}
		val := reflect.New(v.Type().Elem()).Elem()
		d.decode(vn, val, fmt.Sprintf("%s[%s]", path, kn.Value))
		m.SetMapIndex(k, val)
	}
	v.Set(m)
}

// field is one YAML key of a struct, found through any inline structs.
type field struct {
	key   string
	index []int
	sf    reflect.StructField
}

// structFields lists t's keys. A field tagged `yaml:",inline"` contributes
// its own fields at this level. The list is made once per type (a config of
// 8,000 tags asked 40,000 times, a quarter of its load time) and shared:
// callers must not change it.
func structFields(t reflect.Type) []field {
	if fs, ok := fieldsOf.Load(t); ok {
		return fs.([]field)
	}
	fs := listFields(t)
	fieldsOf.Store(t, fs)
	return fs
}

// fieldsOf caches structFields: reflect.Type to []field.
var fieldsOf sync.Map

func listFields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for _, sub := range structFields(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out = append(out, field{key: name, index: []int{i}, sf: f})
	}
	return out
}

// boundField is a key and the value it decodes into: a field of the struct
// itself, or of a protocol's block beside it.
type boundField struct {
	*field // in structFields' shared list
	v      reflect.Value
}

func boundFields(v reflect.Value) []boundField {
	fs := structFields(v.Type())
	out := make([]boundField, len(fs))
	for i := range fs {
		out[i] = boundField{&fs[i], v.FieldByIndex(fs[i].index)}
	}
	return out
}

var (
	deviceType = reflect.TypeOf(Device{})
	tagType    = reflect.TypeOf(Tag{})
)

// protocolBlock returns the block a registered protocol adds to a device or
// a tag (v, of type Device or Tag) being decoded from n, if any. For a
// device it also sets d.protocol for the device's tags; restore undoes it.
func (d *decoder) protocolBlock(n *yaml.Node, v reflect.Value) (block reflect.Value, restore func()) {
	restore = func() {}
	switch v.Type() {
	case deviceType:
		name := ""
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "protocol" && n.Content[i+1].Kind == yaml.ScalarNode {
				name = n.Content[i+1].Value
			}
		}
		prev, prevName := d.protocol, d.protocolName
		restore = func() { d.protocol, d.protocolName = prev, prevName }
		d.protocol, d.protocolName = nil, name
		p, ok := protocolOf(name)
		if !ok {
			return reflect.Value{}, restore
		}
		d.protocol = &p
		b, _ := newBlock(p.Device)
		return b, restore
	case tagType:
		if d.protocol != nil {
			b, _ := newBlock(d.protocol.Tag)
			return b, restore
		}
	}
	return reflect.Value{}, restore
}

// otherProtocolKey names a registered protocol whose device (or tag) block
// has key, for the message when a device of another protocol uses it.
func otherProtocolKey(t reflect.Type, key string) string {
	for _, f := range fieldsWithProtocols(t) {
		if f.key == key && f.protocol != "" {
			return f.protocol
		}
	}
	return ""
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if err := applyDefaults(v); err != nil {
		panic(err) // a bad default tag is a programming error caught by tests
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", orTop(path), kindName(n))
		return
	}
	fields := boundFields(v)
	block, restore := d.protocolBlock(n, v)
	defer restore()
	if block.IsValid() {
		if err := applyDefaults(block.Elem()); err != nil {
			panic(err)
		}
		fields = append(fields, boundFields(block.Elem())...)
		v.FieldByName("Block").Set(block)
	}
	// A struct has a few dozen keys at most: a scan beats building a map
	// for each of a large site's thousands of tags.
	seen := make([]bool, len(fields))
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		fi := slices.IndexFunc(fields, func(f boundField) bool { return f.key == key })
		if fi < 0 {
			if other := otherProtocolKey(v.Type(), key); other != "" && other != d.protocolName {
				d.errorf(kn, "unknown key %q in %s: it is a %s key, not one of %s", key, orTop(path), other, cmp.Or(d.protocolName, "this protocol"))
				continue
			}
			d.errorf(kn, "unknown key %q in %s%s", key, orTop(path), suggest(key, fields))
			continue
		}
		if seen[fi] {
			d.errorf(kn, "duplicate key %q in %s", key, orTop(path))
			continue
		}
		seen[fi] = true
		d.decode(vn, fields[fi].v, join(path, key))
	}
	for i, f := range fields {
		if seen[i] {
			continue
		}
		if f.sf.Tag.Get("required") == "true" {
			d.errorf(n, "missing required key %q in %s", f.key, orTop(path))
			continue
		}
		if f.sf.Type.Kind() == reflect.Struct && f.sf.Type != durationType {
			// An absent block still gets its defaults (no http: means 127.0.0.1:8080).
			d.decodeStruct(&yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}, f.v, join(path, f.key))
		}
	}
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// suggest names the closest known key, for the common typo.
func suggest(key string, fields []boundField) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if dist := editDistance(key, f.key); dist < bestDist {
			best, bestDist = f.key, dist
		}
	}
	if best == "" {
		keys := make([]string, 0, len(fields))
		for _, f := range fields {
			keys = append(keys, f.key)
		}
		sort.Strings(keys)
		return " (known keys: " + strings.Join(keys, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: expected a single value, got %s", path, kindName(n))
		return
	}
	if n.Tag == "!!null" {
		return
	}
	s, ok := d.expand(n, path)
	if !ok {
		return
	}
	if err := setScalar(v, s); err != nil {
		d.errorf(n, "%s: %v", path, err)
	}
}

// setScalar converts s to v's type. It is shared with default tags so a
// default is parsed exactly like the same text in a file.
func setScalar(v reflect.Value, s string) error {
	// A type that parses its own text (ByteSize: "1GiB") does so here.
	if v.CanAddr() {
		if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			return tu.UnmarshalText([]byte(s))
		}
	}
	if v.Type() == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q (write it like 500ms, 1s, 5m)", s)
		}
		if dur < 0 {
			return fmt.Errorf("bad duration %q: must not be negative", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("expected an integer of %d bits, got %q", v.Type().Bits(), s)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("expected an integer from 0 to %d, got %q", uint64(math.MaxUint64)>>(64-v.Type().Bits()), s)
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("expected a number, got %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}

// applyDefaults sets every field that has a default tag, before the file's
// own values are decoded over them.
func applyDefaults(v reflect.Value) error {
	for _, f := range structFields(v.Type()) {
		def, ok := f.sf.Tag.Lookup("default")
		if !ok {
			continue
		}
		if err := setScalar(v.FieldByIndex(f.index), def); err != nil {
			return fmt.Errorf("default of %s.%s: %w", v.Type().Name(), f.sf.Name, err)
		}
	}
	return nil
}

// expand replaces ${NAME} with the environment variable NAME; $$ is a literal $.
// Secrets therefore stay out of config files, and an unset variable is an
// error rather than an empty password.
func (d *decoder) expand(n *yaml.Node, path string) (string, bool) {
	s := n.Value
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	ok := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				d.errorf(n, "%s: unterminated ${ in %q", path, s)
				return "", false
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				d.errorf(n, "%s: bad environment variable name %q", path, name)
				ok = false
			} else if val, set := d.lookup(name); !set {
				d.errorf(n, "%s: environment variable %s is not set", path, name)
				ok = false
			} else {
				b.WriteString(val)
			}
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ok
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// Parse decodes and validates a config file's bytes. name is used in messages;
// lookup resolves ${NAME} (os.LookupEnv in production). The error, if any, is
// Problems.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: name, lookup: lookup, pos: map[string]Pos{"": {1, 1}}}
	cfg := &Config{File: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{syntaxProblem(name, err)}
	}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: name, Pos: Pos{1, 1}, Msg: "the file is empty"}}
	}
	d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
	if len(d.problems) == 0 {
		d.validate(cfg)
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			a, b := d.problems[i].Pos, d.problems[j].Pos
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		})
		return nil, d.problems
	}
	return cfg, nil
}

// Load reads and parses the file at path with the process environment.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// syntaxProblem turns yaml's "yaml: line N: msg" into a positioned Problem.
func syntaxProblem(name string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ":"); ok {
			if l, err := strconv.Atoi(num); err == nil {
				line, msg = l, strings.TrimSpace(after)
			}
		}
	}
	return Problem{File: name, Pos: Pos{line, 1}, Msg: "YAML syntax: " + msg}
}
