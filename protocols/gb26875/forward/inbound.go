package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"hazgate/protocols/gb26875"
)

// Request unit types (command 4) a transmission device answers.
const (
	TypeReadUITDState = 81 // 读用户信息传输装置运行状态: answered with a type 21 unit
	TypeReadUITDTime  = 88 // 读用户信息传输装置系统时间: answered with a type 28 unit
	TypeUITDTime      = 28 // 用户信息传输装置系统时间
)

// ErrInbound is wrapped by every error decoding what a centre sent.
var ErrInbound = errors.New("bad frame from the centre")

// Inbound is one frame from the centre, decoded for the device side:
// a confirm or deny of one of ours, a control command or a request.
type Inbound struct {
	Frame gb26875.Frame
	// Type is the unit type of a control command (90, 91, ...) or a
	// request (81, ...); 0 for a confirm or deny.
	Type uint8
	// Clock is the centre's time of a clock sync (type 90).
	Clock time.Time
	// Minutes is the answer window of a duty check (type 91).
	Minutes int
	// Target is the system (61: SysType, SysAddr) or component (62: and
	// Zone, Position) a read of facility data names.
	Target gb26875.Component
}

// ParseInbound decodes one whole frame from a centre. It refuses what
// gb26875.Parse refuses (a bad checksum above all) and what a centre has
// no business sending a device.
func ParseInbound(b []byte) (Inbound, error) {
	f, err := gb26875.Parse(b)
	if err != nil {
		return Inbound{}, fmt.Errorf("%w: %w", ErrInbound, err)
	}
	return DecodeInbound(f)
}

// DecodeInbound decodes a frame the reader accepted. Control commands and
// requests of types the link does not carry out come back without error
// (the link denies them); malformed ones are errors.
func DecodeInbound(f gb26875.Frame) (Inbound, error) {
	in := Inbound{Frame: f}
	switch f.Cmd {
	case gb26875.CmdConfirm, gb26875.CmdDeny:
		return in, nil // any data is ignored: only the serial matters
	case gb26875.CmdControl, gb26875.CmdRequest:
	default:
		return Inbound{}, fmt.Errorf("serial %d: command %v from a centre: %w", f.Serial, f.Cmd, ErrInbound)
	}
	d := f.Data
	if len(d) < 2 {
		return Inbound{}, fmt.Errorf("serial %d: %v of %d bytes, want type and count: %w", f.Serial, f.Cmd, len(d), ErrInbound)
	}
	in.Type = d[0]
	if f.Cmd == gb26875.CmdRequest {
		switch in.Type {
		case TypeReadSystemState:
			if d[1] != 1 || len(d) != 4 {
				return Inbound{}, fmt.Errorf("serial %d: read system state % x: want count 1, system type and address: %w", f.Serial, d, ErrInbound)
			}
			in.Target = gb26875.Component{SysType: d[2], SysAddr: d[3]}
		case TypeReadComponentState:
			if d[1] != 1 || len(d) != 8 {
				return Inbound{}, fmt.Errorf("serial %d: read component state % x: want count 1, system type and address, component address: %w", f.Serial, d, ErrInbound)
			}
			in.Target = gb26875.Component{SysType: d[2], SysAddr: d[3],
				Zone: binary.LittleEndian.Uint16(d[4:]), Position: binary.LittleEndian.Uint16(d[6:])}
		}
		return in, nil
	}
	switch in.Type {
	case gb26875.TypeSyncClock:
		if d[1] != 1 || len(d) != 2+len(gb26875.TimeTag{}) {
			return Inbound{}, fmt.Errorf("serial %d: clock sync of %d bytes, count %d: %w", f.Serial, len(d), d[1], ErrInbound)
		}
		t, err := gb26875.TimeTag(d[2:]).Time(gb26875.Beijing)
		if err != nil {
			return Inbound{}, fmt.Errorf("serial %d: clock sync: %w: %w", f.Serial, err, ErrInbound)
		}
		in.Clock = t
	case gb26875.TypeDutyCheck:
		if d[1] != 1 || len(d) != 3 || d[2] == 0 {
			return Inbound{}, fmt.Errorf("serial %d: duty check % x: want count 1 and 1 to 255 minutes: %w", f.Serial, d, ErrInbound)
		}
		in.Minutes = int(d[2])
	}
	return in, nil
}
