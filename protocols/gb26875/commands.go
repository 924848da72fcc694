package gb26875

import (
	"context"
	"fmt"
	"time"

	"hazgate/collector"
)

// maxDutyMinutes is the longest duty-check answer window the command
// carries, in minutes.
const maxDutyMinutes = 255

// SyncClock sets the device's clock to the gateway's (Beijing time) with a
// control command of type 90 and waits for the device's confirm, resending
// per command_timeout and command_tries.
func (l *Listener) SyncClock(ctx context.Context, a Address, user string) (CommandResult, error) {
	now := l.now().In(Beijing).Truncate(time.Second)
	tt := TimeTagOf(now)
	res, err := l.command(ctx, a, user, "sync_clock", append([]byte{TypeSyncClock, 1}, tt[:]...))
	res.ClockSetTo = &now
	return res, err
}

// DutyCheck sends a duty check (查岗, type 91) giving the person on duty
// minutes to press the device's answer key, and waits for the confirm. The
// answer itself arrives later as an operation record; until then the tag
// UITD-<address>.duty_check reads 1.
func (l *Listener) DutyCheck(ctx context.Context, a Address, minutes int, user string) (CommandResult, error) {
	if minutes < 1 || minutes > maxDutyMinutes {
		return CommandResult{}, fmt.Errorf("duty check: %d minutes, want 1 to %d", minutes, maxDutyMinutes)
	}
	res, err := l.command(ctx, a, user, "duty_check", []byte{TypeDutyCheck, 1, byte(minutes)})
	if err != nil {
		return res, err
	}
	l.mu.Lock()
	d := l.devices[a]
	d.duty = &DutyCheck{SentBy: user, Sent: res.Sent, Minutes: minutes}
	l.mu.Unlock()
	// The open check is a reading: a rule such as states: {duty_check: low}
	// with a delay alarms on a control room nobody answers from.
	err = l.emitReadings(ctx, d, []reading{dutyReading(a, 1, *res.Replied)})
	return res, err
}

func dutyReading(a Address, v float64, at time.Time) reading {
	return reading{tag: collector.Tag{ID: DevicePrefix(a) + ".duty_check", Name: "查岗", Description: "1 while a duty check (查岗) waits for its answer"}, value: v, at: at}
}

// dutyAnswers closes the open duty check on a duty-check answer among ops.
func (l *Listener) dutyAnswers(d *device, ops []Operation, now time.Time) []reading {
	for _, o := range ops {
		if o.Flags&OpDutyAnswer == 0 {
			continue
		}
		at, _ := objectTime(o.Time, now, l.times) // a bad clock: the receipt time, counted with the frame
		op := int(o.Operator)
		l.mu.Lock()
		if d.duty != nil && d.duty.Answered == nil {
			d.duty.Answered, d.duty.Operator = &at, &op
			l.log.Info("gb26875 duty check answered", "src", d.addr, "operator", op, "after", at.Sub(d.duty.Sent).Round(time.Second))
		}
		l.mu.Unlock()
		return []reading{dutyReading(d.addr, 0, at)}
	}
	return nil
}

// command sends a control command and waits for its confirm or deny,
// trying again after a deny or command_timeout of silence.
func (l *Listener) command(ctx context.Context, a Address, user, name string, data []byte) (CommandResult, error) {
	res := CommandResult{Address: a.String(), Command: name, SentBy: user, Sent: l.now()}
	l.mu.Lock()
	d := l.devices[a]
	if d == nil || d.conn == nil {
		l.mu.Unlock()
		return res, fmt.Errorf("%s to %s: %w", name, a, ErrNotConnected)
	}
	d.serial++
	res.Serial = d.serial
	ch := make(chan Command, 1)
	d.pending[res.Serial] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(d.pending, res.Serial)
		rc := res
		d.last = &rc
		l.mu.Unlock()
		l.log.Info("gb26875 command", "src", a, "command", name, "serial", res.Serial, "by", user, "tries", res.Tries, "reply", res.Reply)
	}()

	timer := time.NewTimer(l.cmdTimeout)
	defer timer.Stop()
	for res.Tries < l.cmdTries {
		l.mu.Lock()
		c := d.conn
		f := Frame{Serial: res.Serial, Main: MainVersion, User: d.user, Time: TimeTagOf(l.now()), Src: d.centre, Dst: a, Cmd: CmdControl, Data: data}
		l.mu.Unlock()
		if c == nil {
			return res, fmt.Errorf("%s to %s: %w", name, a, ErrNotConnected)
		}
		res.Tries++
		if err := c.write(f, l.writeTimeout); err != nil {
			l.log.Info("gb26875 command not sent", "src", a, "command", name, "err", err)
		}
		timer.Reset(l.cmdTimeout)
		select {
		case cmd := <-ch:
			at := l.now()
			res.Replied = &at
			res.Reply = cmd.String()
			if cmd == CmdConfirm {
				return res, nil
			}
		case <-timer.C:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	if res.Reply == CmdDeny.String() {
		return res, fmt.Errorf("%s to %s: %w %d times", name, a, ErrDenied, res.Tries)
	}
	return res, fmt.Errorf("%s to %s: %w after %d tries of %v", name, a, ErrNoReply, res.Tries, l.cmdTimeout)
}
