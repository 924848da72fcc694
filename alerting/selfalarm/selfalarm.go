// Package selfalarm holds the gateway's alarms about itself. Its health is
// tags and rules like any other, so these alarms are journalled,
// acknowledged and published the same way as a gas detector's.
package selfalarm

import (
	"context"
	"log/slog"
	"time"

	"hazgate/alerting"
	"hazgate/collector"
	"hazgate/config"
)

// SpoolOverflowTag carries the points the InfluxDB spool dropped when full.
const SpoolOverflowTag = "hazgate.spool_overflow"

// Tags are the gateway's own tags at site, for the registry.
func Tags(site string) []collector.Tag {
	return []collector.Tag{{
		ID: SpoolOverflowTag, Name: "InfluxDB spool overflow: readings dropped", Site: site,
		Device: "hazgate", Kind: "gateway", Unit: "points",
	}}
}

// Rules are the gateway's own alarms, added to the configured rules.
func Rules() []config.Rule {
	above := 0.0
	return []config.Rule{{
		Name: config.SpoolOverflowRule, Match: config.Match{Tag: SpoolOverflowTag},
		Above: &above, Severity: alerting.SeverityHigh,
	}}
}

// A hub's sites are tags of its own: hub.site.{id} reads 1 while the site
// is online and 0 while it is offline (its last will, a clean stop, or
// silence past hub.offline_after), so a site going offline is an alarm of
// the hub's, class comm_loss, acknowledged and delivered like any other.
const (
	HubSiteKind    = "hub_site"
	HubOfflineRule = "site_offline"
)

// HubSiteTag is the tag of one site at a hub.
func HubSiteTag(site string) string { return "hub.site." + site }

// HubTags are a hub's tags for its expected sites; the area is the site's
// region.
func HubTags(hub string, sites []config.HubSite) []collector.Tag {
	out := make([]collector.Tag, 0, len(sites))
	for _, s := range sites {
		name := s.Name
		if name == "" {
			name = s.ID
		}
		out = append(out, collector.Tag{ID: HubSiteTag(s.ID), Name: name + " 联网状态 (online)", Site: hub,
			Device: "hub", Kind: HubSiteKind, Area: s.Region})
	}
	return out
}

// HubRules are a hub's own alarms: a site offline.
func HubRules() []config.Rule {
	below := 0.5
	return []config.Rule{{
		Name: HubOfflineRule, Match: config.Match{Kind: HubSiteKind},
		Below: &below, Class: alerting.ClassCommLoss, Severity: alerting.SeverityHigh,
	}}
}

// The link to the fire remote-monitoring centre is a tag too: forward.link
// reads how many seconds the link has failed its promise, the longest of
// the time it has been down, the time the oldest fire alarm has waited for
// the centre's confirm, and the oldest status message's wait once that is
// past forward.status_alarm_after (0 while all is well). Past
// forward.alarm_after it is the control room's alarm forward_link, class
// comm_loss: GB 25506 asks a failed transmission be shown by sound and
// light.
const (
	ForwardLinkTag  = "forward.link"
	ForwardLinkRule = config.ForwardLinkRule
)

// ForwardTags is the link's tag at site.
func ForwardTags(site string) []collector.Tag {
	return []collector.Tag{{ID: ForwardLinkTag, Name: "监控中心联网 (link to the monitoring centre)", Site: site,
		Device: "hazgate", Kind: "gateway", Unit: "s"}}
}

// ForwardRules raise forward_link once the link has failed for alarmAfter.
func ForwardRules(alarmAfter time.Duration) []config.Rule {
	limit := alarmAfter.Seconds()
	return []config.Rule{{
		Name: ForwardLinkRule, Match: config.Match{Tag: ForwardLinkTag},
		Above: &limit, Class: alerting.ClassCommLoss, Severity: alerting.SeverityHigh,
	}}
}

// For returns the gateway's own tags and rules for cfg: the spool's, a
// hub's sites', and the forwarding link's.
func For(cfg *config.Config) ([]collector.Tag, []config.Rule) {
	tags, rules := Tags(cfg.Site.ID), Rules()
	if cfg.Hub != nil {
		tags = append(tags, HubTags(cfg.Site.ID, cfg.Hub.Sites)...)
		rules = append(rules, HubRules()...)
	}
	if cfg.Forward != nil {
		tags = append(tags, ForwardTags(cfg.Site.ID)...)
		rules = append(rules, ForwardRules(cfg.Forward.AlarmAfter)...)
	}
	return tags, rules
}

// Emitter takes samples into the pipeline (*collector.Pipeline).
type Emitter interface {
	Emit(ctx context.Context, samples []collector.Sample) error
}

// SpoolOverflowed raises the spool_overflow alarm: the dropped count, then
// 0, so the alarm is raised with the loss as its peak and waits, cleared,
// for an operator's acknowledgement. It runs on the sink's goroutine, so it
// waits for the pipeline only briefly.
func SpoolOverflowed(p Emitter, log *slog.Logger, dropped int) {
	log.Error("influxdb spool full: the oldest readings were dropped", "points", dropped)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	now := time.Now()
	err := p.Emit(ctx, []collector.Sample{
		{Tag: SpoolOverflowTag, Value: float64(dropped), Time: now},
		{Tag: SpoolOverflowTag, Value: 0, Time: now.Add(time.Nanosecond)},
	})
	if err != nil {
		log.Error("spool_overflow alarm not raised: pipeline busy", "points", dropped, "err", err)
	}
}
