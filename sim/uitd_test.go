package sim

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
)

// centreScript is a monitoring centre that answers the n-th frame it
// receives (from 0) with script(n): a command to send back, or 0 for none.
func centreScript(t *testing.T, script func(n int) gb26875.Command) (addr string, got func() []gb26875.Frame) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var frames []gb26875.Frame
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := gb26875.NewReader(nc)
		for n := 0; ; n++ {
			f, err := r.Next()
			if err != nil {
				return
			}
			f.Data = append([]byte(nil), f.Data...)
			mu.Lock()
			frames = append(frames, f)
			mu.Unlock()
			if cmd := script(n); cmd != 0 {
				b, _ := gb26875.Append(nil, gb26875.Reply(f, cmd, time.Now()))
				nc.Write(b)
			}
		}
	}()
	return ln.Addr().String(), func() []gb26875.Frame {
		mu.Lock()
		defer mu.Unlock()
		return append([]gb26875.Frame(nil), frames...)
	}
}

func TestUITDResendsUntilConfirmed(t *testing.T) {
	tests := []struct {
		name    string
		script  func(n int) gb26875.Command
		wantErr error
		frames  int
	}{
		{"confirmed at once", func(int) gb26875.Command { return gb26875.CmdConfirm }, nil, 1},
		{"first confirm lost", func(n int) gb26875.Command {
			if n == 0 {
				return 0
			}
			return gb26875.CmdConfirm
		}, nil, 2},
		{"denied then confirmed", func(n int) gb26875.Command {
			if n < 2 {
				return gb26875.CmdDeny
			}
			return gb26875.CmdConfirm
		}, nil, 3},
		{"never confirmed", func(int) gb26875.Command { return 0 }, ErrNoConfirm, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, got := centreScript(t, tt.script)
			u, err := DialUITD(context.Background(), addr, UITDOptions{Address: 1234, Centre: 88888, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			err = u.Component(context.Background(), gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: 3, Position: 27}, 2, "烟感")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send: %v, want %v", err, tt.wantErr)
			}
			frames := got()
			if len(frames) != tt.frames || u.Resends() != uint64(tt.frames-1) {
				t.Fatalf("centre got %d frames, resends %d; want %d", len(frames), u.Resends(), tt.frames)
			}
			for _, f := range frames {
				if f.Serial != frames[0].Serial || f.Src != 1234 || f.Dst != 88888 || f.Cmd != gb26875.CmdSendData {
					t.Errorf("frame %+v: a resend must repeat the serial and addresses", f)
				}
				u, err := gb26875.DecodeUnit(f.Data)
				if err != nil || u.Components[0].Text() != "烟感" || u.Components[0].Status != 2 {
					t.Errorf("unit %+v %v", u, err)
				}
			}
		})
	}
}

func TestUITDDefaultsToTheStandardsResendRule(t *testing.T) {
	addr, _ := centreScript(t, func(int) gb26875.Command { return 0 })
	u, err := DialUITD(context.Background(), addr, UITDOptions{Address: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.opts.Timeout != 10*time.Second || u.opts.Tries != 3 {
		t.Errorf("defaults %+v, want 10 s and 3 tries", u.opts)
	}
}
