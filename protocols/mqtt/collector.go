// Package mqtt collects readings from MQTT brokers. A Collector is one
// broker connection whose subscriptions turn topics into tags (created on
// first sight from templates) and payloads (number, JSON, Sparkplug B,
// fire-panel events) into collector.Samples. The northbound publisher of
// alarm events (alerting/deliver/northbound) connects through
// PublisherOptions and Connect.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

const (
	// queueLen is how many received messages may wait for the worker; when
	// it is full the handler blocks paho's router, which slows the broker.
	queueLen = 1024
	// maxBatch is how many messages the worker decodes into one emitted batch.
	maxBatch = 256
	// maxCreatedTags caps the tags one device may create on first sight, so a
	// payload field gone wild cannot fill memory with tags.
	maxCreatedTags = 200_000
	// recentLen is how many recent QoS 1/2 messages are remembered to drop
	// the broker's redeliveries of messages already handled. Everything
	// handled whose PUBACK the broker had not read when the connection broke
	// must fit: the queue, a batch, and acks still in socket buffers (a
	// broker stopped mid-burst in our tests redelivered 2500).
	recentLen = 16384
	// subscribeTimeout bounds the wait for a SUBACK.
	subscribeTimeout = 30 * time.Second
	// ackGrace is how long a stopping collector waits for handled
	// messages to become durable so it can still acknowledge them.
	ackGrace = 2 * time.Second
	// minConnectTimeout: the device timeout defaults to a Modbus request's
	// 500ms, too short for a TLS handshake over a 4G link.
	minConnectTimeout = 5 * time.Second
)

// Stats counts what a collector did since it was made.
type Stats struct {
	Connects      uint64              `json:"connects" metric:"hazgate_mqtt_connects_total" help:"Broker connections made with subscriptions in place."`                                // connections with subscriptions in place
	Lost          uint64              `json:"lost" metric:"hazgate_mqtt_connections_lost_total" help:"Broker connections lost."`                                                        // connections lost
	Duplicates    uint64              `json:"duplicates" metric:"hazgate_mqtt_duplicates_total" help:"Redeliveries of messages already handled, dropped."`                              // redeliveries of handled messages, dropped
	Replayed      uint64              `json:"replayed" metric:"hazgate_mqtt_replayed_total" help:"Redeliveries after a restart, stored again with their first receipt time (so once)."` // redeliveries after a restart, given their first receipt time
	Unmatched     uint64              `json:"unmatched" metric:"hazgate_mqtt_unmatched_messages_total" help:"Messages no subscription matches (a stale session's)."`                    // messages no subscription matches (a stale session's)
	Subscriptions []SubscriptionStats `json:"subscriptions"`
}

// Collector reads one MQTT device (a broker connection). Its decoding state
// is owned by the worker goroutine Run starts; counters are safe to read.
type Collector struct {
	site     string
	dev      config.Device
	emit     protocols.Emitter
	tags     protocols.TagAdder
	log      *slog.Logger
	times    collector.TimeBounds
	broker   broker
	subs     []*subscription
	filters  map[string]byte
	declared []collector.Tag
	queue    chan received
	acks     chan ackBatch // handled batches, in order, for the acker

	// Owned by the worker.
	seen         map[string]bool // tag id: ours (true) or another device's (false)
	created      int
	recent       recentSet
	stamps       *receipts // nil without a data_dir or with a clean session
	levels       []string  // the topic levels of the message in hand
	dataDir      string
	cleanSession bool

	// conn is the connection paho reads from now (nil over WebSockets);
	// a message remembers the one it came on, for ackAll.
	conn   atomic.Pointer[bufferedConn]
	ackBuf []byte // the acker's PUBACKs of one batch

	connects, lost, duplicates, unmatched, replayed atomic.Uint64
	running                                         atomic.Bool
}

// New validates dev's MQTT part and returns its collector. Errors name the
// device and, where one is at fault, the subscription's topic.
func New(env protocols.Env, dev config.Device) (*Collector, error) {
	if dev.ID == "" {
		return nil, errors.New("mqtt device: empty id")
	}
	if env.Emit == nil || env.Tags == nil {
		return nil, fmt.Errorf("device %s: no emitter or tag registry", dev.ID)
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	cfg, ok := dev.Block.(*Config)
	if !ok {
		return nil, fmt.Errorf("device %s: no mqtt block (protocol %q)", dev.ID, dev.Protocol)
	}
	if len(cfg.Subscriptions) == 0 {
		return nil, fmt.Errorf("device %s: no subscriptions", dev.ID)
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = "hazgate-" + env.Site + "-" + dev.ID
	}
	c := &Collector{
		site: env.Site, dev: dev, emit: env.Emit, tags: env.Tags,
		log: log.With("device", dev.ID), times: env.Times, dataDir: env.DataDir, cleanSession: cfg.CleanSession,
		broker: broker{
			url: dev.URL, clientID: clientID, username: cfg.Username, password: cfg.Password,
			keepAlive: cfg.KeepAlive, connectTimeout: max(dev.Timeout, minConnectTimeout),
			cleanSession: cfg.CleanSession, tls: dev.TLS,
			statusTopic: StatusTopic("hazgate", env.Site),
		},
		filters: make(map[string]byte),
		queue:   make(chan received, queueLen),
		acks:    make(chan ackBatch, queueLen/maxBatch*4),
		seen:    make(map[string]bool),
		recent:  newRecentSet(recentLen),
	}
	if _, err := c.broker.options(); err != nil {
		return nil, fmt.Errorf("device %s: %w", dev.ID, err)
	}
	for _, sc := range cfg.Subscriptions {
		s, err := compileSubscription(sc, cfg.QoS)
		if err != nil {
			return nil, fmt.Errorf("device %s: subscription %w", dev.ID, err)
		}
		c.subs = append(c.subs, s)
		// Two subscriptions on one filter share one MQTT subscription.
		c.filters[sc.Topic] = max(c.filters[sc.Topic], s.qos)
	}
	var err error
	if c.declared, err = protocols.DeclaredTags(env.Site, dev); err != nil {
		return nil, err
	}
	for _, t := range c.declared {
		c.seen[t.ID] = true // the gateway registers declared tags before Run
	}
	return c, nil
}

// Tags returns the tags declared in config; the rest are created on first sight.
func (c *Collector) Tags() []collector.Tag { return c.declared }

// Stats returns the counters.
func (c *Collector) Stats() Stats {
	st := Stats{Connects: c.connects.Load(), Lost: c.lost.Load(), Duplicates: c.duplicates.Load(), Unmatched: c.unmatched.Load(), Replayed: c.replayed.Load()}
	for _, s := range c.subs {
		st.Subscriptions = append(st.Subscriptions, s.stats())
	}
	return st
}

// Run connects, subscribes and hands readings on until ctx ends. paho
// reconnects by itself; every (re)connect resubscribes. Messages are
// acknowledged only after their samples are emitted, so a message the broker
// accepted is either in the pipeline or still queued at the broker.
func (c *Collector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("device %s: Run called twice", c.dev.ID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts, err := c.broker.options()
	if err != nil {
		return fmt.Errorf("device %s: %w", c.dev.ID, err)
	}
	// Only a kept session is redelivered after a restart.
	if c.dataDir != "" && !c.cleanSession {
		path := filepath.Join(c.dataDir, "mqtt-"+url.PathEscape(c.dev.ID)+".receipts")
		if c.stamps, err = openReceipts(path, recentLen); err != nil {
			return fmt.Errorf("device %s: %w", c.dev.ID, err)
		}
		defer c.stamps.Close()
	}
	if c.broker.buffered() {
		// paho dials a new connection only once the goroutines of the
		// last one (the router calling the handler below) have stopped,
		// so a message's conn is the one it came on.
		opts.SetCustomOpenConnectionFn(func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
			conn, err := openBuffered(uri, o)
			if err != nil {
				return nil, err
			}
			c.conn.Store(conn)
			return conn, nil
		})
	}
	opts.SetStore(newInboundFreeStore()).
		SetAutoAckDisabled(true).
		// Runs on paho's router goroutine: hand over and return, or acks
		// and pings stall.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			// Stamped here, one time per message: readings without a
			// time of their own must not share one, or InfluxDB keeps
			// only the last of them.
			select {
			case c.queue <- received{m, time.Now(), c.conn.Load()}:
			case <-ctx.Done():
			}
		}).
		SetOnConnectHandler(func(cl paho.Client) { c.onConnect(cl) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.lost.Add(1)
			c.log.Warn("mqtt connection lost; reconnecting", "broker", config.RedactURL(c.dev.URL), "err", err)
		})
	client := paho.NewClient(opts)

	var wg sync.WaitGroup
	wg.Go(func() { c.work(ctx) })
	wg.Go(func() { c.ack(ctx) })
	if Connect(ctx, client, c.log, c.dev.URL) {
		<-ctx.Done()
		wg.Wait() // the last acknowledgements go out before we disconnect
		// A clean stop sends no will; say offline ourselves.
		client.Publish(c.broker.statusTopic, 1, true, StatusOffline).WaitTimeout(time.Second)
		client.Disconnect(250)
	}
	wg.Wait()
	return nil
}

// onConnect subscribes on every (re)connect: the broker may have lost the
// session (a restart without persistence, a clean session) and a
// resubscription with a kept session is harmless.
func (c *Collector) onConnect(cl paho.Client) {
	tok := cl.SubscribeMultiple(c.filters, nil) // nil: every message goes to the default handler, once
	if !tok.WaitTimeout(subscribeTimeout) || tok.Error() != nil {
		c.log.Error("mqtt subscribe failed; will retry on the next connect", "broker", config.RedactURL(c.dev.URL), "err", tok.Error())
		return
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for topic, q := range st.Result() {
			if q == 0x80 {
				c.log.Error("mqtt broker refused a subscription (check its ACL)", "topic", topic)
			}
		}
	}
	c.connects.Add(1)
	cl.Publish(c.broker.statusTopic, 1, true, StatusOnline)
	c.log.Info("mqtt connected and subscribed", "broker", config.RedactURL(c.dev.URL), "client_id", c.broker.clientID, "subscriptions", len(c.filters))
}

// ackBatch is a handled batch whose messages are acknowledged once done is closed.
type ackBatch struct {
	msgs []received
	done chan struct{}
}

// work decodes queued messages in batches and emits their samples; ack
// acknowledges them, in order, once they are durable. On stop,
// unacknowledged messages stay with the broker.
func (c *Collector) work(ctx context.Context) {
	durable, _ := c.emit.(protocols.DurableEmitter)
	scratch := make([]received, 0, maxBatch)
	for {
		batch := scratch[:0]
		select {
		case m := <-c.queue:
			batch = append(batch, m)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case m := <-c.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		// The acker keeps the batch until it is durable: a copy of its
		// size, so the scratch slice can be reused.
		batch = slices.Clone(batch)
		clear(scratch[:len(batch)]) // drop references for the GC
		ab := ackBatch{msgs: batch, done: make(chan struct{})}
		samples := c.handle(batch)
		if c.stamps != nil {
			if err := c.stamps.commit(); err != nil {
				// Costs at most a duplicate point after a restart, never data.
				c.log.Error("mqtt receipt times not saved; a redelivery after a restart may be stored twice", "err", err)
			}
		}
		switch {
		case len(samples) == 0 || durable == nil || !needsAck(batch):
			if err := c.emit.Emit(ctx, samples); err != nil {
				return
			}
			close(ab.done)
		default:
			if err := durable.EmitDurable(ctx, samples, func() { close(ab.done) }); err != nil {
				return
			}
		}
		select {
		case c.acks <- ab:
		case <-ctx.Done():
			return
		}
	}
}

// ack sends PUBACKs in the order the messages came, as MQTT requires, each
// batch once its samples are durable.
func (c *Collector) ack(ctx context.Context) {
	for {
		select {
		case ab := <-c.acks:
			select {
			case <-ab.done:
				c.ackAll(ab.msgs)
			case <-ctx.Done():
				c.drainAcks(&ab)
				return
			}
		case <-ctx.Done():
			c.drainAcks(nil)
			return
		}
	}
}

// drainAcks, on stop, still acknowledges what becomes durable within
// ackGrace (the pipeline and sinks stop after the devices), so a clean
// restart does not make the broker send it again.
func (c *Collector) drainAcks(first *ackBatch) {
	grace := time.After(ackGrace)
	for {
		ab := first
		first = nil
		if ab == nil {
			select {
			case b := <-c.acks:
				ab = &b
			default:
				return
			}
		}
		select {
		case <-ab.done:
			c.ackAll(ab.msgs)
		case <-grace:
			return
		}
	}
}

// ackAll acknowledges msgs in order. The PUBACKs of QoS 1 messages that
// came on the connection still open go out in one write, rather than one
// write (a syscall) per message from paho's writer; the rest go through
// paho: QoS 2's PUBREC, and acks for a connection since lost, which paho
// drops (the broker sends those messages again).
func (c *Collector) ackAll(msgs []received) {
	cur := c.conn.Load()
	buf := c.ackBuf[:0]
	flush := func() {
		if len(buf) > 0 {
			// A failed write is a lost connection: paho's reader sees it
			// too, and the broker redelivers what was not acknowledged.
			cur.Write(buf) //nolint:errcheck
			buf = buf[:0]
		}
	}
	for _, r := range msgs {
		if cur != nil && r.conn == cur && r.m.Qos() == 1 {
			id := r.m.MessageID()
			buf = append(buf, pubackHeader, 2, byte(id>>8), byte(id))
			continue
		}
		flush()
		r.m.Ack()
	}
	flush()
	c.ackBuf = buf[:0]
}

// pubackHeader is the fixed header byte of an MQTT 3.1.1 PUBACK; its
// remaining length is 2, the packet identifier.
const pubackHeader = 0x40

// needsAck says whether any message of batch is QoS 1 or 2.
func needsAck(batch []received) bool {
	for _, r := range batch {
		if r.m.Qos() > 0 {
			return true
		}
	}
	return false
}

// received is a message with the time it arrived, the time of its readings
// when the payload carries none.
type received struct {
	m    paho.Message
	at   time.Time
	conn *bufferedConn // the connection m came on; nil over WebSockets
}

// handle turns a batch of messages into samples. A bad payload is counted
// and logged and costs only itself.
func (c *Collector) handle(batch []received) []collector.Sample {
	out := make([]collector.Sample, 0, len(batch))
	for _, r := range batch {
		m := r.m
		topic, payload := m.Topic(), m.Payload()
		if m.Qos() == 0 {
			out = c.decode(out, topic, payload, r.at)
			continue
		}
		key := receiptKey(m.MessageID(), topic, payload)
		if m.Duplicate() && c.recent.has(key) {
			c.duplicates.Add(1)
			continue
		}
		c.recent.add(key)
		if c.stamps == nil {
			out = c.decode(out, topic, payload, r.at)
			continue
		}
		at := r.at
		if m.Duplicate() {
			if first, ok := c.stamps.lookup(key); ok {
				at = first
				c.replayed.Add(1)
			}
		}
		n := len(out)
		out = c.decode(out, topic, payload, at)
		for _, s := range out[n:] {
			if s.Time.Equal(at) { // stamped on receipt: remember the stamp
				c.stamps.add(key, at)
				break
			}
		}
	}
	return out
}

// decode appends the samples of one message on every subscription it matches.
func (c *Collector) decode(out []collector.Sample, topic string, payload []byte, now time.Time) []collector.Sample {
	c.levels = splitLevels(c.levels[:0], topic)
	levels := c.levels
	matched := false
	for _, s := range c.subs {
		if !s.matches(levels) {
			continue
		}
		matched = true
		s.messages.Add(1)
		rs, err := s.decode(topic, levels, payload, now)
		if err != nil {
			c.refuse(s, topic, payload, err)
		}
		n := 0
		for i := range rs {
			r := &rs[i]
			// Receipt times are now and always pass; device times may not.
			if err := c.times.Check(r.time, now); err != nil {
				c.refuse(s, topic, payload, bad(ReasonBadTime, "tag %q: %v", r.tag, err))
				continue
			}
			if err := c.register(s, r); err != nil {
				c.refuse(s, topic, payload, err)
				continue
			}
			out = append(out, collector.Sample{Tag: r.tag, Value: r.value, Quality: r.quality, Reason: r.reason, Time: r.time})
			n++
		}
		s.readings.Add(uint64(n))
	}
	if !matched {
		c.unmatched.Add(1)
	}
	return out
}

// splitLevels appends topic's levels to dst, as strings.Split(topic, "/").
func splitLevels(dst []string, topic string) []string {
	for {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return append(dst, topic)
		}
		dst = append(dst, topic[:i])
		topic = topic[i+1:]
	}
}

// register makes sure r's tag (and its family) is in the registry, adding
// it on first sight with the subscription's metadata.
func (c *Collector) register(s *subscription, r *reading) error {
	if ours, known := c.seen[r.tag]; known {
		if !ours {
			return bad(ReasonTagConflict, "tag %q belongs to another device", r.tag)
		}
		return nil
	}
	ids := r.family
	if ids == nil {
		ids = []string{r.tag}
	}
	if c.created+len(ids) > maxCreatedTags {
		return bad(ReasonTooManyTags, "device already created %d tags; %q refused", c.created, r.tag)
	}
	var conflict error
	for _, id := range ids {
		if _, known := c.seen[id]; known {
			continue
		}
		err := c.tags.Add(collector.Tag{ID: id, Name: r.name, Site: c.site, Device: c.dev.ID, Kind: s.kind, Unit: s.cfg.Unit, Area: r.area})
		c.seen[id] = err == nil
		if err == nil {
			c.created++
		} else if id == r.tag {
			conflict = bad(ReasonTagConflict, "%v", err)
		}
	}
	return conflict
}

// refuse counts a bad payload and logs it at most once a minute per subscription.
func (c *Collector) refuse(s *subscription, topic string, payload []byte, err error) {
	reason := "other"
	var pe *payloadError
	if errors.As(err, &pe) {
		reason = pe.reason
	}
	if log, suppressed := s.bad.add(reason, time.Now()); log {
		c.log.Warn("bad mqtt payload", "subscription", s.cfg.Topic, "topic", topic, "reason", reason,
			"err", err, "payload", excerpt(payload), "suppressed_since_last", suppressed)
	}
}

// recentSet remembers the keys (receiptKey) of the last n messages, to drop
// a broker's redelivery (DUP) of a message already handled but not yet
// acknowledged when the connection broke.
type recentSet struct {
	ring  []uint64
	next  int
	index map[uint64]int // key -> how many times in the ring
}

func newRecentSet(n int) recentSet {
	return recentSet{ring: make([]uint64, n), index: make(map[uint64]int, n)}
}

func (r *recentSet) has(h uint64) bool { return r.index[h] > 0 }

func (r *recentSet) add(h uint64) {
	if old := r.ring[r.next]; r.index[old] > 1 {
		r.index[old]--
	} else {
		delete(r.index, old)
	}
	r.ring[r.next] = h
	r.index[h]++
	r.next = (r.next + 1) % len(r.ring)
}
