// Package northbound publishes alarm events to an upstream broker (a
// regulator's hub, a broker cluster) over MQTT: the northbound delivery
// channel. It reaches the broker through protocols/mqtt's connection code.
package northbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting/deliver"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/mqtt"
)

// Options are what a Publisher needs besides its config block.
type Options struct {
	Site   string
	Source deliver.AlarmFeed
	// Cursor survives restarts; deliver.FileCursor under data_dir is the usual one.
	Cursor deliver.Cursor
	Log    *slog.Logger
}

// Stats counts what the publisher did since it was made.
type Stats struct {
	Published uint64 `json:"published" metric:"hazgate_northbound_published_total" help:"Alarm events the upstream broker acknowledged."` // events the broker acknowledged
	Retries   uint64 `json:"retries" metric:"hazgate_northbound_retries_total" help:"Publishes sent again after no acknowledgement."`     // publishes sent again after no acknowledgement
	LastSeq   int64  `json:"last_seq" metric:"hazgate_northbound_last_seq" help:"Journal seq of the last acknowledged event."`            // seq of the last acknowledged event
}

// Publisher publishes alarm events to an upstream broker, one at a time in
// journal order, each to {prefix}/{site}/alarm as the event's JSON. It moves
// on only after the broker's acknowledgement and records that seq, so after
// an outage or a restart it resumes with the next event: no gap, no
// reordering; an event whose acknowledgement was lost is sent again
// (subscribers drop repeats by seq).
type Publisher struct {
	cfg         config.Northbound
	opts        Options
	log         *slog.Logger
	clientID    string
	statusTopic string
	topic       string
	counters    deliver.Counters
}

// New checks the options and returns the publisher.
func New(cfg config.Northbound, o Options) (*Publisher, error) {
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
	n := &Publisher{
		cfg: cfg, opts: o, log: log.With("component", "northbound"), clientID: clientID,
		statusTopic: mqtt.StatusTopic(prefix, o.Site), topic: prefix + "/" + o.Site + "/alarm",
	}
	if _, err := mqtt.PublisherOptions(cfg, clientID, n.statusTopic); err != nil {
		return nil, fmt.Errorf("northbound: %w", err)
	}
	return n, nil
}

// Topic is where events are published.
func (n *Publisher) Topic() string { return n.topic }

// Stats returns the counters.
func (n *Publisher) Stats() Stats {
	s := n.counters.Stats()
	return Stats{Published: s.Delivered, Retries: s.Retried, LastSeq: s.LastSeq}
}

// Run publishes until ctx ends. It returns an error only when it cannot
// start (an unreadable cursor); broker outages are waited out.
func (n *Publisher) Run(ctx context.Context) error {
	// Checked before connecting, so a broken cursor does not announce the
	// gateway online to the hub for a moment; the follower loads it again.
	start, err := n.opts.Cursor.Load()
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	opts, err := mqtt.PublisherOptions(n.cfg, n.clientID, n.statusTopic)
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	opts.SetOnConnectHandler(func(cl paho.Client) {
		cl.Publish(n.statusTopic, 1, true, mqtt.StatusOnline)
		n.log.Info("northbound connected", "broker", config.RedactURL(n.cfg.URL), "topic", n.topic, "after_seq", max(start, n.counters.Stats().LastSeq))
	}).SetConnectionLostHandler(func(_ paho.Client, err error) {
		n.log.Warn("northbound connection lost; reconnecting", "broker", config.RedactURL(n.cfg.URL), "err", err)
	})
	client := paho.NewClient(opts)
	if !mqtt.Connect(ctx, client, n.log, n.cfg.URL) {
		return nil
	}
	defer func() {
		client.Publish(n.statusTopic, 1, true, mqtt.StatusOffline).WaitTimeout(time.Second)
		client.Disconnect(250)
	}()
	f := &deliver.Follower{
		Name: "northbound", Journal: deliver.Alarms(n.opts.Source), Cursor: n.opts.Cursor,
		Channel:  publisher{client: client, topic: n.topic, qos: n.cfg.QoS, timeout: n.cfg.Timeout},
		Retry:    deliver.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second},
		Counters: &n.counters, Log: n.log,
	}
	return f.Run(ctx)
}

// publisher is the channel: one publish, acknowledged or not.
type publisher struct {
	client  paho.Client
	topic   string
	qos     byte
	timeout time.Duration
}

func (p publisher) Deliver(ctx context.Context, ev deliver.Event) error {
	payload, err := json.Marshal(ev.Alarm)
	if err != nil {
		// An event is plain data; this cannot happen short of a NaN value.
		return deliver.Reject(fmt.Errorf("encoding event %d: %w", ev.Seq, err))
	}
	// Publishing while paho reconnects would only queue in its store.
	for !p.client.IsConnectionOpen() {
		if !collector.Sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	tok := p.client.Publish(p.topic, p.qos, false, payload)
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish to %s: %w", p.topic, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("publish to %s: no acknowledgement within %v", p.topic, p.timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
