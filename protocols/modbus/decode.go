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
	typeUint64
	typeInt64
	typeFloat32
	typeFloat64
)

var typeNames = [...]string{"bool", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"}

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
	case typeUint64, typeInt64, typeFloat64:
		return 4
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
	return 0, fmt.Errorf("unknown type %q on %s table (want uint16, int16, uint32, int32, uint64, int64, float32 or float64)", s, t)
}

// byteOrder names where a value's bytes are on the wire, with A its most
// significant byte: ABCD is Modbus's own big-endian, high word first.
type byteOrder uint8

const (
	orderABCD byteOrder = iota // big-endian, high word first
	orderCDAB                  // words swapped: low word first
	orderBADC                  // bytes swapped within each word
	orderDCBA                  // little-endian
)

var orderNames = [...]string{"ABCD", "CDAB", "BADC", "DCBA"}

func (o byteOrder) String() string {
	if int(o) < len(orderNames) {
		return orderNames[o]
	}
	return fmt.Sprintf("order(%d)", uint8(o))
}

func parseOrder(s string) (byteOrder, error) {
	if s == "" {
		return orderABCD, nil
	}
	for i, n := range orderNames {
		if s == n {
			return byteOrder(i), nil
		}
	}
	return 0, fmt.Errorf("unknown byte order %q (want ABCD, CDAB, BADC or DCBA)", s)
}

// normalize copies wire bytes b, in order o, into dst in ABCD order. The
// orders generalise to 64 bits as word-order reversal (CDAB, DCBA) and a
// swap inside each word (BADC, DCBA).
func normalize(dst, b []byte, o byteOrder) {
	n := len(b) / 2
	lowFirst := o == orderCDAB || o == orderDCBA
	swap := o == orderBADC || o == orderDCBA
	for w := range n {
		src := w
		if lowFirst {
			src = n - 1 - w
		}
		hi, lo := b[2*src], b[2*src+1]
		if swap {
			hi, lo = lo, hi
		}
		dst[2*w], dst[2*w+1] = hi, lo
	}
}

var errShort = errors.New("short register data")

// decodeRegisters turns raw wire bytes in byte order o into a number. Extra
// bytes after the value are ignored. It never panics on short input, so a
// truncated frame is a decode error, not a crash. 64-bit integers beyond
// 2^53 lose their last digits in float64, which no transmitter resolves.
func decodeRegisters(v valueType, o byteOrder, b []byte) (float64, error) {
	n := 2 * v.words()
	if v == typeBool || int(v) >= len(typeNames) {
		return 0, fmt.Errorf("type %s is not a register type", v)
	}
	if len(b) < n {
		return 0, fmt.Errorf("%s needs %d bytes, have %d: %w", v, n, len(b), errShort)
	}
	var buf [8]byte
	w := buf[:n]
	normalize(w, b[:n], o)
	var f float64
	switch v {
	case typeUint16:
		return float64(binary.BigEndian.Uint16(w)), nil
	case typeInt16:
		return float64(int16(binary.BigEndian.Uint16(w))), nil
	case typeUint32:
		return float64(binary.BigEndian.Uint32(w)), nil
	case typeInt32:
		return float64(int32(binary.BigEndian.Uint32(w))), nil
	case typeUint64:
		return float64(binary.BigEndian.Uint64(w)), nil
	case typeInt64:
		return float64(int64(binary.BigEndian.Uint64(w))), nil
	case typeFloat32:
		f = float64(math.Float32frombits(binary.BigEndian.Uint32(w)))
	case typeFloat64:
		f = math.Float64frombits(binary.BigEndian.Uint64(w))
	}
	// A NaN or infinity is a device's "no value", never a reading to alarm on.
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s %v is not a reading", v, f)
	}
	return f, nil
}

// decodeBitOf returns bit (0-15) of the 16-bit register at the start of b,
// read in byte order o (BADC and DCBA swap its two bytes).
func decodeBitOf(bit uint8, o byteOrder, b []byte) (float64, error) {
	v, err := decodeRegisters(typeUint16, o, b)
	if err != nil {
		return 0, err
	}
	return float64(uint16(v) >> bit & 1), nil
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
	return trim(raw*scale + offset)
}

// trim cuts v to 12 significant digits (see engineering).
func trim(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	return r
}
