package sim

import (
	"errors"
	"slices"
	"testing"

	"github.com/simonvetter/modbus"
)

func TestEncode(t *testing.T) {
	cases := []struct {
		typ, order string
		v          float64
		want       []uint16
	}{
		{"uint16", "ABCD", 0x1234, []uint16{0x1234}},
		{"uint16", "BADC", 0x1234, []uint16{0x3412}},
		{"int16", "ABCD", -2, []uint16{0xFFFE}},
		{"int32", "ABCD", -123456, []uint16{0xFFFE, 0x1DC0}},
		{"int32", "CDAB", -123456, []uint16{0x1DC0, 0xFFFE}},
		{"int32", "BADC", -123456, []uint16{0xFEFF, 0xC01D}},
		{"int32", "DCBA", -123456, []uint16{0xC01D, 0xFEFF}},
		{"float32", "ABCD", 12.5, []uint16{0x4148, 0x0000}},
		{"float32", "CDAB", 12.5, []uint16{0x0000, 0x4148}},
		{"uint64", "CDAB", 0x0001020304050607, []uint16{0x0607, 0x0405, 0x0203, 0x0001}},
		{"uint64", "DCBA", 0x0001020304050607, []uint16{0x0706, 0x0504, 0x0302, 0x0100}},
		{"float64", "BADC", 1234.5678, []uint16{0x9340, 0x454a, 0x5c6d, 0xadfa}},
	}
	for _, tc := range cases {
		got, err := Encode(tc.typ, tc.order, tc.v)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%s, %s, %v) = %04x, %v; want %04x", tc.typ, tc.order, tc.v, got, err, tc.want)
		}
	}
	for _, bad := range []struct{ typ, order string }{{"uint16", "ABDC"}, {"int8", "ABCD"}} {
		if _, err := Encode(bad.typ, bad.order, 1); err == nil {
			t.Errorf("Encode(%s, %s) accepted", bad.typ, bad.order)
		}
	}
	if _, err := Encode("uint16", "ABCD", 70000); err == nil {
		t.Error("70000 fits uint16?")
	}
}

// A multi-unit server read by simonvetter/modbus's own client, whose
// endianness and word-order settings decode the four orders independently
// of Encode.
func TestServerUnitsAndOrders(t *testing.T) {
	orders := map[uint8]struct {
		name  string
		end   modbus.Endianness
		words modbus.WordOrder
	}{
		1: {"ABCD", modbus.BIG_ENDIAN, modbus.HIGH_WORD_FIRST},
		2: {"CDAB", modbus.BIG_ENDIAN, modbus.LOW_WORD_FIRST},
		3: {"BADC", modbus.LITTLE_ENDIAN, modbus.HIGH_WORD_FIRST},
		4: {"DCBA", modbus.LITTLE_ENDIAN, modbus.LOW_WORD_FIRST},
	}
	units := map[uint8]*Unit{}
	for id, o := range orders {
		u, err := NewUnit(20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []error{
			u.SetValue("holding", 0, "float32", o.name, -123.456),
			u.SetValue("holding", 2, "uint32", o.name, 0x11223344),
			u.SetValue("input", 4, "float64", o.name, 1234.5678),
			u.SetValue("input", 8, "uint64", o.name, 1<<40+7),
			u.SetBits("coil", 3, true),
		} {
			if e != nil {
				t.Fatal(e)
			}
		}
		units[id] = u
	}
	s, err := NewServer("127.0.0.1:0", units)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id, o := range orders {
		c.SetUnitId(id)
		c.SetEncoding(o.end, o.words)
		f32, err1 := c.ReadFloat32(0, modbus.HOLDING_REGISTER)
		u32, err2 := c.ReadUint32(2, modbus.HOLDING_REGISTER)
		f64, err3 := c.ReadFloat64(4, modbus.INPUT_REGISTER)
		u64, err4 := c.ReadUint64(8, modbus.INPUT_REGISTER)
		coil, err5 := c.ReadCoil(3)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			t.Fatalf("unit %d: %v", id, err)
		}
		if f32 != float32(-123.456) || u32 != 0x11223344 || f64 != 1234.5678 || u64 != 1<<40+7 || !coil {
			t.Errorf("unit %d (%s): %v %x %v %v %v", id, o.name, f32, u32, f64, u64, coil)
		}
	}
	c.SetUnitId(9)
	if _, err := c.ReadRegister(0, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrGWTargetFailedToRespond) {
		t.Errorf("missing unit: %v, want 0x0B", err)
	}
	c.SetUnitId(1)
	if _, err := c.ReadRegisters(15, 6, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("past the size: %v, want 0x02", err)
	}
	units[2].Silence(true)
	c.SetUnitId(2)
	if _, err := c.ReadRegister(0, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrGWTargetFailedToRespond) {
		t.Errorf("silent unit: %v, want 0x0B", err)
	}
	if n := s.Requests(); n != 4*5+3 {
		t.Errorf("server counted %d requests, want 23", n)
	}
	if n := units[1].Requests(); n != 6 {
		t.Errorf("unit 1 counted %d requests, want 6", n)
	}
}
