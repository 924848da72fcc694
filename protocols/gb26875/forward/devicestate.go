package forward

import (
	"time"

	"hazgate/protocols/gb26875"
)

// The transmission device's own state byte (type 21), from gb26875-3.md.
const (
	uitdFire      = 1 << 1
	uitdFault     = 1 << 2
	uitdLineFault = 1 << 6 // 监测连接线路故障: a panel the device watches is not heard
)

// DeviceState is this gateway's state as a transmission device, from the
// points it forwards: normal, fire while any is in fire, fault while any
// is faulty, and a monitored-line fault while any reads Bad (the panel or
// its link is not heard). The link answers the centre's request (81) with
// it, and the gateway sends it when it changes (DeviceStateMessage).
func (s *Source) DeviceState() uint8 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := uint8(UITDNormal)
	for _, p := range s.points {
		if p.analog != nil {
			continue // a value's minimum is its own component's fault
		}
		w := p.word()
		if w&bitFire != 0 {
			st |= uitdFire
		}
		if w&bitFault != 0 {
			st |= uitdFault
		}
		if p.bad != 0 {
			st |= uitdLineFault
		}
	}
	return st
}

// DeviceStateMessage is the type 21 message for state st at now: ClassAlarm
// when its fire bit differs from prev's, else status.
func DeviceStateMessage(prev, st uint8, now time.Time) Message {
	class := ClassStatus
	if (prev^st)&uitdFire != 0 {
		class = ClassAlarm
	}
	return Message{Class: class, Entered: now, Unit: gb26875.Unit{Type: gb26875.TypeUITDState,
		UITD: []gb26875.UITDState{{Flags: st, Time: gb26875.TimeTagOf(now)}}}}
}
