// Package modbus polls Modbus devices and turns their registers into
// collector.Samples. One Poller owns one device's connection; it plans merged
// reads, decodes values, reconnects after I/O failures and isolates tags a
// device refuses, so one bad address costs only its own tag.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
)

// Stats counts what a poller did since it was made.
type Stats struct {
	Polls      uint64 // poll cycles completed and handed to the emitter
	Requests   uint64 // reads sent, including isolation re-reads
	Errors     uint64 // I/O failures: connect, timeout, reset, malformed reply
	Exceptions uint64 // Modbus exception responses
	Reconnects uint64 // successful opens after a lost connection
}

// Poller reads one Modbus device. Its fields after construction are owned by
// the goroutine running Run, except the atomic counters.
type Poller struct {
	site   string
	dev    config.Device
	emit   protocols.Emitter
	log    *slog.Logger
	points []point
	tags   []collector.Tag
	client *modbus.ModbusClient

	// Run's state.
	open    bool
	lost    bool        // the connection failed and was not reopened yet
	modes   []mergeMode // what failures taught us about each point
	reqs    []request
	reasons []string // last Bad reason per point, to log changes only

	polls, requests, errs, exceptions, reconnects atomic.Uint64
	running                                       atomic.Bool
}

// New validates dev's Modbus part and returns its poller. Errors name the
// device and, where one is at fault, the tag.
func New(site string, dev config.Device, emit protocols.Emitter, log *slog.Logger) (*Poller, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("device", dev.ID)
	if dev.ID == "" {
		return nil, errors.New("modbus device: empty id")
	}
	if emit == nil {
		return nil, fmt.Errorf("device %s: no emitter", dev.ID)
	}
	if dev.Interval <= 0 {
		return nil, fmt.Errorf("device %s: interval %v must be positive", dev.ID, dev.Interval)
	}
	if dev.Timeout <= 0 {
		return nil, fmt.Errorf("device %s: timeout %v must be positive", dev.ID, dev.Timeout)
	}
	if len(dev.Tags) == 0 {
		return nil, fmt.Errorf("device %s: no tags", dev.ID)
	}
	p := &Poller{site: site, dev: dev, emit: emit, log: log}
	seen := make(map[string]bool, len(dev.Tags))
	for _, t := range dev.Tags {
		pt, err := resolve(t)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", dev.ID, err)
		}
		if seen[t.ID] {
			return nil, fmt.Errorf("device %s: tag %s: duplicate id", dev.ID, t.ID)
		}
		seen[t.ID] = true
		p.points = append(p.points, pt)
		p.tags = append(p.tags, collector.Tag{
			ID: t.ID, Name: t.Name, Site: site, Device: dev.ID, Kind: t.Kind, Unit: t.Unit,
			Area: t.Area, HazardSource: t.HazardSource, Description: t.Description,
		})
	}
	client, err := modbus.NewClient(&modbus.ClientConfiguration{
		URL:     dev.URL,
		Timeout: dev.Timeout,
		// The library prints to stdout by default; keep its warnings in our logs.
		Logger: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})
	if err != nil {
		return nil, fmt.Errorf("device %s: url %q: %w", dev.ID, dev.URL, err)
	}
	if err := client.SetUnitId(dev.UnitID); err != nil {
		return nil, fmt.Errorf("device %s: unit id %d: %w", dev.ID, dev.UnitID, err)
	}
	p.client = client
	p.modes = make([]mergeMode, len(p.points))
	p.reasons = make([]string, len(p.points))
	p.reqs = plan(p.points, p.modes)
	return p, nil
}

// resolve checks one tag's register and turns it into a point.
func resolve(t config.Tag) (point, error) {
	if t.ID == "" {
		return point{}, errors.New("tag with empty id")
	}
	r := t.Register
	if r == nil {
		return point{}, fmt.Errorf("tag %s: no register", t.ID)
	}
	tb, err := parseTable(r.Table)
	if err != nil {
		return point{}, fmt.Errorf("tag %s: register: %w", t.ID, err)
	}
	typ, err := parseType(r.Type, tb)
	if err != nil {
		return point{}, fmt.Errorf("tag %s: register: %w", t.ID, err)
	}
	pt := point{id: t.ID, table: tb, addr: r.Address, typ: typ, scale: r.Scale, offset: r.Offset}
	if pt.end() > 1<<16 {
		return point{}, fmt.Errorf("tag %s: register: %s at %s address %d runs past address 65535", t.ID, typ, tb, r.Address)
	}
	return pt, nil
}

// Tags returns the metadata of the device's tags, in config order, for the
// tag registry.
func (p *Poller) Tags() []collector.Tag {
	return append([]collector.Tag(nil), p.tags...)
}

// Stats returns the counters so far; safe from any goroutine.
func (p *Poller) Stats() Stats {
	return Stats{
		Polls:      p.polls.Load(),
		Requests:   p.requests.Load(),
		Errors:     p.errs.Load(),
		Exceptions: p.exceptions.Load(),
		Reconnects: p.reconnects.Load(),
	}
}

// Run polls every dev.Interval until ctx ends, then closes the connection and
// returns nil. A poll in flight when ctx ends finishes first; it is bounded by
// dev.Timeout per request. Run may be called once.
func (p *Poller) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("device %s: poller already ran", p.dev.ID)
	}
	defer func() {
		if p.open {
			p.client.Close()
		}
	}()

	// A ticker drops ticks a slow poll overran instead of drifting or bunching.
	tick := time.NewTicker(p.dev.Interval)
	defer tick.Stop()
	now := time.Now()
	for {
		batch := p.poll(ctx, now)
		if ctx.Err() != nil {
			return nil
		}
		if err := p.emit.Emit(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("emit failed", "err", err)
		} else {
			p.polls.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil
		case now = <-tick.C:
		}
	}
}

// poll runs one cycle and returns one sample per tag, all stamped at.
func (p *Poller) poll(ctx context.Context, at time.Time) []collector.Sample {
	out := make([]collector.Sample, len(p.points))
	for i, pt := range p.points {
		out[i] = collector.Sample{Tag: pt.id, Time: at}
	}
	if !p.open {
		if err := p.connect(ctx); err != nil {
			if ctx.Err() != nil {
				return out
			}
			p.down(err, "connect")
			return p.allBad(out, collector.ReasonCommLoss)
		}
	}
	replan := false
	for _, rq := range p.reqs {
		if ctx.Err() != nil {
			return out
		}
		res, err := p.read(rq)
		switch {
		case err == nil:
			p.fill(out, rq, res)
			for _, i := range rq.points {
				if p.modes[i] == mergeRefused && out[i].Quality == collector.Good {
					// The refused point answers again: merge it back.
					p.modes[i] = mergeFree
					replan = true
				}
			}
		case isException(err):
			if len(rq.points) == 1 {
				p.refused(out, rq.points[0], err)
				continue
			}
			ok, ioErr := p.isolate(out, rq)
			if ioErr != nil {
				p.down(ioErr, "read")
				return p.allBad(out, collector.ReasonCommLoss)
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
					"table", rq.table.String(), "address", rq.addr, "quantity", rq.qty, "err", err)
			}
			replan = true
		default:
			p.down(err, "read")
			return p.allBad(out, collector.ReasonCommLoss)
		}
	}
	if replan {
		p.reqs = plan(p.points, p.modes)
	}
	return out
}

// connect opens the connection. The library's dial cannot be cancelled (it
// has a fixed 5 s dial timeout), so it runs aside and connect stops waiting
// when ctx ends; an abandoned dial ends by itself within that timeout and
// closes what it opened.
func (p *Poller) connect(ctx context.Context) error {
	var (
		mu        sync.Mutex
		abandoned bool
	)
	done := make(chan error, 1)
	go func() {
		err := p.client.Open()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil {
				p.client.Close()
			}
			return
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		mu.Lock()
		abandoned = true
		mu.Unlock()
		// The dial may have finished just before: then Run's exit closes it.
		select {
		case err = <-done:
			p.open = err == nil
		default:
		}
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	p.open = true
	if p.lost {
		p.lost = false
		p.reconnects.Add(1)
		p.log.Info("device reconnected", "url", p.dev.URL)
	}
	return nil
}

// down closes the connection after an I/O failure; the next tick reconnects.
func (p *Poller) down(err error, op string) {
	p.errs.Add(1)
	if p.open {
		p.client.Close()
		p.open = false
	}
	if !p.lost {
		p.lost = true
		p.log.Warn("device unreachable; tags Bad until it answers", "op", op, "url", p.dev.URL, "err", err)
	}
}

// allBad marks every point Bad with reason, throwing away values read earlier
// in a poll that then lost the connection: a batch says one thing per device.
// Per-tag reasons are left alone: the device's loss and return are logged
// once, not once per tag.
func (p *Poller) allBad(out []collector.Sample, reason string) []collector.Sample {
	for i := range out {
		out[i].Value, out[i].Quality, out[i].Reason = 0, collector.Bad, reason
	}
	return out
}

// readResult is what one request returned: register bytes or bits.
type readResult struct {
	regs []byte
	bits []bool
}

func (p *Poller) read(rq request) (readResult, error) {
	p.requests.Add(1)
	var (
		r   readResult
		err error
	)
	switch rq.table {
	case tableCoil:
		r.bits, err = p.client.ReadCoils(rq.addr, rq.qty)
	case tableDiscrete:
		r.bits, err = p.client.ReadDiscreteInputs(rq.addr, rq.qty)
	case tableHolding:
		// Raw bytes keep the wire order, so byte/word orders decode in one place.
		r.regs, err = p.client.ReadRawBytes(rq.addr, 2*rq.qty, modbus.HOLDING_REGISTER)
	case tableInput:
		r.regs, err = p.client.ReadRawBytes(rq.addr, 2*rq.qty, modbus.INPUT_REGISTER)
	}
	if err != nil {
		if isException(err) {
			p.exceptions.Add(1)
		}
		return r, fmt.Errorf("device %s: read %s %d+%d: %w", p.dev.ID, rq.table, rq.addr, rq.qty, err)
	}
	return r, nil
}

// fill decodes a request's result into its points' samples.
func (p *Poller) fill(out []collector.Sample, rq request, r readResult) {
	for _, i := range rq.points {
		pt := p.points[i]
		off := int(pt.addr - rq.addr)
		var (
			v   float64
			err error
		)
		if pt.table.bits() {
			if off < len(r.bits) {
				v = decodeBit(r.bits[off])
			} else {
				err = errShort
			}
		} else {
			lo := min(2*off, len(r.regs))
			v, err = decodeRegisters(pt.typ, r.regs[lo:])
			v = engineering(v, pt.scale, pt.offset)
		}
		if err != nil {
			out[i].Quality, out[i].Reason = collector.Bad, collector.ReasonDecode
			if p.reasons[i] != collector.ReasonDecode {
				p.log.Warn("tag value not decodable", "tag", pt.id, "table", pt.table.String(), "address", pt.addr, "type", pt.typ.String(), "err", err)
			}
			p.reasons[i] = collector.ReasonDecode
			continue
		}
		out[i].Value, out[i].Quality, out[i].Reason = v, collector.Good, ""
		if p.reasons[i] != "" {
			p.log.Info("tag answers again", "tag", pt.id, "table", pt.table.String(), "address", pt.addr)
		}
		p.reasons[i] = ""
	}
}

// isolate re-reads a refused merged request point by point. Points the
// device refuses alone are marked Bad and read alone from now on. ok reports
// that no point was refused alone; ioErr that the connection failed meanwhile.
func (p *Poller) isolate(out []collector.Sample, rq request) (ok bool, ioErr error) {
	ok = true
	for _, i := range rq.points {
		pt := p.points[i]
		one := request{table: pt.table, addr: pt.addr, qty: uint16(pt.size()), points: []int{i}}
		res, err := p.read(one)
		switch {
		case err == nil:
			p.fill(out, one, res)
		case isException(err):
			ok = false
			p.modes[i] = mergeRefused
			p.refused(out, i, err)
		default:
			return false, err
		}
	}
	return ok, nil
}

// refused marks point i Bad after the device answered its own read with an
// exception. A gateway's "path unavailable" or "target failed to respond" is
// how a dead field device behind it shows, so it counts as comm loss.
func (p *Poller) refused(out []collector.Sample, i int, err error) {
	pt := p.points[i]
	reason := collector.ReasonException
	if errors.Is(err, modbus.ErrGWPathUnavailable) || errors.Is(err, modbus.ErrGWTargetFailedToRespond) {
		reason = collector.ReasonCommLoss
	}
	out[i].Value, out[i].Quality, out[i].Reason = 0, collector.Bad, reason
	if p.reasons[i] != reason {
		p.log.Warn("device refused tag", "tag", pt.id, "table", pt.table.String(), "address", pt.addr,
			"type", pt.typ.String(), "reason", reason, "err", err)
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
