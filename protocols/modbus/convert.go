package modbus

import (
	"fmt"
	"math"
	"slices"

	"hazgate/collector"
	"hazgate/config"
)

// NAMUR NE 43 fault limits of a 4-20 mA signal, in mA: at or below 3.6 or at
// or above 21.0 the transmitter signals a fault.
const (
	NE43FaultLow  = 3.6
	NE43FaultHigh = 21.0
)

// loop is a 4-20 mA channel: raw readings at 4 and 20 mA, the engineering
// values there, and the fault limits in mA.
type loop struct {
	raw0, raw1, eng0, eng1 float64
	faultLow, faultHigh    float64
}

// convert turns a raw reading into an engineering value and its quality.
// The current is trimmed before the comparisons, so raw 3600 of
// [4000, 20000] is exactly the 3.6 mA limit despite binary fractions.
func (l *loop) convert(raw float64) (float64, collector.Quality, string) {
	frac := (raw - l.raw0) / (l.raw1 - l.raw0)
	mA := trim(4 + 16*frac)
	switch {
	case mA <= l.faultLow || mA >= l.faultHigh:
		return 0, collector.Bad, collector.ReasonSensorFault
	case mA < 4 || mA > 20:
		return trim(l.eng0 + (l.eng1-l.eng0)*frac), collector.Uncertain, collector.ReasonSaturated
	}
	return trim(l.eng0 + (l.eng1-l.eng0)*frac), collector.Good, ""
}

// stateMap names the codes of a state register. Each state also has a 0/1
// tag <tag id>.<name>, so a rule can alarm on "fault" without knowing codes,
// the way a fire panel's per-state tags (.fire, .fault) work.
type stateMap struct {
	codes []int // ascending
	names []string
}

func newStateMap(m map[int]string) *stateMap {
	s := &stateMap{}
	for c := range m {
		s.codes = append(s.codes, c)
	}
	slices.Sort(s.codes)
	for _, c := range s.codes {
		s.names = append(s.names, m[c])
	}
	return s
}

// point is a tag resolved to where it lives and how it decodes.
type point struct {
	id     string
	table  table
	addr   uint16
	typ    valueType
	order  byteOrder
	bit    int8 // 0-15: the value is this bit of the register; -1: the whole value
	scale  float64
	offset float64
	loop   *loop     // a 4-20 mA channel, or nil
	states *stateMap // a state code, or nil
}

// size is how many registers (or bits) the point occupies.
func (p point) size() int { return p.typ.words() }

// end is one past the point's last address.
func (p point) end() int { return int(p.addr) + p.size() }

// samples is how many samples the point yields: its own and one per state.
func (p point) samples() int {
	if p.states == nil {
		return 1
	}
	return 1 + len(p.states.codes)
}

// resolve checks one tag's register against the device's byte order and
// turns it into a point. Its checks repeat config's validation, so a device
// built in Go without the loader fails just as clearly.
func resolve(t config.Tag, devOrder byteOrder) (point, error) {
	if t.ID == "" {
		return point{}, fmt.Errorf("tag with empty id")
	}
	r := RegisterOf(t)
	if r == nil {
		return point{}, fmt.Errorf("tag %s: no register", t.ID)
	}
	fail := func(format string, args ...any) (point, error) {
		return point{}, fmt.Errorf("tag %s: register: %s", t.ID, fmt.Sprintf(format, args...))
	}
	tb, err := parseTable(r.Table)
	if err != nil {
		return fail("%v", err)
	}
	typ, err := parseType(r.Type, tb)
	if err != nil {
		return fail("%v", err)
	}
	order := devOrder
	if r.ByteOrder != "" {
		if order, err = parseOrder(r.ByteOrder); err != nil {
			return fail("%v", err)
		}
	}
	scale := r.Scale
	if scale == 0 {
		scale = 1 // unset in a config built in Go; the loader rejects 0
	}
	pt := point{id: t.ID, table: tb, addr: r.Address, typ: typ, order: order, bit: -1, scale: scale, offset: r.Offset}
	if pt.end() > 1<<16 {
		return fail("%s at %s address %d runs past address 65535", typ, tb, r.Address)
	}
	special := 0
	if r.Bit != nil {
		special++
		if *r.Bit > 15 || (typ != typeUint16 && typ != typeInt16) || tb.bits() {
			return fail("bit %d needs a 16-bit register (bits 0-15, type uint16)", *r.Bit)
		}
		pt.bit = int8(*r.Bit)
	}
	if r.Raw != nil || r.Range != nil {
		special++
		if len(r.Raw) != 2 || len(r.Range) != 2 || r.Raw[0] == r.Raw[1] || tb.bits() {
			return fail("raw %v and range %v: want two distinct raw values and two engineering values, on a register", r.Raw, r.Range)
		}
		l := &loop{raw0: r.Raw[0], raw1: r.Raw[1], eng0: r.Range[0], eng1: r.Range[1], faultLow: NE43FaultLow, faultHigh: NE43FaultHigh}
		if b := r.Bands; b != nil {
			if !(b.Low < 4 && b.High > 20) {
				return fail("bands [%v, %v] mA must lie outside 4-20 mA", b.Low, b.High)
			}
			l.faultLow, l.faultHigh = b.Low, b.High
		}
		pt.loop = l
	}
	if r.States != nil {
		special++
		if len(r.States) == 0 || typ == typeFloat32 || typ == typeFloat64 || tb.bits() {
			return fail("states need an integer register and at least one name")
		}
		pt.states = newStateMap(r.States)
	}
	if special > 1 {
		return fail("bit, raw/range and states exclude each other")
	}
	if special > 0 && (scale != 1 || r.Offset != 0) {
		return fail("scale and offset do not apply with bit, raw/range or states")
	}
	return pt, nil
}

// set writes the point's value, decoded from raw, into its samples out
// (out[0] its own, then one per state), all Good unless the conversion says
// otherwise.
func (p *point) set(out []collector.Sample, raw float64) {
	switch {
	case p.loop != nil:
		out[0].Value, out[0].Quality, out[0].Reason = p.loop.convert(raw)
	case p.states != nil:
		out[0].Value, out[0].Quality, out[0].Reason = raw, collector.Good, ""
		known := false
		for k, c := range p.states.codes {
			on := float64(c) == raw
			known = known || on
			out[1+k].Value, out[1+k].Quality, out[1+k].Reason = decodeBit(on), collector.Good, ""
		}
		if !known {
			for k := range out {
				out[k].Quality, out[k].Reason = collector.Uncertain, collector.ReasonUnknownState
			}
		}
	case p.bit >= 0 || p.table.bits():
		out[0].Value, out[0].Quality, out[0].Reason = raw, collector.Good, ""
	default:
		out[0].Value, out[0].Quality, out[0].Reason = engineering(raw, p.scale, p.offset), collector.Good, ""
	}
}

// decode reads the point's raw number from a register read that starts at
// address start.
func (p *point) decode(start uint16, regs []byte) (float64, error) {
	off := 2 * int(p.addr-start)
	if off > len(regs) {
		return 0, errShort
	}
	if p.bit >= 0 {
		return decodeBitOf(uint8(p.bit), p.order, regs[off:])
	}
	v, err := decodeRegisters(p.typ, p.order, regs[off:])
	if err == nil && math.IsInf(v*p.scale+p.offset, 0) {
		err = fmt.Errorf("%v scaled by %v overflows", v, p.scale)
	}
	return v, err
}
