package config

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"sync"
)

// Protocol is what the schema knows of one protocol: the keys it adds to a
// device and to a device's tags, and the checks only it can make. Each
// protocol package registers its own from init, beside the code that reads
// those keys; config keeps only the keys every device shares.
type Protocol struct {
	// Device returns a new block of the protocol's own device keys: a
	// pointer to a struct tagged like the rest of the schema (yaml,
	// default, required, secret, doc). It sits flat under the device in
	// YAML and is Device.Block after decoding.
	Device func() any
	// Tag, if set, returns a new block of the protocol's own keys of a tag
	// (Tag.Block), such as Modbus's register.
	Tag func() any
	// Check reports what the types alone cannot, through c, at FILE:LINE:COL.
	Check func(c *Checker, dev *Device)
}

var (
	protocolsMu sync.RWMutex
	registered  = map[string]Protocol{}
)

// RegisterProtocol makes name a valid `protocol:`; called from the protocol
// package's init. A duplicate name is a programming error.
func RegisterProtocol(name string, p Protocol) {
	protocolsMu.Lock()
	defer protocolsMu.Unlock()
	if _, dup := registered[name]; dup {
		panic("config: protocol " + name + " registered twice")
	}
	registered[name] = p
}

func protocolOf(name string) (Protocol, bool) {
	protocolsMu.RLock()
	defer protocolsMu.RUnlock()
	p, ok := registered[name]
	return p, ok
}

// ProtocolNames lists the registered protocols, sorted.
func ProtocolNames() []string {
	protocolsMu.RLock()
	defer protocolsMu.RUnlock()
	out := make([]string, 0, len(registered))
	for n := range registered {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// newBlock calls make (a Protocol's Device or Tag) and checks it returned a
// pointer to a struct, the only thing the decoder can fill.
func newBlock(make func() any) (reflect.Value, bool) {
	if make == nil {
		return reflect.Value{}, false
	}
	v := reflect.ValueOf(make())
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: a protocol block must be a pointer to a struct, got %s", v.Type()))
	}
	return v, true
}

// Checker reports problems of one device at FILE:LINE:COL, for a
// protocol's Check. Keys are relative to the device: "listen",
// "tags[2].register.address"; "" is the device itself.
type Checker struct {
	d    *decoder
	path string // devices[3]
}

// Errorf reports a problem at key.
func (c *Checker) Errorf(key, format string, args ...any) {
	c.d.errorAt(c.Path(key), format, args...)
}

// Path is the full path of key, as problems name it: devices[3].listen.
func (c *Checker) Path(key string) string {
	if key == "" {
		return c.path
	}
	if key[0] == '[' {
		return c.path + key
	}
	return c.path + "." + key
}

// URL reports a URL at key that does not parse, has a scheme not in
// schemes or (when needHost) no host, and returns it when usable.
func (c *Checker) URL(key, raw string, schemes []string, needHost bool) *url.URL {
	return c.d.checkURL(c.Path(key), raw, schemes, needHost)
}

// Enum reports a value of key that is not one of allowed.
func (c *Checker) Enum(key, what, v string, allowed []string) {
	c.d.enum(c.Path(key), what, v, allowed)
}
