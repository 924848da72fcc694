package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// table is one of the four Modbus data tables.
type table uint8

const (
	tableCoil table = iota
	tableDiscrete
	tableHolding
	tableInput
)

var tableNames = [...]string{"coil", "discrete", "holding", "input"}

func (t table) String() string {
	if int(t) < len(tableNames) {
		return tableNames[t]
	}
	return fmt.Sprintf("table(%d)", uint8(t))
}

// bits reports whether the table holds single bits rather than 16-bit registers.
func (t table) bits() bool { return t == tableCoil || t == tableDiscrete }

// maxQuantity is the most one read may ask for (Modbus application protocol
// spec: 2000 bits or 125 registers per read).
func (t table) maxQuantity() int {
	if t.bits() {
		return 2000
	}
	return 125
}

func parseTable(s string) (table, error) {
	for i, n := range tableNames {
		if s == n {
			return table(i), nil
		}
	}
	return 0, fmt.Errorf("unknown table %q (want coil, discrete, holding or input)", s)
}

// valueType says how a tag's registers become a number.
type valueType uint8

const (
	typeBool valueType = iota
	typeUint16
	typeInt16
	typeUint32
	typeInt32
	typeFloat32
)

var typeNames = [...]string{"bool", "uint16", "int16", "uint32", "int32", "float32"}

func (v valueType) String() string {
	if int(v) < len(typeNames) {
		return typeNames[v]
	}
	return fmt.Sprintf("type(%d)", uint8(v))
}

// words is how many 16-bit registers a value of this type takes (1 for a bit).
func (v valueType) words() int {
	switch v {
	case typeUint32, typeInt32, typeFloat32:
		return 2
	}
	return 1
}

// parseType checks a register type against its table; empty picks the
// table's natural type.
func parseType(s string, t table) (valueType, error) {
	if t.bits() {
		if s == "" || s == "bool" {
			return typeBool, nil
		}
		return 0, fmt.Errorf("type %q on %s table (a %s is a single bit: type bool or empty)", s, t, t)
	}
	if s == "" {
		return typeUint16, nil
	}
	for i, n := range typeNames {
		if s == n && valueType(i) != typeBool {
			return valueType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown type %q on %s table (want uint16, int16, uint32, int32 or float32)", s, t)
}

var errShort = errors.New("short register data")

// decodeRegisters turns raw wire bytes (big-endian registers, high word first:
// ABCD) into a number. It never panics on short input, so a truncated frame
// is a decode error, not a crash.
func decodeRegisters(v valueType, b []byte) (float64, error) {
	if len(b) < 2*v.words() {
		return 0, fmt.Errorf("%s needs %d bytes, have %d: %w", v, 2*v.words(), len(b), errShort)
	}
	switch v {
	case typeUint16:
		return float64(binary.BigEndian.Uint16(b)), nil
	case typeInt16:
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case typeUint32:
		return float64(binary.BigEndian.Uint32(b)), nil
	case typeInt32:
		return float64(int32(binary.BigEndian.Uint32(b))), nil
	case typeFloat32:
		f := math.Float32frombits(binary.BigEndian.Uint32(b))
		// A NaN or infinity is a device's "no value", never a reading to alarm on.
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return 0, fmt.Errorf("float32 %v is not a reading", f)
		}
		return float64(f), nil
	}
	return 0, fmt.Errorf("type %s is not a register type", v)
}

// decodeBit turns one coil or discrete input into 0 or 1.
func decodeBit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// engineering applies scale and offset to a raw value. The product is cut to
// 12 significant digits: raw 3 × scale 0.1 is 0.30000000000000004 in binary,
// a digit no transmitter resolves that would otherwise reach every display,
// alarm message and ledger.
func engineering(raw, scale, offset float64) float64 {
	if scale == 1 && offset == 0 {
		return raw
	}
	v := raw*scale + offset
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	return r
}
