package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/alerting/hazard"
)

// AlarmFeed is the alarm event bus (*alerting.Bus): every committed
// transition after a journal seq, replayed then live.
type AlarmFeed = deliver.AlarmFeed

// HazardFeed is the hazard engine's event stream (*hazard.Engine), replayed
// then live, and how far its journal goes.
type HazardFeed interface {
	deliver.HazardFeed
	LastSeq(ctx context.Context) (int64, error)
}

const streamPath = "/api/v1/stream"

// DefaultHeartbeat is how often an idle stream sends a comment, well under
// the 60 s idle timeout of common proxies (nginx's proxy_read_timeout).
const DefaultHeartbeat = 15 * time.Second

// streamWriteBytes bounds how much of a backlog one write to a stream
// client carries.
const streamWriteBytes = 64 << 10

// Cursor is a position in both event journals: the last alarm event seq and
// the last hazard event seq a client has seen. It is every stream event's
// SSE id, written "a<alarm seq>.h<hazard seq>" (a17.h4), so a client that
// reconnects with Last-Event-ID resumes both journals where it left off.
type Cursor struct {
	Alarm, Hazard int64
}

func (c Cursor) String() string {
	return "a" + strconv.FormatInt(c.Alarm, 10) + ".h" + strconv.FormatInt(c.Hazard, 10)
}

var cursorRE = regexp.MustCompile(`^a(\d{1,18})\.h(\d{1,18})$`)

var errBadCursor = errors.New("want a<alarm seq>.h<hazard seq>, such as a17.h4")

// ParseCursor reads a stream event id ("a17.h4").
func ParseCursor(s string) (Cursor, error) {
	m := cursorRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Cursor{}, fmt.Errorf("event id %q: %w", s, errBadCursor)
	}
	a, _ := strconv.ParseInt(m[1], 10, 64)
	h, _ := strconv.ParseInt(m[2], 10, 64)
	return Cursor{Alarm: a, Hazard: h}, nil
}

// parseStreamFilter reads the events a client wants: the same Filter the
// delivery channels use. Filtered events still move its cursor, so a
// reconnect does not read them again.
func parseStreamFilter(r *http.Request) (deliver.Filter, error) {
	f := deliver.Filter{Sites: listParam(r, "site"), Severities: listParam(r, "severity"), Classes: listParam(r, "class")}
	kinds := listParam(r, "kind")
	if len(kinds) == 0 {
		kinds = []string{"alarm", "hazard"}
	}
	for _, k := range kinds {
		switch k {
		case "alarm", "hazard":
			f.Events = append(f.Events, k+".*")
		default:
			return f, fmt.Errorf("kind=%q: want alarm or hazard", k)
		}
	}
	for _, s := range f.Severities {
		if !slices.Contains([]string{alerting.SeverityLow, alerting.SeverityMedium, alerting.SeverityHigh, alerting.SeverityCritical}, s) {
			return f, fmt.Errorf("severity=%q: want low, medium, high or critical", s)
		}
	}
	return f, nil
}

// startCursor is where a new stream begins: Last-Event-ID (a reconnect),
// else ?after=, else the journals' ends (live events only).
func (a *API) startCursor(r *http.Request) (Cursor, error) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("after")
	}
	if id != "" {
		return ParseCursor(id)
	}
	var c Cursor
	var err error
	if c.Alarm, err = a.history.LastSeq(r.Context()); err != nil {
		return c, fmt.Errorf("alarm journal: %w", err)
	}
	if a.hazardFeed != nil {
		if c.Hazard, err = a.hazardFeed.LastSeq(r.Context()); err != nil {
			return c, fmt.Errorf("hazard journal: %w", err)
		}
	}
	return c, nil
}

// stream serves GET /api/v1/stream: Server-Sent Events of alarm and hazard
// events, each with its Cursor as id. It opens with a "ready" event
// carrying the starting cursor, and sends a comment every heartbeat; when
// events were filtered out since the last id, the heartbeat carries the new
// id so a reconnect skips them.
func (a *API) stream() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.alarmFeed == nil {
			writeError(w, http.StatusNotImplemented, "the live stream is not enabled on this gateway")
			return
		}
		f, err := parseStreamFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		cur, err := a.startCursor(r)
		switch {
		case errors.Is(err, errBadCursor):
			writeError(w, http.StatusBadRequest, err.Error())
			return
		case err != nil:
			a.internalError(w, r, "reading the journals' ends", err)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(a.streamsCtx, cancel) // server shutdown ends streams
		defer stop()

		alarms := a.alarmFeed.Subscribe(ctx, cur.Alarm)
		defer alarms.Close()
		var hazards <-chan hazard.Event
		if a.hazardFeed != nil {
			hs := a.hazardFeed.Subscribe(ctx, cur.Hazard)
			defer hs.Close()
			hazards = hs.C
		}

		a.metrics.streamClients.Inc()
		defer a.metrics.streamClients.Dec()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		var buf bytes.Buffer
		sent := cur // the last id the client has
		flush := func() bool {
			_, err := w.Write(buf.Bytes())
			buf.Reset()
			return err == nil && rc.Flush() == nil
		}
		fmt.Fprintf(&buf, "retry: 3000\nid: %s\nevent: ready\ndata: {\"cursor\":%q}\n\n", cur, cur)
		if !flush() {
			return
		}
		tick := time.NewTicker(a.heartbeat)
		defer tick.Stop()
		event := func(kind string, v any) {
			data, err := json.Marshal(v)
			if err != nil {
				a.log.Error("api: stream: encoding event", "kind", kind, "err", err)
				return // skip it; the cursor still moves
			}
			a.metrics.streamEvents.WithLabelValues(kind).Inc()
			fmt.Fprintf(&buf, "id: %s\nevent: %s\ndata: %s\n\n", cur, kind, data)
			sent = cur
		}
		// onAlarm and onHazard buffer an event; false ends the stream.
		onAlarm := func(ev alerting.Event, ok bool) bool {
			if !ok {
				if err := alarms.Err(); err != nil {
					a.log.Error("api: stream: alarm feed ended", "err", err, "request_id", requestID(r))
				}
				return false
			}
			cur.Alarm = ev.Seq
			if f.Alarm(&ev) {
				event("alarm", ev)
			}
			return true
		}
		onHazard := func(ev hazard.Event, ok bool) bool {
			if !ok {
				return false // the hazard subscription logs its own errors; the client reconnects
			}
			cur.Hazard = ev.Seq
			if f.Hazard(&ev) {
				event("hazard", ev)
			}
			return true
		}
		for {
			select {
			case ev, ok := <-alarms.C:
				if !onAlarm(ev, ok) {
					return
				}
			case ev, ok := <-hazards:
				if !onHazard(ev, ok) {
					return
				}
			case <-tick.C:
				// An id line alone moves the client's Last-Event-ID without
				// an event (HTML's SSE: the id is set before the empty data
				// check).
				if sent != cur {
					fmt.Fprintf(&buf, "id: %s\n\n", cur)
					sent = cur
				}
				buf.WriteString(": ping\n\n")
			case <-ctx.Done():
				return
			}
			// Events already waiting go out in the same write: a flood of a
			// thousand alarms is a few flushes, not a thousand.
			if (len(alarms.C) > 0 || len(hazards) > 0) && buf.Len() < streamWriteBytes {
				continue
			}
			if buf.Len() > 0 && !flush() {
				return
			}
		}
	}
}
