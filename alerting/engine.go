package alerting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// ErrWrongState is returned (wrapped) when an alarm's state does not allow
// the action: acknowledging one already acknowledged, shelving a closed one.
var ErrWrongState = errors.New("alarm state does not allow this")

// ErrNotAckable is returned (wrapped) when acknowledging an alarm that is
// already acknowledged, closed or suppressed. It wraps ErrWrongState.
var ErrNotAckable = fmt.Errorf("%w: alarm is not waiting for acknowledgement", ErrWrongState)

// TagLookup gives a tag's metadata; collector.Registry satisfies it. If it
// also lists every tag (All, as the registry does), the first Tick starts the
// stale timers of tags that never sent a sample.
type TagLookup interface {
	Lookup(id string) (collector.Tag, bool)
}

type tagLister interface {
	All() []collector.Tag
}

// Stats counts the engine's work since start.
type Stats struct {
	Raised       uint64 `json:"raised"`
	Cleared      uint64 `json:"cleared"`
	Acked        uint64 `json:"acked"`
	Disposed     uint64 `json:"disposed"`
	Escalated    uint64 `json:"escalated"`
	Suppressed   uint64 `json:"suppressed"` // raised suppressed by design
	CommitErrors uint64 `json:"commit_errors"`
}

// Engine evaluates rules on samples and runs each alarm's lifecycle. Every
// transition is committed to the journal before it is published on the bus:
// the engine submits it and goes on, the journal's writer commits many at
// once and publishes them, and retries a failing store until it takes
// them. What a user does (ack, shelve, dispose) waits for its commit and
// fails if it does not. Safe for concurrent use.
type Engine struct {
	site string
	tags TagLookup
	j    *Journal
	bus  *Bus
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	down     map[string]bool // devices the batch being consumed finds unreachable
	handling config.AlarmHandling
	roots    map[string]*tagState // per device: its communication-loss root alarm
	devices  map[string]*devCount // per device: known tags, and those that lost communication
	rules    []rule               // configured rules, one per level, in config order
	byTag    map[string][]int     // indexes in rules of those naming one tag exactly (match.tag without a pattern)
	general  []int                // indexes of the others
	byName   map[string]bool      // names of configured and quality rules
	state    map[string]*tagState
	tagList  []*tagState      // state's values in order of creation: Tick walks a slice, not a map
	byID     map[int64]*entry // every open alarm
	seeded   bool             // registry tags have stale timers
	burst    uint64           // the journal burst of the batch or tick being judged

	raised, cleared, acked, disposed, escalated, suppressed, commitErrors atomic.Uint64
}

// tagState is what the engine knows about one tag: its metadata, the rules
// that apply to it and their open alarms.
type tagState struct {
	tag      collector.Tag
	known    bool     // found in TagLookup; until then only its id is known
	root     bool     // a device's root-alarm state (suppress.go), not a tag
	slots    []slot   // quality rules first, then matching configured rules
	extra    []*entry // open alarms whose rule no longer applies to the tag
	lastSeen time.Time
	last     collector.Sample // for transitions Tick makes without a sample
}

// slot is one rule on one tag: its open alarm and its memory.
type slot struct {
	r      rule
	open   *entry
	cond   bool      // the condition as last judged
	since  time.Time // when cond last changed, for on- and off-delays
	ring   *rateRing // rate rules only
	raises []time.Time
}

type entry struct {
	alarm Alarm // as committed, except Peak, Count and (while suppressed) Active, which run ahead in memory
	ts    *tagState
}

// restoreTimeout bounds reading open alarms at start-up.
const restoreTimeout = 30 * time.Second

// NewEngine validates rules and restores the site's open alarms from the
// journal, so a restart neither re-raises nor forgets one. An open alarm
// whose rule is gone from the config is cleared.
func NewEngine(site string, rules []config.Rule, tags TagLookup, j *Journal, bus *Bus, log *slog.Logger) (*Engine, error) {
	if j == nil || bus == nil || tags == nil {
		return nil, errors.New("alerting engine: journal, bus and tag lookup are required")
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	compiled, err := compileRules(rules)
	if err != nil {
		return nil, fmt.Errorf("alerting rules: %w", err)
	}
	e := &Engine{
		site: site, tags: tags, j: j, bus: bus, log: log, now: time.Now,
		state: make(map[string]*tagState), byID: make(map[int64]*entry), roots: make(map[string]*tagState),
		devices: make(map[string]*devCount),
	}
	e.setRules(compiled)
	// NewEngine's signature has no context; restoring is a local read.
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	if err := e.restore(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// SetHandling sets what the site asks beyond acknowledging (disposal,
// escalation, designed suppression); call it before the first sample, and
// again on reload.
func (e *Engine) SetHandling(h config.AlarmHandling) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handling = h
}

func (e *Engine) setRules(compiled []rule) {
	e.rules = compiled
	// A rule per tag (match.tag naming it exactly) is common on a big
	// site: index those by tag, so matching a tag looks at its own rules
	// and the general ones, not at every tag's (1,000 tags × 1,000 rules
	// was 50 ms of a start-up).
	e.byTag, e.general = make(map[string][]int), nil
	for i, r := range compiled {
		if t := r.meta().match.Tag; t != "" && !strings.ContainsAny(t, `*?[\`) {
			e.byTag[t] = append(e.byTag[t], i)
		} else {
			e.general = append(e.general, i)
		}
	}
	e.byName = make(map[string]bool)
	for _, r := range qualityRules {
		e.byName[r.meta().name] = true
	}
	for _, r := range compiled {
		e.byName[r.meta().name] = true
	}
}

// Reload replaces the rules (on SIGHUP, or an admin request). Open alarms
// stay open and keep their ids; an active one whose rule is gone, or no
// longer matches its tag, is cleared. Invalid rules change nothing.
func (e *Engine) Reload(ctx context.Context, rules []config.Rule) error {
	compiled, err := compileRules(rules)
	if err != nil {
		return fmt.Errorf("alerting rules: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.burst = e.j.NewBurst()
	e.setRules(compiled)
	for _, ts := range e.state {
		e.match(ts)
		e.dropStrays(ctx, ts)
	}
	e.log.Info("alarm rules reloaded", "site", e.site, "rules", len(rules), "open_alarms", len(e.byID))
	return nil
}

func (e *Engine) restore(ctx context.Context) error {
	// What an earlier engine on this journal submitted is read back too.
	if err := e.j.Flush(ctx); err != nil {
		return fmt.Errorf("restore open alarms: %w", err)
	}
	open, err := e.j.List(ctx, AlarmFilter{Site: e.site, OpenOnly: true})
	if err != nil {
		return fmt.Errorf("restore open alarms: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.burst = e.j.NewBurst()
	for _, a := range open {
		ts := e.state[a.Tag]
		if a.Level == LevelDevice && a.Rule == ClassCommLoss {
			ts = e.rootState(a.Tag)
		} else if ts == nil {
			ts = e.newTagState(a.Tag)
		}
		en := &entry{alarm: a, ts: ts}
		e.byID[a.ID] = en
		ts.attach(en)
		if sl := ts.slotOf(en); sl != nil {
			sl.cond, sl.since = a.Active, a.RaisedAt
			if a.Active && isCommLoss(sl.r) {
				e.countLost(ts, true)
			}
		}
	}
	for _, ts := range e.state {
		e.dropStrays(ctx, ts)
	}
	for dev, rts := range e.roots {
		if d := e.device(dev); standing(rts) != nil && d.lost == 0 {
			d.silent = true // no tag of it reads Bad: it stood for the device's silence
		}
	}
	e.log.Info("alarm engine started", "site", e.site, "rules", len(e.rules), "open_alarms", len(e.byID))
	return nil
}

// Consume evaluates every sample against the rules that apply to its tag.
func (e *Engine) Consume(ctx context.Context, batch []collector.Sample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.burst = e.j.NewBurst()
	now := e.now()
	if !e.seeded {
		e.seed(now) // every declared tag counted in its device before judging one
	}
	e.judgeDevices(batch)
	defer clear(e.down)
	for i := range batch {
		s := &batch[i]
		ts := e.state[s.Tag]
		if ts == nil {
			ts = e.newTagState(s.Tag)
		} else if !ts.known && e.lookup(ts) {
			e.dropStrays(ctx, ts)
		}
		ts.lastSeen, ts.last = now, *s
		e.heard(ts, now)
		at := s.Time
		if at.IsZero() {
			at = now
		}
		for k := range ts.slots {
			sl := &ts.slots[k]
			if v := sl.r.eval(sl, &ts.tag, s, sl.cond); v != verdictHold {
				e.apply(ctx, ts, sl, v == verdictActive, s, at)
			}
		}
	}
}

// Tick judges what time alone changes: stale tags, on- and off-delays that
// have run out, chattering alarms gone quiet, shelving that expires. Call it
// about once a second (Run does); now is the engine's clock.
func (e *Engine) Tick(ctx context.Context, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.burst = e.j.NewBurst()
	if !e.seeded {
		e.seed(now)
	}
	var s collector.Sample // the tag's last sample, at now: what a transition records
	for _, ts := range e.tagList {
		for k := range ts.slots {
			sl := &ts.slots[k]
			if t, ok := sl.r.(timed); ok {
				if v := t.tick(ts, now); v != verdictHold {
					s = ts.last
					s.Time = now
					e.apply(ctx, ts, sl, v == verdictActive, &s, now)
				}
				continue
			}
			if en := sl.open; sl.cond != (en != nil && en.alarm.State.Active()) && (en == nil || !en.alarm.State.Suppressed()) {
				s = ts.last
				s.Time = now
				e.judge(ctx, ts, sl, &s, now) // a delay or a chattering hold may have run out
			}
		}
	}
	for _, en := range e.byID {
		if a := en.alarm; a.State == Shelved && a.ShelvedUntil != nil && !now.Before(*a.ShelvedUntil) {
			e.unshelve(ctx, en, "", now)
		}
		e.escalate(ctx, en, now)
	}
	e.releaseAnswering(ctx, now) // what is still down for some tags: their own faults
}

// escalate raises the priority of an alarm that has waited unacknowledged
// past its severity's escalation time: one step up (critical stays), and
// the wait starts again, so no one can leave a critical alarm unanswered
// without the webhooks hearing of it again.
func (e *Engine) escalate(ctx context.Context, en *entry, now time.Time) {
	a := en.alarm
	after := e.handling.Escalate[a.Severity]
	if !a.State.Unacked() || after <= 0 {
		return
	}
	since := a.RaisedAt
	if a.EscalatedAt != nil {
		since = *a.EscalatedAt
	}
	if now.Sub(since) < after {
		return
	}
	a.Escalations++
	a.EscalatedAt = &now
	a.Severity = nextSeverity(a.Severity)
	if ev, ok := e.commit(ctx, EventEscalated, a, now); ok {
		en.alarm = ev.Alarm
		e.escalated.Add(1)
	}
}

// nextSeverity is one step up from s; critical is the top.
func nextSeverity(s string) string {
	switch s {
	case SeverityLow:
		return SeverityMedium
	case SeverityMedium:
		return SeverityHigh
	}
	return SeverityCritical
}

// Run calls Tick every interval until ctx ends.
func (e *Engine) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Tick(ctx, e.now())
		}
	}
}

// Recall gives the engine a tag remembered from an earlier run, with its
// last sample and when that arrived (collector.TagMemory), so its stale rule
// counts from then and not from this start. Call it before the first Tick.
func (e *Engine) Recall(last collector.Sample, seen time.Time) {
	if seen.IsZero() {
		return // never sent: seed starts its timer like a declared tag's
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.state[last.Tag]
	if ts == nil {
		ts = e.newTagState(last.Tag)
	}
	if seen.After(ts.lastSeen) {
		ts.lastSeen, ts.last = seen, last
	}
	e.heard(ts, seen)
}

// seed starts the stale timers of every registered tag, so one that never
// sends a sample goes stale too.
func (e *Engine) seed(now time.Time) {
	e.seeded = true
	l, ok := e.tags.(tagLister)
	if !ok {
		return
	}
	for _, t := range l.All() {
		if e.state[t.ID] == nil {
			e.newTagState(t.ID).lastSeen = now
		}
	}
}

func (e *Engine) newTagState(id string) *tagState {
	ts := &tagState{tag: collector.Tag{ID: id}}
	e.state[id] = ts
	e.tagList = append(e.tagList, ts)
	if !e.lookup(ts) {
		e.match(ts) // unknown tags get the quality rules and match-all rules
	}
	return ts
}

// lookup fetches the tag's metadata and, if it has become known, re-matches
// the rules.
func (e *Engine) lookup(ts *tagState) bool {
	t, ok := e.tags.Lookup(ts.tag.ID)
	if !ok {
		return false
	}
	if !ts.known && t.Device != "" {
		e.device(t.Device).tags++
	}
	ts.tag, ts.known = t, true
	e.match(ts)
	return true
}

// match recomputes which rules apply to ts, keeping each rule's memory and
// re-seating its open alarms. A tag's own rule (match.tag naming it
// exactly) replaces the general rules of its kind.
func (e *Engine) match(ts *tagState) {
	var entries []*entry
	for _, sl := range ts.slots {
		if sl.open != nil {
			entries = append(entries, sl.open)
		}
	}
	entries = append(entries, ts.extra...)
	var matched []rule
	own := map[string]bool{}
	// The tag's own rules and the general ones, merged in config order.
	exact, general := e.byTag[ts.tag.ID], e.general
	for len(exact) > 0 || len(general) > 0 {
		var i int
		if len(general) == 0 || (len(exact) > 0 && exact[0] < general[0]) {
			i, exact = exact[0], exact[1:]
		} else {
			i, general = general[0], general[1:]
		}
		if r := e.rules[i]; r.matches(ts.tag) {
			matched = append(matched, r)
			if m := r.meta(); m.own {
				own[m.kind] = true
			}
		}
	}
	old := ts.slots
	ts.slots = make([]slot, 0, len(qualityRules)+len(matched))
	for _, r := range qualityRules {
		ts.slots = append(ts.slots, slot{r: r})
	}
	for _, r := range matched {
		if m := r.meta(); m.own || !own[m.kind] {
			ts.slots = append(ts.slots, slot{r: r})
		}
	}
	for k := range ts.slots {
		sl := &ts.slots[k]
		m := sl.r.meta()
		for _, o := range old {
			if om := o.r.meta(); om.name == m.name && om.level == m.level {
				sl.cond, sl.since, sl.ring, sl.raises = o.cond, o.since, o.ring, o.raises
				break
			}
		}
		if _, ok := sl.r.(*rate); ok && sl.ring == nil {
			sl.ring = new(rateRing)
		}
	}
	ts.extra = nil
	for _, en := range entries {
		ts.attach(en)
	}
}

// attach seats an open alarm beside its rule and level, or among the
// strays. An alarm from before levels existed (level "") takes its rule's
// first free level, and keeps it from its next transition on.
func (ts *tagState) attach(en *entry) {
	for _, legacy := range []bool{false, true} {
		for k := range ts.slots {
			sl := &ts.slots[k]
			m := sl.r.meta()
			if sl.open != nil || m.name != en.alarm.Rule {
				continue
			}
			if m.level == en.alarm.Level || (legacy && en.alarm.Level == "") {
				en.alarm.Level = m.level
				sl.open = en
				return
			}
		}
	}
	ts.extra = append(ts.extra, en)
}

func (ts *tagState) slotOf(en *entry) *slot {
	for k := range ts.slots {
		if ts.slots[k].open == en {
			return &ts.slots[k]
		}
	}
	return nil
}

func (ts *tagState) remove(en *entry) {
	if sl := ts.slotOf(en); sl != nil {
		sl.open = nil
		return
	}
	if i := slices.Index(ts.extra, en); i >= 0 {
		ts.extra = slices.Delete(ts.extra, i, i+1)
	}
}

// dropStrays clears active alarms no rule will evaluate again: their rule
// was removed, or (once the tag's metadata is known) no longer matches it.
// Cleared ones wait for their acknowledgement as usual.
func (e *Engine) dropStrays(ctx context.Context, ts *tagState) {
	for _, en := range slices.Clone(ts.extra) {
		if !en.alarm.State.Active() && !en.alarm.Active {
			continue
		}
		if e.byName[en.alarm.Rule] && !ts.known {
			continue // may match once the tag's metadata arrives
		}
		e.log.Warn("clearing alarm: its rule no longer applies to the tag",
			"alarm_id", en.alarm.ID, "tag", en.alarm.Tag, "rule", en.alarm.Rule, "level", en.alarm.Level)
		if en.alarm.State.Suppressed() {
			en.alarm.Active = false // it closes when returned to service
			continue
		}
		e.clear(ctx, en, en.alarm.Value, e.now())
	}
}

// apply takes a rule's judgement of the condition at time at and runs the
// lifecycle.
func (e *Engine) apply(ctx context.Context, ts *tagState, sl *slot, cond bool, s *collector.Sample, at time.Time) {
	changed := cond != sl.cond
	if changed {
		sl.cond, sl.since = cond, at
		if isCommLoss(sl.r) {
			e.countLost(ts, cond)
		}
		if en := sl.open; cond && en != nil && (en.alarm.State.Suppressed() || (en.alarm.Chattering && en.alarm.State.Active())) {
			en.alarm.Count++ // raised again while held or suppressed: counted, not announced
		}
	}
	e.judge(ctx, ts, sl, s, at)
	if changed && !cond && ts.known && ts.tag.Device != "" && isCommLoss(sl.r) && e.device(ts.tag.Device).lost == 0 {
		e.releaseRoot(ctx, ts.tag.Device, at)
	}
}

// judge moves the slot's alarm to where its condition, delays, chattering
// hold and suppression put it at time at.
func (e *Engine) judge(ctx context.Context, ts *tagState, sl *slot, s *collector.Sample, at time.Time) {
	m := sl.r.meta()
	en := sl.open
	if en != nil && en.alarm.State == SuppressedByDesign && !sl.cond {
		e.clear(ctx, en, s.Value, at)
		return
	}
	if en != nil && en.alarm.State.Suppressed() {
		// Still evaluated, never announced; persisted with the next transition.
		en.alarm.Active = sl.cond
		if sl.cond && sl.r.worse(s.Value, en.alarm.Peak) {
			en.alarm.Peak = s.Value
		}
		return
	}
	active := en != nil && en.alarm.State.Active()
	switch {
	case sl.cond && active:
		// Peak is persisted with the next transition, not per sample.
		if sl.r.worse(s.Value, en.alarm.Peak) {
			en.alarm.Peak = s.Value
		}
	case sl.cond:
		if at.Sub(sl.since) >= m.delay {
			e.raise(ctx, ts, sl, s, at)
		}
	case active:
		hold := m.offDelay
		if en.alarm.Chattering {
			hold = max(hold, m.chatter.Quiet)
		}
		if at.Sub(sl.since) >= hold {
			e.clear(ctx, en, s.Value, at)
		}
	}
}

// raise opens a new alarm, or re-raises a cleared one not yet acknowledged
// (the same occurrence: it keeps its id and raise time, and counts).
func (e *Engine) raise(ctx context.Context, ts *tagState, sl *slot, s *collector.Sample, at time.Time) {
	m := sl.r.meta()
	en := sl.open
	var a Alarm
	if en == nil {
		a = Alarm{Site: e.site, Tag: ts.tag.ID, Rule: m.name, Level: m.level, RaisedAt: at}
		a.Peak = finite(s.Value, 0)
	} else {
		a = en.alarm
		a.ClearedAt = nil
		if sl.r.worse(s.Value, a.Peak) {
			a.Peak = s.Value
		}
		if a.State == AwaitingDisposal {
			// Announced again: the acknowledgement was of the last condition.
			a.AckedAt, a.AckedBy, a.AckComment = nil, "", ""
		}
	}
	a.Count++
	a.Class, a.Severity, a.State, a.Active = m.class, m.severity, ActiveUnacked, true
	var root *entry
	if en == nil {
		if root = e.rootFor(ctx, ts, sl, s, at); root != nil {
			a.State, a.Root = SuppressedByDesign, root.alarm.ID
		}
	}
	a.Value = finite(s.Value, a.Value)
	msg := sl.r.message(&ts.tag, s)
	a.Message, a.MessageEN = msg.zh, msg.en
	// Chattering: this raise and those before it within the window.
	recent := sl.raises[:0:0]
	if c := m.chatter; c.Count > 0 {
		for _, t := range sl.raises {
			if at.Sub(t) < c.Window {
				recent = append(recent, t)
			}
		}
		recent = append(recent, at)
		if len(recent) >= c.Count {
			a.Chattering = true
			recent = recent[len(recent)-c.Count+1:]
		}
	}
	ev, ok := e.commit(ctx, EventRaised, a, at)
	if !ok {
		return
	}
	sl.raises = recent
	if en == nil {
		en = &entry{ts: ts}
		sl.open = en
	}
	en.alarm = ev.Alarm
	e.byID[ev.Alarm.ID] = en
	if root != nil {
		root.alarm.Suppressed++ // persisted with the root's next transition
		e.suppressed.Add(1)
		return
	}
	e.raised.Add(1)
}

// clear ends an active alarm's condition: it closes if already
// acknowledged, else waits for its acknowledgement.
func (e *Engine) clear(ctx context.Context, en *entry, v float64, at time.Time) {
	a := en.alarm
	a.Value = finite(v, a.Value)
	a.ClearedAt = &at
	a.Active = false
	typ := EventCleared
	switch {
	case a.State == SuppressedByDesign:
		a.State, typ = Normal, EventClosed // never annunciated: nothing to acknowledge
	case a.State == ActiveAcked && e.needsDisposal(a):
		a.State = AwaitingDisposal
	case a.State == ActiveAcked:
		a.State, typ = Normal, EventClosed
	default:
		a.State = ClearedUnacked
	}
	ev, ok := e.commit(ctx, typ, a, at)
	if !ok {
		return
	}
	e.cleared.Add(1)
	e.settle(en, ev.Alarm)
}

// needsDisposal reports whether a may not close before a disposal is filed.
func (e *Engine) needsDisposal(a Alarm) bool {
	return a.Disposal == nil && e.handling.Requires(a.Severity)
}

// finite returns v, or else when v is NaN or infinite: a Bad reading may
// carry no number, and the journal's JSON cannot hold one that is not.
func finite(v, or float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return or
	}
	return v
}

// settle takes a committed alarm into memory, dropping it once closed.
func (e *Engine) settle(en *entry, a Alarm) {
	en.alarm = a
	if a.State == Normal {
		en.ts.remove(en)
		delete(e.byID, a.ID)
	}
}

// commit submits a transition to the journal's writer and takes it into
// memory at once; the writer publishes it once it is committed
// (groupcommit.go), so judging the next sample never waits for the disk.
// Only a closed journal refuses it here, leaving memory as it was so the
// next sample or tick tries again.
func (e *Engine) commit(ctx context.Context, typ string, a Alarm, at time.Time) (Event, bool) {
	ev, err := e.j.Submit(typ, a, at, e.burst, e.committed)
	if err != nil {
		e.commitErrors.Add(1)
		e.log.Error("ALARM TRANSITION NOT COMMITTED: not published, retried on the next sample or tick",
			"event", typ, "alarm_id", a.ID, "site", a.Site, "tag", a.Tag, "rule", a.Rule, "level", a.Level,
			"state", a.State, "value", a.Value, "err", err)
		return Event{}, false
	}
	return ev, true
}

// committed runs on the journal's writer for each submitted transition:
// it publishes what committed. The store refusing a transition's data is
// not retried (the same row fails again); memory has gone ahead of the
// journal for that alarm, which the error says.
func (e *Engine) committed(ev Event, err error) {
	if err != nil {
		e.commitErrors.Add(1)
		e.log.Error("ALARM TRANSITION NOT COMMITTED: the store refused it; it is not published", "err", err)
		return
	}
	e.bus.Publish(ev)
}

// WhenDurable calls fn once every transition judged so far is committed:
// the pipeline acknowledges a device's batch only then (collector.Durable).
func (e *Engine) WhenDurable(fn func()) { e.j.WhenDurable(fn) }

// userAction commits a transition a user asked for and publishes it.
func (e *Engine) userAction(ctx context.Context, en *entry, typ string, a Alarm, at time.Time, user string) (Alarm, error) {
	ev, err := e.j.CommitBy(ctx, typ, a, at, user)
	if err != nil {
		e.commitErrors.Add(1)
		e.log.Error("alarm "+typ+" not committed", "alarm_id", a.ID, "user", user, "err", err)
		return en.alarm, fmt.Errorf("%s alarm %d: %w", typ, a.ID, err)
	}
	e.bus.Publish(ev)
	e.settle(en, ev.Alarm)
	return ev.Alarm, nil
}

// openEntry finds an open alarm for an action; a closed or unknown one is an
// error wrapping ErrWrongState or ErrNotFound. Call with e.mu held.
func (e *Engine) openEntry(ctx context.Context, what string, id int64, notOpen error) (*entry, error) {
	if en := e.byID[id]; en != nil {
		return en, nil
	}
	a, err := e.j.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return nil, fmt.Errorf("%s alarm %d: state %s: %w", what, id, a.State, notOpen)
}

// Ack acknowledges an open alarm on behalf of user; see AckWithComment.
func (e *Engine) Ack(ctx context.Context, id int64, user string) (Alarm, error) {
	return e.AckWithComment(ctx, id, user, "")
}

// AckWithComment acknowledges an open alarm on behalf of user, recording
// the comment: active_unacked becomes active_acked, cleared_unacked closes
// (normal). Anything else wraps ErrNotAckable; an unknown id wraps
// ErrNotFound. A failed commit changes nothing and is returned.
func (e *Engine) AckWithComment(ctx context.Context, id int64, user, comment string) (Alarm, error) {
	if user == "" {
		return Alarm{}, fmt.Errorf("ack alarm %d: user is required", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.openEntry(ctx, "ack", id, ErrNotAckable)
	if err != nil {
		return Alarm{}, err
	}
	a := en.alarm
	at := e.now()
	a.AckedAt, a.AckedBy, a.AckComment = &at, user, comment
	typ := EventAcked
	switch a.State {
	case ActiveUnacked:
		a.State = ActiveAcked
	case ClearedUnacked:
		a.State, typ = Normal, EventClosed
		if e.needsDisposal(a) {
			a.State, typ = AwaitingDisposal, EventAcked
		}
	default:
		return en.alarm, fmt.Errorf("ack alarm %d: state %s: %w", id, a.State, ErrNotAckable)
	}
	out, err := e.userAction(ctx, en, typ, a, at, user)
	if err == nil {
		e.acked.Add(1)
	}
	return out, err
}

// Shelve silences an open alarm until until, on behalf of user, for reason
// (ISA-18.2 shelving): its condition is still evaluated, and when the
// shelving ends (Unshelve, or Tick past until) it comes back active and
// unacknowledged if the condition holds, else closes. Shelving a shelved
// alarm moves its expiry.
func (e *Engine) Shelve(ctx context.Context, id int64, user, reason string, until time.Time) (Alarm, error) {
	return e.suppress(ctx, id, user, reason, Shelved, &until)
}

// RemoveFromService takes an open alarm out of service (maintenance) until
// Unshelve returns it; otherwise like Shelve.
func (e *Engine) RemoveFromService(ctx context.Context, id int64, user, reason string) (Alarm, error) {
	return e.suppress(ctx, id, user, reason, OutOfService, nil)
}

func (e *Engine) suppress(ctx context.Context, id int64, user, reason string, state State, until *time.Time) (Alarm, error) {
	what := "shelve"
	if state == OutOfService {
		what = "remove from service"
	}
	if user == "" || strings.TrimSpace(reason) == "" {
		return Alarm{}, fmt.Errorf("%s alarm %d: user and reason are required", what, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	at := e.now()
	if until != nil && !until.After(at) {
		return Alarm{}, fmt.Errorf("shelve alarm %d: expiry %s is not in the future", id, until.Format(time.RFC3339))
	}
	en, err := e.openEntry(ctx, what, id, ErrWrongState)
	if err != nil {
		return Alarm{}, err
	}
	a := en.alarm
	if sl := en.ts.slotOf(en); sl != nil {
		a.Active = sl.cond
	}
	if a.State == OutOfService && state == Shelved {
		return a, fmt.Errorf("shelve alarm %d: out of service; return it to service first: %w", id, ErrWrongState)
	}
	a.State, a.ShelvedAt, a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = state, &at, until, user, reason
	return e.userAction(ctx, en, EventShelved, a, at, user)
}

// Unshelve ends an alarm's shelving or returns it to service, on behalf of
// user: it is active_unacked again if its condition holds, else closed.
func (e *Engine) Unshelve(ctx context.Context, id int64, user string) (Alarm, error) {
	if user == "" {
		return Alarm{}, fmt.Errorf("unshelve alarm %d: user is required", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en, err := e.openEntry(ctx, "unshelve", id, ErrWrongState)
	if err != nil {
		return Alarm{}, err
	}
	if !en.alarm.State.Suppressed() {
		return en.alarm, fmt.Errorf("unshelve alarm %d: state %s: %w", id, en.alarm.State, ErrWrongState)
	}
	return e.unshelve(ctx, en, user, e.now())
}

func (e *Engine) unshelve(ctx context.Context, en *entry, user string, at time.Time) (Alarm, error) {
	a := en.alarm
	a.ShelvedAt, a.ShelvedUntil, a.ShelvedBy, a.ShelveReason = nil, nil, "", ""
	if a.Active {
		// Announced again: whoever acknowledged it before shelving saw an
		// older condition.
		a.State, a.AckedAt, a.AckedBy, a.AckComment, a.ClearedAt = ActiveUnacked, nil, "", "", nil
	} else {
		a.State = Normal
		if e.needsDisposal(a) {
			a.State = AwaitingDisposal
		}
		if a.ClearedAt == nil {
			a.ClearedAt = &at
		}
	}
	return e.userAction(ctx, en, EventUnshelved, a, at, user)
}

// Open returns the open alarms with their peaks as of now (the journal has
// the peak of the last transition), newest raised first.
func (e *Engine) Open() []Alarm {
	e.mu.Lock()
	all := make([]Alarm, 0, len(e.byID))
	for _, en := range e.byID {
		all = append(all, en.alarm)
	}
	e.mu.Unlock()
	// Sorted as pointers: an Alarm is hundreds of bytes, and a flood is
	// thousands of them (BenchmarkAlarmListFlood).
	ptrs := make([]*Alarm, len(all))
	for i := range all {
		ptrs[i] = &all[i]
	}
	slices.SortFunc(ptrs, func(a, b *Alarm) int {
		if c := b.RaisedAt.Compare(a.RaisedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	out := make([]Alarm, len(ptrs))
	for i, p := range ptrs {
		out[i] = *p
	}
	return out
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Raised:       e.raised.Load(),
		Cleared:      e.cleared.Load(),
		Acked:        e.acked.Load(),
		Disposed:     e.disposed.Load(),
		Escalated:    e.escalated.Load(),
		Suppressed:   e.suppressed.Load(),
		CommitErrors: e.commitErrors.Load(),
	}
}

// ErrInvalidDisposal is returned (wrapped) for a disposal missing a field
// or naming an unknown cause; the error names the field.
var ErrInvalidDisposal = errors.New("invalid disposal")

// Dispose files how an open alarm was handled (报警处置) on behalf of user:
// cause (one of DisposalCauses), measures and the person who handled it;
// At defaults to now and may not lie in the future or before the raise. It
// is journalled like every transition; an alarm awaiting its disposal
// closes. A second disposal replaces the first (both stay in the
// history). A closed alarm wraps ErrWrongState, an unknown one ErrNotFound.
func (e *Engine) Dispose(ctx context.Context, id int64, user string, d Disposal) (Alarm, error) {
	d.Cause, d.Measures, d.Person, d.Note = strings.TrimSpace(d.Cause), strings.TrimSpace(d.Measures), strings.TrimSpace(d.Person), strings.TrimSpace(d.Note)
	switch {
	case user == "":
		return Alarm{}, fmt.Errorf("dispose of alarm %d: user is required", id)
	case d.Cause == "":
		return Alarm{}, fmt.Errorf("dispose of alarm %d: %w: cause is required", id, ErrInvalidDisposal)
	case !IsDisposalCause(d.Cause):
		return Alarm{}, fmt.Errorf("dispose of alarm %d: %w: cause %q is not one of %s", id, ErrInvalidDisposal, d.Cause, causeCodes())
	case d.Measures == "":
		return Alarm{}, fmt.Errorf("dispose of alarm %d: %w: measures (处置措施) is required", id, ErrInvalidDisposal)
	}
	if d.Person == "" {
		d.Person = user
	}
	d.By = user
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if d.At.IsZero() {
		d.At = now
	}
	if d.At.After(now.Add(time.Minute)) {
		return Alarm{}, fmt.Errorf("dispose of alarm %d: %w: at %s is in the future", id, ErrInvalidDisposal, d.At.Format(time.RFC3339))
	}
	en, err := e.openEntry(ctx, "dispose of", id, ErrWrongState)
	if err != nil {
		return Alarm{}, err
	}
	a := en.alarm
	if d.At.Before(a.RaisedAt) {
		return Alarm{}, fmt.Errorf("dispose of alarm %d: %w: at %s is before the alarm was raised (%s)", id, ErrInvalidDisposal,
			d.At.Format(time.RFC3339), a.RaisedAt.Format(time.RFC3339))
	}
	a.Disposal = &d
	if a.State == AwaitingDisposal {
		a.State = Normal
	}
	out, err := e.userAction(ctx, en, EventDisposed, a, now, user)
	if err == nil {
		e.disposed.Add(1)
	}
	return out, err
}

func causeCodes() string {
	codes := make([]string, len(DisposalCauses))
	for i, c := range DisposalCauses {
		codes[i] = c.Code
	}
	return strings.Join(codes, ", ")
}
