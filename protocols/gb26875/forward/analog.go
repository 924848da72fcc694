package forward

import (
	"fmt"
	"math"
	"strings"
	"time"

	"hazgate/collector"
	"hazgate/protocols/gb26875"
)

// AnalogKind says how the tags of one kind go as type 3 analog values: the
// fire-water supply values the centre watches (hydrant main pressure, fire
// water tank level). Zero fields take the kind's defaults (DefaultAnalogs).
type AnalogKind struct {
	Kind string
	// AnalogType is the GB/T 26875.3 analog type: 5 pressure in 0.1 kPa
	// (hydrant_pressure; type 4's 0.1 MPa cannot tell 0.10 from 0.14 MPa),
	// 2 height in 0.01 m (level).
	AnalogType uint8
	// Scale is the steps per tag unit: 10000 for MPa in 0.1 kPa, 100 for m
	// in 0.01 m.
	Scale float64
	// Deadband is the change, in tag units, that goes at once; 0: the
	// kind's (0.01 MPa, 0.05 m), one step for other kinds.
	Deadband float64
	// Refresh: a value goes at least this often while samples come; 0: 5 min.
	Refresh time.Duration
	// Minimum: below it the point's component state (type 2) carries the
	// fault bit, ClassAlarm when it first goes below. nil: the kind's
	// (hydrant_pressure 0.10 MPa, GB 50974; none for level, whose minimum
	// is the tank's own).
	Minimum *float64
}

// DefaultAnalogRefresh is how often an unchanged analog value goes again.
const DefaultAnalogRefresh = 5 * time.Minute

// DefaultHydrantMinimum is GB 50974's lowest static pressure at the most
// unfavourable hydrant, MPa.
const DefaultHydrantMinimum = 0.10

// analogDefaults are the kinds the source knows, with the component they
// fall back to: system 11 (hydrant system); component 99 (pressure
// switch, the only pressure-sensing component the standard's selection
// documents) for the hydrant main, 92 (fire water tank) for a level.
var analogDefaults = map[string]struct {
	AnalogKind
	comp gb26875.Component
}{
	"hydrant_pressure": {AnalogKind{AnalogType: 5, Scale: 10000, Deadband: 0.01, Minimum: ptr(DefaultHydrantMinimum)}, gb26875.Component{SysType: 11, Type: 99}},
	"level":            {AnalogKind{AnalogType: 2, Scale: 100, Deadband: 0.05}, gb26875.Component{SysType: 11, Type: 92}},
}

func ptr[T any](v T) *T { return &v }

// DefaultAnalogs are what goes when SourceOptions.Analogs is nil: the
// hydrant main's pressure. A tank's level needs its own minimum.
func DefaultAnalogs() []AnalogKind { return []AnalogKind{{Kind: "hydrant_pressure"}} }

// resolve fills k's zero fields from its kind's defaults and checks it.
func (k AnalogKind) resolve() (AnalogKind, error) {
	d, known := analogDefaults[k.Kind]
	if k.Kind == "" {
		return k, fmt.Errorf("analog kind: empty")
	}
	if k.AnalogType == 0 {
		k.AnalogType = d.AnalogType
	}
	if k.Scale == 0 && k.AnalogType == d.AnalogType {
		k.Scale = d.Scale
	}
	if !known && (k.AnalogType == 0 || k.Scale == 0) {
		return k, fmt.Errorf("analog kind %s: analog_type and scale are required for a kind without defaults (known: hydrant_pressure, level)", k.Kind)
	}
	if k.Scale == 0 {
		return k, fmt.Errorf("analog kind %s: analog type %d needs its scale (the default is for type %d)", k.Kind, k.AnalogType, d.AnalogType)
	}
	if !(k.Scale > 0) || math.IsInf(k.Scale, 0) {
		return k, fmt.Errorf("analog kind %s: scale %v, want above 0", k.Kind, k.Scale)
	}
	if k.Deadband == 0 && k.Scale == d.Scale {
		k.Deadband = d.Deadband
	}
	if k.Deadband == 0 {
		k.Deadband = 1 / k.Scale // another scale is another tag unit: one step
	}
	if k.Deadband < 0 || math.IsNaN(k.Deadband) {
		return k, fmt.Errorf("analog kind %s: deadband %v, want 0 or above", k.Kind, k.Deadband)
	}
	if k.Refresh == 0 {
		k.Refresh = DefaultAnalogRefresh
	}
	if k.Refresh < 0 {
		return k, fmt.Errorf("analog kind %s: refresh %v, want above 0", k.Kind, k.Refresh)
	}
	if k.Minimum == nil {
		k.Minimum = d.Minimum
	}
	if k.Minimum != nil && (math.IsNaN(*k.Minimum) || math.IsInf(*k.Minimum, 0)) {
		return k, fmt.Errorf("analog kind %s: minimum %v, want a number", k.Kind, *k.Minimum)
	}
	return k, nil
}

// analogPoint is an analog tag's state at the source.
type analogPoint struct {
	kind          AnalogKind
	deadbandSteps int
	sent          analogSent
	batch         analogSent // sent before the batch being consumed
	dirty         bool
	valueOnly     bool // no component state (type 2)
}

// analogSent is what the centre was last given.
type analogSent struct {
	valued    bool // a value went since start (or since the last Bad reading)
	steps     int16
	at        time.Time // the source's clock when it went
	announced bool      // a component state went
	word      uint16
	below     bool // the component state went as below the minimum
}

// steps converts v to the analog type's int16 steps, clamped to its range;
// clamped says it was outside.
func (k *AnalogKind) steps(v float64) (steps int16, clamped bool) {
	x := math.Round(v * k.Scale)
	switch {
	case x > math.MaxInt16:
		return math.MaxInt16, true
	case x < math.MinInt16:
		return math.MinInt16, true
	}
	return int16(x), false
}

// consumeAnalog puts an analog sample's type 3 value and, when it changed,
// the point's type 2 state in s.out. A Bad or non-finite reading sends no
// value: the component is in fault until a good one comes.
func (s *Source) consumeAnalog(p *point, smp *collector.Sample, now time.Time, touched *[]*point) {
	a := p.analog
	if !a.dirty {
		a.dirty, a.batch = true, a.sent
		*touched = append(*touched, p)
	}
	at := smp.Time
	if at.IsZero() {
		at = now
	}
	tt := gb26875.TimeTagOf(at)
	bad := smp.Quality == collector.Bad
	if !bad && (math.IsNaN(smp.Value) || math.IsInf(smp.Value, 0)) {
		s.st.AnalogRefused++
		bad = true
	}
	below := false
	if bad {
		a.sent.valued = false // the next good reading goes at once
	} else {
		steps, clamped := a.kind.steps(smp.Value)
		if clamped {
			s.st.AnalogRefused++
			s.log.Warn("forward source: analog reading outside the protocol's int16 steps; sent at the bound", "tag", smp.Tag, "value", smp.Value, "sent", steps)
		}
		d := int(steps) - int(a.sent.steps)
		if !a.sent.valued || d >= a.deadbandSteps || -d >= a.deadbandSteps || now.Sub(a.sent.at) >= a.kind.Refresh {
			s.out = append(s.out, Message{Class: ClassStatus, Entered: now, Unit: gb26875.Unit{Type: gb26875.TypeAnalog,
				Analogs: []gb26875.Analog{{Component: p.comp, Kind: a.kind.AnalogType, Value: steps, Time: tt}}}})
			a.sent.valued, a.sent.steps, a.sent.at = true, steps, now
		}
		below = a.kind.Minimum != nil && smp.Value < *a.kind.Minimum
	}
	if a.valueOnly {
		return
	}
	w := uint16(bitNormal)
	if bad || below {
		w |= bitFault
	}
	// While Bad it is not known whether it is still below: that stays as sent.
	newlyBelow := below && !a.sent.below
	if a.sent.announced && w == a.sent.word && !newlyBelow {
		return
	}
	class := ClassStatus
	if newlyBelow {
		class = ClassAlarm // a dry hydrant main is a fire-safety emergency
	}
	if !a.sent.announced {
		s.st.Snapshots++
	}
	s.out = append(s.out, Message{Class: class, Entered: now, Unit: gb26875.Unit{Type: gb26875.TypeComponentState,
		Components: s.component(gb26875.ComponentState{Component: p.comp, Status: w, Desc: p.desc, Time: tt})}})
	a.sent.announced, a.sent.word = true, w
	if !bad {
		a.sent.below = below
	}
}

// analogAddressID is the id an analog point is addressed by: a received
// transmission device's value (UITD-<addr>.S<t>-<a>.Z<z>-P<p>.<suffix>)
// by its component, so it keeps its address.
func analogAddressID(id string) string {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		if _, ok := uitdComponent(id[:i]); ok {
			return id[:i]
		}
	}
	return id
}
