package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"hazgate/alerting/hub"
)

// HubLive is what a hub process stores, as it commits (*hub.Live).
type HubLive interface {
	Subscribe() *hub.LiveSub
}

// hubStreamEvent is one message on the hub's live stream.
type hubStreamEvent struct {
	kind string // alarm, hazard, site
	id   string // {site}.a{seq}, {site}.h{seq}, {site}.status
	data any
}

func hubEventOf(m hub.Message) hubStreamEvent {
	switch {
	case m.Alarm != nil:
		return hubStreamEvent{"alarm", m.Site + ".a" + strconv.FormatInt(m.Alarm.Seq, 10), m.Alarm}
	case m.Hazard != nil:
		return hubStreamEvent{"hazard", m.Site + ".h" + strconv.FormatInt(m.Hazard.Seq, 10), m.Hazard}
	default:
		return hubStreamEvent{"site", m.Site + ".status", m.Status}
	}
}

// hubStream is the regulators' live feed across sites: every alarm and
// hazard event and site status this hub process stores, within the
// caller's scope and ?site=, ?region=, ?severity= (alarms) and ?kind=.
// Live only: a client that reconnects (or is told "lagged") reads the lists
// again; it drops repeats by event id (site and seq).
func (a *API) hubStream() http.HandlerFunc {
	return a.withHub(func(w http.ResponseWriter, r *http.Request) {
		if a.hubLive == nil {
			writeError(w, http.StatusNotImplemented, "this hub has no live feed")
			return
		}
		scope, status, err := a.hubScope(r)
		if err != nil {
			a.hubError(w, r, status, err)
			return
		}
		if region := r.URL.Query().Get("region"); region != "" {
			sites, err := a.hub.Sites(r.Context())
			if err != nil {
				a.internalError(w, r, "listing hub sites", err)
				return
			}
			var in []string
			for _, s := range sites {
				if s.Region == region && (scope == nil || slices.Contains(scope, s.Site)) {
					in = append(in, s.Site)
				}
			}
			scope = append([]string{}, in...)
		}
		severities, kinds := listParam(r, "severity"), listParam(r, "kind")
		keep := func(m hub.Message, kind string) bool {
			if scope != nil && !slices.Contains(scope, m.Site) {
				return false
			}
			if len(kinds) > 0 && !slices.Contains(kinds, kind) {
				return false
			}
			return len(severities) == 0 || m.Alarm == nil || slices.Contains(severities, m.Alarm.Alarm.Severity)
		}
		sub := a.hubLive.Subscribe()
		defer sub.Close()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(a.streamsCtx, cancel)
		defer stop()

		a.metrics.streamClients.Inc()
		defer a.metrics.streamClients.Dec()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		var buf bytes.Buffer
		flush := func() bool {
			_, err := w.Write(buf.Bytes())
			buf.Reset()
			return err == nil && rc.Flush() == nil
		}
		buf.WriteString("retry: 3000\nevent: ready\ndata: {}\n\n")
		if !flush() {
			return
		}
		tick := time.NewTicker(a.heartbeat)
		defer tick.Stop()
		var dropped uint64
		for {
			select {
			case m := <-sub.C:
				ev := hubEventOf(m)
				if !keep(m, ev.kind) {
					continue
				}
				data, err := json.Marshal(ev.data)
				if err != nil {
					continue
				}
				a.metrics.streamEvents.WithLabelValues("hub_" + ev.kind).Inc()
				fmt.Fprintf(&buf, "id: %s\nevent: %s\ndata: %s\n\n", ev.id, ev.kind, data)
				if !flush() {
					return
				}
			case <-tick.C:
				if d := sub.Dropped(); d != dropped {
					// Too slow: say so, so the client reads the lists again.
					dropped = d
					fmt.Fprintf(&buf, "event: lagged\ndata: {\"dropped\":%d}\n\n", d)
				}
				buf.WriteString(": ping\n\n")
				if !flush() {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
}
