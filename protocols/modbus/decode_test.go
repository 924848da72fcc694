package modbus

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDecodeRegisters(t *testing.T) {
	cases := []struct {
		name  string
		typ   valueType
		order byteOrder
		b     []byte
		want  float64
	}{
		{"uint16 zero", typeUint16, orderABCD, []byte{0x00, 0x00}, 0},
		{"uint16 250", typeUint16, orderABCD, []byte{0x00, 0xFA}, 250},
		{"uint16 max", typeUint16, orderABCD, []byte{0xFF, 0xFF}, 65535},
		{"uint16 CDAB is ABCD for one word", typeUint16, orderCDAB, []byte{0x12, 0x34}, 0x1234},
		{"uint16 BADC swaps bytes", typeUint16, orderBADC, []byte{0x34, 0x12}, 0x1234},
		{"uint16 DCBA swaps bytes", typeUint16, orderDCBA, []byte{0x34, 0x12}, 0x1234},
		{"int16 positive", typeInt16, orderABCD, []byte{0x7F, 0xFF}, 32767},
		{"int16 minus one", typeInt16, orderABCD, []byte{0xFF, 0xFF}, -1},
		{"int16 minus five", typeInt16, orderABCD, []byte{0xFF, 0xFB}, -5},
		{"int16 min", typeInt16, orderABCD, []byte{0x80, 0x00}, -32768},
		{"int16 BADC", typeInt16, orderBADC, []byte{0xFE, 0xFF}, -2},

		{"uint32 ABCD", typeUint32, orderABCD, []byte{0x11, 0x22, 0x33, 0x44}, 0x11223344},
		{"uint32 CDAB", typeUint32, orderCDAB, []byte{0x33, 0x44, 0x11, 0x22}, 0x11223344},
		{"uint32 BADC", typeUint32, orderBADC, []byte{0x22, 0x11, 0x44, 0x33}, 0x11223344},
		{"uint32 DCBA", typeUint32, orderDCBA, []byte{0x44, 0x33, 0x22, 0x11}, 0x11223344},
		{"uint32 max", typeUint32, orderABCD, []byte{0xFF, 0xFF, 0xFF, 0xFF}, 4294967295},
		{"int32 ABCD", typeInt32, orderABCD, []byte{0xFF, 0xFE, 0x1D, 0xC0}, -123456},
		{"int32 CDAB", typeInt32, orderCDAB, []byte{0x1D, 0xC0, 0xFF, 0xFE}, -123456},
		{"int32 BADC", typeInt32, orderBADC, []byte{0xFE, 0xFF, 0xC0, 0x1D}, -123456},
		{"int32 DCBA", typeInt32, orderDCBA, []byte{0xC0, 0x1D, 0xFE, 0xFF}, -123456},
		{"int32 min", typeInt32, orderABCD, []byte{0x80, 0x00, 0x00, 0x00}, math.MinInt32},

		{"float32 ABCD", typeFloat32, orderABCD, []byte{0xC2, 0xF6, 0xE9, 0x79}, float64(float32(-123.456))},
		{"float32 CDAB", typeFloat32, orderCDAB, []byte{0xE9, 0x79, 0xC2, 0xF6}, float64(float32(-123.456))},
		{"float32 BADC", typeFloat32, orderBADC, []byte{0xF6, 0xC2, 0x79, 0xE9}, float64(float32(-123.456))},
		{"float32 DCBA", typeFloat32, orderDCBA, []byte{0x79, 0xE9, 0xF6, 0xC2}, float64(float32(-123.456))},
		{"float32 12.5", typeFloat32, orderABCD, []byte{0x41, 0x48, 0x00, 0x00}, 12.5},

		{"uint64 ABCD", typeUint64, orderABCD, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0x0102030405060708},
		{"uint64 CDAB", typeUint64, orderCDAB, []byte{7, 8, 5, 6, 3, 4, 1, 2}, 0x0102030405060708},
		{"uint64 BADC", typeUint64, orderBADC, []byte{2, 1, 4, 3, 6, 5, 8, 7}, 0x0102030405060708},
		{"uint64 DCBA", typeUint64, orderDCBA, []byte{8, 7, 6, 5, 4, 3, 2, 1}, 0x0102030405060708},
		{"int64 ABCD", typeInt64, orderABCD, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}, -2},
		{"int64 CDAB", typeInt64, orderCDAB, []byte{0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -2},
		{"int64 BADC", typeInt64, orderBADC, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF}, -2},
		{"int64 DCBA", typeInt64, orderDCBA, []byte{0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, -2},
		{"float64 ABCD", typeFloat64, orderABCD, []byte{0x40, 0x93, 0x4a, 0x45, 0x6d, 0x5c, 0xfa, 0xad}, 1234.5678},
		{"float64 CDAB", typeFloat64, orderCDAB, []byte{0xfa, 0xad, 0x6d, 0x5c, 0x4a, 0x45, 0x40, 0x93}, 1234.5678},
		{"float64 BADC", typeFloat64, orderBADC, []byte{0x93, 0x40, 0x45, 0x4a, 0x5c, 0x6d, 0xad, 0xfa}, 1234.5678},
		{"float64 DCBA", typeFloat64, orderDCBA, []byte{0xad, 0xfa, 0x5c, 0x6d, 0x45, 0x4a, 0x93, 0x40}, 1234.5678},

		{"extra bytes ignored", typeUint16, orderABCD, []byte{0x01, 0x00, 0xFF, 0xFF}, 256},
		{"extra bytes ignored, low word first", typeUint32, orderCDAB, []byte{0x00, 0x02, 0x00, 0x01, 0xEE, 0xEE}, 0x10002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRegisters(tc.typ, tc.order, tc.b)
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
		{"float32 NaN in DCBA", typeFloat32, []byte{0x00, 0x00, 0xC0, 0x7F}},
		{"int16 one byte", typeInt16, []byte{0xFF}},
		{"uint32 one register", typeUint32, []byte{0x00, 0x01}},
		{"float32 three bytes", typeFloat32, []byte{0x41, 0x48, 0x00}},
		{"float64 three registers", typeFloat64, []byte{0x40, 0x93, 0x4a, 0x45, 0x6d, 0x5c}},
		{"float32 NaN", typeFloat32, []byte{0x7F, 0xC0, 0x00, 0x00}},
		{"float32 +Inf", typeFloat32, []byte{0x7F, 0x80, 0x00, 0x00}},
		{"float64 -Inf", typeFloat64, []byte{0xFF, 0xF0, 0, 0, 0, 0, 0, 0}},
		{"bool is not a register", typeBool, []byte{0x00, 0x01}},
		{"unknown type", valueType(99), []byte{0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := orderABCD
			if strings.HasSuffix(tc.name, "DCBA") {
				o = orderDCBA
			}
			if v, err := decodeRegisters(tc.typ, o, tc.b); err == nil {
				t.Errorf("got %v, want an error", v)
			}
		})
	}
	if _, err := decodeRegisters(typeInt32, orderABCD, []byte{1, 2}); !errors.Is(err, errShort) {
		t.Errorf("short int32: %v, want errShort", err)
	}
}

func TestDecodeBitOf(t *testing.T) {
	// Status word 0x0108: bits 3 and 8 set. BADC puts its low byte first.
	for _, tc := range []struct {
		order byteOrder
		b     []byte
	}{{orderABCD, []byte{0x01, 0x08}}, {orderCDAB, []byte{0x01, 0x08}}, {orderBADC, []byte{0x08, 0x01}}, {orderDCBA, []byte{0x08, 0x01}}} {
		for bit := range uint8(16) {
			got, err := decodeBitOf(bit, tc.order, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			want := 0.0
			if bit == 3 || bit == 8 {
				want = 1
			}
			if got != want {
				t.Errorf("%v bit %d of % x = %v, want %v", tc.order, bit, tc.b, got, want)
			}
		}
	}
	if _, err := decodeBitOf(0, orderABCD, []byte{1}); err == nil {
		t.Error("bit of one byte decoded")
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
		{"uint64", "holding", typeUint64, ""},
		{"int64", "input", typeInt64, ""},
		{"float64", "input", typeFloat64, ""},
		{"", "coil", typeBool, ""},
		{"bool", "discrete", typeBool, ""},
		{"bool", "holding", 0, "unknown type"},
		{"uint16", "coil", 0, "single bit"},
		{"float16", "input", 0, "unknown type"},
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
	for _, s := range []string{"abcd", "ACBD", "little"} {
		if _, err := parseOrder(s); err == nil {
			t.Errorf("byte order %q accepted", s)
		}
	}
}

// FuzzDecodeRegisters: whatever a device sends, decoding returns a value or
// an error and never panics; a value is always finite, and the byte orders
// agree once the bytes are put back in ABCD order.
func FuzzDecodeRegisters(f *testing.F) {
	f.Add(uint8(typeUint16), uint8(orderABCD), []byte{0x00, 0xFA})
	f.Add(uint8(typeInt32), uint8(orderCDAB), []byte{0xFF, 0xFE, 0x1D, 0xC0})
	f.Add(uint8(typeFloat32), uint8(orderBADC), []byte{0x7F, 0xC0, 0x00, 0x00})
	f.Add(uint8(typeFloat64), uint8(orderDCBA), []byte{0xad, 0xfa, 0x5c, 0x6d, 0x45, 0x4a, 0x93, 0x40})
	f.Add(uint8(typeFloat32), uint8(orderABCD), []byte{0x41})
	f.Add(uint8(200), uint8(9), []byte{})
	f.Fuzz(func(t *testing.T, typ, order uint8, b []byte) {
		vt, o := valueType(typ), byteOrder(order%4)
		v, err := decodeRegisters(vt, o, b)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%v %v % x decoded to %v", vt, o, b, v)
		}
		n := 2 * vt.words()
		if int(vt) >= len(typeNames) || vt == typeBool || len(b) < n {
			t.Fatalf("%v decoded % x without error", vt, b)
		}
		abcd := make([]byte, n)
		normalize(abcd, b[:n], o)
		if w, err := decodeRegisters(vt, orderABCD, abcd); err != nil || w != v {
			t.Errorf("%v %v % x = %v, but in ABCD % x = %v, %v", vt, o, b, v, abcd, w, err)
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
