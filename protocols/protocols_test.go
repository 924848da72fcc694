package protocols

import (
	"context"
	"strings"
	"testing"

	"hazgate/collector"
	"hazgate/config"
)

type nopDevice struct{ id string }

func (d nopDevice) Tags() []collector.Tag         { return []collector.Tag{{ID: d.id}} }
func (d nopDevice) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func TestRegistry(t *testing.T) {
	Register("test-nop", func(env Env, dev config.Device) (Device, error) { return nopDevice{dev.ID}, nil })
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
	Register("test-nop", nil)
}
