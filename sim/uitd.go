package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/protocols/gb26875"
)

// UITDOptions configures a simulated 用户信息传输装置.
type UITDOptions struct {
	Address gb26875.Address // the device's own address
	Centre  gb26875.Address // the monitoring centre's address it sends to
	// Timeout and Tries are the standard's resend rule: wait at most 10 s
	// for a confirm, send 3 times. Tests shorten Timeout.
	Timeout time.Duration
	Tries   int
	// IgnoreCommands leaves the centre's control commands unconfirmed, to
	// test the centre's resends.
	IgnoreCommands bool
}

// UITD is a simulated user information transmission device: it connects to
// a monitoring centre over TCP and sends units with the send/confirm rule
// of GB/T 26875.3, resending a frame whose confirm does not come.
type UITD struct {
	opts UITDOptions
	nc   net.Conn
	wmu  sync.Mutex

	mu       sync.Mutex
	serial   uint16
	pending  map[uint16]chan gb26875.Command
	commands []gb26875.Frame
	closed   chan struct{}
	readErr  error

	resends atomic.Uint64
}

// ErrNoConfirm is returned by Send when every try went unconfirmed.
var ErrNoConfirm = errors.New("no confirm from the centre")

// DialUITD connects a simulated device to the centre at addr (host:port).
func DialUITD(ctx context.Context, addr string, opts UITDOptions) (*UITD, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Tries <= 0 {
		opts.Tries = 3
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("uitd %s: dial %s: %w", opts.Address, addr, err)
	}
	u := &UITD{opts: opts, nc: nc, pending: make(map[uint16]chan gb26875.Command), closed: make(chan struct{})}
	go u.read()
	return u, nil
}

// Close drops the connection.
func (u *UITD) Close() error { return u.nc.Close() }

// Done is closed when the connection ends; Err then says why.
func (u *UITD) Done() <-chan struct{} { return u.closed }

// Err is the error that ended the connection.
func (u *UITD) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.readErr
}

// Resends counts frames sent again for a missing or denied confirm.
func (u *UITD) Resends() uint64 { return u.resends.Load() }

// Commands returns the control commands received from the centre.
func (u *UITD) Commands() []gb26875.Frame {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]gb26875.Frame(nil), u.commands...)
}

func (u *UITD) read() {
	defer close(u.closed)
	r := gb26875.NewReader(u.nc)
	for {
		f, err := r.Next()
		var fe *gb26875.FrameError
		if errors.As(err, &fe) {
			continue
		}
		if err != nil {
			u.mu.Lock()
			u.readErr = err
			u.mu.Unlock()
			return
		}
		switch f.Cmd {
		case gb26875.CmdConfirm, gb26875.CmdDeny:
			u.mu.Lock()
			ch := u.pending[f.Serial]
			u.mu.Unlock()
			if ch != nil {
				select {
				case ch <- f.Cmd:
				default:
				}
			}
		case gb26875.CmdControl:
			f.Data = append([]byte(nil), f.Data...)
			u.mu.Lock()
			u.commands = append(u.commands, f)
			u.mu.Unlock()
			if !u.opts.IgnoreCommands {
				u.write(gb26875.Reply(f, gb26875.CmdConfirm, time.Now()))
			}
		}
	}
}

func (u *UITD) write(f gb26875.Frame) error {
	b, err := gb26875.Append(nil, f)
	if err != nil {
		return err
	}
	u.wmu.Lock()
	defer u.wmu.Unlock()
	_, err = u.nc.Write(b)
	return err
}

// Heartbeat sends an empty send-data frame and waits for its confirm.
func (u *UITD) Heartbeat(ctx context.Context) error { return u.send(ctx, nil) }

// Send sends one unit and waits for its confirm, resending after Timeout
// or a deny, Tries times in all.
func (u *UITD) Send(ctx context.Context, unit *gb26875.Unit) error {
	data, err := unit.Encode(nil)
	if err != nil {
		return err
	}
	return u.send(ctx, data)
}

func (u *UITD) send(ctx context.Context, data []byte) error {
	ch := make(chan gb26875.Command, 1)
	u.mu.Lock()
	u.serial++
	serial := u.serial
	u.pending[serial] = ch
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.pending, serial)
		u.mu.Unlock()
	}()
	timer := time.NewTimer(u.opts.Timeout)
	defer timer.Stop()
	for try := range u.opts.Tries {
		if try > 0 {
			u.resends.Add(1)
		}
		f := gb26875.Frame{Serial: serial, Main: gb26875.MainVersion, Time: gb26875.TimeTagOf(time.Now()),
			Src: u.opts.Address, Dst: u.opts.Centre, Cmd: gb26875.CmdSendData, Data: data}
		if err := u.write(f); err != nil {
			return fmt.Errorf("uitd %s: serial %d: %w", u.opts.Address, serial, err)
		}
		timer.Reset(u.opts.Timeout)
		select {
		case cmd := <-ch:
			if cmd == gb26875.CmdConfirm {
				return nil
			}
		case <-timer.C:
		case <-u.closed:
			return fmt.Errorf("uitd %s: serial %d: connection closed: %w", u.opts.Address, serial, u.Err())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("uitd %s: serial %d: %w after %d tries", u.opts.Address, serial, ErrNoConfirm, u.opts.Tries)
}

// WriteRaw writes bytes as they are: garbage, broken frames.
func (u *UITD) WriteRaw(b []byte) error {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	_, err := u.nc.Write(b)
	return err
}

// AnswerDuty sends the duty-check answer (查岗应答) of operator.
func (u *UITD) AnswerDuty(ctx context.Context, operator uint8) error {
	return u.Send(ctx, &gb26875.Unit{Type: gb26875.TypeUITDOperation, Operations: []gb26875.Operation{
		{Flags: gb26875.OpDutyAnswer, Operator: operator, Time: gb26875.TimeTagOf(time.Now())},
	}})
}

// Component sends one component's state word with its description.
func (u *UITD) Component(ctx context.Context, c gb26875.Component, status uint16, desc string) error {
	return u.Send(ctx, &gb26875.Unit{Type: gb26875.TypeComponentState, Components: []gb26875.ComponentState{
		{Component: c, Status: status, Desc: gb26875.Desc(desc), Time: gb26875.TimeTagOf(time.Now())},
	}})
}
