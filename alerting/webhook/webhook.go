// Package webhook delivers alarm and hazard events to HTTP receivers. Each
// webhook follows the alarm bus and the hazard event stream as subscribers
// from cursors it saves after every event, so deliveries resume from the
// journals after a restart: every event is delivered at least once, in
// order per journal, and retried with backoff until the receiver takes it.
//
// A delivery is a POST of JSON:
//
//	{"id": "a17", "event": "alarm.raised", "site": "cz-demo-01", "data": {...}}
//
// id is stable across retries ("a<alarm seq>" or "h<hazard seq>"), for the
// receiver to drop duplicates; data is the alarm event (alerting.Event) or
// the hazard event (hazard.Event). Headers: X-Hazgate-Event, X-Hazgate-Delivery
// (the id), and with a secret X-Hazgate-Timestamp (Unix seconds) and
// X-Hazgate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/config"
)

// AlarmFeed is the alarm event bus (*alerting.Bus).
type AlarmFeed interface {
	Subscribe(ctx context.Context, afterSeq int64) *alerting.Subscription
}

// HazardFeed is the hazard event stream (*hazard.Engine).
type HazardFeed interface {
	Subscribe(ctx context.Context, afterSeq int64) *hazard.Subscription
}

// Cursor keeps the last seq delivered (*alerting.FileCursor).
type Cursor interface {
	Load() (int64, error)
	Save(seq int64) error
}

// Options configures New.
type Options struct {
	Config config.Webhook
	Site   string
	// Alarms and AlarmCursor are required; Hazards and HazardCursor are
	// optional (a gateway without hazard records).
	Alarms       AlarmFeed
	AlarmCursor  Cursor
	Hazards      HazardFeed
	HazardCursor Cursor
	Client       *http.Client // default: a client with the webhook's timeout
	Log          *slog.Logger
}

// Stats counts a webhook's work since start.
type Stats struct {
	Delivered uint64 // events the receiver took (2xx)
	Failed    uint64 // attempts that failed and were retried
	Rejected  uint64 // events the receiver refused as bad (4xx other than 408 and 429), not retried
	Filtered  uint64 // events the webhook's filters left out
}

// Dispatcher delivers to one webhook.
type Dispatcher struct {
	cfg  config.Webhook
	opts Options
	log  *slog.Logger

	delivered, failed, rejected, filtered atomic.Uint64
}

// New checks opts and returns the webhook's dispatcher; Run starts it.
func New(opts Options) (*Dispatcher, error) {
	c := opts.Config
	if opts.Alarms == nil || opts.AlarmCursor == nil {
		return nil, fmt.Errorf("webhook %s: alarm feed and cursor are required", c.Name)
	}
	if (opts.Hazards == nil) != (opts.HazardCursor == nil) {
		return nil, fmt.Errorf("webhook %s: hazard feed and cursor go together", c.Name)
	}
	if c.URL == "" || c.Timeout <= 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		return nil, fmt.Errorf("webhook %s: url, timeout and backoffs must be set (config applies defaults)", c.Name)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: c.Timeout}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{cfg: c, opts: opts, log: log.With("webhook", c.Name)}, nil
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Delivered: d.delivered.Load(), Failed: d.failed.Load(), Rejected: d.rejected.Load(), Filtered: d.filtered.Load()}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	done := make(chan struct{})
	if d.opts.Hazards != nil {
		go func() {
			defer close(done)
			follow(ctx, d, "hazard", d.opts.HazardCursor, d.opts.Hazards.Subscribe, func(ev hazard.Event) (int64, string, bool) {
				return ev.Seq, "hazard." + ev.Type, true
			})
		}()
	} else {
		close(done)
	}
	follow(ctx, d, "alarm", d.opts.AlarmCursor, d.opts.Alarms.Subscribe, func(ev alerting.Event) (int64, string, bool) {
		return ev.Seq, "alarm." + ev.Type, len(d.cfg.Severities) == 0 || slices.Contains(d.cfg.Severities, ev.Alarm.Severity)
	})
	<-done
}

// follow delivers one journal's events from its cursor, resubscribing
// after a read error. describe gives an event's seq, type and whether the
// severity filter keeps it.
func follow[E any](ctx context.Context, d *Dispatcher, kind string, cur Cursor,
	subscribe func(context.Context, int64) *alerting.Stream[E], describe func(E) (int64, string, bool)) {
	seq, err := cur.Load()
	if err != nil {
		d.log.Error("webhook: cursor unreadable, delivering the "+kind+" journal from the start", "err", err)
	}
	for ctx.Err() == nil {
		sub := subscribe(ctx, seq)
		for ev := range sub.C {
			s, typ, keep := describe(ev)
			if keep && d.wants(typ) {
				if !d.deliver(ctx, kind[:1]+strconv.FormatInt(s, 10), typ, ev) {
					sub.Close()
					return // ctx ended; the event is delivered after a restart
				}
			} else {
				d.filtered.Add(1)
			}
			seq = s
			if err := cur.Save(seq); err != nil {
				d.log.Error("webhook: cursor not saved; events may be sent twice after a restart", "kind", kind, "seq", seq, "err", err)
			}
		}
		if err := sub.Err(); err != nil {
			d.log.Error("webhook: "+kind+" feed failed; resubscribing", "after_seq", seq, "err", err)
			if !sleep(ctx, d.cfg.MinBackoff) {
				return
			}
		}
	}
}

// wants applies the events filter.
func (d *Dispatcher) wants(typ string) bool {
	if len(d.cfg.Events) == 0 {
		return true
	}
	kind, _, _ := strings.Cut(typ, ".")
	return slices.Contains(d.cfg.Events, typ) || slices.Contains(d.cfg.Events, kind+".*")
}

type payload struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Site  string `json:"site"`
	Data  any    `json:"data"`
}

// deliver posts one event until the receiver takes or refuses it; false
// when ctx ended first.
func (d *Dispatcher) deliver(ctx context.Context, id, typ string, data any) bool {
	body, err := json.Marshal(payload{ID: id, Event: typ, Site: d.opts.Site, Data: data})
	if err != nil {
		d.log.Error("webhook: cannot encode event; skipped", "id", id, "err", err)
		d.rejected.Add(1)
		return true
	}
	backoff := d.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := d.post(ctx, id, typ, body)
		switch {
		case err == nil && status/100 == 2:
			d.delivered.Add(1)
			if attempt > 1 {
				d.log.Info("webhook: delivered after retries", "id", id, "attempts", attempt)
			}
			return true
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			// The receiver says the request itself is wrong: resending the
			// same bytes cannot help, and would hold up every later event.
			d.rejected.Add(1)
			d.log.Error("webhook: receiver refused the event; not retried", "id", id, "event", typ, "status", status)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.failed.Add(1)
		wait := backoff
		if retryAfter > 0 {
			wait = min(retryAfter, d.cfg.MaxBackoff)
		}
		// Jitter spreads gateways that lost the same receiver at once.
		wait = wait*3/4 + rand.N(wait/2+1)
		d.log.Warn("webhook: delivery failed; retrying", "id", id, "attempt", attempt, "status", status, "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

// post makes one attempt; it returns the status and a Retry-After in seconds if any.
func (d *Dispatcher) post(ctx context.Context, id, typ string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "hazgate-webhook")
	h.Set("X-Hazgate-Event", typ)
	h.Set("X-Hazgate-Delivery", id)
	if d.cfg.Secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h.Set("X-Hazgate-Timestamp", ts)
		h.Set("X-Hazgate-Signature", Sign(d.cfg.Secret, ts, body))
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		// net/http names the URL in its error, query and all: a DingTalk
		// or WeCom robot's access_token would reach the log.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = config.RedactURL(ue.URL)
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	return resp.StatusCode, ra, nil
}

// Sign is the X-Hazgate-Signature of body sent at timestamp: receivers
// compute it with their copy of the secret and compare in constant time
// (hmac.Equal), and reject old timestamps to stop replays.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
