package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

//go:generate go test -run TestConfigDoc -update ../cmd/hazgate

// KeyDoc describes one configuration key for the reference.
type KeyDoc struct {
	Path     string // devices[].tags[].register.raw
	Type     string // string, duration, list of numbers, ...
	Default  string // the default tag, or ""
	Required bool
	Secret   bool
	// Protocol is set for keys a registered protocol adds to a device or a tag.
	Protocol string
	Doc      string
}

// Section is the keys of one mapping in the file, in declaration order.
type Section struct {
	Path string // "" for the top level
	Keys []KeyDoc
}

// Reference walks the config structs by reflection, the way the loader does
// (inline blocks flattened, each registered protocol's blocks under devices
// and tags, default, required and secret tags honoured), and returns one
// section per mapping, depth first.
func Reference() []Section { return referenceOf(reflect.TypeOf(Config{})) }

func referenceOf(t reflect.Type) []Section {
	var out []Section
	walkSections(t, "", "", &out)
	return out
}

// sectionType returns the struct a field's values are mappings of, if any
// (through pointers, lists and map values).
func sectionType(t reflect.Type) (reflect.Type, string) {
	suffix := ""
	for {
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
			continue
		case reflect.Slice:
			t, suffix = t.Elem(), suffix+"[]"
			continue
		case reflect.Map:
			t, suffix = t.Elem(), suffix+"[key]"
			continue
		case reflect.Struct:
			if t != durationType {
				return t, suffix
			}
		}
		return nil, ""
	}
}

// protocolField is a key of a struct, or of a registered protocol's block
// beside it, with the protocol that adds it ("" for the struct's own).
type protocolField struct {
	field
	protocol string
}

// fieldsWithProtocols lists t's keys, and after them, for a device or a
// tag, the keys each registered protocol adds, in protocol order.
func fieldsWithProtocols(t reflect.Type) []protocolField {
	var out []protocolField
	for _, f := range structFields(t) {
		out = append(out, protocolField{f, ""})
	}
	for _, name := range ProtocolNames() {
		p, _ := protocolOf(name)
		var make func() any
		switch t {
		case deviceType:
			make = p.Device
		case tagType:
			make = p.Tag
		}
		if b, ok := newBlock(make); ok {
			for _, f := range structFields(b.Elem().Type()) {
				out = append(out, protocolField{f, name})
			}
		}
	}
	return out
}

func walkSections(t reflect.Type, path, protocol string, out *[]Section) {
	sec := Section{Path: path}
	var nested []func()
	for _, f := range fieldsWithProtocols(t) {
		p := join(path, f.key)
		proto := protocol
		if proto == "" {
			proto = f.protocol
		}
		sec.Keys = append(sec.Keys, KeyDoc{
			Path:     p,
			Type:     typeName(f.sf.Type),
			Default:  f.sf.Tag.Get("default"),
			Required: f.sf.Tag.Get("required") == "true",
			Secret:   f.sf.Tag.Get("secret") == "true",
			Protocol: proto,
			Doc:      f.sf.Tag.Get("doc"),
		})
		if st, suffix := sectionType(f.sf.Type); st != nil {
			nested = append(nested, func() { walkSections(st, p+suffix, proto, out) })
		}
	}
	*out = append(*out, sec)
	for _, n := range nested {
		n()
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == reflect.TypeOf(ByteSize(0)):
		return "size"
	case t == reflect.TypeOf(time.Time{}):
		return "time"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + plural(typeName(t.Elem()))
	case reflect.Map:
		return "mapping of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

func plural(s string) string {
	switch s {
	case "mapping", "string", "integer", "number", "boolean", "duration", "size":
		return s + "s"
	}
	return s
}

// Undocumented lists every key without a doc tag; the reference test fails
// on any.
func Undocumented() []string { return undocumented(Reference()) }

func undocumented(secs []Section) []string {
	var out []string
	for _, s := range secs {
		for _, k := range s.Keys {
			if strings.TrimSpace(k.Doc) == "" {
				out = append(out, k.Path)
			}
		}
	}
	return out
}

// WriteReference writes the configuration reference as Markdown
// (docs/configuration.md).
func WriteReference(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from the structs in config/ and each protocol's config.go by config/doc.go; do not edit.
     Regenerate with: go generate ./config   (or go test ./cmd/hazgate -run TestConfigDoc -update) -->

A site is one YAML file: ` + "`hazgate check -config FILE`" + ` validates it and prints
FILE:LINE:COL for every problem, ` + "`hazgate run -config FILE`" + ` runs it. Keys left out take
their default. Any value may contain ` + "`${NAME}`" + `, replaced by the environment
variable NAME (unset is an error; ` + "`$$`" + ` is a literal ` + "`$`" + `): write every secret
that way. Durations are written like 500ms, 30s, 5m, 72h; sizes like 512MiB or 1GiB.

Key paths: ` + "`a.b`" + ` is key b inside mapping a; ` + "`a[]`" + ` is each item of list a;
` + "`a[key]`" + ` each value of mapping a. A key marked with a protocol applies only to
devices of that protocol; they sit flat under the device.

The files under ` + "`deploy/examples/`" + ` show each kind of site.
`)
	for _, s := range Reference() {
		title := s.Path
		if title == "" {
			title = "top level"
		}
		fmt.Fprintf(&b, "\n## %s\n\n| key | type | default | description |\n|---|---|---|---|\n", mdCode(title, s.Path != ""))
		for _, k := range s.Keys {
			key := k.Path[len(s.Path):]
			key = strings.TrimPrefix(key, ".")
			var notes []string
			if k.Required {
				notes = append(notes, "**Required.**")
			}
			if k.Protocol != "" {
				notes = append(notes, "*"+k.Protocol+"*:")
			}
			if k.Secret {
				notes = append(notes, "*Secret.*")
			}
			doc := strings.TrimSpace(strings.Join(append(notes, k.Doc), " "))
			def := ""
			if k.Default != "" {
				def = "`" + k.Default + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", key, k.Type, def, mdCell(doc))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCode(s string, code bool) string {
	if code {
		return "`" + s + "`"
	}
	return s
}

// mdCell keeps a table cell on one line and its pipes literal.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
