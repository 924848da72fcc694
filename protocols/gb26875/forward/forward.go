// Package forward makes the gateway a GB/T 26875.3 transmission device
// (用户信息传输装置) of the city's fire remote-monitoring centre: what the
// gateway sees of fire panels goes into a durable outbox (outbox.go), and a
// link (link.go) sends it to the centre, fire alarms first, each message
// removed only once the centre has confirmed it. GB 25506-2010 asks fire
// alarms and linkage within 10 s and status within 100 s.
package forward

import (
	"context"
	"time"

	"hazgate/protocols/gb26875"
)

// Class is what a message's deadline is: GB 25506's 10 s for fire alarms and
// linkage, 100 s for equipment status and management information.
type Class uint8

const (
	// ClassAlarm: 火灾报警 and 联动 (fire, start, feedback states): sent
	// before anything of ClassStatus, within 10 s.
	ClassAlarm Class = iota
	// ClassStatus: faults, supervisory, disabled, the device's own state and
	// operations: within 100 s.
	ClassStatus
)

func (c Class) String() string {
	if c == ClassAlarm {
		return "alarm"
	}
	return "status"
}

// Message is one application data unit for the centre, with the time the
// change it reports entered the gateway (for the latency the gateway
// promises) and its class. The objects keep their own time tags: what the
// panel said when, not when the link got round to it.
type Message struct {
	Class   Class
	Unit    gb26875.Unit
	Entered time.Time
}

// Pending is a message the outbox handed out and has not yet removed.
type Pending struct {
	Message
	// ID is the outbox's handle for Done; opaque to the link.
	ID uint64
}

// Outbox is the durable queue between the gateway and the link. Put
// returns only once the messages are on disk (a kill -9 after it loses
// none). Next blocks until a message waits and returns the oldest of the
// most urgent class; it returns the same messages again after a restart
// until Done removes them. Safe for concurrent use.
type Outbox interface {
	Put(ctx context.Context, msgs ...Message) error
	// Next returns up to max messages of one class and one unit type, oldest
	// first, so the link may pack them into one frame.
	Next(ctx context.Context, max int) ([]Pending, error)
	// Done removes messages the centre confirmed.
	Done(ps ...Pending) error
}
