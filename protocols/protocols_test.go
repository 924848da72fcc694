package protocols

import (
	"context"
	"errors"
	"strings"
	"testing"

	"hazgate/collector"
	"hazgate/config"
)

type nopDevice struct{ id string }

func (d nopDevice) Tags() []collector.Tag         { return []collector.Tag{{ID: d.id}} }
func (d nopDevice) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func TestRegistry(t *testing.T) {
	Register("test-nop", Protocol{New: func(env Env, dev config.Device) (Device, error) { return nopDevice{dev.ID}, nil }})
	d, err := New(Env{}, config.Device{ID: "d1", Protocol: "test-nop"})
	if err != nil || d.Tags()[0].ID != "d1" {
		t.Fatalf("New = %v, %v", d, err)
	}
	_, err = New(Env{}, config.Device{ID: "d2", Protocol: "carrier-pigeon"})
	if err == nil || !strings.Contains(err.Error(), `device d2: protocol "carrier-pigeon" is not built in`) || !strings.Contains(err.Error(), "test-nop") {
		t.Errorf("unknown protocol: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("second Register of one name did not panic")
		}
	}()
	Register("test-nop", Protocol{})
}

// TestCheckDevices: a protocol's check sees all of its devices and only
// them; its error is returned as is.
func TestCheckDevices(t *testing.T) {
	var got []string
	Register("test-check", Protocol{Check: func(devs []config.Device) error {
		got = got[:0]
		for _, d := range devs {
			got = append(got, d.ID)
		}
		if len(devs) > 2 {
			return errors.New("device c: shares a URL with a and b on other settings")
		}
		return nil
	}})
	devs := []config.Device{{ID: "a", Protocol: "test-check"}, {ID: "x", Protocol: "other"}, {ID: "b", Protocol: "test-check"}}
	if err := CheckDevices(devs); err != nil || strings.Join(got, ",") != "a,b" {
		t.Errorf("check saw %v (%v), want a,b", got, err)
	}
	devs = append(devs, config.Device{ID: "c", Protocol: "test-check"})
	if err := CheckDevices(devs); err == nil || !strings.Contains(err.Error(), "device c:") {
		t.Errorf("err %v, want the check's", err)
	}
	if err := CheckDevices([]config.Device{{ID: "x", Protocol: "other"}}); err != nil {
		t.Errorf("no device of the protocol: %v", err)
	}
}

func TestDeclaredTag(t *testing.T) {
	got := DeclaredTag("s1", config.Device{ID: "gds"}, config.Tag{ID: "T1", Name: "罐区", Kind: "combustible_gas", Unit: "%LEL", Area: "A", HazardSource: "HS-1", Description: "d"})
	want := collector.Tag{ID: "T1", Name: "罐区", Site: "s1", Device: "gds", Kind: "combustible_gas", Unit: "%LEL", Area: "A", HazardSource: "HS-1", Description: "d"}
	if got != want {
		t.Errorf("DeclaredTag = %+v, want %+v", got, want)
	}
}
