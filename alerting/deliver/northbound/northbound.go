// Package northbound publishes a site to an upstream broker (a regulator's
// hub, a broker cluster) over MQTT: the northbound delivery channel, the
// site side of the v1 contract in contract.go. It reaches the broker
// through protocols/mqtt's connection code.
package northbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/alerting/hazard"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/mqtt"
)

// Options are what a Publisher needs besides its config block.
type Options struct {
	Site string
	// Name, Version and ConfigDigest go into every status: the site's
	// display name, the gateway's version and a digest of its config file
	// (sha256 hex), so a hub sees which build and which config a site runs.
	Name, Version, ConfigDigest string
	Source                      deliver.AlarmFeed
	// Cursor survives restarts; deliver.FileCursor under data_dir is the usual one.
	Cursor deliver.Cursor
	// Journal is read for the status's and the summary's alarm counts; nil
	// reports zeros.
	Journal AlarmJournal
	// Hazards, when set, are published to {prefix}/{site}/hazard from
	// HazardCursor (both are then required) and counted in the summary.
	Hazards      HazardJournal
	HazardCursor deliver.Cursor
	// Counts reads the site's gauges for status and summary; nil reports zeros.
	Counts func() Counts
	// Commands, when set, takes a hub's 挂牌督办 from {prefix}/{site}/command
	// and answers on command/ack; CommandsFile remembers the answered ids
	// across restarts (data_dir/northbound-commands.json).
	Commands     Supervisor
	CommandsFile string
	// Tags and Latest serve northbound.readings: which kind a sample's tag
	// is, and a quiet tag's last reading for its refresh.
	Tags   TagLookup
	Latest func(tag string) (collector.Sample, bool)
	Log    *slog.Logger
}

// AlarmJournal is the alarm journal as status and summary read it
// (*alerting.Journal).
type AlarmJournal interface {
	LastSeq(ctx context.Context) (int64, error)
	List(ctx context.Context, f alerting.AlarmFilter) ([]alerting.Alarm, error)
}

// HazardJournal is the hazard records' feed and store (*hazard.Engine).
type HazardJournal interface {
	deliver.HazardFeed
	LastSeq(ctx context.Context) (int64, error)
	List(ctx context.Context, f hazard.Filter) ([]hazard.Hazard, error)
}

// Counts are the site's gauges a status and a summary carry.
type Counts struct {
	Devices, Tags int
	// TagsBad are tags whose last reading is of bad quality.
	TagsBad int
	// SpoolBacklog is the readings waiting in the InfluxDB spool.
	SpoolBacklog int64
}

// Stats counts what the publisher did since it was made.
type Stats struct {
	Published       uint64 `json:"published" metric:"hazgate_northbound_published_total" help:"Alarm events the upstream broker acknowledged."`                // alarm events the broker acknowledged
	Retries         uint64 `json:"retries" metric:"hazgate_northbound_retries_total" help:"Publishes sent again after no acknowledgement."`                    // alarm and hazard publishes sent again
	LastSeq         int64  `json:"last_seq" metric:"hazgate_northbound_last_seq" help:"Journal seq of the last acknowledged event."`                           // alarm seq of the last acknowledged event
	HazardPublished uint64 `json:"hazard_published" metric:"hazgate_northbound_hazard_published_total" help:"Hazard events the upstream broker acknowledged."` // hazard events the broker acknowledged
	HazardLastSeq   int64  `json:"hazard_last_seq" metric:"hazgate_northbound_hazard_last_seq" help:"Hazard journal seq of the last acknowledged event."`      // hazard seq of the last acknowledged event
	Summaries       uint64 `json:"summaries" metric:"hazgate_northbound_summaries_total" help:"Summaries the upstream broker acknowledged."`                   // summaries the broker acknowledged
	Readings        uint64 `json:"readings" metric:"hazgate_northbound_readings_total" help:"Readings the upstream broker acknowledged (northbound.readings)."`
	ReadingsDropped uint64 `json:"readings_dropped" metric:"hazgate_northbound_readings_dropped_total" help:"Readings dropped while the broker was away and too many waited; a later refresh carries their tags again."`
}

// Publisher publishes a site under {prefix}/{site}/ on one connection: its
// status (retained birth on every connect, offline on a clean stop, the
// last will when the connection is lost), every alarm event on alarm and
// every hazard record event on hazard, and a summary every
// summary_interval. Journal events go one at a time per journal, in
// journal order; it moves on only after the broker's acknowledgement and
// records that seq, so after an outage or a restart it resumes with the
// next event: no gap, no reordering; an event whose acknowledgement was
// lost is sent again (subscribers drop repeats by site + seq).
type Publisher struct {
	cfg         config.Northbound
	opts        Options
	log         *slog.Logger
	clientID    string
	statusTopic string
	topic       string
	hazardTopic string
	summary     string // the summary topic
	counters    deliver.Counters
	hazardCount deliver.Counters
	summaries   atomic.Uint64 // summaries acknowledged
	commands    *commands     // nil without Options.Commands
	cmdTopic    string
	readings    *readings // nil without northbound.readings
	readTopic   string
	readSent    atomic.Uint64
}

// New checks the options and returns the publisher.
func New(cfg config.Northbound, o Options) (*Publisher, error) {
	if o.Site == "" || o.Source == nil || o.Cursor == nil {
		return nil, errors.New("northbound: site, event source and cursor are required")
	}
	if o.Hazards != nil && o.HazardCursor == nil {
		return nil, errors.New("northbound: a hazard feed needs its own cursor")
	}
	if cfg.QoS != 1 && cfg.QoS != 2 {
		return nil, fmt.Errorf("northbound: qos %d: events need 1 or 2", cfg.QoS)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("northbound: timeout %v must be positive", cfg.Timeout)
	}
	if cfg.SummaryInterval < 0 {
		return nil, fmt.Errorf("northbound: summary_interval %v must not be negative", cfg.SummaryInterval)
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = "hazgate-" + o.Site + "-northbound"
	}
	prefix := strings.TrimSuffix(cfg.TopicPrefix, "/") + "/" + o.Site + "/"
	n := &Publisher{
		cfg: cfg, opts: o, log: log.With("component", "northbound"), clientID: clientID,
		statusTopic: prefix + TopicStatus, topic: prefix + TopicAlarm,
		hazardTopic: prefix + TopicHazard, summary: prefix + TopicSummary,
	}
	if _, err := mqtt.PublisherOptions(cfg, clientID, n.statusTopic); err != nil {
		return nil, fmt.Errorf("northbound: %w", err)
	}
	if cfg.Readings != nil {
		if o.Tags == nil || o.Latest == nil {
			return nil, errors.New("northbound: readings need the tag registry and the latest values")
		}
		n.readings, n.readTopic = newReadings(*cfg.Readings, o.Tags, time.Now()), prefix+TopicReading
	}
	if o.Commands != nil {
		n.cmdTopic = prefix + TopicCommand
		var err error
		if n.commands, err = newCommands(o.Site, o.CommandsFile, prefix+TopicCommandAck, o.Commands); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Topic is where alarm events are published.
func (n *Publisher) Topic() string { return n.topic }

// Stats returns the counters.
func (n *Publisher) Stats() Stats {
	s, h := n.counters.Stats(), n.hazardCount.Stats()
	return Stats{
		Published: s.Delivered, Retries: s.Retried + h.Retried, LastSeq: s.LastSeq,
		HazardPublished: h.Delivered, HazardLastSeq: h.LastSeq, Summaries: n.summaries.Load(),
		Readings: n.readSent.Load(), ReadingsDropped: n.readings.droppedCount(),
	}
}

// Run publishes until ctx ends. It returns an error only when it cannot
// start (an unreadable cursor); broker outages are waited out.
func (n *Publisher) Run(ctx context.Context) error {
	// Checked before connecting, so a broken cursor does not announce the
	// gateway online to the hub for a moment; the followers load them again.
	start, err := n.opts.Cursor.Load()
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	if n.opts.Hazards != nil {
		if _, err := n.opts.HazardCursor.Load(); err != nil {
			return fmt.Errorf("northbound: hazard cursor: %w", err)
		}
	}
	opts, err := mqtt.PublisherOptions(n.cfg, n.clientID, n.statusTopic)
	if err != nil {
		return fmt.Errorf("northbound: %w", err)
	}
	// The will replaces protocols/mqtt's plain "offline". paho sends the
	// same will on every reconnect, so its time is when the publisher first
	// connected, not when the connection was lost: a hub takes the loss time
	// from its own clock.
	will := n.status(ctx, SiteOffline, "lost")
	payload, err := json.Marshal(will)
	if err != nil {
		return fmt.Errorf("northbound: encoding the last will: %w", err)
	}
	opts.SetBinaryWill(n.statusTopic, payload, 1, true)
	connected := make(chan struct{}, 1)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		if ctx.Err() != nil {
			return // stopping: a birth now could land after the offline
		}
		// Not waited for: paho runs this on a goroutine of its own, beside
		// the followers, and the contract orders nothing across topics.
		if b, err := json.Marshal(n.status(ctx, SiteOnline, "")); err == nil {
			cl.Publish(n.statusTopic, 1, true, b)
		}
		if n.commands != nil {
			// On every connect: the session is clean. What a hub sent
			// meanwhile it sends again until answered.
			if tok := cl.Subscribe(n.cmdTopic, 1, n.commands.handle(ctx)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				n.log.Error("northbound: cannot subscribe to hub commands; will retry on the next connect", "topic", n.cmdTopic, "err", tok.Error())
			}
		}
		select {
		case connected <- struct{}{}: // a fresh summary after each connect
		default:
		}
		n.log.Info("northbound connected", "broker", config.RedactURL(n.cfg.URL), "topic", n.topic, "after_seq", max(start, n.counters.Stats().LastSeq))
	}).SetConnectionLostHandler(func(_ paho.Client, err error) {
		n.log.Warn("northbound connection lost; reconnecting", "broker", config.RedactURL(n.cfg.URL), "err", err)
	})
	client := paho.NewClient(opts)
	if !mqtt.Connect(ctx, client, n.log, n.cfg.URL) {
		return nil
	}
	defer func() {
		if b, err := json.Marshal(n.status(context.WithoutCancel(ctx), SiteOffline, "stopped")); err == nil {
			client.Publish(n.statusTopic, 1, true, b).WaitTimeout(time.Second)
		}
		client.Disconnect(250)
	}()

	retry := deliver.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var wg sync.WaitGroup
	var hazardErr error
	if n.opts.Hazards != nil {
		hf := &deliver.Follower{
			Name: "northbound: hazard journal", Journal: deliver.Hazards(n.opts.Hazards), Cursor: n.opts.HazardCursor,
			Channel:  publisher{client: client, topic: n.hazardTopic, qos: n.cfg.QoS, timeout: n.cfg.Timeout, site: n.opts.Site},
			Retry:    retry,
			Counters: &n.hazardCount, Log: n.log,
		}
		wg.Go(func() { hazardErr = hf.Run(ctx) })
	}
	if n.cfg.SummaryInterval > 0 {
		wg.Go(func() { n.summarize(ctx, client, connected) })
	}
	if n.commands != nil {
		n.commands.replay = func(ctx context.Context, journal string, after int64) error {
			return n.replay(ctx, client, journal, after)
		}
		wg.Go(func() { n.commands.run(ctx, client, n.cfg.QoS, n.cfg.Timeout, n.log) })
	}
	if n.readings != nil {
		wg.Go(func() { n.publishReadings(ctx, client) })
	}
	f := &deliver.Follower{
		Name: "northbound", Journal: deliver.Alarms(n.opts.Source), Cursor: n.opts.Cursor,
		Channel:  publisher{client: client, topic: n.topic, qos: n.cfg.QoS, timeout: n.cfg.Timeout, site: n.opts.Site},
		Retry:    retry,
		Counters: &n.counters, Log: n.log,
	}
	err = f.Run(ctx)
	wg.Wait()
	return errors.Join(err, hazardErr)
}

// replayMax bounds one replay: a hub still behind asks again.
const replayMax = 10000

// replay publishes journal's events after after again, up to the newest
// at the time of the request, for a hub that found a gap (a broker that
// dropped queued messages, a shared subscription a restart forgot). The
// hub stores each once, so repeats cost only bandwidth.
func (n *Publisher) replay(ctx context.Context, client paho.Client, journal string, after int64) error {
	var (
		src   deliver.Journal
		last  int64
		topic string
		err   error
	)
	switch {
	case journal == TopicAlarm && n.opts.Journal != nil:
		src, topic = deliver.Alarms(n.opts.Source), n.topic
		last, err = n.opts.Journal.LastSeq(ctx)
	case journal == TopicHazard && n.opts.Hazards != nil:
		src, topic = deliver.Hazards(n.opts.Hazards), n.hazardTopic
		last, err = n.opts.Hazards.LastSeq(ctx)
	default:
		return fmt.Errorf("replay of %q: no such journal here", journal)
	}
	if err != nil {
		return fmt.Errorf("replay of %s: %w", journal, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := src.Subscribe(ctx, after)
	defer stream.Close()
	ch := publisher{client: client, topic: topic, qos: n.cfg.QoS, timeout: n.cfg.Timeout, site: n.opts.Site}
	sent := 0
	for ev := range stream.C {
		if ev.Seq > last || sent == replayMax {
			break
		}
		if err := ch.Deliver(ctx, ev); err != nil {
			return fmt.Errorf("replay of %s at seq %d: %w", journal, ev.Seq, err)
		}
		sent++
	}
	n.log.Info("northbound: replayed for the hub", "journal", journal, "after", after, "events", sent)
	return nil
}

// Readings is the pipeline consumer that gathers readings for
// northbound.readings; nil without it.
func (n *Publisher) Readings() collector.Consumer {
	if n.readings == nil {
		return nil
	}
	return n.readings
}

// publishReadings publishes the gathered readings every interval, a
// message of up to max_batch at a time, each waiting for the broker; what
// the broker does not take waits for the next interval.
func (n *Publisher) publishReadings(ctx context.Context, client paho.Client) {
	tick := time.NewTicker(n.cfg.Readings.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n.readings.refreshDue(now, n.opts.Latest)
			for {
				m, ok := n.readings.next(n.opts.Site, now)
				if !ok {
					break
				}
				b, err := json.Marshal(m)
				if err != nil {
					n.log.Error("northbound: encoding readings", "err", err) // a NaN value
					continue
				}
				tok := client.Publish(n.readTopic, 1, false, b)
				if !tok.WaitTimeout(n.cfg.Timeout) || tok.Error() != nil {
					n.readings.put(m)
					break
				}
				n.readSent.Add(uint64(len(m.Readings)))
			}
		}
	}
}

// status is the site's status now; a count that cannot be read is left 0
// (a status must go out whatever the store says).
func (n *Publisher) status(ctx context.Context, state, reason string) Status {
	s := Status{
		V: ContractVersion, Site: n.opts.Site, State: state, Time: time.Now().UTC(), Reason: reason,
		Name: n.opts.Name, Version: n.opts.Version, ConfigDigest: n.opts.ConfigDigest,
	}
	if n.opts.Counts != nil {
		c := n.opts.Counts()
		s.Devices, s.Tags = c.Devices, c.Tags
	}
	var err error
	if n.opts.Journal != nil {
		if s.AlarmSeq, err = n.opts.Journal.LastSeq(ctx); err != nil {
			n.log.Warn("northbound status: alarm seq unread", "err", err)
		}
	}
	if n.opts.Hazards != nil {
		if s.HazardSeq, err = n.opts.Hazards.LastSeq(ctx); err != nil {
			n.log.Warn("northbound status: hazard seq unread", "err", err)
		}
	}
	return s
}

// Summary reads the site's counts now.
func (n *Publisher) Summary(ctx context.Context) (Summary, error) {
	s := Summary{V: ContractVersion, Site: n.opts.Site, Time: time.Now().UTC(), Open: map[string]int{}}
	if n.opts.Counts != nil {
		c := n.opts.Counts()
		s.TagsBad, s.SpoolBacklog = c.TagsBad, c.SpoolBacklog
	}
	if j := n.opts.Journal; j != nil {
		var err error
		if s.AlarmSeq, err = j.LastSeq(ctx); err != nil {
			return s, err
		}
		open, err := j.List(ctx, alerting.AlarmFilter{Site: n.opts.Site, OpenOnly: true})
		if err != nil {
			return s, err
		}
		for _, a := range open {
			if a.State == alerting.SuppressedByDesign {
				continue // its device's root alarm is counted for it
			}
			s.Open[a.Severity]++
			if a.State.Unacked() {
				s.Unacked++
			}
		}
	}
	if h := n.opts.Hazards; h != nil {
		var err error
		if s.HazardSeq, err = h.LastSeq(ctx); err != nil {
			return s, err
		}
		hs, err := h.List(ctx, hazard.Filter{Site: n.opts.Site, Statuses: []hazard.Status{hazard.Open, hazard.InProgress, hazard.PendingVerification}})
		if err != nil {
			return s, err
		}
		s.OpenHazards = len(hs)
		for _, x := range hs {
			if x.Level == hazard.LevelMajor {
				s.MajorHazards++
			}
		}
	}
	return s, nil
}

// summarize publishes a summary after each connect and every
// summary_interval while connected, until ctx ends. Summaries are retained:
// a hub that starts (or restarts) has every site's last counts at once
// instead of a blank list for up to an interval; a summary is a snapshot,
// not an event, so the retained copy is never mistaken for a new one (its
// time says how old it is, the status whether the site is still there). A
// summary that fails is not sent again: the next one supersedes it.
func (n *Publisher) summarize(ctx context.Context, client paho.Client, connected <-chan struct{}) {
	tick := time.NewTicker(n.cfg.SummaryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-connected:
		}
		if !client.IsConnectionOpen() {
			continue // not queued in paho's store: a stale summary is worth nothing
		}
		s, err := n.Summary(ctx)
		if err == nil {
			var b []byte
			if b, err = json.Marshal(s); err == nil {
				tok := client.Publish(n.summary, 1, true, b)
				if !tok.WaitTimeout(n.cfg.Timeout) {
					err = fmt.Errorf("no acknowledgement within %v", n.cfg.Timeout)
				} else if err = tok.Error(); err == nil {
					n.summaries.Add(1)
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("northbound summary not published", "topic", n.summary, "err", err)
		}
	}
}

// publisher is a journal's channel: one publish, acknowledged or not.
type publisher struct {
	client  paho.Client
	topic   string
	qos     byte
	timeout time.Duration
	site    string
}

func (p publisher) Deliver(ctx context.Context, ev deliver.Event) error {
	var msg any
	if ev.Hazard != nil {
		msg = HazardMessage{V: ContractVersion, Site: p.site, Event: *ev.Hazard}
	} else {
		msg = AlarmMessage{V: ContractVersion, Site: p.site, Event: *ev.Alarm}
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		// An event is plain data; this cannot happen short of a NaN value.
		return deliver.Reject(fmt.Errorf("encoding event %s: %w", ev.ID(), err))
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
