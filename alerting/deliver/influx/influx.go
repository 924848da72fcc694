// Package influx writes every committed alarm transition to the InfluxDB
// measurement `alarm` (tags: site, tag, rule, level, class, severity;
// fields: id, seq, event, state, value), so dashboards show alarms beside
// the readings.
package influx

import (
	"context"
	"log/slog"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"hazgate/alerting/deliver"
	"hazgate/collector"
)

// Sink is the InfluxDB writer (*collector.InfluxSink): WritePoint only
// enqueues; WhenDurable calls fn once everything enqueued so far is written
// or spooled.
type Sink interface {
	WritePoint(p *write.Point)
	WhenDurable(fn func())
}

// Feed is the `alarm` measurement's delivery channel. Its cursor moves only
// past events the sink holds durably (written or spooled), so transitions
// committed while InfluxDB or the gateway was down, or in flight at a
// kill -9, still arrive.
type Feed struct {
	sink     Sink
	follower deliver.Follower
	// stamps keeps two transitions of one series in one tick apart (a
	// nanosecond), so the second does not overwrite the first; only the
	// follower's goroutine uses it.
	stamps collector.Stamps
}

// New returns the feed of alarms into sink from cursor.
func New(sink Sink, alarms deliver.AlarmFeed, cursor deliver.Cursor, log *slog.Logger) *Feed {
	f := &Feed{sink: sink, stamps: make(collector.Stamps)}
	f.follower = deliver.Follower{
		Name: "alarm feed to influxdb", Journal: deliver.Alarms(alarms), Cursor: cursor, Channel: f,
		// Resending the journal rewrites the same points (same series and
		// time); stopping would leave dashboards without alarms.
		ResendOnBadCursor: true,
		Durable:           sink.WhenDurable, Log: log,
	}
	return f
}

// Run writes until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	_ = f.follower.Run(ctx) // never fails: ResendOnBadCursor
}

// Deliver enqueues ev's point; it never fails, the sink spools what
// InfluxDB does not take.
func (f *Feed) Deliver(_ context.Context, ev deliver.Event) error {
	a := ev.Alarm.Alarm
	tags := map[string]string{"site": a.Site, "tag": a.Tag, "rule": a.Rule, "level": a.Level, "class": a.Class, "severity": a.Severity}
	at := f.stamps.Separate(a.Site+"\x00"+a.Tag+"\x00"+a.Rule+"\x00"+a.Level+"\x00"+a.Class+"\x00"+a.Severity, ev.Time)
	f.sink.WritePoint(write.NewPoint("alarm", tags,
		map[string]any{"id": a.ID, "seq": ev.Seq, "event": ev.Alarm.Type, "state": string(a.State), "value": a.Value}, at))
	return nil
}
