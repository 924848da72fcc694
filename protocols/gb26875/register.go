package gb26875

import (
	"context"
	"fmt"

	"hazgate/config"
	"hazgate/protocols"
)

func init() {
	protocols.Register("gb26875", protocols.Protocol{
		Config: config.Protocol{Device: func() any { return new(Config) }, Check: checkConfig},
		New:    func(env protocols.Env, dev config.Device) (protocols.Device, error) { return New(env, dev) },
	})
}

// Listeners are every gb26875 listener of a gateway, for the API: a device
// is looked up in the listener it talks to.
type Listeners []*Listener

// Devices lists the devices of every listener.
func (ls Listeners) Devices() []DeviceStatus {
	var out []DeviceStatus
	for _, l := range ls {
		out = append(out, l.Devices()...)
	}
	return out
}

// Device finds a device, preferring a listener it is connected to.
func (ls Listeners) Device(a Address) (DeviceStatus, bool) {
	l := ls.of(a)
	if l == nil {
		return DeviceStatus{}, false
	}
	return l.Device(a)
}

// of returns the listener a is connected to, else one that has heard it.
func (ls Listeners) of(a Address) *Listener {
	var heard *Listener
	for _, l := range ls {
		if s, ok := l.Device(a); ok {
			if s.Connected {
				return l
			}
			heard = l
		}
	}
	return heard
}

// SyncClock sends a clock sync through the listener the device is on.
func (ls Listeners) SyncClock(ctx context.Context, a Address, user string) (CommandResult, error) {
	l := ls.of(a)
	if l == nil {
		return CommandResult{}, fmt.Errorf("sync_clock to %s: %w", a, ErrNotConnected)
	}
	return l.SyncClock(ctx, a, user)
}

// DutyCheck sends a duty check through the listener the device is on.
func (ls Listeners) DutyCheck(ctx context.Context, a Address, minutes int, user string) (CommandResult, error) {
	l := ls.of(a)
	if l == nil {
		return CommandResult{}, fmt.Errorf("duty_check to %s: %w", a, ErrNotConnected)
	}
	return l.DutyCheck(ctx, a, minutes, user)
}
