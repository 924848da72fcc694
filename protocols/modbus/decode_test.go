package modbus

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDecodeRegisters(t *testing.T) {
	cases := []struct {
		name string
		typ  valueType
		b    []byte
		want float64
	}{
		{"uint16 zero", typeUint16, []byte{0x00, 0x00}, 0},
		{"uint16 250", typeUint16, []byte{0x00, 0xFA}, 250},
		{"uint16 max", typeUint16, []byte{0xFF, 0xFF}, 65535},
		{"int16 positive", typeInt16, []byte{0x7F, 0xFF}, 32767},
		{"int16 minus one", typeInt16, []byte{0xFF, 0xFF}, -1},
		{"int16 minus five", typeInt16, []byte{0xFF, 0xFB}, -5},
		{"int16 min", typeInt16, []byte{0x80, 0x00}, -32768},
		{"uint32 high word first", typeUint32, []byte{0x00, 0x01, 0x11, 0x70}, 70000},
		{"uint32 max", typeUint32, []byte{0xFF, 0xFF, 0xFF, 0xFF}, 4294967295},
		{"int32 negative", typeInt32, []byte{0xFF, 0xFE, 0x1D, 0xC0}, -123456},
		{"int32 min", typeInt32, []byte{0x80, 0x00, 0x00, 0x00}, math.MinInt32},
		{"float32 12.5", typeFloat32, []byte{0x41, 0x48, 0x00, 0x00}, 12.5},
		{"float32 -0.75", typeFloat32, []byte{0xBF, 0x40, 0x00, 0x00}, -0.75},
		{"extra bytes ignored", typeUint16, []byte{0x01, 0x00, 0xFF, 0xFF}, 256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRegisters(tc.typ, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeRegistersErrors(t *testing.T) {
	cases := []struct {
		name string
		typ  valueType
		b    []byte
	}{
		{"uint16 empty", typeUint16, nil},
		{"int16 one byte", typeInt16, []byte{0xFF}},
		{"uint32 one register", typeUint32, []byte{0x00, 0x01}},
		{"float32 three bytes", typeFloat32, []byte{0x41, 0x48, 0x00}},
		{"float32 NaN", typeFloat32, []byte{0x7F, 0xC0, 0x00, 0x00}},
		{"float32 +Inf", typeFloat32, []byte{0x7F, 0x80, 0x00, 0x00}},
		{"bool is not a register", typeBool, []byte{0x00, 0x01}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := decodeRegisters(tc.typ, tc.b); err == nil {
				t.Errorf("got %v, want an error", v)
			}
		})
	}
	if _, err := decodeRegisters(typeInt32, []byte{1, 2}); !errors.Is(err, errShort) {
		t.Errorf("short int32: %v, want errShort", err)
	}
}

func TestParseType(t *testing.T) {
	cases := []struct {
		typ, table string
		want       valueType
		err        string
	}{
		{"", "input", typeUint16, ""},
		{"", "holding", typeUint16, ""},
		{"int16", "holding", typeInt16, ""},
		{"uint32", "input", typeUint32, ""},
		{"int32", "input", typeInt32, ""},
		{"float32", "holding", typeFloat32, ""},
		{"", "coil", typeBool, ""},
		{"bool", "discrete", typeBool, ""},
		{"bool", "holding", 0, "unknown type"},
		{"uint16", "coil", 0, "single bit"},
		{"float64", "input", 0, "unknown type"},
		{"uint16", "register", 0, "unknown table"},
	}
	for _, tc := range cases {
		tb, err := parseTable(tc.table)
		if err == nil {
			var v valueType
			v, err = parseType(tc.typ, tb)
			if err == nil && v != tc.want {
				t.Errorf("%s on %s: %v, want %v", tc.typ, tc.table, v, tc.want)
			}
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s on %s: %v", tc.typ, tc.table, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s on %s: error %v, want one containing %q", tc.typ, tc.table, err, tc.err)
		}
	}
}

// FuzzDecodeRegisters: whatever a device sends, decoding returns a value or
// an error and never panics; a value is always finite.
func FuzzDecodeRegisters(f *testing.F) {
	f.Add(uint8(typeUint16), []byte{0x00, 0xFA})
	f.Add(uint8(typeInt32), []byte{0xFF, 0xFE, 0x1D, 0xC0})
	f.Add(uint8(typeFloat32), []byte{0x7F, 0xC0, 0x00, 0x00})
	f.Add(uint8(typeFloat32), []byte{0x41})
	f.Add(uint8(200), []byte{})
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		vt := valueType(typ)
		v, err := decodeRegisters(vt, b)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%v % x decoded to %v", vt, b, v)
		}
		if int(vt) >= len(typeNames) || vt == typeBool || len(b) < 2*vt.words() {
			t.Errorf("%v decoded % x without error", vt, b)
		}
	})
}

func TestEngineering(t *testing.T) {
	tests := []struct {
		raw, scale, offset, want float64
	}{
		{3, 0.1, 0, 0.3},
		{284, 0.1, 0, 28.4},
		{12345, 0.001, 0, 12.345},
		{7, 1, 0, 7},
		{1, 1.0 / 3, 0, 0.333333333333},
		{4000, 0.00625, -25, 0},
		{20000, 0.00625, -25, 100},
		{-5, 0.1, 0, -0.5},
		{65535, 1e-10, 0, 6.5535e-6},
	}
	for _, tt := range tests {
		if got := engineering(tt.raw, tt.scale, tt.offset); got != tt.want {
			t.Errorf("engineering(%v, %v, %v) = %v, want %v", tt.raw, tt.scale, tt.offset, got, tt.want)
		}
	}
	if got := engineering(math.NaN(), 0.1, 0); !math.IsNaN(got) {
		t.Errorf("NaN in = %v out", got)
	}
}
