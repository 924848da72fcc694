// Package deliver is the delivery wing's core: a Follower reads one event
// journal (alarms or hazards) from a durable cursor, keeps what its Filter
// selects, hands each event to a Channel (a webhook, the northbound MQTT
// publisher, the InfluxDB `alarm` measurement, ...), retries with backoff
// until the channel takes it, and counts what happened. The cursor moves
// only past events the channel holds, so a restart resumes where delivery
// stopped: every event at least once, in journal order.
//
// A new channel is a sub-package with a type that implements Channel; it
// never deals with cursors, retries or filters itself.
package deliver

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
)

// Event is one journal event on its way to a channel: exactly one of Alarm
// and Hazard is set.
type Event struct {
	Seq    int64
	Type   string // with its journal: "alarm.raised", "hazard.created"
	Time   time.Time
	Alarm  *alerting.Event
	Hazard *hazard.Event
}

// AlarmEvent wraps an alarm journal event.
func AlarmEvent(ev *alerting.Event) Event {
	return Event{Seq: ev.Seq, Type: "alarm." + ev.Type, Time: ev.Time, Alarm: ev}
}

// HazardEvent wraps a hazard journal event.
func HazardEvent(ev *hazard.Event) Event {
	return Event{Seq: ev.Seq, Type: "hazard." + ev.Type, Time: ev.Time, Hazard: ev}
}

// ID is stable across retries and restarts ("a<alarm seq>", "h<hazard
// seq>"), for receivers to drop repeats.
func (e Event) ID() string {
	if e.Hazard != nil {
		return "h" + strconv.FormatInt(e.Seq, 10)
	}
	return "a" + strconv.FormatInt(e.Seq, 10)
}

// Data is the journal's own event (*alerting.Event or *hazard.Event), as
// channels encode it.
func (e Event) Data() any {
	if e.Hazard != nil {
		return e.Hazard
	}
	return e.Alarm
}

// Channel takes one event at a time. A nil error means it holds the event
// (or, with Follower.Durable, will); any other error is retried, except a
// Reject.
type Channel interface {
	Deliver(ctx context.Context, ev Event) error
}

// RejectedError is a channel refusing the event itself (a webhook's 4xx, an
// event that cannot be encoded): resending the same bytes cannot help and
// would hold up every later event, so the follower counts it and moves on.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return "refused: " + e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// Reject marks err as not worth retrying.
func Reject(err error) error { return &RejectedError{Err: err} }

// RetryAfterError is a failure whose receiver said when to come back (HTTP
// Retry-After); the follower waits that long, up to its Backoff.Max.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter marks err with the wait the receiver asked for.
func RetryAfter(d time.Duration, err error) error { return &RetryAfterError{After: d, Err: err} }

// Journal hands out the events after a seq, replayed then live.
type Journal interface {
	Subscribe(ctx context.Context, afterSeq int64) *alerting.Stream[Event]
}

// AlarmFeed is the alarm event bus (*alerting.Bus).
type AlarmFeed interface {
	Subscribe(ctx context.Context, afterSeq int64) *alerting.Subscription
}

// HazardFeed is the hazard event stream (*hazard.Engine).
type HazardFeed interface {
	Subscribe(ctx context.Context, afterSeq int64) *hazard.Subscription
}

// Cursor keeps the last seq delivered (*deliver.FileCursor).
type Cursor interface {
	Load() (int64, error)
	Save(seq int64) error
}

type journalFunc func(ctx context.Context, afterSeq int64) *alerting.Stream[Event]

func (f journalFunc) Subscribe(ctx context.Context, afterSeq int64) *alerting.Stream[Event] {
	return f(ctx, afterSeq)
}

// Alarms is the alarm journal as a Journal.
func Alarms(feed AlarmFeed) Journal { return journalOf(feed.Subscribe, AlarmEvent) }

// Hazards is the hazard journal as a Journal.
func Hazards(feed HazardFeed) Journal { return journalOf(feed.Subscribe, HazardEvent) }

func journalOf[E any](subscribe func(context.Context, int64) *alerting.Stream[E], event func(*E) Event) Journal {
	return journalFunc(func(ctx context.Context, after int64) *alerting.Stream[Event] {
		return alerting.NewStream(ctx, func(ctx context.Context, out chan<- Event) error {
			sub := subscribe(ctx, after)
			defer sub.Close()
			for ev := range sub.C {
				select {
				case out <- event(&ev):
				case <-ctx.Done():
					return nil
				}
			}
			return sub.Err()
		})
	})
}
