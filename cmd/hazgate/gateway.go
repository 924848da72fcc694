package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/alerting"
	"hazgate/alerting/deliver"
	"hazgate/alerting/deliver/influx"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/deliver/webhook"
	"hazgate/alerting/hazard"
	"hazgate/alerting/kpi"
	"hazgate/alerting/selfalarm"
	"hazgate/alerting/shift"
	"hazgate/api"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/gb26875"
)

// gateway is one running hazgate: every stage of ARCHITECTURE.md wired together.
type gateway struct {
	cfg       *config.Config
	log       *slog.Logger
	registry  *collector.Registry
	latest    *collector.Latest
	pipeline  *collector.Pipeline
	journal   *alerting.Journal
	bus       *alerting.Bus
	engine    *alerting.Engine
	hazards   *hazard.Engine
	history   *collector.History       // recent readings per tag, for the API without InfluxDB
	influx    *collector.InfluxSink    // nil without an influxdb block
	flux      *collector.InfluxHistory // reading history from InfluxDB; nil without it
	webhooks  []*webhook.Dispatcher
	tagMemory *collector.TagMemory // tags created on first sight, kept across restarts
	// northbound publishes alarm events upstream; nil without a northbound block.
	northbound *northbound.Publisher
	devices    []protocols.Device
	server     *api.Server
	// influxAlarms writes the `alarm` measurement; nil without an influxdb block.
	influxAlarms *influx.Feed
	// hub is the regulator hub's store and ingest; nil without a hub block.
	hub *hubStage
	// forward is the link to the fire remote-monitoring centre; nil
	// without a forward block.
	forward *forwardStage
}

// newGateway builds every stage and binds the API listener, so a config the
// checker accepted but the runtime cannot honour (a port in use, a store that
// will not open) fails here, before anything polls.
func newGateway(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *gateway, err error) {
	// A local, not the named result: every error path returns nil, and the
	// cleanup must still see the journal it has to close.
	g := &gateway{cfg: cfg, log: log, registry: collector.NewRegistry(), latest: collector.NewLatest()}
	defer func() {
		if err != nil && g.journal != nil {
			g.journal.Close()
		}
		if err != nil {
			g.hub.close()
		}
	}()

	for _, step := range []func(context.Context) error{g.openStores, g.openEngine, g.openSinks, g.openDevices, g.openHub, g.openAPI} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// openStores opens the alarm journal, the hazard records in the same file
// and the northbound publisher that follows both.
func (g *gateway) openStores(ctx context.Context) error {
	cfg, log := g.cfg, g.log
	var err error
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir %s: %w; make it a writable directory or set data_dir to one", cfg.DataDir, err)
	}
	storePath := filepath.Join(cfg.DataDir, "hazgate.db")
	if g.journal, err = alerting.OpenJournal(ctx, storePath); err != nil {
		return fmt.Errorf("alarm store %s: %w", storePath, err)
	}
	g.bus = alerting.NewBus(g.journal, log.With("component", "bus"))
	g.hazards, err = hazard.NewEngine(ctx, g.journal.DB(), hazard.Options{
		Site: cfg.Site.ID, Unit: cfg.Site.Name, Rules: cfg.HazardRules, // nil: the built-in set
		Tags: g.registry, Log: log.With("component", "hazard"),
	})
	if err != nil {
		return err
	}
	if nb := cfg.Northbound; nb != nil {
		g.northbound, err = northbound.New(*nb, northbound.Options{
			Site: cfg.Site.ID, Name: cfg.Site.Name, Version: version, ConfigDigest: configDigest(cfg.File),
			Source: g.bus, Cursor: deliver.NewFileCursor(filepath.Join(cfg.DataDir, "northbound.seq")),
			Journal: g.journal,
			Hazards: g.hazards, HazardCursor: deliver.NewFileCursor(filepath.Join(cfg.DataDir, "northbound-hazards.seq")),
			Counts:   g.counts, // read once running: devices and sinks are built after the stores
			Commands: g.hazards, CommandsFile: filepath.Join(cfg.DataDir, "northbound-commands.json"),
			Tags: g.registry, Latest: g.latest.Get,
			Log: log,
		})
		if err != nil {
			return fmt.Errorf("northbound: %w", err)
		}
	}

	return nil
}

// configDigest is the sha256 of the config file's bytes, hex, for the
// northbound status: a hub sees when a site's config changed. Empty without
// a file (the demo) or when it cannot be read.
func configDigest(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// counts are the gauges the northbound status and summary carry.
func (g *gateway) counts() northbound.Counts {
	c := northbound.Counts{Devices: len(g.devices), Tags: len(g.registry.All())}
	// As the API's /points/latest: a tag's quality is its last sample's.
	for _, s := range g.latest.All() {
		if s.Quality == collector.Bad {
			c.TagsBad++
		}
	}
	if g.influx != nil {
		c.SpoolBacklog = int64(g.influx.Stats().SpoolPoints)
	}
	return c
}

// openEngine builds the alarm engine over the configured rules and the
// gateway's own.
func (g *gateway) openEngine(context.Context) error {
	cfg, log := g.cfg, g.log
	var err error
	// The gateway's own health is tags and rules like any other, so its
	// alarms are journalled, acknowledged and published the same way.
	selfTags, selfRules := selfalarm.For(cfg)
	for _, t := range selfTags {
		if err := g.registry.Add(t); err != nil {
			return err
		}
	}
	if g.engine, err = alerting.NewEngine(cfg.Site.ID, slices.Concat(cfg.Rules, selfRules), g.registry, g.journal, g.bus, log.With("component", "alerting")); err != nil {
		return err
	}
	g.engine.SetHandling(cfg.AlarmHandling)
	return nil
}

// openSinks builds what every sample flows into: the engine, recent
// history, InfluxDB with its spool and alarm feed, the tag memory.
func (g *gateway) openSinks(context.Context) error {
	cfg, log := g.cfg, g.log
	var err error
	g.history = collector.NewHistory(0, 0) // defaults: 720 readings or 1 h per tag
	consumers := []collector.Consumer{g.engine, g.history}
	if g.northbound != nil && g.northbound.Readings() != nil {
		consumers = append(consumers, g.northbound.Readings())
	}
	if in := cfg.InfluxDB; in != nil {
		g.influx, err = collector.NewInfluxSink(collector.InfluxOptions{
			URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket,
			BatchSize: in.BatchSize, FlushInterval: in.FlushInterval, Timeout: in.Timeout, GzipLevel: in.GzipLevel,
			Spool: collector.SpoolOptions{
				Dir:        filepath.Join(cfg.DataDir, "spool"),
				MaxBytes:   int64(in.Spool.MaxBytes),
				ReplayRate: in.Spool.ReplayRate,
			},
			OnSpoolOverflow: g.spoolOverflowed,
		}, cfg.Site.ID, g.registry, log.With("component", "influxdb"))
		if err != nil {
			return fmt.Errorf("influxdb: %w", err)
		}
		consumers = append(consumers, g.influx)
		g.influxAlarms = influx.New(g.influx, g.bus, deliver.NewFileCursor(filepath.Join(cfg.DataDir, "influx-alarms.seq")), log)
	} else {
		log.Info("no influxdb block: readings are kept in memory only and the spool is unused; add influxdb: {url, token, org, bucket} to store them")
	}
	tagsPath := filepath.Join(cfg.DataDir, "tags.json")
	if g.tagMemory, err = collector.OpenTagMemory(tagsPath, g.registry, collector.TagMemoryOptions{Log: log.With("component", "tags")}); err != nil {
		return err
	}
	consumers = append(consumers, g.tagMemory)
	if cfg.Forward != nil {
		if g.forward, err = openForward(cfg, g.registry, log.With("component", "forward")); err != nil {
			return err
		}
		consumers = append(consumers, g.forward.source)
	}
	g.pipeline = collector.NewPipeline(g.latest, consumers...)
	return nil
}

// openDevices builds each configured device on the pipeline.
func (g *gateway) openDevices(context.Context) error {
	cfg, log := g.cfg, g.log
	// The same cross-device checks as `hazgate check`.
	if err := protocols.CheckDevices(cfg.Devices); err != nil {
		return err
	}
	// Protocols that create tags on first sight add them through the memory,
	// so a restart knows them before they speak again.
	env := protocols.Env{Site: cfg.Site.ID, Emit: g.pipeline, Tags: g.tagMemory, Log: log, Times: collector.TimeBounds(cfg.TimeBounds), DataDir: cfg.DataDir}
	for _, dev := range cfg.Devices {
		d, err := protocols.New(env, dev)
		if err != nil {
			return err
		}
		for _, t := range d.Tags() {
			if err := g.registry.Add(t); err != nil {
				return fmt.Errorf("device %s: %w", dev.ID, err)
			}
		}
		g.devices = append(g.devices, d)
	}
	g.recallTags()

	return nil
}

// openHub opens the regulator hub's store when the config has a hub block.
func (g *gateway) openHub(ctx context.Context) error {
	if g.cfg.Hub == nil {
		return nil
	}
	var err error
	g.hub, err = openHub(ctx, g.cfg, g.siteHealth, g.log.With("component", "hub"))
	return err
}

// openAPI builds the webhooks and the API, and binds its listener.
func (g *gateway) openAPI(ctx context.Context) error {
	cfg, log := g.cfg, g.log
	var err error
	// GB/T 26875.3 listeners take operator commands (clock sync, 查岗) from the API.
	var uitd api.UITDControl
	var listeners gb26875.Listeners
	for _, d := range g.devices {
		if l, ok := d.(*gb26875.Listener); ok {
			listeners = append(listeners, l)
		}
	}
	if len(listeners) > 0 {
		uitd = uitdControl{listeners} // a nil interface when there are none: the routes answer 501
	}
	points := api.MemoryHistory(g.history)
	if in := cfg.InfluxDB; in != nil {
		g.flux = collector.NewInfluxHistory(in.URL, in.Token, in.Org, in.Bucket, cfg.Site.ID)
		// While InfluxDB fails, trends come from memory (the last hour or so),
		// marked X-Hazgate-History-Source: memory.
		points = api.FallbackHistory(g.flux, points, log.With("component", "api"))
	}
	// Webhooks before the API: /metrics reports them.
	for _, w := range cfg.Webhooks {
		d, err := webhook.New(webhook.Options{
			Config: w, Site: cfg.Site.ID,
			Alarms: g.bus, AlarmCursor: deliver.NewFileCursor(filepath.Join(cfg.DataDir, "webhook-"+w.Name+".alarms.seq")),
			Hazards: g.hazards, HazardCursor: deliver.NewFileCursor(filepath.Join(cfg.DataDir, "webhook-"+w.Name+".hazards.seq")),
			Log: log.With("component", "webhook"),
		})
		if err != nil {
			return fmt.Errorf("webhook %s: %w", w.Name, err)
		}
		g.webhooks = append(g.webhooks, d)
	}
	h, err := api.New(api.Options{
		Site: cfg.Site.ID, SiteName: cfg.Site.Name, Notice: cfg.HTTP.Notice, Latest: g.latest, Tags: g.registry,
		Alarms: g.journal, Control: g.engine, History: g.journal, KPIs: kpi.NewReader(g.journal.DB()), Hazards: g.hazards,
		Shift: &shift.Builder{Site: cfg.Site.ID, Unit: cfg.Site.Name, DB: g.journal.DB(), Tags: g.registry, Hazards: g.hazards}, UITD: uitd,
		AlarmFeed: g.bus, HazardFeed: g.hazards, Points: points, Limits: g.engine, Forward: g.forward.forwarder(), Hub: g.hub.view(), HubControl: g.hub.control(), HubLive: g.hub.live(), HubTrends: g.hub.trends(g.flux), Reload: reloader{g},
		Metrics: g.metrics(), Tokens: cfg.HTTP.Tokens, AllowedHosts: cfg.HTTP.AllowedHosts,
		BodyTimeout: cfg.HTTP.BodyTimeout, MaxConnsPerClient: cfg.HTTP.MaxConnsPerClient, Log: log.With("component", "api"),
	})
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if g.server, err = api.Listen(ctx, cfg.HTTP.Listen, h, log.With("component", "api")); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("http.listen %s: %w; free it or choose another (demo: -listen 127.0.0.1:8081)", cfg.HTTP.Listen, err)
		}
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	return nil
}

// recallTags registers the tags devices created on first sight in an
// earlier run, after the config's own, and gives the latest-value cache and
// the alarm engine their last samples: /points/latest lists them at once and
// a stale rule fires for one that stays silent at its last sample plus the
// rule's delay, however long the gateway was down.
func (g *gateway) recallTags() {
	configured := make(map[string]bool, len(g.cfg.Devices))
	for _, d := range g.cfg.Devices {
		configured[d.ID] = true
	}
	recalled := g.tagMemory.Recall(func(dev string) bool { return configured[dev] }, g.cfg.ForgetTagsAfter)
	last := make([]collector.Sample, 0, len(recalled))
	for _, r := range recalled {
		if !r.Last.Time.IsZero() {
			last = append(last, r.Last)
		}
		g.engine.Recall(r.Last, r.Seen)
	}
	g.latest.Update(last)
	if len(recalled) > 0 {
		g.log.Info("tags remembered from the last run", "tags", len(recalled), "file", filepath.Join(g.cfg.DataDir, "tags.json"))
	}
}

// run starts every stage and blocks until ctx ends. Stages stop in flow
// order, pollers first and the store last, so what was read before the stop
// is still judged, written and journalled.
func (g *gateway) run(ctx context.Context) error {
	defer g.journal.Close()
	defer g.hub.close()
	// A failing API server stops the gateway too, so polls end either way.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if g.flux != nil {
		defer g.flux.Close()
	}

	var sinks, pipe, polls, serve sync.WaitGroup
	sinkCtx, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSinks()
	defer stopPipe()

	// The InfluxDB sink stops after the sinks that write into it (the
	// alarm points), so none of their points arrives once it has stopped.
	var store sync.WaitGroup
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStore()
	if g.influx != nil {
		store.Go(func() { g.influx.Run(storeCtx) })
		sinks.Go(func() { g.influxAlarms.Run(sinkCtx) })
	}
	// The hazard engine follows the alarm journal; it stops before the journal closes.
	sinks.Go(func() { g.hazards.Run(sinkCtx, g.bus, g.journal, time.Second) })
	for _, d := range g.webhooks {
		sinks.Go(func() { d.Run(sinkCtx) })
	}
	if g.forward != nil {
		// Stopped with the sinks: what the last samples queued goes on
		// trying until then, and the outbox keeps the rest.
		sinks.Go(func() { g.forward.Run(sinkCtx, g.pipeline) })
	}
	if g.northbound != nil {
		sinks.Go(func() {
			if err := g.northbound.Run(sinkCtx); err != nil {
				g.log.Error("northbound stopped", "err", err)
			}
		})
	}
	pipe.Go(func() { g.pipeline.Run(pipeCtx) })
	// Saved once more after the pipeline stops, with the last samples in.
	sinks.Go(func() { g.tagMemory.Run(sinkCtx, collector.SaveInterval) })
	// Time-driven evaluation: stale tags, on/off delays, chattering holds and
	// shelving expiry change state without a new sample.
	pipe.Go(func() { g.engine.Run(pipeCtx, time.Second) })
	for _, d := range g.devices {
		polls.Go(func() {
			if err := d.Run(ctx); err != nil {
				g.log.Error("device stopped", "err", err)
			}
		})
	}
	if g.hub != nil {
		polls.Go(func() {
			if err := g.hub.ingest.Run(ctx); err != nil {
				g.log.Error("hub stopped", "err", err)
			}
		})
	}
	serveErr := make(chan error, 1)
	serve.Go(func() { serveErr <- g.server.Serve(ctx) })
	g.log.Info("hazgate running", "site", g.cfg.Site.ID, "devices", len(g.devices), "tags", len(g.registry.All()), "rules", len(g.cfg.Rules), "api", "http://"+g.server.Addr())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var err error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case serr := <-serveErr:
			if serr != nil && ctx.Err() == nil {
				err = fmt.Errorf("http: %w", serr)
			}
			break wait
		case <-hup:
			g.reloadRules(ctx) // logs its outcome
		}
	}
	cancel()
	polls.Wait()
	stopPipe()
	pipe.Wait()
	// The last transitions judged, committed and published while the
	// sinks still follow the bus.
	flushCtx, flushed := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if ferr := g.journal.Flush(flushCtx); ferr != nil {
		g.log.Error("alarm journal: transitions still waiting at stop", "pending", g.journal.WriterStats().Pending, "err", ferr)
	}
	flushed()
	stopSinks()
	sinks.Wait()
	stopStore()
	store.Wait()
	serve.Wait()
	g.log.Info("hazgate stopped")
	return err
}

// spoolOverflowed is the InfluxDB sink's overflow hook; the pipeline it
// emits into is built after the sink.
func (g *gateway) spoolOverflowed(dropped int) { selfalarm.SpoolOverflowed(g.pipeline, g.log, dropped) }

// reloadRules re-reads the config file's rules (SIGHUP, or an admin through
// the API). Open alarms are kept; a file with problems changes nothing.
// alarm_handling is reloaded with them. Other sections need a restart.
func (g *gateway) reloadRules(ctx context.Context) error {
	if g.cfg.File == "" {
		return errors.New("this gateway has no config file to reload")
	}
	cfg, err := config.Load(g.cfg.File)
	if err == nil {
		_, selfRules := selfalarm.For(g.cfg)
		if err = g.engine.Reload(ctx, slices.Concat(cfg.Rules, selfRules)); err == nil {
			g.engine.SetHandling(cfg.AlarmHandling)
		}
	}
	if err != nil {
		g.log.Error("rules not reloaded; the old rules stay in force", "file", g.cfg.File, "err", err)
		return err
	}
	g.log.Info("rules reloaded", "file", g.cfg.File, "rules", len(cfg.Rules))
	return nil
}

// reloader lets the API's admin reload reach the gateway.
type reloader struct{ g *gateway }

func (r reloader) Reload(ctx context.Context) error { return r.g.reloadRules(ctx) }

// metrics registers what /metrics serves besides the API's own series.
func (g *gateway) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(api.AlarmCollector(g.engine, g.bus), api.JournalCollector(g.journal))
	if g.influx != nil {
		reg.MustRegister(api.InfluxCollector(g.influx))
	}
	// Each device exports its own series; the device label is the gateway's,
	// so two devices of one protocol share the series' names.
	for i, d := range g.devices {
		if m, ok := d.(protocols.Metered); ok {
			prometheus.WrapRegistererWith(prometheus.Labels{"device": g.cfg.Devices[i].ID}, reg).MustRegister(m.Metrics())
		}
	}
	if g.northbound != nil {
		reg.MustRegister(g.northbound.Metrics())
	}
	for i, d := range g.webhooks {
		prometheus.WrapRegistererWith(prometheus.Labels{"webhook": g.cfg.Webhooks[i].Name}, reg).MustRegister(d.Metrics())
	}
	if g.hub != nil {
		reg.MustRegister(g.hub.ingest.Metrics())
	}
	if g.forward != nil {
		reg.MustRegister(g.forward.metrics()...)
	}
	return reg
}
