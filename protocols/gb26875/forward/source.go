package forward

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/gb26875"
)

// Putter takes messages for the centre; the Spooled outbox is one.
type Putter interface {
	Put(ctx context.Context, msgs ...Message) error
}

// Select chooses the fire-panel state tags (<point>.<state>, 0/1) that go
// to the centre. Every non-empty field must match.
type Select struct {
	Kinds []string // tag kinds of fire-panel state tags; empty means fire_panel
	Tags  []string // tag id globs; empty takes every tag of the kinds
}

// PointMap gives a point the address it has at the centre: the forward
// block's points, one definition. A point is a fire panel's tag id
// without its .<state> (or a gas tag's id); a glob's Position 0 is derived
// from the point id (FNV-1a, low 16 bits).
type PointMap = config.ForwardPoint

// DefaultCombustibleLevel is the %LEL at which a combustible-gas reading
// goes as an alarm when GasLevels does not say: GB 50493's first level.
const DefaultCombustibleLevel = 25

// DefaultSettle is how long after start a state seen for the first time is
// a snapshot rather than a change: a restart forgets what was sent, so a
// point's first state then says only what holds now, not what changed.
const DefaultSettle = 2 * time.Minute

// isAlarm reports whether a point's new word w goes as ClassAlarm. A
// change of the fire, start or feedback bits does. A snapshot goes as an
// alarm when those bits are set: the fire may be new, and an ongoing one
// reported twice costs the centre a duplicate, while a new fire sent as
// status could wait 100 s.
func isAlarm(snapshot bool, prev, w uint16) bool {
	if snapshot {
		return w&alarmBits != 0
	}
	return (prev^w)&alarmBits != 0
}

// SourceOptions configure a Source.
type SourceOptions struct {
	Select Select
	// Points address points; the first entry that matches wins. Points of
	// tags from a transmission device (UITD-<addr>.S<t>-<a>.Z<z>-P<p>) not
	// listed keep the address in their id; other unlisted points get system
	// type 1, system address FallbackSysAddr, component type 0, and a zone
	// and position from the point id's FNV-1a hash (high and low 16 bits):
	// stable across restarts and config reorderings, and logged when two
	// points collide.
	Points          []PointMap
	FallbackSysAddr uint8 // default 1
	// Gas forwards gas alarms into the control room (GA 767, GB 25506
	// 5.2.2): a tag of a kind in GasLevels reading at or above its level is
	// a component in fire state (component type 10 for combustible_gas, 74
	// otherwise), cleared below it; a Bad reading is a fault. The levels are
	// the source's own, not the alarm engine's rules.
	Gas bool
	// GasLevels by kind; default combustible_gas: 25 (%LEL). Toxic gases
	// have no level that fits every gas: name toxic_gas here to send them.
	GasLevels map[string]float64
	// Analogs send fire-water supply values as type 3 analog values,
	// ClassStatus, on a change of at least the deadband or every refresh,
	// and the point's component state (type 2): the fault bit while below
	// its minimum (ClassAlarm when it first goes below) or Bad. Unlisted
	// points get system type 11 (hydrant system) and component type 99
	// (pressure switch) for hydrant_pressure, 92 (fire water tank) for
	// level. nil: DefaultAnalogs; empty: none.
	Analogs []AnalogKind
	// Settle: see DefaultSettle (the default); negative for none.
	Settle time.Duration
	Tags   collector.TagLookup // required: the registry, for kinds and names
	Out    Putter              // required: the outbox
	Log    *slog.Logger
	Now    func() time.Time
}

// stateBits are the component status bits of the state tags' suffixes.
var stateBits = map[string]uint8{
	"fire": 1, "fault": 2, "disabled": 3, "supervisory": 4, "start": 5, "feedback": 6, "power_fault": 8,
}

// systemBits are a system's (type 1): a received UITD's
// UITD-<addr>.S<type>-<addr>.<state> tags.
var systemBits = map[string]uint8{
	"fire": 1, "fault": 2, "disabled": 3, "supervisory": 4, "start": 5, "feedback": 6,
	"main_power_fault": 8, "backup_power_fault": 9, "bus_fault": 10, "manual": 11,
}

const (
	bitNormal = 1 << 0 // normal operation, not test
	bitFire   = 1 << 1
	bitFault  = 1 << 2
	// alarmBits make a change ClassAlarm: 火灾报警 and 联动.
	alarmBits = 1<<1 | 1<<5 | 1<<6
)

// Source is a collector consumer that turns fire-panel state samples into
// type 2 (component state) messages, one object each, and puts them in the
// outbox as they change. A received transmission device's system states
// (UITD-<addr>.S<type>-<addr>.<state>) go as type 1 (system state); its own
// state (UITD-<addr>.<state>) does not go: this device reports its own.
// Tags of SourceOptions.Analogs' kinds go as type 3 analog values (see
// consumeAnalog), operation tags (kind fire_panel_operation: reset,
// silence, manual alarm, ...) as type 4 operations. Consume returns once the outbox has them on disk,
// so a device's data the gateway confirms is already queued for the
// centre.
type Source struct {
	opts        SourceOptions
	log         *slog.Logger
	settleUntil time.Time

	mu     sync.Mutex
	tags   map[string]*tagInfo // nil: not forwarded
	analog map[string]AnalogKind
	points map[string]*point
	addrs  map[gb26875.Component]string
	out    []Message
	slab   []gb26875.ComponentState
	st     SourceStats
}

type tagInfo struct {
	p   *point
	bit uint8
	op  *gb26875.Operation // an operation tag's system (type 4); p is nil
}

type point struct {
	id     string
	comp   gb26875.Component
	desc   [gb26875.DescLen]byte
	gas    bool
	system bool // a fire-facility system's state (type 1), not a component's
	level  float64
	analog *analogPoint // an analog value's point (type 3, and type 2 for its minimum)

	cur   uint16 // state bits from the latest good samples
	bad   uint16 // states whose latest sample was Bad
	known uint16 // states seen since start

	sent      uint16 // word last put (or pending in this batch)
	base      uint16 // word before the pending message: what its class compares with
	announced bool   // a message was put since start
	// In the batch being consumed: the message index+1, the word before
	// the batch, whether it was announced before.
	pend                  int
	batchSent             uint16
	batchAnnounced, dirty bool
}

func (p *point) word() uint16 {
	w := p.cur | bitNormal
	if p.bad != 0 {
		w |= bitFault // comm loss or a broken input: the point is not supervised
	}
	return w
}

// SourceStats count what the source did since start.
type SourceStats struct {
	Points     int    `json:"points" metric:"hazgate_forward_source_points" help:"Fire-panel, gas and analog points tracked for the centre."`
	Alarms     uint64 `json:"alarms" metric:"hazgate_forward_source_alarm_messages_total" help:"Fire, start and feedback changes put in the outbox (class alarm)."`
	Statuses   uint64 `json:"statuses" metric:"hazgate_forward_source_status_messages_total" help:"Other state changes and snapshots put in the outbox (class status)."`
	Snapshots  uint64 `json:"snapshots" metric:"hazgate_forward_source_snapshots_total" help:"First reports of a point since start."`
	PutErrors  uint64 `json:"put_errors" metric:"hazgate_forward_source_put_errors_total" help:"Batches of changes the outbox refused; they go again with the points' next samples."`
	Collisions uint64 `json:"collisions" metric:"hazgate_forward_source_address_collisions_total" help:"Points given a centre address another point has."`
	Analogs    uint64 `json:"analogs" metric:"hazgate_forward_source_analog_messages_total" help:"Analog values (type 3) put in the outbox; also counted in statuses."`
	Operations uint64 `json:"operations" metric:"hazgate_forward_source_operation_messages_total" help:"Fire-panel operations (type 4: reset, silence, manual alarm, ...) put in the outbox; also counted in statuses."`
	// AnalogRefused: readings that do not fit the protocol's int16 steps.
	AnalogRefused uint64 `json:"analog_refused" metric:"hazgate_forward_source_analog_refused_total" help:"Analog readings outside the protocol's int16 steps (sent clamped to the bound) or not numbers (sent as a fault)."`
}

// NewSource checks opts and returns a source.
func NewSource(opts SourceOptions) (*Source, error) {
	if opts.Tags == nil || opts.Out == nil {
		return nil, errors.New("forward source: no tag registry or no outbox")
	}
	if len(opts.Select.Kinds) == 0 {
		opts.Select.Kinds = []string{gb26875.KindFirePanel}
	}
	for _, g := range opts.Select.Tags {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("forward source: select tag glob %q: %w", g, err)
		}
	}
	for i, m := range opts.Points {
		if _, err := path.Match(m.Tag, ""); err != nil || m.Tag == "" {
			return nil, fmt.Errorf("forward source: points[%d]: tag %q is not a point id or glob", i, m.Tag)
		}
	}
	if opts.Gas && opts.GasLevels == nil {
		opts.GasLevels = map[string]float64{"combustible_gas": DefaultCombustibleLevel}
	}
	for k, v := range opts.GasLevels {
		if !(v > 0) {
			return nil, fmt.Errorf("forward source: gas level of %s: %v, want above 0", k, v)
		}
	}
	if opts.Analogs == nil {
		opts.Analogs = DefaultAnalogs()
	}
	analog := make(map[string]AnalogKind, len(opts.Analogs))
	for i, k := range opts.Analogs {
		r, err := k.resolve()
		if err != nil {
			return nil, fmt.Errorf("forward source: analogs[%d]: %w", i, err)
		}
		if _, dup := analog[r.Kind]; dup {
			return nil, fmt.Errorf("forward source: analogs[%d]: kind %s listed twice", i, r.Kind)
		}
		analog[r.Kind] = r
	}
	if opts.FallbackSysAddr == 0 {
		opts.FallbackSysAddr = 1
	}
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Source{opts: opts, log: opts.Log.With("component", "forward source"),
		settleUntil: opts.Now().Add(opts.Settle),
		tags:        make(map[string]*tagInfo), analog: analog, points: make(map[string]*point), addrs: make(map[gb26875.Component]string)}, nil
}

// Consume tracks the batch's states and puts what changed in the outbox.
func (s *Source) Consume(ctx context.Context, batch []collector.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	settling := now.Before(s.settleUntil)
	s.out = s.out[:0]
	var touched, analogs []*point
	for i := range batch {
		smp := &batch[i]
		ti := s.info(smp.Tag)
		if ti == nil {
			continue
		}
		if ti.op != nil {
			s.consumeOperation(ti.op, smp, now)
			continue
		}
		p := ti.p
		if p.analog != nil {
			s.consumeAnalog(p, smp, now, &analogs)
			continue
		}
		mask := uint16(1) << ti.bit
		first := p.known&mask == 0
		p.known |= mask
		if smp.Quality == collector.Bad {
			p.bad |= mask
		} else {
			p.bad &^= mask
			on := smp.Value != 0
			if p.gas {
				on = smp.Value >= p.level
			}
			if on {
				p.cur |= mask
			} else {
				p.cur &^= mask
			}
		}
		if !p.dirty {
			p.dirty, p.batchSent, p.batchAnnounced = true, p.sent, p.announced
			touched = append(touched, p)
		}
		w := p.word()
		at := smp.Time
		if at.IsZero() {
			at = now
		}
		tt := gb26875.TimeTagOf(at)
		if p.pend > 0 {
			// One panel frame gives all of a point's states at one time:
			// one message. A later change is a message of its own, and so
			// is one in the same second that undoes a bit the pending
			// message changed (two frames in one batch: a fire and its
			// clear), or the centre would never see the fire.
			m := &s.out[p.pend-1]
			status, mt := object(&m.Unit)
			if mt == tt && (*status^p.base)&(*status^w) == 0 {
				if *status != w {
					*status, p.sent = w, w
					if isAlarm(first && settling, p.base, w) {
						m.Class = ClassAlarm
					}
				}
				continue
			}
			if *status == w {
				continue
			}
		} else if w == p.sent && p.announced {
			continue
		}
		class := ClassStatus
		if isAlarm(first && settling, p.sent, w) {
			class = ClassAlarm
		}
		if !p.announced {
			s.st.Snapshots++
		}
		u := gb26875.Unit{Type: gb26875.TypeComponentState,
			Components: s.component(gb26875.ComponentState{Component: p.comp, Status: w, Desc: p.desc, Time: tt})}
		if p.system {
			u = gb26875.Unit{Type: gb26875.TypeSystemState,
				Systems: []gb26875.SystemState{{SysType: p.comp.SysType, SysAddr: p.comp.SysAddr, Status: w, Time: tt}}}
		}
		s.out = append(s.out, Message{Class: class, Entered: now, Unit: u})
		p.pend = len(s.out)
		p.base, p.sent, p.announced = p.sent, w, true
	}
	for _, p := range touched {
		p.pend, p.dirty = 0, false
	}
	for _, p := range analogs {
		p.analog.dirty = false
	}
	if len(s.out) == 0 {
		return
	}
	// Latency counts from the batch's entry into the gateway's pipeline,
	// queueing included; the earlier of it and the source's clock, so a
	// test's clock behind the wall keeps its own times.
	if at, ok := collector.EnteredAt(ctx); ok && at.Before(now) {
		for i := range s.out {
			s.out[i].Entered = at
		}
	}
	if err := s.opts.Out.Put(ctx, s.out...); err != nil {
		s.st.PutErrors++
		s.log.Error("forward source: the outbox refused state changes; they go again with their points' next samples", "messages", len(s.out), "err", err)
		for _, p := range touched {
			p.sent, p.announced = p.batchSent, p.batchAnnounced
		}
		for _, p := range analogs {
			p.analog.sent = p.analog.batch
		}
		return
	}
	for i := range s.out {
		if s.out[i].Class == ClassAlarm {
			s.st.Alarms++
		} else {
			s.st.Statuses++
		}
		switch s.out[i].Unit.Type {
		case gb26875.TypeAnalog:
			s.st.Analogs++
		case gb26875.TypeOperation:
			s.st.Operations++
		}
	}
	clear(s.out) // the outbox has them on disk; drop the references
}

// object returns the status word and time of a message's one object.
func object(u *gb26875.Unit) (*uint16, gb26875.TimeTag) {
	if u.Type == gb26875.TypeSystemState {
		return &u.Systems[0].Status, u.Systems[0].Time
	}
	return &u.Components[0].Status, u.Components[0].Time
}

// component returns a one-object slice from a slab, so a spreading fire's
// thousands of messages cost a few allocations, not thousands.
func (s *Source) component(c gb26875.ComponentState) []gb26875.ComponentState {
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]gb26875.ComponentState, 0, 256)
	}
	s.slab = append(s.slab, c)
	n := len(s.slab)
	return s.slab[n-1 : n : n]
}

// info classifies a tag once: which point and state bit, or nil.
func (s *Source) info(id string) *tagInfo {
	if ti, ok := s.tags[id]; ok {
		return ti
	}
	t, ok := s.opts.Tags.Lookup(id)
	if !ok {
		return nil // not registered yet: ask again next time
	}
	ti := s.classify(t)
	s.tags[id] = ti
	return ti
}

func (s *Source) classify(t collector.Tag) *tagInfo {
	if k, ok := s.analog[t.Kind]; ok {
		p := s.pointFor(t.ID, t, false)
		if p.analog == nil {
			// A received device's value keeps its component, whose state is
			// the device's own to report: the value alone goes.
			p.analog = &analogPoint{kind: k, deadbandSteps: max(1, int(math.Round(k.Deadband*k.Scale))),
				valueOnly: analogAddressID(t.ID) != t.ID}
		}
		return &tagInfo{p: p}
	}
	if level, ok := s.opts.GasLevels[t.Kind]; ok && s.opts.Gas {
		p := s.pointFor(t.ID, t, true)
		p.level = level
		return &tagInfo{p: p, bit: 1}
	}
	if t.Kind == gb26875.KindOperation {
		return s.classifyOperation(t)
	}
	if !s.selected(t) {
		return nil
	}
	i := strings.LastIndexByte(t.ID, '.')
	if i < 0 {
		return nil
	}
	id, state := t.ID[:i], t.ID[i+1:]
	if rest, ok := strings.CutPrefix(id, "UITD-"); ok && !strings.Contains(rest, ".") {
		return nil // a received device's own state: not this device's to report
	}
	if st, sa, ok := uitdSystem(id); ok {
		bit, ok := systemBits[state]
		if !ok {
			return nil
		}
		p := s.points[id]
		if p == nil {
			p = &point{id: id, system: true, comp: gb26875.Component{SysType: st, SysAddr: sa}}
			s.points[id] = p
			s.st.Points = len(s.points)
		}
		return &tagInfo{p: p, bit: bit}
	}
	bit, ok := stateBits[state]
	if !ok {
		return nil
	}
	return &tagInfo{p: s.pointFor(id, t, false), bit: bit}
}

// classifyOperation places an operation tag (kind fire_panel_operation):
// a received device's system's (UITD-<addr>.S<type>-<addr>.operation) at
// that system; another, selected as its panel's state tags are, at the
// address the points give it. A received device's own operations (type
// 24) are its own to report, as its own state is.
func (s *Source) classifyOperation(t collector.Tag) *tagInfo {
	id := strings.TrimSuffix(t.ID, ".operation")
	if rest, ok := strings.CutPrefix(id, "UITD-"); ok && !strings.Contains(rest, ".") {
		return nil
	}
	if st, sa, ok := uitdSystem(id); ok {
		return &tagInfo{op: &gb26875.Operation{SysType: st, SysAddr: sa}}
	}
	if !s.selected(collector.Tag{ID: t.ID, Kind: gb26875.KindFirePanel}) {
		return nil
	}
	c := s.address(t.ID, t, false)
	return &tagInfo{op: &gb26875.Operation{SysType: c.SysType, SysAddr: c.SysAddr}}
}

// consumeOperation puts one operation (type 4: reset, silence, manual
// alarm, ...) as the operator did it: each sample is one operation, not a
// state, so nothing is compared with the last. It is management
// information (class status, GB 25506's 100 s).
func (s *Source) consumeOperation(sys *gb26875.Operation, smp *collector.Sample, now time.Time) {
	if smp.Quality == collector.Bad || !(smp.Value >= 1 && smp.Value <= 255) {
		return // no operation, or not a flag byte
	}
	at := smp.Time
	if at.IsZero() {
		at = now
	}
	op := *sys
	op.Flags, op.Time = uint8(smp.Value), gb26875.TimeTagOf(at)
	s.out = append(s.out, Message{Class: ClassStatus, Entered: now,
		Unit: gb26875.Unit{Type: gb26875.TypeOperation, Operations: []gb26875.Operation{op}}})
}

func (s *Source) selected(t collector.Tag) bool {
	kind := false
	for _, k := range s.opts.Select.Kinds {
		kind = kind || k == t.Kind
	}
	if !kind {
		return false
	}
	if len(s.opts.Select.Tags) == 0 {
		return true
	}
	for _, g := range s.opts.Select.Tags {
		if ok, _ := path.Match(g, t.ID); ok {
			return true
		}
	}
	return false
}

// pointFor returns the point named id, made on first sight from the tag t
// (one of its state tags, or the gas tag itself).
func (s *Source) pointFor(id string, t collector.Tag, gas bool) *point {
	if p, ok := s.points[id]; ok {
		return p
	}
	p := &point{id: id, gas: gas, comp: s.address(id, t, gas)}
	name := t.Name
	if name == "" {
		name = id
	}
	p.desc = gb26875.Desc(name)
	if analogAddressID(id) != id {
		// A received device's analog value: its component's address.
	} else if other, taken := s.addrs[p.comp]; taken {
		s.st.Collisions++
		s.log.Warn("forward source: two points share one address at the centre; give one an entry in points", "point", id, "other", other, "address", p.comp)
	} else {
		s.addrs[p.comp] = id
	}
	s.points[id] = p
	s.st.Points = len(s.points)
	return p
}

func (s *Source) address(id string, t collector.Tag, gas bool) gb26875.Component {
	def, analog := analogDefaults[t.Kind]
	analog = analog && s.analog[t.Kind].Kind != ""
	if analog {
		id = analogAddressID(id)
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	sum := h.Sum32()
	for _, m := range s.opts.Points {
		if ok, _ := path.Match(m.Tag, id); ok || m.Tag == id {
			c := gb26875.Component{SysType: m.SysType, SysAddr: m.SysAddr, Type: m.CompType, Zone: m.Zone, Position: m.Position}
			if c.Position == 0 && strings.ContainsAny(m.Tag, `*?[\`) {
				c.Position = uint16(sum)
			}
			return c
		}
	}
	if c, ok := uitdComponent(id); ok {
		c.Type, _ = gb26875.ComponentTypeOf(t.Description)
		return c
	}
	c := gb26875.Component{SysType: 1, SysAddr: s.opts.FallbackSysAddr, Zone: uint16(sum >> 16), Position: uint16(sum)}
	if analog {
		c.SysType, c.Type = def.comp.SysType, def.comp.Type
	}
	if gas {
		c.Type = 74
		if t.Kind == "combustible_gas" {
			c.Type = 10
		}
	}
	return c
}

// uitdComponent reads the address from a point the listener named after a
// transmission device's component: UITD-<addr>.S<type>-<addr>.Z<zone>-P<pos>.
func uitdComponent(id string) (gb26875.Component, bool) {
	rest, ok := strings.CutPrefix(id, "UITD-")
	if !ok {
		return gb26875.Component{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || !strings.HasPrefix(parts[1], "S") || !strings.HasPrefix(parts[2], "Z") {
		return gb26875.Component{}, false
	}
	st, sa, ok1 := pair(parts[1][1:], "-", 8)
	z, pos, ok2 := pair(parts[2][1:], "-P", 16)
	if !ok1 || !ok2 {
		return gb26875.Component{}, false
	}
	return gb26875.Component{SysType: uint8(st), SysAddr: uint8(sa), Zone: uint16(z), Position: uint16(pos)}, true
}

// uitdSystem reads a system's point from a transmission device:
// UITD-<addr>.S<type>-<addr>.
func uitdSystem(id string) (sysType, sysAddr uint8, ok bool) {
	rest, ok := strings.CutPrefix(id, "UITD-")
	if !ok {
		return 0, 0, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 || !strings.HasPrefix(parts[1], "S") {
		return 0, 0, false
	}
	st, sa, ok := pair(parts[1][1:], "-", 8)
	return uint8(st), uint8(sa), ok
}

func pair(s, sep string, bits int) (a, b uint64, ok bool) {
	x, y, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(x, 10, bits)
	b, err2 := strconv.ParseUint(y, 10, bits)
	return a, b, err1 == nil && err2 == nil
}

// Stats returns the source's figures.
func (s *Source) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

var _ collector.Consumer = (*Source)(nil)
