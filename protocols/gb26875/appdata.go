package gb26875

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Application data unit types (类型标志) this package decodes or sends.
const (
	TypeSystemState    = 1  // 建筑消防设施系统状态
	TypeComponentState = 2  // 建筑消防设施部件运行状态
	TypeAnalog         = 3  // 建筑消防设施部件模拟量值
	TypeOperation      = 4  // 建筑消防设施操作信息
	TypeUITDState      = 21 // 用户信息传输装置运行状态
	TypeUITDOperation  = 24 // 用户信息传输装置操作信息
	TypeSyncClock      = 90 // 同步用户信息传输装置时钟 (download)
	TypeDutyCheck      = 91 // 查岗命令 (download)
)

// Object sizes without their 6-byte time tag, and the most objects one
// unit may carry.
var objectSpec = map[uint8]struct{ size, max int }{
	TypeSystemState:    {4, 102},
	TypeComponentState: {40, 22},
	TypeAnalog:         {10, 63},
	TypeOperation:      {4, 102},
	TypeUITDState:      {1, 1},
	TypeUITDOperation:  {2, 127},
}

// MaxObjects is the most objects one unit of type t may carry, 0 for a type
// this package does not decode: what a sender may pack into one frame.
func MaxObjects(t uint8) int { return objectSpec[t].max }

// DescLen is the size of a component description (部件说明), GB 18030.
const DescLen = 31

// ErrUnit is wrapped by every application data decoding error.
var ErrUnit = errors.New("bad application data")

// SystemState (type 1) is a fire-facility system's state word.
type SystemState struct {
	SysType, SysAddr uint8
	Status           uint16
	Time             TimeTag
}

// Component identifies a component (部件) of a system: zone and position
// make its 4-byte address.
type Component struct {
	SysType, SysAddr uint8
	Type             uint8
	Zone, Position   uint16
}

// ComponentState (type 2) is a component's state word and description.
type ComponentState struct {
	Component
	Status uint16
	// Desc is the description as sent: GB 18030, padded. Text decodes it.
	Desc [DescLen]byte
	Time TimeTag
}

// Analog (type 3) is a component's analog value in the steps of its type.
type Analog struct {
	Component
	Kind  uint8 // analog type: 3 temperature, 5 pressure in 0.1 kPa, 6 gas in 0.1 %LEL...
	Value int16
	Time  TimeTag
}

// Operation (types 4 and 24) is an operator's action. SysType and SysAddr
// are zero for a transmission device's own operations (type 24).
type Operation struct {
	SysType, SysAddr uint8
	Flags            uint8
	Operator         uint8
	Time             TimeTag
}

// UITDState (type 21) is the transmission device's own state byte.
type UITDState struct {
	Flags uint8
	Time  TimeTag
}

// Unit is one application data unit. Type says which slice is filled; a
// type this package does not decode keeps its objects undecoded in Raw.
type Unit struct {
	Type       uint8
	Systems    []SystemState
	Components []ComponentState
	Analogs    []Analog
	Operations []Operation
	UITD       []UITDState
	// Count and Raw are the object count and the bytes after it, for types
	// not decoded.
	Count uint8
	Raw   []byte
}

// Decoded reports whether the unit's type is one this package decodes.
func (u *Unit) Decoded() bool {
	_, ok := objectSpec[u.Type]
	return ok
}

// DecodeUnit decodes an application data unit. Types it does not know
// come back with Raw set and no error.
func DecodeUnit(b []byte) (Unit, error) {
	if len(b) < 2 {
		return Unit{}, fmt.Errorf("%d bytes, want at least type and count: %w", len(b), ErrUnit)
	}
	u := Unit{Type: b[0], Count: b[1]}
	spec, ok := objectSpec[u.Type]
	if !ok {
		u.Raw = b[2:]
		return u, nil
	}
	n := int(u.Count)
	if n == 0 || n > spec.max {
		return Unit{}, fmt.Errorf("type %d: %d objects, want 1 to %d: %w", u.Type, n, spec.max, ErrUnit)
	}
	size := spec.size + len(TimeTag{})
	if len(b)-2 != n*size {
		return Unit{}, fmt.Errorf("type %d: %d objects of %d bytes need %d bytes, have %d: %w", u.Type, n, size, n*size, len(b)-2, ErrUnit)
	}
	for i := range n {
		o := b[2+i*size : 2+(i+1)*size]
		tt := TimeTag(o[spec.size:])
		switch u.Type {
		case TypeSystemState:
			u.Systems = append(u.Systems, SystemState{SysType: o[0], SysAddr: o[1], Status: binary.LittleEndian.Uint16(o[2:]), Time: tt})
		case TypeComponentState:
			c := ComponentState{Component: component(o), Status: binary.LittleEndian.Uint16(o[7:]), Time: tt}
			copy(c.Desc[:], o[9:9+DescLen])
			u.Components = append(u.Components, c)
		case TypeAnalog:
			u.Analogs = append(u.Analogs, Analog{Component: component(o), Kind: o[7], Value: int16(binary.LittleEndian.Uint16(o[8:])), Time: tt})
		case TypeOperation:
			u.Operations = append(u.Operations, Operation{SysType: o[0], SysAddr: o[1], Flags: o[2], Operator: o[3], Time: tt})
		case TypeUITDState:
			u.UITD = append(u.UITD, UITDState{Flags: o[0], Time: tt})
		case TypeUITDOperation:
			u.Operations = append(u.Operations, Operation{Flags: o[0], Operator: o[1], Time: tt})
		}
	}
	return u, nil
}

func component(o []byte) Component {
	return Component{SysType: o[0], SysAddr: o[1], Type: o[2],
		Zone: binary.LittleEndian.Uint16(o[3:]), Position: binary.LittleEndian.Uint16(o[5:])}
}

func appendComponent(b []byte, c Component) []byte {
	b = append(b, c.SysType, c.SysAddr, c.Type)
	b = binary.LittleEndian.AppendUint16(b, c.Zone)
	return binary.LittleEndian.AppendUint16(b, c.Position)
}

// Encode appends the unit's wire form to b.
func (u *Unit) Encode(b []byte) ([]byte, error) {
	if !u.Decoded() {
		return append(append(b, u.Type, u.Count), u.Raw...), nil
	}
	n := map[uint8]int{TypeSystemState: len(u.Systems), TypeComponentState: len(u.Components), TypeAnalog: len(u.Analogs),
		TypeOperation: len(u.Operations), TypeUITDOperation: len(u.Operations), TypeUITDState: len(u.UITD)}[u.Type]
	if spec := objectSpec[u.Type]; n == 0 || n > spec.max {
		return b, fmt.Errorf("type %d: %d objects, want 1 to %d: %w", u.Type, n, spec.max, ErrUnit)
	}
	b = append(b, u.Type, byte(n))
	switch u.Type {
	case TypeSystemState:
		for _, s := range u.Systems {
			b = append(b, s.SysType, s.SysAddr)
			b = binary.LittleEndian.AppendUint16(b, s.Status)
			b = append(b, s.Time[:]...)
		}
	case TypeComponentState:
		for _, c := range u.Components {
			b = appendComponent(b, c.Component)
			b = binary.LittleEndian.AppendUint16(b, c.Status)
			b = append(append(b, c.Desc[:]...), c.Time[:]...)
		}
	case TypeAnalog:
		for _, a := range u.Analogs {
			b = append(appendComponent(b, a.Component), a.Kind)
			b = binary.LittleEndian.AppendUint16(b, uint16(a.Value))
			b = append(b, a.Time[:]...)
		}
	case TypeOperation, TypeUITDOperation:
		for _, o := range u.Operations {
			if u.Type == TypeOperation {
				b = append(b, o.SysType, o.SysAddr)
			}
			b = append(append(b, o.Flags, o.Operator), o.Time[:]...)
		}
	case TypeUITDState:
		for _, s := range u.UITD {
			b = append(append(b, s.Flags), s.Time[:]...)
		}
	}
	return b, nil
}

// Text decodes the description from GB 18030, without its padding (NULs
// and spaces). Bytes that are not GB 18030 come out as U+FFFD.
func (c *ComponentState) Text() string {
	d := bytes.TrimRight(c.Desc[:], "\x00 ")
	if i := bytes.IndexByte(d, 0); i >= 0 {
		d = d[:i]
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(d)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(s))
}

// Desc encodes s as a GB 18030 description, NUL-padded; it cuts s short
// rather than split a character.
func Desc(s string) [DescLen]byte {
	var d [DescLen]byte
	enc := simplifiedchinese.GB18030.NewEncoder()
	n := 0
	for _, r := range s {
		b, err := enc.Bytes([]byte(string(r)))
		if err != nil || n+len(b) > DescLen {
			break
		}
		n += copy(d[n:], b)
	}
	return d
}
