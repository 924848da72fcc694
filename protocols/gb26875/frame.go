// Package gb26875 receives 用户信息传输装置 (user information transmission
// devices, UITDs) over the GB/T 26875.3-2011 alarm transmission protocol, the
// way a 城市消防远程监控中心 does: a TCP listener confirms each valid frame,
// denies broken ones, decodes fire-facility states into fire-panel state
// tags, marks silent devices Bad, and sends clock-sync and duty-check
// (查岗) commands for an operator.
package gb26875

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Commands of the control unit's command byte.
const (
	CmdControl  Command = 1 // control, e.g. clock sync, duty check (centre to device)
	CmdSendData Command = 2 // send data: states, events, heartbeats (device to centre)
	CmdConfirm  Command = 3 // confirm, echoing the serial
	CmdRequest  Command = 4 // request (query)
	CmdResponse Command = 5 // response to a request
	CmdDeny     Command = 6 // deny, echoing the serial
)

// Command is the control unit's command byte.
type Command uint8

func (c Command) String() string {
	switch c {
	case CmdControl:
		return "control"
	case CmdSendData:
		return "send_data"
	case CmdConfirm:
		return "confirm"
	case CmdRequest:
		return "request"
	case CmdResponse:
		return "response"
	case CmdDeny:
		return "deny"
	}
	return "command(" + strconv.Itoa(int(c)) + ")"
}

// Frame sizes. A frame is start(2) + control unit(25) + data(n) + checksum(1) + end(2).
const (
	headerLen = 27 // start marks through the command byte
	trailLen  = 3  // checksum and end marks
	// MaxData is the largest application data unit the standard allows.
	MaxData = 1024
	// MaxFrame is the largest frame: the reader never buffers more.
	MaxFrame = headerLen + MaxData + trailLen
	// MainVersion is the only main protocol version the standard defines.
	MainVersion = 1
)

const (
	startMark = '@'
	endMark   = '#'
)

// Address is a 6-byte device or centre address, carried little-endian.
type Address uint64

// MaxAddress is the largest 6-byte address.
const MaxAddress Address = 1<<48 - 1

// String writes the address in decimal, at least 12 digits, the way
// devices show it on their labels.
func (a Address) String() string { return fmt.Sprintf("%012d", uint64(a)) }

// ParseAddress reads an address written in decimal.
func ParseAddress(s string) (Address, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || Address(v) > MaxAddress {
		return 0, fmt.Errorf("address %q: want a decimal number from 0 to %d", s, uint64(MaxAddress))
	}
	return Address(v), nil
}

func getAddress(b []byte) Address {
	var a [8]byte
	copy(a[:6], b)
	return Address(binary.LittleEndian.Uint64(a[:]))
}

func putAddress(b []byte, a Address) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(a))
	copy(b, buf[:6])
}

// TimeTag is the 6-byte time of the standard: second, minute, hour, day,
// month, year-2000. It is kept raw so a frame re-encodes byte for byte
// even when a device's clock sends nonsense.
type TimeTag [6]byte

// TimeTagOf converts t to a time tag in Beijing time.
func TimeTagOf(t time.Time) TimeTag {
	t = t.In(Beijing)
	return TimeTag{byte(t.Second()), byte(t.Minute()), byte(t.Hour()), byte(t.Day()), byte(t.Month()), byte(t.Year() % 100)}
}

// Time reads the tag in loc. It fails on a field out of range (a device
// that never had its clock set sends zeros).
func (tt TimeTag) Time(loc *time.Location) (time.Time, error) {
	s, mi, h, d, mo, y := int(tt[0]), int(tt[1]), int(tt[2]), int(tt[3]), int(tt[4]), int(tt[5])
	if s > 59 || mi > 59 || h > 23 || d < 1 || d > 31 || mo < 1 || mo > 12 || y > 99 {
		return time.Time{}, fmt.Errorf("time tag % x: field out of range", tt[:])
	}
	t := time.Date(2000+y, time.Month(mo), d, h, mi, s, 0, loc)
	if t.Day() != d { // 31 February
		return time.Time{}, fmt.Errorf("time tag % x: no such day", tt[:])
	}
	return t, nil
}

// Frame is one protocol data unit.
type Frame struct {
	Serial uint16
	// Main is the main protocol version (1); User the user-defined version.
	Main, User uint8
	Time       TimeTag
	Src, Dst   Address
	Cmd        Command
	// Data is the application data unit; empty for confirms, denies and
	// heartbeats. Parse returns a slice of its input.
	Data []byte
}

// Errors of Parse and the reader. A FrameError wraps one of them.
var (
	ErrChecksum = errors.New("bad checksum")
	ErrLength   = errors.New("application data longer than 1024 bytes")
	ErrEndMark  = errors.New("no ## end mark where the length says")
	ErrStart    = errors.New("no @@ start mark")
	ErrShort    = errors.New("frame shorter than its length says")
)

// checksum is the sum modulo 256 of every byte from the serial number
// through the end of the application data.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Parse decodes one whole frame; b must hold exactly the frame. On a bad
// checksum it still returns the decoded header (so the caller can deny the
// serial) together with an error matching ErrChecksum.
func Parse(b []byte) (Frame, error) {
	if len(b) < headerLen+trailLen {
		return Frame{}, fmt.Errorf("%d bytes: %w", len(b), ErrShort)
	}
	if b[0] != startMark || b[1] != startMark {
		return Frame{}, ErrStart
	}
	n := int(binary.LittleEndian.Uint16(b[24:26]))
	if n > MaxData {
		return Frame{}, fmt.Errorf("length %d: %w", n, ErrLength)
	}
	if len(b) != headerLen+n+trailLen {
		return Frame{}, fmt.Errorf("length field %d, frame of %d bytes: %w", n, len(b), ErrShort)
	}
	f := Frame{
		Serial: binary.LittleEndian.Uint16(b[2:4]),
		Main:   b[4],
		User:   b[5],
		Time:   TimeTag(b[6:12]),
		Src:    getAddress(b[12:18]),
		Dst:    getAddress(b[18:24]),
		Cmd:    Command(b[26]),
		Data:   b[headerLen : headerLen+n],
	}
	end := headerLen + n
	if b[end+1] != endMark || b[end+2] != endMark {
		return f, ErrEndMark
	}
	if sum := checksum(b[2:end]); sum != b[end] {
		return f, fmt.Errorf("serial %d: sum %#02x, frame says %#02x: %w", f.Serial, sum, b[end], ErrChecksum)
	}
	return f, nil
}

// Append encodes f onto dst. It fails when the data is too long.
func Append(dst []byte, f Frame) ([]byte, error) {
	if len(f.Data) > MaxData {
		return dst, fmt.Errorf("frame serial %d: %d bytes of data: %w", f.Serial, len(f.Data), ErrLength)
	}
	start := len(dst)
	dst = append(dst, startMark, startMark, 0, 0, f.Main, f.User)
	binary.LittleEndian.PutUint16(dst[start+2:], f.Serial)
	dst = append(dst, f.Time[:]...)
	dst = append(dst, make([]byte, 12)...)
	putAddress(dst[start+12:], f.Src)
	putAddress(dst[start+18:], f.Dst)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(f.Data)))
	dst = append(dst, byte(f.Cmd))
	dst = append(dst, f.Data...)
	dst = append(dst, checksum(dst[start+2:]), endMark, endMark)
	return dst, nil
}

// Reply builds the confirm or deny of f: the serial and versions echoed,
// the addresses swapped, the time tag now.
func Reply(f Frame, cmd Command, now time.Time) Frame {
	return Frame{Serial: f.Serial, Main: f.Main, User: f.User, Time: TimeTagOf(now), Src: f.Dst, Dst: f.Src, Cmd: cmd}
}
