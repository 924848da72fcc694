package forward

import (
	"hazgate/protocols/gb26875"
)

// Request unit types (command 4) for the facility data the source holds.
// A read names one object: 61 its system (type, address: 2 bytes), 62 its
// component (system type, system address, zone and position LE: 6 bytes,
// the component type left out as the standard's read object does).
const (
	TypeReadSystemState    = 61 // 读建筑消防设施系统状态: answered with a type 1 unit
	TypeReadComponentState = 62 // 读建筑消防设施部件运行状态: answered with a type 2 unit
)

// Facts answers the centre's reads of facility data (61, 62) from the
// states the gateway holds; *Source is one.
type Facts interface {
	SystemState(sysType, sysAddr uint8) (status uint16, ok bool)
	ComponentState(c gb26875.Component) (gb26875.ComponentState, bool)
}

// systemFromComponents are the component state bits a system's state
// shares (normal/test through delay, 0-7); a component's power fault (bit
// 8) is not the system's main power fault.
const systemFromComponents = 0xff

// SystemState is the state of system sysType/sysAddr: its own state when a
// transmission device reported it (type 1), else the union of its
// components' states, normal bit set (a system is in fire while any of its
// points is). ok is false for a system none of whose points has been seen.
func (s *Source) SystemState(sysType, sysAddr uint8) (uint16, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w uint16
	found := false
	for _, p := range s.points {
		if p.known == 0 || p.comp.SysType != sysType || p.comp.SysAddr != sysAddr {
			continue
		}
		if p.system {
			return p.word(), true
		}
		if p.analog == nil {
			w |= p.word() & systemFromComponents
			found = true
		}
	}
	return w | bitNormal, found
}

// ComponentState is the state of the component at c's system and address
// (c.Type is ignored): its state word, type and description as they go to
// the centre, without a time tag (the answer's time is the link's). ok is
// false for a component no sample has been seen of, or an analog value's
// point, whose state is its minimum's.
func (s *Source) ComponentState(c gb26875.Component) (gb26875.ComponentState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.points {
		pc := p.comp
		if p.known == 0 || p.system || p.analog != nil || pc.SysType != c.SysType || pc.SysAddr != c.SysAddr ||
			pc.Zone != c.Zone || pc.Position != c.Position {
			continue
		}
		return gb26875.ComponentState{Component: pc, Status: p.word(), Desc: p.desc}, true
	}
	return gb26875.ComponentState{}, false
}

var _ Facts = (*Source)(nil)
