// Package protocols is where each protocol folder registers itself, so the
// gateway starts devices by their `protocol:` name and a new protocol is one
// new folder plus one import line in cmd/hazgate.
package protocols

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/collector"
	"hazgate/config"
)

// Emitter takes a device's samples; collector.Pipeline satisfies it.
type Emitter interface {
	Emit(ctx context.Context, batch []collector.Sample) error
}

// DurableEmitter also says when a batch is safe: its alarm transitions
// committed, its readings stored or spooled. Protocols that acknowledge to
// devices (a PUBACK, a GB/T 26875.3 confirm) wait for it; collector.Pipeline
// satisfies it.
type DurableEmitter interface {
	Emitter
	EmitDurable(ctx context.Context, batch []collector.Sample, done func()) error
}

// TagAdder registers a tag at run time, for protocols that create tags on
// first sight from a template; collector.Registry satisfies it.
type TagAdder interface {
	Add(t collector.Tag) error
}

// Env is what a device gets from the gateway.
type Env struct {
	Site string
	Emit Emitter
	Tags TagAdder
	Log  *slog.Logger
	// Times bounds device-supplied reading times; zero fields take defaults.
	Times collector.TimeBounds
	// DataDir is where a device keeps what must survive a restart; empty
	// keeps nothing (tests, `hazgate check`).
	DataDir string
}

// Device is one running connection to a device (or a broker, or a listener).
type Device interface {
	// Tags are the tags known from config, registered before Run starts.
	Tags() []collector.Tag
	// Run reads until ctx ends. It returns an error only when it cannot run
	// at all; lost connections are retried inside.
	Run(ctx context.Context) error
}

// Metered is a Device that exports its own counters on /metrics. Its series
// carry no device label: the gateway adds it, so every device of a protocol
// shares the series' names.
type Metered interface {
	Metrics() prometheus.Collector
}

// Factory builds a device from its config block, validating the parts of the
// block only this protocol understands. Its errors start with "device ID:".
type Factory func(env Env, dev config.Device) (Device, error)

// Check looks at every device of one protocol together, for what no single
// device block shows (Modbus devices sharing a URL must agree on the
// connection's settings). Its errors start with "device ID:".
type Check func(devs []config.Device) error

// Protocol is what a protocol folder registers: its keys in the site file
// and how to build and check its devices.
type Protocol struct {
	// Config is the protocol's device (and tag) keys and their checks,
	// registered with the config schema under the same name.
	Config config.Protocol
	New    Factory
	// Check, if set, looks at all of the protocol's devices together.
	Check Check
}

var (
	mu         sync.RWMutex
	registered = map[string]Protocol{}
)

// Register makes a protocol available under name, in the site file and to
// New. It is called from the protocol package's init; a duplicate name is
// a programming error.
func Register(name string, p Protocol) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registered[name]; dup {
		panic("protocols: " + name + " registered twice")
	}
	config.RegisterProtocol(name, p.Config)
	registered[name] = p
}

// CheckDevices runs every protocol's check over that protocol's devices,
// so `hazgate check` and `hazgate run` refuse the same configs.
func CheckDevices(devs []config.Device) error {
	mu.RLock()
	defer mu.RUnlock()
	byProtocol := make(map[string][]config.Device)
	for _, d := range devs {
		byProtocol[d.Protocol] = append(byProtocol[d.Protocol], d)
	}
	for _, name := range sortedKeys(registered) {
		if ds := byProtocol[name]; len(ds) > 0 && registered[name].Check != nil {
			if err := registered[name].Check(ds); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeclaredTags are the collector tags of the tags declared in dev's config,
// for protocols whose devices create the rest on first sight: they only give
// those tags their metadata. An empty id is an error naming the device.
func DeclaredTags(site string, dev config.Device) ([]collector.Tag, error) {
	out := make([]collector.Tag, 0, len(dev.Tags))
	for _, t := range dev.Tags {
		if t.ID == "" {
			return nil, fmt.Errorf("device %s: tag with empty id", dev.ID)
		}
		out = append(out, DeclaredTag(site, dev, t))
	}
	return out, nil
}

// DeclaredTag is the collector tag of a tag declared in a device's config
// block; every protocol converts them the same way.
func DeclaredTag(site string, dev config.Device, t config.Tag) collector.Tag {
	return collector.Tag{
		ID: t.ID, Name: t.Name, Site: site, Device: dev.ID, Kind: t.Kind, Unit: t.Unit,
		Area: t.Area, HazardSource: t.HazardSource, Description: t.Description,
	}
}

// New builds the device dev with the factory of its protocol.
func New(env Env, dev config.Device) (Device, error) {
	mu.RLock()
	p, ok := registered[dev.Protocol]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("device %s: protocol %q is not built in (have %v)", dev.ID, dev.Protocol, Names())
	}
	return p.New(env, dev) // factories name the device in their errors
}

// Names lists the registered protocols.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return sortedKeys(registered)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
