package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"hazgate/alerting/hub"
	"hazgate/alerting/selfalarm"
	"hazgate/alerting/sqlstore"
	"hazgate/api"
	"hazgate/collector"
	"hazgate/config"
)

// hubStage is a regulator's hub: the store of the sites' alarms, hazards
// and health, and the ingest that fills it from the broker.
type hubStage struct {
	db     *sql.DB
	store  *hub.Store
	ingest *hub.Ingest
}

// openHub opens the hub's store (hub.store, else data_dir/hub.db) and
// records the expected sites.
func openHub(ctx context.Context, cfg *config.Config, health func(context.Context, string, bool, time.Time), log *slog.Logger) (*hubStage, error) {
	dsn := cfg.Hub.Store
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "hub.db")
	}
	db, dialect, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("hub.store: %w", err)
	}
	h := &hubStage{db: db}
	if h.store, err = hub.OpenStore(ctx, db, dialect); err == nil {
		err = h.store.Expect(ctx, cfg.Hub.Sites)
	}
	if err == nil {
		h.ingest, err = hub.New(*cfg.Hub, hub.Options{Store: h.store, Name: cfg.Site.ID, Health: health, Log: log})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	log.Info("hub store open", "store", config.RedactURL(dsn), "dialect", dialect, "sites_expected", len(cfg.Hub.Sites))
	return h, nil
}

// view is the API's hub, nil (an untyped nil, so the routes answer 501)
// on a gateway that is not one.
func (h *hubStage) view() api.HubView {
	if h == nil {
		return nil
	}
	return h.store
}

// siteHealth emits a site's state as a sample of its tag: 1 online, 0
// offline. It runs on the ingest's goroutine, so it waits for the pipeline
// only briefly.
func (g *gateway) siteHealth(ctx context.Context, site string, online bool, at time.Time) {
	if _, listed := g.registry.Lookup(selfalarm.HubSiteTag(site)); !listed {
		return // only the sites in hub.sites have a tag and an offline alarm
	}
	v := 0.0
	if online {
		v = 1
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := g.pipeline.Emit(ctx, []collector.Sample{{Tag: selfalarm.HubSiteTag(site), Value: v, Time: at}}); err != nil {
		g.log.Error("hub: site state not recorded: pipeline busy", "site", site, "online", online, "err", err)
	}
}

// control is the API's hub commands, nil on a gateway that is not a hub.
func (h *hubStage) control() api.HubControl {
	if h == nil {
		return nil
	}
	return h.ingest
}

// live is the API's hub stream feed, nil on a gateway that is not a hub.
func (h *hubStage) live() api.HubLive {
	if h == nil {
		return nil
	}
	return h.ingest.Live()
}

// trends is the API's view of the sites' trends in the central InfluxDB
// (the hub's influxdb block), nil without one or on a gateway that is not a
// hub.
func (h *hubStage) trends(flux *collector.InfluxHistory) api.HubTrends {
	if h == nil || flux == nil {
		return nil
	}
	return centralTrends{flux}
}

type centralTrends struct{ flux *collector.InfluxHistory }

func (c centralTrends) ForSite(site string) api.PointHistory { return c.flux.ForSite(site) }

func (h *hubStage) close() {
	if h != nil {
		h.db.Close()
	}
}
