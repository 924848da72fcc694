package forward

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
)

// memOutbox is an in-memory Outbox with the contract's order: the oldest of
// the most urgent class, a run of one unit type. It records every Done to
// catch a message confirmed twice or never handed out.
type memOutbox struct {
	mu     sync.Mutex
	nextID uint64
	queue  [2][]Pending // waiting by class, oldest first
	out    map[uint64]Pending
	done   []Pending
	errs   []error
	wake   chan struct{}
	// doneWake is closed and replaced on every Done, for waitDone.
	doneWake chan struct{}
}

func newMemOutbox() *memOutbox {
	return &memOutbox{out: map[uint64]Pending{}, wake: make(chan struct{}), doneWake: make(chan struct{})}
}

func (o *memOutbox) Put(_ context.Context, msgs ...Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range msgs {
		o.nextID++
		o.queue[m.Class] = append(o.queue[m.Class], Pending{Message: m, ID: o.nextID})
	}
	close(o.wake)
	o.wake = make(chan struct{})
	return nil
}

func (o *memOutbox) Next(ctx context.Context, max int) ([]Pending, error) {
	for {
		o.mu.Lock()
		for c := range o.queue {
			q := o.queue[c]
			if len(q) == 0 {
				continue
			}
			n := 1
			for n < len(q) && n < max && q[n].Unit.Type == q[0].Unit.Type {
				n++
			}
			got := append([]Pending(nil), q[:n]...)
			o.queue[c] = q[n:]
			for _, p := range got {
				o.out[p.ID] = p
			}
			o.mu.Unlock()
			return got, nil
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (o *memOutbox) Done(ps ...Pending) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		if _, ok := o.out[p.ID]; !ok {
			o.errs = append(o.errs, fmt.Errorf("message %d done but not handed out (or done twice)", p.ID))
			continue
		}
		delete(o.out, p.ID)
		o.done = append(o.done, p)
	}
	close(o.doneWake)
	o.doneWake = make(chan struct{})
	return nil
}

// waitDone blocks until n messages are done: benchmarks wait without
// polling, so the CPU they report is the link's and the centre's.
func (o *memOutbox) waitDone(n int) {
	for {
		o.mu.Lock()
		got, wake := len(o.done), o.doneWake
		o.mu.Unlock()
		if got >= n {
			return
		}
		<-wake
	}
}

// doneIDs is the ids of the confirmed messages in the order of confirm.
func (o *memOutbox) doneIDs() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	ids := make([]uint64, len(o.done))
	for i, p := range o.done {
		ids[i] = p.ID
	}
	return ids
}

func (o *memOutbox) ndone() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.done)
}

// check fails t on a message confirmed twice or never handed out.
func (o *memOutbox) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, err := range o.errs {
		t.Error(err)
	}
}

// fire is a component-state message: the fire bit (alarm class) or the
// fault bit (status) of zone z, position p.
func fire(class Class, z, p uint16, at time.Time) Message {
	status := uint16(1 << 1)
	if class == ClassStatus {
		status = 1 << 2
	}
	return Message{Class: class, Entered: at, Unit: gb26875.Unit{Type: gb26875.TypeComponentState, Components: []gb26875.ComponentState{{
		Component: gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: z, Position: p},
		Status:    status, Desc: gb26875.Desc(fmt.Sprintf("%d区%d号烟感", z, p)), Time: gb26875.TimeTagOf(at)}}}}
}
