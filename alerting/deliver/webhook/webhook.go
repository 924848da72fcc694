// Package webhook delivers alarm and hazard events to HTTP receivers. Each
// webhook follows the alarm bus and the hazard event stream (a
// deliver.Follower each) from cursors saved after every event, so
// deliveries resume from the journals after a restart: every event is
// delivered at least once, in order per journal, and retried with backoff
// until the receiver takes it.
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
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"hazgate/alerting/deliver"
	"hazgate/config"
)

// Options configures New.
type Options struct {
	Config config.Webhook
	Site   string
	// Alarms and AlarmCursor are required; Hazards and HazardCursor are
	// optional (a gateway without hazard records).
	Alarms       deliver.AlarmFeed
	AlarmCursor  deliver.Cursor
	Hazards      deliver.HazardFeed
	HazardCursor deliver.Cursor
	Client       *http.Client // default: a client with the webhook's timeout
	Log          *slog.Logger
}

// Stats counts a webhook's work since start.
type Stats struct {
	Delivered uint64 `metric:"hazgate_webhook_delivered_total" help:"Events the receiver took (2xx)."`                                    // events the receiver took (2xx)
	Failed    uint64 `metric:"hazgate_webhook_failed_total" help:"Attempts that failed and were retried."`                                // attempts that failed and were retried
	Rejected  uint64 `metric:"hazgate_webhook_rejected_total" help:"Events the receiver refused as bad (4xx but 408, 429), not retried."` // events the receiver refused as bad (4xx other than 408 and 429), not retried
	Filtered  uint64 `metric:"hazgate_webhook_filtered_total" help:"Events the webhook's filters left out."`                              // events the webhook's filters left out
}

// Dispatcher delivers to one webhook: it is the deliver.Channel of a
// follower per journal.
type Dispatcher struct {
	cfg       config.Webhook
	opts      Options
	counters  deliver.Counters
	followers []*deliver.Follower
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
	d := &Dispatcher{cfg: c, opts: opts}
	follower := func(journal string, j deliver.Journal, cur deliver.Cursor) *deliver.Follower {
		return &deliver.Follower{
			Name: "webhook " + c.Name + ": " + journal + " journal", Journal: j, Cursor: cur,
			Filter:  deliver.Filter{Events: c.Events, Severities: c.Severities, Annunciated: true},
			Channel: d, Retry: deliver.Backoff{Min: c.MinBackoff, Max: c.MaxBackoff, Jitter: true},
			// Resending the journal gives repeats the receiver drops by
			// id; stopping would lose every later event.
			ResendOnBadCursor: true,
			Counters:          &d.counters, Log: log.With("webhook", c.Name),
		}
	}
	d.followers = append(d.followers, follower("alarm", deliver.Alarms(opts.Alarms), opts.AlarmCursor))
	if opts.Hazards != nil {
		d.followers = append(d.followers, follower("hazard", deliver.Hazards(opts.Hazards), opts.HazardCursor))
	}
	return d, nil
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	s := d.counters.Stats()
	return Stats{Delivered: s.Delivered, Failed: s.Retried, Rejected: s.Rejected, Filtered: s.Filtered}
}

// Run delivers until ctx ends, each journal from its own cursor.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range d.followers {
		wg.Go(func() { _ = f.Run(ctx) }) // never fails: ResendOnBadCursor
	}
	wg.Wait()
}

type payload struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Site  string `json:"site"`
	Data  any    `json:"data"`
}

// Deliver makes one attempt at posting ev.
func (d *Dispatcher) Deliver(ctx context.Context, ev deliver.Event) error {
	id := ev.ID()
	body, err := json.Marshal(payload{ID: id, Event: ev.Type, Site: d.opts.Site, Data: ev.Data()})
	if err != nil {
		return deliver.Reject(fmt.Errorf("encoding event %s: %w", id, err))
	}
	status, retryAfter, err := d.post(ctx, id, ev.Type, body)
	switch {
	case err != nil:
		return err
	case status/100 == 2:
		return nil
	case status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		// The receiver says the request itself is wrong.
		return deliver.Reject(fmt.Errorf("receiver answered %d", status))
	case retryAfter > 0:
		return deliver.RetryAfter(retryAfter, fmt.Errorf("receiver answered %d", status))
	}
	return fmt.Errorf("receiver answered %d", status)
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
