// Package hub is a regulator's hub: it reads the sites' northbound topics
// (docs/northbound.md) from a broker, optionally through a shared
// subscription so several hub processes split one feed, and keeps per site the alarms and
// hazard records as the site has them and the site's health. Each event is
// stored once whatever the redelivery (site + journal seq), and a message
// is acknowledged to the broker only once it is stored.
package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/sqlstore"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/mqtt"
)

// Stats counts what the hub did with the messages it received.
type Stats struct {
	Received  uint64 `json:"received" metric:"hazgate_hub_received_total" help:"Messages received from the sites' topics."`
	Stored    uint64 `json:"stored" metric:"hazgate_hub_stored_total" help:"Events, statuses and summaries stored."`
	Duplicate uint64 `json:"duplicate" metric:"hazgate_hub_duplicate_total" help:"Events received again (site and seq already stored): dropped."`
	Late      uint64 `json:"late" metric:"hazgate_hub_late_total" help:"Events older than the site's current copy: kept in history, the current copy unchanged."`
	// Refused: bad input, dropped (and acknowledged, so it cannot block
	// the feed), one counter per reason.
	RefusedSite      uint64 `json:"refused_unknown_site" metric:"hazgate_hub_refused_unknown_site_total" help:"Messages from a site not in hub.sites, or whose payload names another site than its topic."`
	RefusedVersion   uint64 `json:"refused_version" metric:"hazgate_hub_refused_version_total" help:"Messages of a contract version this hub does not read."`
	RefusedMalformed uint64 `json:"refused_malformed" metric:"hazgate_hub_refused_malformed_total" help:"Messages that are not the contract's JSON, or on an unknown topic."`
	RefusedOversize  uint64 `json:"refused_oversize" metric:"hazgate_hub_refused_oversize_total" help:"Messages larger than hub.max_payload."`
	StoreErrors      uint64 `json:"store_errors" metric:"hazgate_hub_store_errors_total" help:"Store failures; the message is retried until stored."`
	Offline          uint64 `json:"offline" metric:"hazgate_hub_sites_went_offline_total" help:"Times a site went silent past hub.offline_after."`
	Replays          uint64 `json:"replays" metric:"hazgate_hub_replays_requested_total" help:"Replays asked of sites whose journal the hub holds with a gap (a broker dropped or never delivered their events)."`
}

// Options are what an Ingest needs besides its config block.
type Options struct {
	Store *Store
	Log   *slog.Logger
	// ClientID defaults to hub.client_id, else hazgate-hub-{Name}.
	Name string
	Now  func() time.Time
	// Health, when set, hears each change of a site's state: online from
	// its birth or its first word after a silence, offline from its will,
	// a clean stop or silence. The gateway turns it into a sample of the
	// site's tag, so an offline site is an alarm of the hub's.
	Health func(ctx context.Context, site string, online bool, at time.Time)
}

// Ingest reads the sites' topics into the store.
type Ingest struct {
	cfg      config.Hub
	store    *Store
	log      *slog.Logger
	now      func() time.Time
	clientID string
	sites    map[string]config.HubSite // empty: any site
	health   func(ctx context.Context, site string, online bool, at time.Time)
	filters  map[string]byte

	wake chan struct{} // a new command to send
	live Live

	received, stored, duplicate, late          atomic.Uint64
	refusedSite, refusedVersion, refusedFormat atomic.Uint64
	refusedSize, storeErrors, offline, replays atomic.Uint64
	// gapSince is when each site journal's gap was first seen, so events
	// still in flight land before a replay is asked for. sendCommands only.
	gapSince map[string]time.Time
}

// New checks the options and returns the ingest.
func New(cfg config.Hub, o Options) (*Ingest, error) {
	if o.Store == nil {
		return nil, errors.New("hub: a store is required")
	}
	in := &Ingest{cfg: cfg, store: o.Store, log: o.Log, now: o.Now, clientID: cfg.ClientID, sites: map[string]config.HubSite{}, health: o.Health}
	if in.health == nil {
		in.health = func(context.Context, string, bool, time.Time) {}
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	in.log = in.log.With("component", "hub")
	if in.now == nil {
		in.now = time.Now
	}
	if in.clientID == "" {
		in.clientID = "hazgate-hub-" + o.Name
	}
	in.wake = make(chan struct{}, 1)
	in.gapSince = map[string]time.Time{}
	for _, s := range cfg.Sites {
		in.sites[s.ID] = s
	}
	if cfg.OfflineAfter > 0 {
		o.Store.seenEvery = min(defaultSeenEvery, cfg.OfflineAfter/4)
	}
	// Status is retained, and a broker sends retained messages to plain
	// subscriptions only: every hub process reads every status (the latest
	// wins, so storing it twice is harmless). The journals' topics are
	// shared, each message to one process of the group.
	in.filters = map[string]byte{cfg.TopicPrefix + "/+/" + northbound.TopicStatus: 1}
	share := ""
	if cfg.Group != "" {
		share = "$share/" + cfg.Group + "/"
	}
	for _, t := range []string{northbound.TopicAlarm, northbound.TopicHazard, northbound.TopicSummary, northbound.TopicCommandAck, northbound.TopicReading} {
		in.filters[share+cfg.TopicPrefix+"/+/"+t] = 1
	}
	return in, nil
}

// Stats returns the counters.
func (in *Ingest) Stats() Stats {
	return Stats{
		Received: in.received.Load(), Stored: in.stored.Load(), Duplicate: in.duplicate.Load(), Late: in.late.Load(),
		RefusedSite: in.refusedSite.Load(), RefusedVersion: in.refusedVersion.Load(),
		RefusedMalformed: in.refusedFormat.Load(), RefusedOversize: in.refusedSize.Load(),
		StoreErrors: in.storeErrors.Load(), Offline: in.offline.Load(), Replays: in.replays.Load(),
	}
}

// refusal is bad input: logged, counted, acknowledged and dropped.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// refuse counts bad input on c and returns the refusal.
func (in *Ingest) refuse(c *atomic.Uint64, format string, args ...any) error {
	c.Add(1)
	return &refusal{err: fmt.Errorf(format, args...)}
}

// decode checks one message received on topic and decodes it. Bad input
// is a refusal, counted here.
func (in *Ingest) decode(topic string, payload []byte) (Message, error) {
	in.received.Add(1)
	if int64(len(payload)) > int64(in.cfg.MaxPayload) {
		return Message{}, in.refuse(&in.refusedSize, "%d bytes, more than hub.max_payload %d", len(payload), in.cfg.MaxPayload)
	}
	rest, ok := strings.CutPrefix(topic, in.cfg.TopicPrefix+"/")
	site, kind, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || site == "" {
		return Message{}, in.refuse(&in.refusedFormat, "not a {prefix}/{site}/{kind} topic")
	}
	if len(in.sites) > 0 {
		if _, known := in.sites[site]; !known {
			return Message{}, in.refuse(&in.refusedSite, "site %q is not in hub.sites", site)
		}
	}
	// One decode per message, into the kind's own type (the hot path);
	// only a payload that does not fit it is read again, for its version.
	m := Message{Site: site}
	var dst any
	var v *int
	var named *string
	switch kind {
	case northbound.TopicAlarm:
		m.Alarm = new(northbound.AlarmMessage)
		dst, v, named = m.Alarm, &m.Alarm.V, &m.Alarm.Site
	case northbound.TopicHazard:
		m.Hazard = new(northbound.HazardMessage)
		dst, v, named = m.Hazard, &m.Hazard.V, &m.Hazard.Site
	case northbound.TopicStatus:
		m.Status = new(northbound.Status)
		dst, v, named = m.Status, &m.Status.V, &m.Status.Site
	case northbound.TopicSummary:
		m.Summary = new(northbound.Summary)
		dst, v, named = m.Summary, &m.Summary.V, &m.Summary.Site
	case northbound.TopicReading:
		m.Readings = new(northbound.ReadingMessage)
		dst, v, named = m.Readings, &m.Readings.V, &m.Readings.Site
	case northbound.TopicCommandAck:
		m.Ack = new(northbound.CommandAck)
		dst, v, named = m.Ack, &m.Ack.V, &m.Ack.Site
	default:
		return Message{}, in.refuse(&in.refusedFormat, "unknown topic kind %q", kind)
	}
	decodeErr := json.Unmarshal(payload, dst)
	if decodeErr != nil {
		var head struct {
			V int `json:"v"`
		}
		if json.Unmarshal(payload, &head) != nil {
			return Message{}, in.refuse(&in.refusedFormat, "not JSON: %v", decodeErr)
		}
		*v = head.V
	}
	if *v != northbound.ContractVersion {
		return Message{}, in.refuse(&in.refusedVersion, "contract version %d, this hub reads %d", *v, northbound.ContractVersion)
	}
	if decodeErr == nil && *named != site {
		return Message{}, in.refuse(&in.refusedSite, "payload names site %q", *named)
	}
	switch {
	case m.Alarm != nil && (decodeErr != nil || m.Alarm.Seq <= 0 || m.Alarm.Alarm.ID <= 0):
		return Message{}, in.refuse(&in.refusedFormat, "not an alarm message (seq %d, alarm id %d): %v", m.Alarm.Seq, m.Alarm.Alarm.ID, decodeErr)
	case m.Hazard != nil && (decodeErr != nil || m.Hazard.Seq <= 0 || m.Hazard.Hazard.ID <= 0):
		return Message{}, in.refuse(&in.refusedFormat, "not a hazard message (seq %d, hazard id %d): %v", m.Hazard.Seq, m.Hazard.Hazard.ID, decodeErr)
	case m.Status != nil && (decodeErr != nil || (m.Status.State != northbound.SiteOnline && m.Status.State != northbound.SiteOffline)):
		return Message{}, in.refuse(&in.refusedFormat, "not a status message (state %q): %v", m.Status.State, decodeErr)
	case m.Readings != nil && (decodeErr != nil || len(m.Readings.Readings) == 0):
		return Message{}, in.refuse(&in.refusedFormat, "not a reading message (%d readings): %v", len(m.Readings.Readings), decodeErr)
	case m.Ack != nil && (decodeErr != nil || m.Ack.ID == ""):
		return Message{}, in.refuse(&in.refusedFormat, "not a command acknowledgement (id %q): %v", m.Ack.ID, decodeErr)
	case decodeErr != nil:
		return Message{}, in.refuse(&in.refusedFormat, "not a %s message: %v", kind, decodeErr)
	}
	if m.Readings != nil {
		for _, r := range m.Readings.Readings {
			if r.Tag == "" || r.Time.IsZero() {
				return Message{}, in.refuse(&in.refusedFormat, "a reading without a tag or time")
			}
		}
	}
	return m, nil
}

// Handle stores one message received on topic. A refusal (bad input) is
// returned as an error for which IsRefusal is true: drop it. Any other
// error is the store's: try again.
func (in *Ingest) Handle(ctx context.Context, topic string, payload []byte) error {
	m, err := in.decode(topic, payload)
	if err != nil {
		return err
	}
	return in.store1(ctx, []Message{m}, []string{topic})
}

// store1 applies decoded messages in one transaction and reports what
// became of each.
func (in *Ingest) store1(ctx context.Context, batch []Message, topics []string) error {
	now := in.now()
	res, err := in.store.Apply(ctx, batch, now)
	if err != nil {
		in.storeErrors.Add(1)
		return err
	}
	for i, m := range batch {
		switch res.Applied[i] {
		case Duplicate:
			in.duplicate.Add(1)
		case Late:
			in.late.Add(1)
			in.log.Warn("event older than the site's current copy: kept in history only", "site", m.Site, "topic", topics[i])
		default:
			in.stored.Add(1)
		}
		switch {
		case m.Status != nil:
			in.log.Info("site "+m.Status.State, "site", m.Site, "reason", m.Status.Reason, "version", m.Status.Version)
			in.health(ctx, m.Site, m.Status.State == northbound.SiteOnline, now)
		case m.Ack != nil && res.Applied[i] == Stored:
			in.log.Info("site acknowledged a command", "site", m.Site, "command", m.Ack.ID, "ok", m.Ack.OK, "err", m.Ack.Error)
		}
	}
	for _, site := range res.Back {
		in.log.Info("site speaks again: online", "site", site)
		in.health(ctx, site, true, now)
	}
	for _, m := range batch {
		if m.Summary == nil && m.Ack == nil && m.Readings == nil {
			in.live.publish(m)
		}
	}
	return nil
}

// Live is what this process stores, as it commits, for live streams.
func (in *Ingest) Live() *Live { return &in.live }

// IsRefusal reports bad input, which is dropped rather than retried.
func IsRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// Run reads the sites' topics until ctx ends; broker and store outages are
// waited out. Messages are handled in arrival order, each acknowledged once
// stored (or refused).
func (in *Ingest) Run(ctx context.Context) error {
	opts, err := mqtt.HubOptions(in.cfg, in.clientID)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	queue := make(chan paho.Message, 1024)
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		// On paho's router goroutine: hand over and return.
		select {
		case queue <- m:
		case <-ctx.Done():
		}
	}).SetOnConnectHandler(func(cl paho.Client) {
		tok := cl.SubscribeMultiple(in.filters, nil)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			in.log.Error("hub subscribe failed; will retry on the next connect", "broker", config.RedactURL(in.cfg.URL), "err", tok.Error())
			return
		}
		in.log.Info("hub connected and subscribed", "broker", config.RedactURL(in.cfg.URL), "client_id", in.clientID, "group", in.cfg.Group)
	}).SetConnectionLostHandler(func(_ paho.Client, err error) {
		in.log.Warn("hub connection lost; reconnecting", "broker", config.RedactURL(in.cfg.URL), "err", err)
	})
	client := paho.NewClient(opts)
	var wg sync.WaitGroup
	wg.Go(func() { in.watch(ctx) })
	if mqtt.Connect(ctx, client, in.log, in.cfg.URL) {
		wg.Go(func() { in.sendCommands(ctx, client) })
		in.work(ctx, queue)
		wg.Wait()
		client.Disconnect(250)
	}
	wg.Wait()
	return nil
}

// maxBatch is the most messages one transaction stores.
const maxBatch = 512

// work handles queued messages until ctx ends: whatever is queued, up to
// maxBatch, is stored in one transaction and then acknowledged.
func (in *Ingest) work(ctx context.Context, queue <-chan paho.Message) {
	msgs := make([]paho.Message, 0, maxBatch)
	for {
		msgs = msgs[:0]
		select {
		case m := <-queue:
			msgs = append(msgs, m)
		case <-ctx.Done():
			return
		}
	fill:
		for len(msgs) < maxBatch {
			select {
			case m := <-queue:
				msgs = append(msgs, m)
			default:
				break fill
			}
		}
		in.storeUntilDone(ctx, msgs)
	}
}

// storeUntilDone decodes a batch, stores what is good and acknowledges
// everything once stored; refusals are logged and acknowledged, so bad
// input cannot block the feed. A store failure is retried with backoff,
// holding the feed: later events must not overtake unstored ones.
func (in *Ingest) storeUntilDone(ctx context.Context, msgs []paho.Message) {
	batch := make([]Message, 0, len(msgs))
	topics := make([]string, 0, len(msgs))
	for _, m := range msgs {
		d, err := in.decode(m.Topic(), m.Payload())
		if err != nil {
			in.log.Warn("hub refused a message", "topic", m.Topic(), "bytes", len(m.Payload()), "err", err)
			continue
		}
		batch, topics = append(batch, d), append(topics, m.Topic())
	}
	backoff := 100 * time.Millisecond
	for len(batch) > 0 {
		err := in.store1(ctx, batch, topics)
		if err == nil {
			break
		}
		// One message the store refuses (a NUL byte PostgreSQL will not
		// take) must not hold the feed: alone, the others go in, and a
		// message that fails while others succeed is refused. When none
		// goes in, the store is down: wait and try again.
		var left []Message
		var leftTopics []string
		stored := 0
		if len(batch) > 1 {
			for i := range batch {
				if err := in.store1(ctx, batch[i:i+1], topics[i:i+1]); err != nil {
					left, leftTopics = append(left, batch[i]), append(leftTopics, topics[i])
				} else {
					stored++
				}
			}
		} else {
			left, leftTopics = batch, topics
		}
		if stored > 0 || (len(left) == 1 && sqlstore.IsDataError(err)) {
			for i := range left {
				in.refusedFormat.Add(1)
				in.log.Error("hub store refused a message; dropped", "topic", leftTopics[i], "err", err)
			}
			break
		}
		batch, topics = left, leftTopics
		if ctx.Err() != nil {
			return // stopping: unacknowledged, the broker redelivers them to the next session
		}
		in.log.Error("hub store failed; retrying", "messages", len(batch), "in", backoff, "err", err)
		if !collector.Sleep(ctx, backoff) {
			return // unacknowledged: the broker redelivers them to the next session
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	for _, m := range msgs {
		m.Ack()
	}
}

// watch marks sites offline when they go silent.
func (in *Ingest) watch(ctx context.Context) {
	every := max(in.cfg.OfflineAfter/4, 250*time.Millisecond)
	start := in.now()
	for collector.Sleep(ctx, every) {
		now := in.now()
		// A listed site that has said nothing since the hub started is as
		// offline as one that went quiet.
		marked, err := in.store.MarkSilent(ctx, now.Add(-in.cfg.OfflineAfter), now, now.Sub(start) >= in.cfg.OfflineAfter)
		if err != nil {
			in.log.Error("hub: checking for silent sites", "err", err)
			continue
		}
		for _, site := range marked {
			in.offline.Add(1)
			in.log.Warn("site silent: offline (comm_loss at the hub)", "site", site, "silent_for", in.cfg.OfflineAfter)
			in.health(ctx, site, false, now)
		}
	}
}

// Command types a hub sends south.
const (
	CommandSupervise = "supervise" // 挂牌督办, with a note and an optional deadline
	CommandLift      = "lift"      // 撤销督办
)

// resendAfter is how long a sent command waits for the site's answer
// before it is sent again (the site applies each id once).
const resendAfter = 30 * time.Second

// Command records an instruction to a site's hazard record and sends it:
// the record is committed first, so a hub restart or a broker outage
// delays it but never loses it.
func (in *Ingest) Command(ctx context.Context, c northbound.Command) (CommandRecord, error) {
	if c.Type != CommandSupervise && c.Type != CommandLift {
		return CommandRecord{}, fmt.Errorf("command type %q: want %s or %s", c.Type, CommandSupervise, CommandLift)
	}
	if len(in.sites) > 0 {
		if _, ok := in.sites[c.Site]; !ok {
			return CommandRecord{}, fmt.Errorf("site %q is not in hub.sites", c.Site)
		}
	}
	c.V, c.Time = northbound.ContractVersion, in.now().UTC()
	if c.ID == "" {
		c.ID = newCommandID(c.Time)
	}
	if err := in.store.AddCommand(ctx, c); err != nil {
		return CommandRecord{}, err
	}
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return CommandRecord{Command: c}, nil
}

// newCommandID is unique across hub processes and restarts: time and
// randomness.
func newCommandID(t time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return t.Format("20060102T150405.000000") + "-" + hex.EncodeToString(b[:])
}

// sendCommands publishes pending commands, and again those a site has not
// answered within resendAfter, until ctx ends.
func (in *Ingest) sendCommands(ctx context.Context, client paho.Client) {
	tick := time.NewTicker(max(in.cfg.OfflineAfter/4, time.Second))
	defer tick.Stop()
	for {
		pending, err := in.store.Commands(ctx, nil, true, MaxLimit)
		if err != nil && ctx.Err() == nil {
			in.log.Error("hub: reading pending commands", "err", err)
		}
		now := in.now()
		for _, c := range pending {
			if c.SentAt != nil && now.Sub(*c.SentAt) < resendAfter {
				continue
			}
			b, err := json.Marshal(c.Command)
			if err != nil {
				continue
			}
			topic := in.cfg.TopicPrefix + "/" + c.Site + "/" + northbound.TopicCommand
			tok := client.Publish(topic, 1, false, b)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				in.log.Warn("hub: command not taken by the broker; will resend", "site", c.Site, "command", c.ID, "err", tok.Error())
				break
			}
			if err := in.store.Sent(ctx, c.ID, now); err != nil {
				in.log.Error("hub: recording a sent command", "command", c.ID, "err", err)
			}
		}
		in.askReplays(ctx, client, now)
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-tick.C:
		}
	}
}

// replayWait is how long a gap stays before the hub asks for a replay, and
// between two asks of the same gap.
func (in *Ingest) replayWait() time.Duration { return max(2*time.Second, in.cfg.OfflineAfter/6) }

// askReplays asks each site whose journal the hub holds with a gap for a
// while to send the events after the gap again.
func (in *Ingest) askReplays(ctx context.Context, client paho.Client, now time.Time) {
	gaps, err := in.store.Gaps(ctx)
	if err != nil {
		if ctx.Err() == nil {
			in.log.Error("hub: checking for gaps", "err", err)
		}
		return
	}
	open := map[string]bool{}
	for _, g := range gaps {
		key := g.Site + "/" + g.Journal
		open[key] = true
		since, seen := in.gapSince[key]
		if !seen {
			in.gapSince[key] = now
			continue
		}
		if now.Sub(since) < in.replayWait() {
			continue
		}
		c := northbound.Command{V: northbound.ContractVersion, ID: newCommandID(now), Site: g.Site, Time: now.UTC(),
			Type: "replay", Journal: g.Journal, After: g.After, By: in.clientID}
		b, _ := json.Marshal(c)
		tok := client.Publish(in.cfg.TopicPrefix+"/"+g.Site+"/"+northbound.TopicCommand, 1, false, b)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			continue
		}
		in.replays.Add(1)
		in.gapSince[key] = now
		in.log.Warn("hub: a site's journal has a gap; asked for a replay", "site", g.Site, "journal", g.Journal, "after", g.After, "behind", g.Behind)
	}
	for key := range in.gapSince {
		if !open[key] {
			delete(in.gapSince, key)
		}
	}
}
