package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/config"
)

// EventSource delivers committed alarm events in seq order after a given
// seq; alerting.Bus satisfies it.
type EventSource interface {
	Subscribe(ctx context.Context, afterSeq int64) *alerting.Subscription
}

// Cursor keeps the seq of the last event the broker acknowledged.
type Cursor interface {
	Load() (int64, error)
	Save(seq int64) error
}

// NorthboundOptions are what a Northbound needs besides its config block.
type NorthboundOptions struct {
	Site   string
	Source EventSource
	// Cursor survives restarts; alerting.FileCursor under data_dir is the usual one.
	Cursor Cursor
	Log    *slog.Logger
}

// NorthboundStats counts what the publisher did since it was made.
type NorthboundStats struct {
	Published uint64 `json:"published"` // events the broker acknowledged
	Retries   uint64 `json:"retries"`   // publishes sent again after no acknowledgement
	LastSeq   int64  `json:"last_seq"`  // seq of the last acknowledged event
}

// Northbound publishes alarm events to an upstream broker, one at a time in
// journal order, each to {prefix}/{site}/alarm as the event's JSON. It moves
// on only after the broker's acknowledgement and records that seq, so after
// an outage or a restart it resumes with the next event: no gap, no
// reordering; an event whose acknowledgement was lost is sent again
// (subscribers drop repeats by seq).
type Northbound struct {
	cfg    config.Northbound
	site   string
	src    EventSource
	cursor Cursor
	log    *slog.Logger
	broker broker
	topic  string

	published, retries atomic.Uint64
	lastSeq            atomic.Int64
}

// NewNorthbound checks the options and returns the publisher.
func NewNorthbound(cfg config.Northbound, o NorthboundOptions) (*Northbound, error) {
	if o.Site == "" || o.Source == nil || o.Cursor == nil {
		return nil, errors.New("northbound: site, event source and cursor are required")
	}
	if cfg.QoS != 1 && cfg.QoS != 2 {
		return nil, fmt.Errorf("northbound: qos %d: events need 1 or 2", cfg.QoS)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("northbound: timeout %v must be positive", cfg.Timeout)
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = "hazgate-" + o.Site + "-northbound"
	}
	prefix := strings.TrimSuffix(cfg.TopicPrefix, "/")
	n := &Northbound{
		cfg: cfg, site: o.Site, src: o.Source, cursor: o.Cursor, log: log.With("component", "northbound"),
		broker: broker{
			url: cfg.URL, clientID: clientID, username: cfg.Username, password: cfg.Password,
			keepAlive: cfg.KeepAlive, connectTimeout: max(cfg.Timeout, minConnectTimeout),
			// We resend unacknowledged events ourselves, in order; a session
			// kept by paho could replay an old one behind a newer.
			cleanSession: true,
			tls:          cfg.TLS,
			statusTopic:  StatusTopic(prefix, o.Site),
		},
		topic: prefix + "/" + o.Site + "/alarm",
	}
	if _, err := n.broker.options(); err != nil {
		return nil, fmt.Errorf("northbound: %w", err)
	}
	return n, nil
}

// Topic is where events are published.
func (n *Northbound) Topic() string { return n.topic }

// Stats returns the counters.
func (n *Northbound) Stats() NorthboundStats {
	return NorthboundStats{Published: n.published.Load(), Retries: n.retries.Load(), LastSeq: n.lastSeq.Load()}
}

// Run publishes until ctx ends. It returns an error only when it cannot
// start (an unreadable cursor); broker outages are waited out.
func (n *Northbound) Run(ctx context.Context) error {
	last, err := n.cursor.Load()
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	n.lastSeq.Store(last)
	opts, err := n.broker.options()
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	opts.SetOnConnectHandler(func(cl paho.Client) {
		cl.Publish(n.broker.statusTopic, 1, true, StatusOnline)
		n.log.Info("northbound connected", "broker", config.RedactURL(n.cfg.URL), "topic", n.topic, "after_seq", n.lastSeq.Load())
	}).SetConnectionLostHandler(func(_ paho.Client, err error) {
		n.log.Warn("northbound connection lost; reconnecting", "broker", config.RedactURL(n.cfg.URL), "err", err)
	})
	client := paho.NewClient(opts)
	if !connect(ctx, client, n.log, n.cfg.URL) {
		return nil
	}
	defer func() {
		client.Publish(n.broker.statusTopic, 1, true, StatusOffline).WaitTimeout(time.Second)
		client.Disconnect(250)
	}()

	for ctx.Err() == nil {
		sub := n.src.Subscribe(ctx, last)
		for ev := range sub.C {
			if !n.deliver(ctx, client, ev) {
				break
			}
			last = ev.Seq
			n.lastSeq.Store(last)
			if err := n.cursor.Save(last); err != nil {
				// A restart would resend from an older seq: repeats, never a gap.
				n.log.Error("northbound cannot record its position", "seq", last, "err", err)
			}
		}
		sub.Close()
		if ctx.Err() != nil {
			break
		}
		n.log.Error("northbound event feed stopped; resubscribing", "after_seq", last, "err", sub.Err())
		sleep(ctx, time.Second)
	}
	return nil
}

// deliver publishes ev until the broker acknowledges it or ctx ends.
func (n *Northbound) deliver(ctx context.Context, client paho.Client, ev alerting.Event) bool {
	payload, err := json.Marshal(ev)
	if err != nil {
		// An event is plain data; this cannot happen short of a NaN value.
		n.log.Error("northbound cannot encode event; skipped", "seq", ev.Seq, "err", err)
		return true
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		// Publishing while paho reconnects would only queue in its store.
		for !client.IsConnectionOpen() {
			if !sleep(ctx, 100*time.Millisecond) {
				return false
			}
		}
		tok := client.Publish(n.topic, n.cfg.QoS, false, payload)
		timer := time.NewTimer(n.cfg.Timeout)
		select {
		case <-tok.Done():
			err = tok.Error()
		case <-timer.C:
			err = fmt.Errorf("no acknowledgement within %v", n.cfg.Timeout)
		case <-ctx.Done():
			timer.Stop()
			return false
		}
		timer.Stop()
		if err == nil {
			n.published.Add(1)
			return true
		}
		n.retries.Add(1)
		if attempt == 0 || attempt%10 == 0 {
			n.log.Warn("northbound publish not acknowledged; sending it again", "seq", ev.Seq, "attempt", attempt+1, "err", err)
		}
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
