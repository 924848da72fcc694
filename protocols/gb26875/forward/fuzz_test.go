package forward

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
)

// centreFrames are seeds: what a centre sends a device, and some of it broken.
func centreFrames(f *testing.F) [][]byte {
	tt := gb26875.TimeTagOf(time.Date(2026, 12, 3, 16, 0, 0, 0, gb26875.Beijing))
	var out [][]byte
	for _, fr := range []gb26875.Frame{
		{Serial: 1, Cmd: gb26875.CmdConfirm},
		{Serial: 2, Cmd: gb26875.CmdDeny},
		{Serial: 3, Cmd: gb26875.CmdControl, Data: append([]byte{gb26875.TypeSyncClock, 1}, tt[:]...)},
		{Serial: 4, Cmd: gb26875.CmdControl, Data: []byte{gb26875.TypeDutyCheck, 1, 10}},
		{Serial: 5, Cmd: gb26875.CmdRequest, Data: []byte{TypeReadUITDState, 1, 0}},
		{Serial: 6, Cmd: gb26875.CmdRequest, Data: []byte{TypeReadUITDTime, 1, 0}},
		{Serial: 7, Cmd: gb26875.CmdControl, Data: []byte{89, 1, 0}},
		{Serial: 8, Cmd: gb26875.CmdSendData},
	} {
		fr.Main, fr.Time, fr.Src, fr.Dst = 1, tt, centreAddr, uitdAddr
		b, err := gb26875.Append(nil, fr)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	bad := bytes.Clone(out[3])
	bad[len(bad)-3]++ // checksum
	return append(out, bad, []byte("@@@@##"), append([]byte("garbage@@"), out[0]...))
}

// FuzzParseInbound: the decoder never panics and never accepts a frame
// whose checksum is wrong; what it accepts re-encodes to its input.
func FuzzParseInbound(f *testing.F) {
	for _, b := range centreFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ParseInbound(b)
		if err != nil {
			return
		}
		if len(b) < 30 {
			t.Fatalf("accepted %d bytes", len(b))
		}
		var sum byte
		for _, c := range b[2 : len(b)-3] {
			sum += c
		}
		if sum != b[len(b)-3] {
			t.Fatalf("accepted a frame with checksum %#x, the sum is %#x", b[len(b)-3], sum)
		}
		if again, err := gb26875.Append(nil, in.Frame); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, re-encodes to %x (%v)", b, again, err)
		}
		if in.Frame.Cmd == gb26875.CmdControl && in.Type == gb26875.TypeDutyCheck && (in.Minutes < 1 || in.Minutes > 255) {
			t.Fatalf("duty check of %d minutes", in.Minutes)
		}
	})
}

// FuzzSession: whatever a centre sends, the link's reader never panics and
// everything it writes back is a valid frame from this device echoing a
// serial the centre sent.
func FuzzSession(f *testing.F) {
	seeds := centreFrames(f)
	for _, b := range seeds {
		f.Add(b)
	}
	f.Add(bytes.Join(seeds, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := NewLink(LinkOptions{Centres: []string{"127.0.0.1:1"}, Address: uitdAddr, Outbox: newMemOutbox(),
			Log: slog.New(slog.DiscardHandler), OnDutyCheck: func(DutyCheck) {}, OnClockSync: func(time.Duration) {}})
		if err != nil {
			t.Fatal(err)
		}
		nc := &byteConn{r: bytes.NewReader(b)}
		s := &session{l: l, nc: nc, addr: "fuzz", pending: map[uint16]chan gb26875.Command{1: make(chan gb26875.Command, 1)}, done: make(chan struct{})}
		s.read()
		r := gb26875.NewReader(bytes.NewReader(nc.w.Bytes()))
		for {
			fr, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("the link wrote a bad frame: %v", err)
			}
			if fr.Src != uitdAddr || !bytes.Contains(b[:], serialBytes(fr.Serial)) {
				t.Fatalf("reply %+v: not from us, or a serial the centre never sent", fr)
			}
		}
	})
}

func serialBytes(s uint16) []byte { return []byte{byte(s), byte(s >> 8)} }

// byteConn is a connection whose far end sent r and reads what is written.
type byteConn struct {
	net.Conn
	r  *bytes.Reader
	mu sync.Mutex
	w  bytes.Buffer
}

func (c *byteConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *byteConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(p)
}
func (c *byteConn) SetWriteDeadline(time.Time) error { return nil }
