package collector

import (
	"hazgate/config"

	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"hazgate/collector/spool"
)

// Defaults for zero InfluxOptions fields.
const (
	DefaultInfluxBatchSize     = 5000
	DefaultInfluxFlushInterval = time.Second
	DefaultInfluxTimeout       = 10 * time.Second
)

// InfluxOptions says where and how the sink writes. For InfluxDB 1.8: Org "",
// Bucket "db/rp", Token "user:pass" (or empty without auth).
type InfluxOptions struct {
	URL    string
	Token  string
	Org    string
	Bucket string
	// BatchSize is the most points in one write request (default 5000).
	BatchSize int
	// FlushInterval is the longest a point waits for its batch to fill (default 1s).
	FlushInterval time.Duration
	// Timeout bounds one write request (default 10s).
	Timeout time.Duration
	// GzipLevel compresses write bodies, 1 (gzip.BestSpeed, the default)
	// to 9.
	GzipLevel int
	// Spool keeps on disk what InfluxDB cannot take and replays it; with
	// an empty Spool.Dir batches wait in memory (bounded, oldest dropped).
	Spool SpoolOptions
	// OnSpoolOverflow, if set, is called with the points lost each time
	// the full spool drops its oldest segment.
	OnSpoolOverflow func(droppedPoints int)
}

// SpoolOptions place and bound the disk spool.
type SpoolOptions struct {
	// Dir holds the spool segments and, in deadletter/, the batches
	// InfluxDB rejected as bad data.
	Dir string
	// MaxBytes bounds the segments on disk (default 1 GiB).
	MaxBytes int64
	// ReplayRate caps replay in points per second; 0 means as fast as
	// InfluxDB takes them.
	ReplayRate int
}

// TagLookup gives a sample's tag metadata; Registry satisfies it.
type TagLookup interface {
	Lookup(id string) (Tag, bool)
}

// versioned is a TagLookup that counts its changes (*Registry): the same
// version, the same metadata for every tag it found. Version is never 0.
type versioned interface{ Version() uint64 }

// InfluxStats are the sink's counters since start.
type InfluxStats struct {
	PointsWritten  uint64
	BatchesWritten uint64
	// WriteErrors counts failed write requests, whether retried or not.
	WriteErrors uint64
	// BatchesRetried counts write attempts repeated after a failure, live
	// or from the spool.
	BatchesRetried uint64
	// PointsDropped counts points that will never be written: queue or
	// memory bound reached, rejected by InfluxDB, spool full, or unsent at
	// shutdown without a spool.
	PointsDropped uint64
	// PointsRejected is the part of PointsDropped InfluxDB refused as bad
	// data (HTTP 400 and the like); retrying them cannot help.
	PointsRejected uint64
	// PointsDeadLettered counts the points of rejected batches kept in
	// dead-letter files (the whole batch, including points InfluxDB took).
	PointsDeadLettered uint64
	// QueueLength is how many points are accepted but neither written nor
	// spooled (a batch being spooled may briefly count in both).
	QueueLength int

	// Down is set while writes fail and live batches go to the spool.
	Down bool
	// PointsSpooled and PointsReplayed count points put on disk and
	// written from it since start.
	PointsSpooled, PointsReplayed uint64
	// SpoolBytes and SpoolPoints are the spool's size on disk and the
	// points in it not yet replayed; SpoolOldestAge is how old the oldest
	// of those is (by its timestamp).
	SpoolBytes     int64
	SpoolPoints    int
	SpoolOldestAge time.Duration
	// SpoolTornRecords counts torn or corrupt spool records skipped (a
	// write cut short by a crash); SpoolOverflowPoints the points dropped
	// because the spool was full (also in PointsDropped).
	SpoolTornRecords    uint64
	SpoolOverflowPoints uint64
}

// InfluxSink writes samples (measurement "reading") and other points (such as
// "alarm") to InfluxDB. Consume and WritePoint only enqueue; Run batches and
// writes, so a slow or absent InfluxDB never stalls collection or alarms.
//
// Data path: queue (bounded, points) -> batcher (line protocol, by size and
// age) -> pending batches (bounded) -> writeBatch. Without a spool, failed
// batches are retried in order and pending drops its oldest when full.
// With one, a failed batch is retried briefly and then spooled; while
// InfluxDB stays down live batches go straight to the spool, and replayLoop
// writes the spool back in order beside the live data once InfluxDB answers.
type InfluxSink struct {
	opts   InfluxOptions
	site   string
	tags   TagLookup
	log    *slog.Logger
	client influxdb2.Client
	// Writes are posted through the client's HTTP service (its auth,
	// user agent and error parsing) with our own gzip: a writer reused
	// from gzips, at GzipLevel (BestSpeed unless set), where the client's
	// WriteAPIBlocking made a default-level writer per batch (~0.8 MB each,
	// 3 µs per point of a 256-point batch; BestSpeed's body is about 1.5
	// times the size).
	http     influxhttp.Service
	writeURL string
	// gzips holds the writers not in use. Not a sync.Pool: each GC empties
	// one, and a flate writer is ~1 MB to allocate and clear again.
	gzips chan *gzipBuf

	// Bounds and timings, fixed before Run (tests shrink them).
	queueCap         int
	maxPendingPoints int
	backoffMin       time.Duration
	backoffMax       time.Duration
	shutdownGrace    time.Duration

	qmu     sync.Mutex
	queue   []queued
	stopped bool          // Run has returned: nothing will drain the queue
	wake    chan struct{} // cap 1: the queue has entries

	pmu           sync.Mutex
	pending       []*lineBatch
	pendingPoints int
	pendingWake   chan struct{} // cap 1: pending has batches
	inflight      atomic.Int64  // points in the batch being written
	building      atomic.Int64  // points in the batch being filled

	// With a spool: down sends live batches to it; retryAfter is the
	// server's last Retry-After (ns) for the replayer's next attempt.
	spool       *spool.Spool
	deadDir     string
	liveRetries int
	down        atomic.Bool
	retryAfter  atomic.Int64
	spoolWake   chan struct{} // cap 1: the spool has batches

	// Durability: every accepted point has a number (accepted counts them);
	// the batcher cuts batches over consecutive numbers (encoded, cutAt);
	// a batch is settled once written, spooled, dead-lettered or lost, and
	// durableTo is the number below which every point is settled.
	accepted                                       uint64 // under qmu
	encoded                                        uint64 // batcher's
	cutAt                                          uint64 // batcher's
	dmu                                            sync.Mutex
	durableTo                                      uint64
	early                                          map[uint64]uint64 // settled ranges from -> to beyond durableTo
	waiters                                        []durableWaiter
	waiting                                        atomic.Bool // waiters is not empty: cut batches at once
	written, batches, writeErrs, dropped, rejected atomic.Uint64
	retried, deadLettered, replayed                atomic.Uint64
	lastDropLog                                    atomic.Int64 // unix ns
}

// queued is one point waiting for the batcher: a sample, or a ready-made point.
type queued struct {
	s Sample
	p *write.Point
	t time.Time // p's timestamp when p has none
}

// lineBatch is one write request's worth of line protocol, ready to send
// (or, later, to spool). A batch the batcher cut holds its body gzipped
// (gz), as it is posted: while InfluxDB lags behind a burst, the batches
// waiting for it take a twentieth of the memory (200,000 points of line
// protocol are about 20 MB raw). A batch read back from the spool holds
// the raw body.
type lineBatch struct {
	body   string
	gz     []byte
	points int
	oldest time.Time
	// from, to number the accepted points the batch settles; zero for
	// batches read back from the spool.
	from, to uint64
}

type durableWaiter struct {
	seq uint64
	fn  func()
}

// NewInfluxSink checks opts and prepares a sink; it does not contact InfluxDB,
// so a database that is down at start-up delays nothing. site is the site tag
// for samples whose Tag has none.
func NewInfluxSink(opts InfluxOptions, site string, tags TagLookup, log *slog.Logger) (*InfluxSink, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("influxdb url %q: %w", config.RedactURL(opts.URL), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influxdb url %q: want http://host:port or https://host:port", config.RedactURL(opts.URL))
	}
	if opts.Bucket == "" {
		return nil, errors.New("influxdb bucket is empty (InfluxDB 1.8: database/retention-policy, e.g. hazgate/autogen)")
	}
	if opts.Spool.MaxBytes < 0 || opts.Spool.ReplayRate < 0 {
		return nil, fmt.Errorf("influxdb spool max bytes %d, replay rate %d: must not be negative", opts.Spool.MaxBytes, opts.Spool.ReplayRate)
	}
	if opts.BatchSize < 0 || opts.FlushInterval < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("influxdb batch size %d, flush interval %s, timeout %s: must not be negative",
			opts.BatchSize, opts.FlushInterval, opts.Timeout)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultInfluxBatchSize
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = DefaultInfluxFlushInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultInfluxTimeout
	}
	switch {
	case opts.GzipLevel == 0:
		opts.GzipLevel = gzip.BestSpeed
	case opts.GzipLevel < gzip.BestSpeed || opts.GzipLevel > gzip.BestCompression:
		return nil, fmt.Errorf("influxdb gzip level %d: want 1 to 9", opts.GzipLevel)
	}
	if log == nil {
		log = slog.Default()
	}
	if tags == nil {
		tags = NewRegistry()
	}
	// The client's own batching and retries stay off: we batch and retry
	// ourselves so failed batches can be kept in order (and spooled), and
	// gzip ourselves (post); the client gives its HTTP service.
	copts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetApplicationName("hazgate").
		SetHTTPRequestTimeout(uint((opts.Timeout + time.Second - 1) / time.Second))
	client := influxdb2.NewClientWithOptions(opts.URL, opts.Token, copts)
	grace := 5 * time.Second
	if opts.Timeout < grace {
		grace = opts.Timeout
	}
	s := &InfluxSink{
		opts:     opts,
		site:     site,
		tags:     tags,
		log:      log.With("component", "influxdb", "url", config.RedactURL(opts.URL), "bucket", opts.Bucket),
		client:   client,
		http:     client.HTTPService(),
		writeURL: writeURL(client.HTTPService().ServerAPIURL(), opts.Org, opts.Bucket),
		gzips:    make(chan *gzipBuf, 2),

		// Room for bursts while the batcher is busy; it only fills if the
		// batcher cannot keep up, since outages back up in pending instead.
		queueCap: max(4*opts.BatchSize, 20_000),
		// About a minute of a busy site in memory; the spool takes over later.
		maxPendingPoints: max(40*opts.BatchSize, 200_000),
		backoffMin:       500 * time.Millisecond,
		backoffMax:       30 * time.Second,
		shutdownGrace:    grace,
		liveRetries:      1,

		early:       make(map[uint64]uint64),
		wake:        make(chan struct{}, 1),
		pendingWake: make(chan struct{}, 1),
		spoolWake:   make(chan struct{}, 1),
	}
	if opts.Spool.Dir != "" {
		if err := s.openSpool(); err != nil {
			client.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *InfluxSink) openSpool() error {
	dir := s.opts.Spool.Dir
	s.deadDir = filepath.Join(dir, "deadletter")
	if err := os.MkdirAll(s.deadDir, 0o750); err != nil {
		return fmt.Errorf("influxdb dead-letter directory: %w", err)
	}
	// Overflow is counted from the spool's Stats, not here: the spool calls
	// OnOverflow after releasing its lock, so a counter bumped here would lag
	// its Points and Appended, and Stats would briefly lose the points.
	sp, err := spool.Open(spool.Options{
		Dir:        dir,
		MaxBytes:   s.opts.Spool.MaxBytes,
		OnOverflow: s.opts.OnSpoolOverflow,
		Log:        s.log,
	})
	if err != nil {
		return fmt.Errorf("influxdb spool: %w", err)
	}
	s.spool = sp
	return nil
}

// Consume queues the batch for writing. It never waits for the network: when
// the queue is full the excess is dropped and counted.
func (s *InfluxSink) Consume(_ context.Context, batch []Sample) {
	if len(batch) == 0 {
		return
	}
	s.qmu.Lock()
	n := len(batch)
	if s.stopped {
		n = 0
	} else if room := s.queueCap - len(s.queue); n > room {
		n = max(room, 0)
	}
	for _, smp := range batch[:n] {
		s.queue = append(s.queue, queued{s: smp})
	}
	s.accepted += uint64(n)
	s.qmu.Unlock()
	if n > 0 {
		s.signal(s.wake)
	}
	if lost := len(batch) - n; lost > 0 {
		s.drop(lost, "queue full")
	}
}

// WritePoint queues a point that is not a reading (an alarm transition, a
// self-metric). A point without a timestamp gets the time of this call.
func (s *InfluxSink) WritePoint(p *write.Point) {
	if p == nil {
		return
	}
	s.qmu.Lock()
	ok := !s.stopped && len(s.queue) < s.queueCap
	if ok {
		s.queue = append(s.queue, queued{p: p, t: time.Now()})
		s.accepted++
	}
	s.qmu.Unlock()
	if ok {
		s.signal(s.wake)
		return
	}
	s.drop(1, "queue full")
}

// Stats returns the counters.
func (s *InfluxSink) Stats() InfluxStats {
	s.qmu.Lock()
	q := len(s.queue)
	s.qmu.Unlock()
	s.pmu.Lock()
	q += s.pendingPoints
	s.pmu.Unlock()
	q += int(s.inflight.Load() + s.building.Load())
	st := InfluxStats{
		PointsWritten:      s.written.Load(),
		BatchesWritten:     s.batches.Load(),
		WriteErrors:        s.writeErrs.Load(),
		BatchesRetried:     s.retried.Load(),
		PointsDropped:      s.dropped.Load(),
		PointsRejected:     s.rejected.Load(),
		PointsDeadLettered: s.deadLettered.Load(),
		QueueLength:        q,
		Down:               s.down.Load(),
		PointsReplayed:     s.replayed.Load(),
	}
	if s.spool != nil {
		sp := s.spool.Stats()
		st.PointsSpooled = sp.Appended
		st.SpoolBytes = sp.Bytes
		st.SpoolPoints = sp.Points
		if !sp.Oldest.IsZero() {
			st.SpoolOldestAge = max(time.Since(sp.Oldest), 0)
		}
		st.SpoolTornRecords = sp.Skipped
		// From the same snapshot as SpoolPoints, so that spooled points are
		// always either still in the spool, replayed or counted lost.
		st.SpoolOverflowPoints = sp.Dropped
		st.PointsDropped += sp.Dropped
	}
	return st
}

// Check asks InfluxDB's /health (1.8 has no /ready), for start-up logs and
// `hazgate check`; the sink itself never needs it.
func (s *InfluxSink) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	h, err := s.client.Health(ctx)
	if err != nil {
		return fmt.Errorf("influxdb %s health: %w", config.RedactURL(s.opts.URL), err)
	}
	if h.Status != "pass" {
		msg := ""
		if h.Message != nil {
			msg = *h.Message
		}
		return fmt.Errorf("influxdb %s health: status %s %s", config.RedactURL(s.opts.URL), h.Status, msg)
	}
	return nil
}

// Run batches and writes until ctx ends, then writes what it still holds
// within a short grace period and spools the rest (without a spool: counts
// it as dropped). Stop the pipeline feeding Consume before ctx ends so its
// last samples are included.
func (s *InfluxSink) Run(ctx context.Context) {
	s.log.Info("influxdb sink started", "batch_size", s.opts.BatchSize, "flush_interval", s.opts.FlushInterval)
	batcherDone := make(chan struct{})
	go func() {
		defer close(batcherDone)
		s.batchLoop(ctx)
	}()
	if s.spool == nil {
		s.writeLoop(ctx)
		<-batcherDone
		s.flushOnShutdown(ctx)
	} else {
		replayDone := make(chan struct{})
		go func() {
			defer close(replayDone)
			s.replayLoop(ctx)
		}()
		s.spoolWriteLoop(ctx)
		<-batcherDone
		s.spoolOnShutdown(ctx)
		<-replayDone
		if err := s.spool.Close(); err != nil {
			s.log.Error("influxdb spool close", "err", err)
		}
	}
	s.client.Close()

	s.qmu.Lock()
	s.stopped = true
	late := len(s.queue)
	s.queue = nil
	s.qmu.Unlock()
	if late > 0 {
		s.drop(late, "consumed after the sink stopped")
		from := s.cutAt
		s.encoded += uint64(late)
		s.cutAt = s.encoded
		s.settle(from, s.cutAt)
	}
}

// batchLoop turns queued points into line-protocol batches of at most
// BatchSize points, sending a partial batch once its first point is
// FlushInterval old.
func (s *InfluxSink) batchLoop(ctx context.Context) {
	var (
		b      batchBuilder
		spare  []queued
		timer  = time.NewTimer(time.Hour)
		timerC <-chan time.Time
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-s.wake:
		case <-timerC:
			timerC = nil
			s.cut(&b)
			s.building.Store(0)
			continue
		case <-ctx.Done():
			s.encode(&b, s.take(spare))
			s.cut(&b)
			s.building.Store(0)
			return
		}
		items := s.take(spare)
		full := s.encode(&b, items)
		// Someone waits for these points to be durable: send them now
		// unless batches already wait for the writer, which will call
		// for this one when it is free (group commit).
		if s.waiting.Load() && s.pendingEmpty() {
			s.cut(&b)
			full = true
		}
		s.building.Store(int64(b.points))
		clear(items) // drop references to points for the GC
		spare = items[:0]
		if full {
			timer.Stop()
			timerC = nil
		}
		if b.points > 0 && timerC == nil {
			timer.Reset(max(s.opts.FlushInterval-time.Since(b.started), 0))
			timerC = timer.C
		}
	}
}

// encode adds items to b, passing on each batch that fills; it reports
// whether any did (so the age timer restarts).
func (s *InfluxSink) encode(b *batchBuilder, items []queued) (full bool) {
	version := s.tagsVersion()
	for i := range items {
		q := &items[i]
		ok := false
		if q.p != nil {
			ok = b.addPoint(q.p, q.t)
		} else {
			s.addReading(b, &q.s, version)
			ok = true
		}
		s.encoded++
		if !ok {
			s.drop(1, "point has no writable field")
			continue
		}
		if b.points >= s.opts.BatchSize {
			s.cut(b)
			full = true
		}
	}
	return full
}

// tagsVersion is the tag registry's version, 0 if it has none.
func (s *InfluxSink) tagsVersion() uint64 {
	if v, ok := s.tags.(versioned); ok {
		return v.Version()
	}
	return 0
}

// addReading writes a reading to b. While the registry's version stays the
// same, the tag's cached series key stands without looking the tag up
// again: the lookup was a third of encoding's time.
func (s *InfluxSink) addReading(b *batchBuilder, r *Sample, version uint64) {
	if !b.addKnown(r, version) {
		t, found := s.tags.Lookup(r.Tag)
		if !found {
			version = 0 // a tag registered later must be looked up again
		}
		b.addSample(r, &t, s.site, version)
	}
}

// cut ends the batch being built and queues it for writing.
func (s *InfluxSink) cut(b *batchBuilder) {
	from, to := s.cutAt, s.encoded
	s.cutAt = to
	lb := b.finish()
	if lb == nil {
		s.settle(from, to) // nothing writable: dropped, and counted so
		return
	}
	lb.from, lb.to = from, to
	if gz, err := s.gzip(lb.body); err == nil {
		lb.gz, lb.body = gz, ""
	} // else it waits raw and is compressed when posted
	s.pushPending(lb)
}

// WhenDurable calls fn, on one of the sink's goroutines, once every point
// accepted so far is written to InfluxDB, on disk in the spool, in a
// dead-letter file, or counted lost. fn must return quickly. Waiting makes
// the batcher send at once rather than after FlushInterval.
func (s *InfluxSink) WhenDurable(fn func()) {
	s.qmu.Lock()
	seq := s.accepted
	s.qmu.Unlock()
	s.dmu.Lock()
	if seq <= s.durableTo {
		s.dmu.Unlock()
		fn()
		return
	}
	s.waiters = append(s.waiters, durableWaiter{seq, fn})
	s.waiting.Store(true)
	s.dmu.Unlock()
	s.signal(s.wake)
}

// settle marks the points numbered [from, to) durable (or lost) and calls
// the waiters that were waiting for them.
func (s *InfluxSink) settle(from, to uint64) {
	if from >= to {
		return
	}
	s.dmu.Lock()
	if from != s.durableTo {
		s.early[from] = to // an evicted batch spooled before the one in flight
		s.dmu.Unlock()
		return
	}
	s.durableTo = to
	for next, ok := s.early[s.durableTo]; ok; next, ok = s.early[s.durableTo] {
		delete(s.early, s.durableTo)
		s.durableTo = next
	}
	var ready []durableWaiter
	keep := s.waiters[:0]
	for _, w := range s.waiters {
		if w.seq <= s.durableTo {
			ready = append(ready, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(s.waiters[len(keep):])
	s.waiters = keep
	s.waiting.Store(len(keep) > 0)
	s.dmu.Unlock()
	for _, w := range ready {
		w.fn()
	}
}

func (s *InfluxSink) pendingEmpty() bool {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return len(s.pending) == 0
}

// take swaps the queue for spare and returns what was queued.
func (s *InfluxSink) take(spare []queued) []queued {
	s.qmu.Lock()
	items := s.queue
	s.queue = spare[:0]
	s.qmu.Unlock()
	return items
}

// pushPending queues b for writing. Beyond maxPendingPoints the oldest
// batches go: during a long outage the newest readings matter most.
func (s *InfluxSink) pushPending(b *lineBatch) {
	if b == nil || b.points == 0 {
		return
	}
	var evicted []*lineBatch
	s.pmu.Lock()
	s.pending = append(s.pending, b)
	s.pendingPoints += b.points
	for s.pendingPoints > s.maxPendingPoints && len(s.pending) > 1 {
		old := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		s.pendingPoints -= old.points
		evicted = append(evicted, old)
	}
	s.pmu.Unlock()
	s.signal(s.pendingWake)
	lost := 0
	for _, old := range evicted {
		if s.spool != nil {
			s.toSpool(old)
		} else {
			lost += old.points
		}
		s.settle(old.from, old.to)
	}
	if lost > 0 {
		s.drop(lost, "memory bound reached while InfluxDB is unreachable")
	}
}

func (s *InfluxSink) popPending() *lineBatch {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	b := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	s.pendingPoints -= b.points
	s.inflight.Store(int64(b.points))
	if len(s.pending) == 0 && s.waiting.Load() {
		s.signal(s.wake) // the writer is free for what the batcher holds
	}
	return b
}

// unpop puts b back at the head, for the shutdown flush.
func (s *InfluxSink) unpop(b *lineBatch) {
	s.pmu.Lock()
	s.pending = append([]*lineBatch{b}, s.pending...)
	s.pendingPoints += b.points
	s.inflight.Store(0)
	s.pmu.Unlock()
}

// writeLoop writes pending batches in order. A batch that fails for a
// reason that may pass (network, 5xx, 429, auth) is retried with capped
// exponential backoff while later batches wait behind it.
func (s *InfluxSink) writeLoop(ctx context.Context) {
	var (
		cur      *lineBatch
		backoff  = s.backoffMin
		failures int
		timer    = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			if cur != nil {
				s.unpop(cur)
			}
			return
		}
		if cur == nil {
			if cur = s.popPending(); cur == nil {
				select {
				case <-s.pendingWake:
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		// A write under way is not cut short by shutdown: the server may
		// have stored it already, and the flush would send it again.
		err := s.writeBatch(context.WithoutCancel(ctx), cur)
		if err == nil {
			if failures > 0 {
				s.log.Info("influxdb writes resumed", "failed_attempts", failures)
			}
			s.settle(cur.from, cur.to)
			failures, backoff, cur = 0, s.backoffMin, nil
			s.inflight.Store(0)
			continue
		}
		if ctx.Err() != nil {
			s.unpop(cur)
			return
		}
		kind, retryAfter := classifyWriteError(err)
		if kind == writeRejected {
			s.reject(cur, err)
			s.settle(cur.from, cur.to)
			cur = nil
			s.inflight.Store(0)
			continue
		}
		failures++
		wait := max(backoff, retryAfter)
		wait = min(wait, 5*time.Minute)
		backoff = min(2*backoff, s.backoffMax)
		if failures == 1 {
			// Loud once per outage, not once per attempt.
			lvl := slog.LevelWarn
			if kind == writeRefused {
				lvl = slog.LevelError
			}
			s.log.Log(ctx, lvl, "influxdb write failed; retrying and keeping later batches in memory",
				"points", cur.points, "retry_in", wait, "err", err)
		} else {
			s.log.Debug("influxdb write failed again", "attempt", failures, "retry_in", wait, "err", err)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			s.unpop(cur)
			return
		}
	}
}

// popLast pops a pending batch at shutdown, then batches what the pipeline
// may still have handed over.
func (s *InfluxSink) popLast() *lineBatch {
	if cur := s.popPending(); cur != nil {
		return cur
	}
	var b batchBuilder
	s.encode(&b, s.take(nil))
	s.cut(&b)
	return s.popPending()
}

// flushOnShutdown writes what is left, once each, within shutdownGrace.
func (s *InfluxSink) flushOnShutdown(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownGrace)
	defer cancel()
	for {
		cur := s.popLast()
		if cur == nil {
			return
		}
		if err := s.writeBatch(fctx, cur); err != nil {
			s.inflight.Store(0)
			lost := cur.points
			s.settle(cur.from, cur.to)
			for b := s.popPending(); b != nil; b = s.popPending() {
				lost += b.points
				s.settle(b.from, b.to)
			}
			s.inflight.Store(0)
			s.dropped.Add(uint64(lost))
			s.log.Error("influxdb unreachable at shutdown; points lost", "points", lost, "err", err)
			return
		}
		s.settle(cur.from, cur.to)
		s.inflight.Store(0)
	}
}

// writeBatch sends one batch; the error keeps InfluxDB's status for
// classifyWriteError.
func (s *InfluxSink) writeBatch(ctx context.Context, b *lineBatch) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	gz := b.gz
	if gz == nil {
		var err error
		if gz, err = s.gzip(b.body); err != nil {
			return fmt.Errorf("influxdb write of %d points: gzip: %w", b.points, err)
		}
	}
	if err := s.post(ctx, gz); err != nil {
		s.writeErrs.Add(1)
		return fmt.Errorf("influxdb write of %d points to bucket %q: %w", b.points, s.opts.Bucket, err)
	}
	s.written.Add(uint64(b.points))
	s.batches.Add(1)
	return nil
}

// gzipBuf is a gzip writer and the buffer it fills, reused across writes.
type gzipBuf struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

// post sends body, gzipped, to the write endpoint, as the client's
// WriteAPIBlocking.WriteRecord does; an error from InfluxDB is the
// client's *influxhttp.Error.
// gzip compresses a batch body at GzipLevel with a reused writer.
func (s *InfluxSink) gzip(body string) ([]byte, error) {
	var g *gzipBuf
	select {
	case g = <-s.gzips:
	default:
		g = &gzipBuf{}
		g.zw, _ = gzip.NewWriterLevel(&g.buf, s.opts.GzipLevel) // checked in NewInfluxSink
	}
	defer func() {
		select {
		case s.gzips <- g:
		default: // two are kept: the batcher's and the writer's
		}
	}()
	g.buf.Reset()
	g.zw.Reset(&g.buf)
	if _, err := io.WriteString(g.zw, body); err != nil {
		return nil, err
	}
	if err := g.zw.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(g.buf.Bytes()), nil
}

// raw is the batch's line protocol, unzipped if the batcher compressed it.
func (b *lineBatch) raw() (string, error) {
	if b.gz == nil {
		return b.body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b.gz))
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(zr)
	return string(raw), err
}

// post sends a gzipped body.
func (s *InfluxSink) post(ctx context.Context, gz []byte) error {
	perr := s.http.DoPostRequest(ctx, s.writeURL, bytes.NewReader(gz), func(req *http.Request) {
		req.Header.Set("Content-Encoding", "gzip")
	}, func(r *http.Response) error {
		return r.Body.Close()
	})
	if perr != nil { // a *http.Error: returned as is, a nil one is no nil error
		return perr
	}
	return nil
}

// writeURL is the client's write endpoint for org and bucket, nanosecond
// precision.
func writeURL(serverAPIURL, org, bucket string) string {
	u, err := url.Parse(serverAPIURL)
	if err != nil {
		return serverAPIURL // NewInfluxSink checked the URL
	}
	u, _ = u.Parse("write")
	q := u.Query()
	q.Set("org", org)
	q.Set("bucket", bucket)
	q.Set("precision", "ns")
	u.RawQuery = q.Encode()
	return u.String()
}

type writeFailure int

const (
	// writeRetry: may pass by itself (network, timeout, 5xx, 429).
	writeRetry writeFailure = iota
	// writeRefused: InfluxDB refuses us, not the data (401, 403, missing
	// database): keep the data, retry slowly, tell the operator.
	writeRefused
	// writeRejected: the data itself is refused (400, 413, 422); resending
	// cannot help.
	writeRejected
)

// classifyWriteError sorts a write error and returns the server's
// Retry-After, if any.
func classifyWriteError(err error) (writeFailure, time.Duration) {
	var he *influxhttp.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		return writeRetry, 0
	}
	retryAfter := time.Duration(he.RetryAfter) * time.Second
	switch code := he.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound:
		return writeRefused, retryAfter
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		return writeRetry, retryAfter
	case code >= 400:
		return writeRejected, 0
	}
	return writeRetry, retryAfter
}

func (s *InfluxSink) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// drop counts lost points and logs at most every 10 s, so a long outage
// does not flood the log.
func (s *InfluxSink) drop(n int, why string) {
	total := s.dropped.Add(uint64(n))
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last >= int64(10*time.Second) && s.lastDropLog.CompareAndSwap(last, now) {
		s.log.Warn("influxdb points dropped", "reason", why, "points", n, "dropped_total", total)
	}
}
