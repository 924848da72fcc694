// Package modbus polls Modbus devices and turns their registers into
// collector.Samples. A Poller reads one device (one unit id); devices with
// the same URL share one connection, served one request at a time. The
// poller plans merged reads, decodes every register layout, reconnects with
// backoff and isolates tags a device refuses, so one bad address costs only
// its own tag.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

// Poller reads one Modbus device. Its fields after construction are owned by
// the goroutine running Run, except the metrics.
type Poller struct {
	site   string
	dev    config.Device
	emit   protocols.Emitter
	log    *slog.Logger
	base   *slog.Logger // without the device, for the shared link
	cfg    Config       // the device's modbus block
	spec   linkSpec
	opts   planOptions
	points []point
	first  []int // index of each point's first sample in a batch
	tags   []collector.Tag
	m      metrics

	// Run's state.
	link    *link
	lost    bool        // the device failed to answer and has not answered since
	modes   []mergeMode // what failures taught us about each point
	reqs    []request
	reasons []string // last Bad reason per point, to log changes only
	job     *job     // reused for every request while none is abandoned
	running atomic.Bool
}

// New validates dev's Modbus part and returns its poller. Errors name the
// device and, where one is at fault, the tag. Nothing is opened until Run.
func New(site string, dev config.Device, emit protocols.Emitter, log *slog.Logger) (*Poller, error) {
	if log == nil {
		log = slog.Default()
	}
	if dev.ID == "" {
		return nil, errors.New("modbus device: empty id")
	}
	if emit == nil {
		return nil, fmt.Errorf("device %s: no emitter", dev.ID)
	}
	p := &Poller{site: site, dev: dev, emit: emit, log: log.With("device", dev.ID), base: log}
	if err := p.init(); err != nil {
		return nil, fmt.Errorf("device %s: %w", dev.ID, err)
	}
	return p, nil
}

// init resolves the device's settings and tags and makes the first plan.
func (p *Poller) init() error {
	dev := p.dev
	p.cfg = configOf(dev)
	if dev.Interval <= 0 {
		return fmt.Errorf("interval %v must be positive", dev.Interval)
	}
	if dev.Timeout <= 0 {
		return fmt.Errorf("timeout %v must be positive", dev.Timeout)
	}
	if len(dev.Tags) == 0 {
		return errors.New("no tags")
	}
	if p.cfg.Retries < 0 {
		return fmt.Errorf("retries %d must not be negative", p.cfg.Retries)
	}
	order, err := parseOrder(p.cfg.ByteOrder)
	if err != nil {
		return err
	}
	if p.spec, err = newLinkSpec(dev); err != nil {
		return err
	}
	// The client is built again by the link; building it here rejects a bad
	// URL before anything runs.
	if _, err := p.spec.client(newLibLog(p.log, dev.URL)); err != nil {
		return fmt.Errorf("url %q: %w", dev.URL, err)
	}
	p.opts = planOptionsOf(p.cfg)
	seen := make(map[string]bool, len(dev.Tags))
	add := func(t config.Tag, id, desc string) error {
		if seen[id] {
			return fmt.Errorf("tag %s: duplicate id", id)
		}
		seen[id] = true
		t.ID, t.Description = id, desc // a state bit's tag: its own id and meaning
		p.tags = append(p.tags, protocols.DeclaredTag(p.site, dev, t))
		return nil
	}
	for _, t := range dev.Tags {
		pt, err := resolve(t, order)
		if err != nil {
			return err
		}
		if pt.size() > p.opts.limit(pt.table) {
			return fmt.Errorf("tag %s: %s takes %d registers, more than max_registers %d", t.ID, pt.typ, pt.size(), p.opts.maxRegs)
		}
		p.first = append(p.first, len(p.tags))
		if err := add(t, t.ID, t.Description); err != nil {
			return err
		}
		if pt.states != nil {
			for k, name := range pt.states.names {
				desc := fmt.Sprintf("1 while %s is in state %s (code %d)", t.ID, name, pt.states.codes[k])
				st := t
				st.Unit = ""
				if err := add(st, t.ID+"."+name, desc); err != nil {
					return err
				}
			}
		}
		p.points = append(p.points, pt)
	}
	p.modes = make([]mergeMode, len(p.points))
	p.reasons = make([]string, len(p.points))
	p.reqs = plan(p.points, p.modes, p.opts)
	return nil
}

// configOf is dev's modbus block; a device built in Go without one has the
// zero block, as config's defaults do not reach it.
func configOf(dev config.Device) Config {
	if c, ok := dev.Block.(*Config); ok && c != nil {
		return *c
	}
	return Config{}
}

func planOptionsOf(m Config) planOptions {
	o := defaultPlan
	if m.MaxGap != nil {
		o.maxGapRegs = int(*m.MaxGap)
	}
	if m.MaxGapBits != nil {
		o.maxGapBits = int(*m.MaxGapBits)
	}
	if m.MaxRegisters > 0 {
		o.maxRegs = int(m.MaxRegisters)
	}
	o.single = m.SingleReads
	return o
}

// Tags returns the metadata of the device's tags, in config order, each
// state tag (<id>.<name>) after its state register's tag, for the registry.
func (p *Poller) Tags() []collector.Tag {
	return append([]collector.Tag(nil), p.tags...)
}

// Stats returns the counters so far; safe from any goroutine.
func (p *Poller) Stats() Stats { return p.m.snapshot() }

// attach joins the device's shared connection; detach leaves it.
func (p *Poller) attach() (detach func(), err error) {
	l, err := pool.acquire(p.dev.ID, p.spec, p.dev.Interval, p.base)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", p.dev.ID, err)
	}
	p.link = l
	return func() { pool.release(l, p.dev.ID) }, nil
}

// Run polls every dev.Interval until ctx ends, then leaves the connection
// and returns nil. A request in flight when ctx ends is abandoned, not
// waited for. Run may be called once.
func (p *Poller) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("device %s: poller already ran", p.dev.ID)
	}
	detach, err := p.attach()
	if err != nil {
		return err
	}
	defer detach()

	// A ticker drops ticks a slow poll overran instead of drifting or bunching.
	tick := time.NewTicker(p.dev.Interval)
	defer tick.Stop()
	for {
		start := time.Now()
		batch := p.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.m.cycles.observe(time.Since(start))
		if err := p.emit.Emit(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("emit failed", "err", err)
		} else {
			p.m.polls.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// poll runs one cycle and returns the device's samples in Tags order, each
// stamped with the time its request was answered.
func (p *Poller) poll(ctx context.Context) []collector.Sample {
	out := make([]collector.Sample, len(p.tags))
	for i := range out {
		out[i].Tag = p.tags[i].ID
	}
	replan := false
	for _, rq := range p.reqs {
		r := p.read(ctx, rq)
		if ctx.Err() != nil {
			return out
		}
		switch k := classify(r.err); k {
		case kindNone:
			p.fill(out, rq, r)
			for _, i := range rq.points {
				if p.modes[i] == mergeRefused && out[p.first[i]].Quality != collector.Bad {
					// The refused point answers again: merge it back.
					p.modes[i] = mergeFree
					replan = true
				}
			}
		case kindException:
			if len(rq.points) == 1 {
				p.refused(out, rq.points[0], r)
				continue
			}
			ok, lost := p.isolate(ctx, out, rq)
			if lost != nil {
				return p.down(out, *lost)
			}
			if ok {
				// Every point answers alone, so an address in a bridged gap
				// was refused: stop bridging gaps around these points.
				for _, i := range rq.points {
					if p.modes[i] == mergeFree {
						p.modes[i] = mergeNoGap
					} else {
						p.modes[i] = mergeAlone
					}
				}
				p.log.Info("merged read refused though each tag answers alone; no longer bridging gaps",
					"table", rq.table.String(), "address", rq.addr, "quantity", rq.qty, "err", r.err)
			}
			replan = true
		default:
			return p.down(out, r)
		}
	}
	if replan {
		p.reqs = plan(p.points, p.modes, p.opts)
	}
	return out
}

// read sends one request through the link and notes the device's return.
func (p *Poller) read(ctx context.Context, rq request) reply {
	// One job (and reply channel) serves every request: the link is done
	// with it once it has replied. One abandoned to ctx is the link's.
	j := p.job
	if j == nil {
		j = &job{unit: p.cfg.UnitID, retries: p.cfg.Retries, m: &p.m, log: p.log, done: make(chan reply, 1)}
		p.job = j
	}
	j.rq = rq
	r := p.link.do(ctx, j)
	if ctx.Err() != nil {
		p.job = nil
	}
	if k := classify(r.err); (k == kindNone || k == kindException) && p.lost {
		p.lost = false
		p.m.reconnects.Add(1)
		p.log.Info("device answers again", "url", config.RedactURL(p.dev.URL))
	}
	return r
}

// down marks every sample Bad comm_loss at the failure's time, throwing away
// values read earlier in the poll: a batch says one thing per device. The
// device's loss is logged once, not once per tag or poll.
func (p *Poller) down(out []collector.Sample, r reply) []collector.Sample {
	if !p.lost {
		p.lost = true
		p.log.Warn("device unreachable; tags Bad until it answers", "url", config.RedactURL(p.dev.URL), "unit", p.cfg.UnitID, "err", r.err)
	}
	for i := range out {
		out[i].Value, out[i].Quality, out[i].Reason, out[i].Time = 0, collector.Bad, collector.ReasonCommLoss, r.at
	}
	return out
}

// fill decodes a request's result into its points' samples.
func (p *Poller) fill(out []collector.Sample, rq request, r reply) {
	for _, i := range rq.points {
		pt := &p.points[i]
		s := out[p.first[i] : p.first[i]+pt.samples()]
		for k := range s {
			s[k].Time = r.at
		}
		var (
			v   float64
			err error
		)
		if pt.table.bits() {
			if off := int(pt.addr - rq.addr); off < len(r.res.bits) {
				v = decodeBit(r.res.bits[off])
			} else {
				err = errShort
			}
		} else {
			v, err = pt.decode(rq.addr, r.res.regs)
		}
		if err != nil {
			p.m.decodeErrs.Add(1)
			for k := range s {
				s[k].Value, s[k].Quality, s[k].Reason = 0, collector.Bad, collector.ReasonDecode
			}
			if p.reasons[i] != collector.ReasonDecode {
				p.log.Warn("tag value not decodable", "tag", pt.id, "table", pt.table.String(), "address", pt.addr,
					"type", pt.typ.String(), "byte_order", pt.order.String(), "err", err)
			}
			p.reasons[i] = collector.ReasonDecode
			continue
		}
		pt.set(s, v)
		if p.reasons[i] != "" {
			p.log.Info("tag answers again", "tag", pt.id, "table", pt.table.String(), "address", pt.addr)
		}
		p.reasons[i] = ""
	}
}

// isolate re-reads a refused merged request point by point. Points the
// device refuses alone are marked Bad and read alone from now on. ok reports
// that no point was refused alone; lost, that the device stopped answering
// meanwhile.
func (p *Poller) isolate(ctx context.Context, out []collector.Sample, rq request) (ok bool, lost *reply) {
	ok = true
	for _, i := range rq.points {
		pt := p.points[i]
		one := request{table: pt.table, addr: pt.addr, qty: uint16(pt.size()), points: []int{i}}
		r := p.read(ctx, one)
		switch classify(r.err) {
		case kindNone:
			p.fill(out, one, r)
		case kindException:
			ok = false
			p.modes[i] = mergeRefused
			p.refused(out, i, r)
		default:
			return false, &r
		}
	}
	return ok, nil
}

// refused marks point i Bad after the device answered its own read with an
// exception. A gateway's "path unavailable" or "target failed to respond" is
// how a dead field device behind it shows, so it counts as comm loss.
func (p *Poller) refused(out []collector.Sample, i int, r reply) {
	pt := p.points[i]
	reason := collector.ReasonException
	if errors.Is(r.err, modbus.ErrGWPathUnavailable) || errors.Is(r.err, modbus.ErrGWTargetFailedToRespond) {
		reason = collector.ReasonCommLoss
	}
	for k := range pt.samples() {
		s := &out[p.first[i]+k]
		s.Value, s.Quality, s.Reason, s.Time = 0, collector.Bad, reason, r.at
	}
	if p.reasons[i] != reason {
		p.log.Warn("device refused tag", "tag", pt.id, "table", pt.table.String(), "address", pt.addr,
			"type", pt.typ.String(), "reason", reason, "err", r.err)
	}
	p.reasons[i] = reason
}

// isException tells a Modbus exception response (the device answered, with a
// refusal) from an I/O failure (it did not answer properly).
func isException(err error) bool {
	for _, e := range []error{
		modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue,
		modbus.ErrServerDeviceFailure, modbus.ErrAcknowledge, modbus.ErrServerDeviceBusy,
		modbus.ErrMemoryParityError, modbus.ErrGWPathUnavailable, modbus.ErrGWTargetFailedToRespond,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	// The library reports codes it does not know with an unwrapped message.
	return err != nil && strings.Contains(err.Error(), "unknown exception code")
}
