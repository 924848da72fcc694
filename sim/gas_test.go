package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

func startController(t *testing.T, n int) *GasController {
	t.Helper()
	c, err := NewGasController("127.0.0.1:0", n)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(t *testing.T, url string) *modbus.ModbusClient {
	t.Helper()
	cl, err := modbus.NewClient(&modbus.ClientConfiguration{URL: url, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestGasControllerReadBack(t *testing.T) {
	c := startController(t, 8)
	c.SetLEL(0, 25)
	c.SetLEL(1, 1.26) // rounds to 0.1 %LEL
	c.SetLEL(2, 51)
	c.SetLEL(3, 130) // saturates at full scale
	c.SetLEL(4, -3)
	c.SetFault(7, true)
	cl := dial(t, c.URL())

	regs, err := cl.ReadRegisters(0, 8, modbus.INPUT_REGISTER)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{250, 13, 510, 1000, 0, 0, 0, 0}
	for i := range want {
		if regs[i] != want[i] {
			t.Errorf("input register %d = %d, want %d", i, regs[i], want[i])
		}
	}
	status, err := cl.ReadRegisters(StatusBase, 8, modbus.HOLDING_REGISTER)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []uint16{StatusLevel1, 0, StatusLevel1 | StatusLevel2, StatusLevel1 | StatusLevel2, 0, 0, 0, StatusFault}
	for i := range wantStatus {
		if status[i] != wantStatus[i] {
			t.Errorf("status word %d = %#x, want %#x", i, status[i], wantStatus[i])
		}
	}
	if got := c.LEL(1); got != 1.3 {
		t.Errorf("LEL(1) = %v, want 1.3", got)
	}
}

func TestGasControllerExceptions(t *testing.T) {
	c := startController(t, 8)
	c.Silence(5, true)
	cl := dial(t, c.URL())

	cases := []struct {
		name string
		read func() error
		want error
	}{
		{"range covering silent detector", func() error { _, err := cl.ReadRegisters(0, 8, modbus.INPUT_REGISTER); return err }, modbus.ErrGWTargetFailedToRespond},
		{"silent detector alone", func() error { _, err := cl.ReadRegister(5, modbus.INPUT_REGISTER); return err }, modbus.ErrGWTargetFailedToRespond},
		{"silent detector's status", func() error { _, err := cl.ReadRegister(StatusBase+5, modbus.HOLDING_REGISTER); return err }, modbus.ErrGWTargetFailedToRespond},
		{"range before silent detector", func() error { _, err := cl.ReadRegisters(0, 5, modbus.INPUT_REGISTER); return err }, nil},
		{"range after silent detector", func() error { _, err := cl.ReadRegisters(6, 2, modbus.INPUT_REGISTER); return err }, nil},
		{"past the last detector", func() error { _, err := cl.ReadRegisters(6, 3, modbus.INPUT_REGISTER); return err }, modbus.ErrIllegalDataAddress},
		{"holding below status words", func() error { _, err := cl.ReadRegister(0, modbus.HOLDING_REGISTER); return err }, modbus.ErrIllegalDataAddress},
		{"write", func() error { return cl.WriteRegister(StatusBase, 1) }, modbus.ErrIllegalFunction},
		{"coils", func() error { _, err := cl.ReadCoils(0, 1); return err }, modbus.ErrIllegalFunction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.read(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	c.Silence(5, false)
	if _, err := cl.ReadRegisters(0, 8, modbus.INPUT_REGISTER); err != nil {
		t.Errorf("after resume: %v", err)
	}
}

func TestGasControllerRestartSameAddress(t *testing.T) {
	c := startController(t, 2)
	addr := c.Addr()
	c.SetLEL(1, 7)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cl, _ := modbus.NewClient(&modbus.ClientConfiguration{URL: c.URL(), Timeout: time.Second})
	if err := cl.Open(); err == nil {
		cl.Close()
		t.Fatal("closed controller accepted a connection")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if c.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", c.Addr(), addr)
	}
	v, err := dial(t, c.URL()).ReadRegister(1, modbus.INPUT_REGISTER)
	if err != nil || v != 70 {
		t.Fatalf("after restart: %d, %v; want 70", v, err)
	}
}

func TestNewGasControllerRejects(t *testing.T) {
	for _, tc := range []struct {
		addr string
		n    int
	}{{"127.0.0.1:0", 0}, {"127.0.0.1:0", MaxDetectors + 1}, {"no-port", 8}} {
		if _, err := NewGasController(tc.addr, tc.n); err == nil {
			t.Errorf("NewGasController(%q, %d): no error", tc.addr, tc.n)
		}
	}
}
