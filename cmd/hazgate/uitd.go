package main

import (
	"context"
	"errors"
	"fmt"

	"hazgate/api"
	"hazgate/protocols/gb26875"
)

// uitdControl serves the API's operator commands from the gateway's
// GB/T 26875.3 listeners: it reads the path's address and gives the
// protocol's errors the API's meaning.
type uitdControl struct{ ls gb26875.Listeners }

var _ api.UITDControl = uitdControl{}

func (u uitdControl) Devices() []any {
	st := u.ls.Devices()
	out := make([]any, len(st))
	for i, s := range st {
		out[i] = s
	}
	return out
}

func (u uitdControl) Device(id string) (any, error) {
	a, err := address(id)
	if err != nil {
		return nil, err
	}
	st, ok := u.ls.Device(a)
	if !ok {
		return nil, meaning{fmt.Errorf("transmission device %s has not been heard", a), api.ErrUITDNotHeard}
	}
	return st, nil
}

func (u uitdControl) SyncClock(ctx context.Context, id, user string) (any, error) {
	a, err := address(id)
	if err != nil {
		return nil, err
	}
	return commandAnswer(u.ls.SyncClock(ctx, a, user))
}

func (u uitdControl) DutyCheck(ctx context.Context, id string, minutes int, user string) (any, error) {
	a, err := address(id)
	if err != nil {
		return nil, err
	}
	return commandAnswer(u.ls.DutyCheck(ctx, a, minutes, user))
}

func address(id string) (gb26875.Address, error) {
	a, err := gb26875.ParseAddress(id)
	if err != nil {
		return 0, meaning{err, api.ErrUITDAddress}
	}
	return a, nil
}

// commandAnswer maps a command's errors onto the API's sentinels.
func commandAnswer(res gb26875.CommandResult, err error) (any, error) {
	for _, m := range [][2]error{
		{gb26875.ErrNotConnected, api.ErrUITDNotConnected},
		{gb26875.ErrDenied, api.ErrUITDDenied},
		{gb26875.ErrNoReply, api.ErrUITDNoReply},
	} {
		if errors.Is(err, m[0]) {
			return nil, meaning{err, m[1]}
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// meaning is err, in its own words, that also matches the API's sentinel as.
type meaning struct{ err, as error }

func (m meaning) Error() string   { return m.err.Error() }
func (m meaning) Unwrap() []error { return []error{m.err, m.as} }
