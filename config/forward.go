package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"path"
	"slices"
	"strconv"
	"time"
)

// Forward makes the gateway the site's GB/T 26875.3 transmission device
// (用户信息传输装置): fire panel states go to the city's fire
// remote-monitoring centre (城市消防远程监控中心), fire alarms first, kept on
// disk in data_dir/forward until the centre confirms them.
type Forward struct {
	Centres       []string `yaml:"centres" required:"true" doc:"The monitoring centre's host:port, the primary first, then standbys: the gateway dials the next when one refuses or drops."`
	Address       string   `yaml:"address" required:"true" doc:"This site's transmission-device address (用户信息传输装置地址), the 12 digits the centre registered it under."`
	CentreAddress string   `yaml:"centre_address" doc:"The centre's own 12-digit address, the frames' destination; default 000000000000."`
	// What goes: fire panel points by kind, or by tag glob.
	Kinds []string `yaml:"kinds" doc:"Tag kinds whose states go to the centre. Default [fire_panel]: every <point>.<state> tag (fire, fault, supervisory, disabled, start, feedback) of MQTT, Modbus or GB/T 26875.3 fire panels."`
	Tags  []string `yaml:"tags" doc:"Tag id globs that go as well as the kinds, for example [\"FP1.*\"]."`
	// Gas sends gas alarms into the control room too (GA 767, GB 25506 5.2.2).
	Gas       bool               `yaml:"gas" doc:"Also send gas detectors, by default combustible gas (kind combustible_gas) as component type 10: at or above its gas_levels level (25 %LEL, GB/T 50493 level 1) in fire state, a Bad reading as fault (GB 25506 5.2.2: gas alarms reach the centre like fire alarms)."`
	GasLevels map[string]float64 `yaml:"gas_levels" doc:"With gas: true, the level by tag kind, in the tags' unit, at or above which a reading goes as a fire state; kinds other than combustible_gas go as component type 74 (gas detector). Default {combustible_gas: 25} (%LEL); given, it replaces the default, so name combustible_gas to keep it: {combustible_gas: 20, toxic_gas: 10} (ppm; no toxic level fits every gas, so toxic_gas goes only when named)."`
	// Analogs: the fire-water supply values the centre watches.
	Analogs []ForwardAnalog `yaml:"analogs" doc:"Tag kinds that go as analog values (type 3): hydrant main pressure and fire water tank level, with a minimum below which the component goes to fault (type 2, sent as an alarm when it first goes below). Absent: [{kind: hydrant_pressure}] (minimum 0.10 MPa, GB 50974); [] sends none. Points not in points get system type 11 (hydrant system) and component type 99 (pressure switch) for hydrant_pressure, 92 (fire water tank) for level."`
	Points  []ForwardPoint  `yaml:"points" doc:"Component addresses the centre knows points by. A point received from a transmission device keeps its own; others not listed here get system 1, address 1, component type 0 and a zone and position derived from the point's id (stable, documented in protocols/gb26875/README.md)."`

	Heartbeat      time.Duration `yaml:"heartbeat" default:"30s" doc:"How often the link says it is alive when it has nothing to send."`
	ConfirmTimeout time.Duration `yaml:"confirm_timeout" default:"10s" doc:"How long to wait for the centre's confirm of a frame before sending it again (GB/T 26875.3: 10 s)."`
	Retries        int           `yaml:"retries" default:"3" doc:"Sends of a frame before the link is dropped and dialled again (GB/T 26875.3: 3); the message stays queued."`
	DialTimeout    time.Duration `yaml:"dial_timeout" default:"5s" doc:"How long one connection attempt to a centre may take."`
	// MaxBackoff bounds the wait between rounds of dialling every centre: a
	// fire alarm queued during an outage waits at most this long after
	// the centre is back (GB 25506's 10 s).
	MaxBackoff time.Duration `yaml:"max_backoff" default:"5s" doc:"Longest wait between rounds of dialling every centre (from 1 s, doubling, ±50 % jitter so a city's devices do not reconnect in step). A fire alarm queued in an outage waits up to this long after the centre is back: keep it well under GB 25506's 10 s."`
	// AlarmAfter and StatusAlarmAfter: the control room's own alarm on the
	// link, at GB 25506's limits by default.
	AlarmAfter       time.Duration `yaml:"alarm_after" default:"10s" doc:"The link down this long, or a fire alarm (or linkage signal) waiting this long since it entered the gateway for the centre's confirm, raises the control room's alarm forward_link (class comm_loss, with the console's horn) within a second; GB 25506 asks fire alarms reach the centre within 10 s and a failed transmission be shown by sound and light."`
	StatusAlarmAfter time.Duration `yaml:"status_alarm_after" default:"100s" doc:"A status message (fault, supervisory, analog value, device state) waiting this long for the centre's confirm raises forward_link too (GB 25506: status within 100 s); at least alarm_after."`
	MaxBytes         ByteSize      `yaml:"max_bytes" default:"256MiB" doc:"Bound of the outbox on disk, for each class (fire alarms, status) on its own; a class beyond it drops its own oldest messages, logged as an error and counted in hazgate_forward_outbox_dropped_total{class}. A status backlog never pushes out a fire alarm, but fire alarms past the bound are dropped too: size it for the longest outage."`
}

// ForwardPoint names a point's component as the centre knows it.
type ForwardPoint struct {
	Tag      string `yaml:"tag" required:"true" doc:"The point: a tag id without its .<state> suffix, or a glob of them."`
	SysType  uint8  `yaml:"system_type" default:"1" doc:"System type: 1 fire alarm system, 10 linkage controller, 11 hydrant system..."`
	SysAddr  uint8  `yaml:"system_address" default:"1" doc:"System address."`
	CompType uint8  `yaml:"component_type" doc:"Component type: 40-44 smoke detectors, 23 manual call point, 24 hydrant button, 10-13 combustible gas detectors..."`
	Zone     uint16 `yaml:"zone" doc:"Component address, high part (回路/区)."`
	Position uint16 `yaml:"position" doc:"Component address, low part (位号)."`
}

// ForwardAnalog is one analog kind sent to the centre. Unlisted points get
// system type 11 (hydrant system) and component type 99 (pressure switch)
// for hydrant_pressure, 92 (fire water tank) for level; points override.
type ForwardAnalog struct {
	Kind       string        `yaml:"kind" required:"true" doc:"Tag kind: hydrant_pressure (tags in MPa) or level (a fire water tank, in m); another kind needs analog_type and scale."`
	AnalogType uint8         `yaml:"analog_type" doc:"GB/T 26875.3 analog type; default 5 (pressure in 0.1 kPa) for hydrant_pressure, 2 (height in 0.01 m) for level. Type 4 (0.1 MPa) cannot tell 0.10 from 0.14 MPa."`
	Scale      float64       `yaml:"scale" doc:"Steps of the analog type per tag unit; default (with the default analog_type only) 10000 for hydrant_pressure (MPa in 0.1 kPa), 100 for level (m in 0.01 m). A reading beyond the int16 steps goes at the bound and is counted (hazgate_forward_source_analog_refused_total)."`
	Deadband   float64       `yaml:"deadband" doc:"A change of at least this much, in the tag's unit, goes at once; default 0.01 (MPa) for hydrant_pressure, 0.05 (m) for level, one step for other kinds or scales."`
	Refresh    time.Duration `yaml:"refresh" default:"5m" doc:"An unchanged value goes again at the first sample this long after the last one sent."`
	Minimum    *float64      `yaml:"minimum" doc:"Below it (in the tag's unit) the point's component state carries the fault bit; default 0.10 (MPa, GB 50974) for hydrant_pressure, none for level (give the tank's own low level)."`
}

// forwardAnalogTypes are the kinds with defaults in
// protocols/gb26875/forward, and the analog type their default scale is for.
var forwardAnalogTypes = map[string]uint8{"hydrant_pressure": 5, "level": 2}

// ParseUITDAddress checks a 12-digit transmission-device address.
func ParseUITDAddress(s string) (uint64, error) {
	if len(s) != 12 {
		return 0, fmt.Errorf("%q: want 12 digits", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want 12 digits", s)
	}
	return n, nil
}

func (d *decoder) validateForward(f *Forward) {
	const p = "forward"
	if len(f.Centres) == 0 {
		d.errorAt(p+".centres", "forward.centres: at least one host:port of the monitoring centre is required")
	}
	for i, c := range f.Centres {
		if _, port, err := net.SplitHostPort(c); err != nil || port == "" {
			d.errorAt(fmt.Sprintf("%s.centres[%d]", p, i), "forward.centres[%d] %q: want host:port", i, c)
		}
	}
	if _, err := ParseUITDAddress(f.Address); err != nil {
		d.errorAt(p+".address", "forward.address %v", err)
	}
	if f.CentreAddress != "" {
		if _, err := ParseUITDAddress(f.CentreAddress); err != nil {
			d.errorAt(p+".centre_address", "forward.centre_address %v", err)
		}
	}
	for i, g := range f.Tags {
		if _, err := path.Match(g, ""); err != nil {
			d.errorAt(fmt.Sprintf("%s.tags[%d]", p, i), "forward.tags[%d] %q: %v", i, g, err)
		}
	}
	if f.GasLevels != nil && !f.Gas {
		d.errorAt(p+".gas_levels", "forward.gas_levels: given but gas is not true, so no gas reading goes")
	}
	if f.GasLevels != nil && len(f.GasLevels) == 0 {
		d.errorAt(p+".gas_levels", "forward.gas_levels: empty; leave it out for the default {combustible_gas: 25}")
	}
	for _, kind := range slices.Sorted(maps.Keys(f.GasLevels)) {
		if v := f.GasLevels[kind]; !(v > 0) || math.IsInf(v, 0) {
			d.errorAt(fmt.Sprintf("%s.gas_levels[%s]", p, kind), "forward.gas_levels[%s] %v: want a level above 0", kind, v)
		}
	}
	for i, pt := range f.Points {
		if _, err := path.Match(pt.Tag, ""); err != nil {
			d.errorAt(fmt.Sprintf("%s.points[%d].tag", p, i), "forward.points[%d].tag %q: %v", i, pt.Tag, err)
		}
	}
	seen := map[string]bool{}
	for i, a := range f.Analogs {
		at := fmt.Sprintf("%s.analogs[%d]", p, i)
		if seen[a.Kind] {
			d.errorAt(at+".kind", "%s.kind %s: listed twice", at, a.Kind)
		}
		seen[a.Kind] = true
		def, known := forwardAnalogTypes[a.Kind]
		switch {
		case a.Kind != "" && !known && (a.AnalogType == 0 || a.Scale == 0):
			d.errorAt(at+".kind", "%s.kind %s: analog_type and scale are required for a kind other than hydrant_pressure and level", at, a.Kind)
		case known && a.AnalogType != 0 && a.AnalogType != def && a.Scale == 0:
			d.errorAt(at+".analog_type", "%s.analog_type %d: give its scale too (the default scale of %s is for type %d)", at, a.AnalogType, a.Kind, def)
		}
		if a.Scale < 0 {
			d.errorAt(at+".scale", "%s.scale %v: want above 0", at, a.Scale)
		}
		if a.Deadband < 0 {
			d.errorAt(at+".deadband", "%s.deadband %v: want 0 or above", at, a.Deadband)
		}
		if a.Refresh < time.Second {
			d.errorAt(at+".refresh", "%s.refresh %v: want at least 1s", at, a.Refresh)
		}
	}
	for _, x := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{{"heartbeat", f.Heartbeat, time.Second}, {"confirm_timeout", f.ConfirmTimeout, 100 * time.Millisecond},
		{"dial_timeout", f.DialTimeout, 100 * time.Millisecond}, {"alarm_after", f.AlarmAfter, time.Second},
		{"status_alarm_after", f.StatusAlarmAfter, time.Second},
		{"max_backoff", f.MaxBackoff, time.Second}} {
		if x.v < x.min {
			d.errorAt(p+"."+x.key, "forward.%s %v: want at least %v", x.key, x.v, x.min)
		}
	}
	if f.StatusAlarmAfter < f.AlarmAfter {
		d.errorAt(p+".status_alarm_after", "forward.status_alarm_after %v: want at least alarm_after (%v)", f.StatusAlarmAfter, f.AlarmAfter)
	}
	if f.Retries < 1 || f.Retries > 10 {
		d.errorAt(p+".retries", "forward.retries %d: want 1 to 10", f.Retries)
	}
}
