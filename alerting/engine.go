package alerting

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/collector"
	"hazgate/config"
)

// ErrNotAckable is returned (wrapped) when acknowledging an alarm that is
// already acknowledged or closed.
var ErrNotAckable = errors.New("alarm is not waiting for acknowledgement")

// TagLookup gives a tag's metadata; collector.Registry satisfies it.
type TagLookup interface {
	Lookup(id string) (collector.Tag, bool)
}

// Stats counts the engine's work since start.
type Stats struct {
	Raised       uint64 `json:"raised"`
	Cleared      uint64 `json:"cleared"`
	Acked        uint64 `json:"acked"`
	CommitErrors uint64 `json:"commit_errors"`
}

// Engine evaluates rules on samples and runs each alarm's lifecycle. Every
// transition is committed to the journal before it is published on the bus;
// a transition whose commit fails leaves the in-memory state unchanged, so
// the next sample tries it again. Safe for concurrent Consume and Ack.
type Engine struct {
	site   string
	rules  []rule          // configured rules, in config order
	byName map[string]rule // configured and quality rules
	tags   TagLookup
	j      *Journal
	bus    *Bus
	log    *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	state map[string]*tagState
	byID  map[int64]*entry // every open alarm

	raised, cleared, acked, commitErrors atomic.Uint64
}

// tagState is what the engine knows about one tag: its metadata, the rules
// that apply to it and their open alarms.
type tagState struct {
	tag   collector.Tag
	known bool     // found in TagLookup; until then only its id is known
	rules []rule   // quality rules first, then matching configured rules
	open  []*entry // open alarm of rules[k], or nil
	extra []*entry // open alarms whose rule no longer applies to the tag
}

type entry struct {
	alarm Alarm // as committed, except Peak, which runs ahead in memory
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
		site: site, rules: compiled, byName: make(map[string]rule),
		tags: tags, j: j, bus: bus, log: log, now: time.Now,
		state: make(map[string]*tagState), byID: make(map[int64]*entry),
	}
	for _, r := range qualityRules {
		e.byName[r.meta().name] = r
	}
	for _, r := range compiled {
		e.byName[r.meta().name] = r
	}
	// NewEngine's signature has no context; restoring is a local read.
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	if err := e.restore(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) restore(ctx context.Context) error {
	open, err := e.j.List(ctx, AlarmFilter{Site: e.site, OpenOnly: true})
	if err != nil {
		return fmt.Errorf("restore open alarms: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range open {
		ts := e.state[a.Tag]
		if ts == nil {
			ts = e.newTagState(a.Tag)
		}
		en := &entry{alarm: a, ts: ts}
		e.byID[a.ID] = en
		ts.attach(en)
	}
	for _, ts := range e.state {
		e.dropStrays(ctx, ts)
	}
	e.log.Info("alarm engine started", "site", e.site, "rules", len(e.rules), "open_alarms", len(e.byID))
	return nil
}

// Consume evaluates every sample against the rules that apply to its tag.
func (e *Engine) Consume(ctx context.Context, batch []collector.Sample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range batch {
		s := &batch[i]
		ts := e.state[s.Tag]
		if ts == nil {
			ts = e.newTagState(s.Tag)
		} else if !ts.known && e.lookup(ts) {
			e.dropStrays(ctx, ts)
		}
		for k, r := range ts.rules {
			e.step(ctx, ts, k, r, s)
		}
	}
}

func (e *Engine) newTagState(id string) *tagState {
	ts := &tagState{tag: collector.Tag{ID: id}}
	e.state[id] = ts
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
	ts.tag, ts.known = t, true
	e.match(ts)
	return true
}

// match recomputes which rules apply to ts and re-seats its open alarms.
func (e *Engine) match(ts *tagState) {
	var entries []*entry
	for _, en := range ts.open {
		if en != nil {
			entries = append(entries, en)
		}
	}
	entries = append(entries, ts.extra...)
	ts.rules = slices.Clone(qualityRules)
	for _, r := range e.rules {
		if r.matches(ts.tag) {
			ts.rules = append(ts.rules, r)
		}
	}
	ts.open = make([]*entry, len(ts.rules))
	ts.extra = nil
	for _, en := range entries {
		ts.attach(en)
	}
}

// attach seats an open alarm beside its rule, or among the strays.
func (ts *tagState) attach(en *entry) {
	for k, r := range ts.rules {
		if r.meta().name == en.alarm.Rule && ts.open[k] == nil {
			ts.open[k] = en
			return
		}
	}
	ts.extra = append(ts.extra, en)
}

func (ts *tagState) remove(en *entry) {
	for k := range ts.open {
		if ts.open[k] == en {
			ts.open[k] = nil
			return
		}
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
		if !en.alarm.State.Active() {
			continue
		}
		if _, ok := e.byName[en.alarm.Rule]; ok && !ts.known {
			continue // may match once the tag's metadata arrives
		}
		e.log.Warn("clearing alarm: its rule no longer applies to the tag",
			"alarm_id", en.alarm.ID, "tag", en.alarm.Tag, "rule", en.alarm.Rule)
		e.clear(ctx, en, en.alarm.Value, e.now())
	}
}

// step runs one rule on one sample.
func (e *Engine) step(ctx context.Context, ts *tagState, k int, r rule, s *collector.Sample) {
	en := ts.open[k]
	isActive := en != nil && en.alarm.State.Active()
	switch r.eval(&ts.tag, s, isActive) {
	case verdictActive:
		if isActive {
			// Peak is persisted with the next transition, not per sample.
			if r.worse(s.Value, en.alarm.Peak) {
				en.alarm.Peak = s.Value
			}
			return
		}
		e.raise(ctx, ts, k, r, s)
	case verdictClear:
		if isActive {
			e.clear(ctx, en, s.Value, e.sampleTime(s))
		}
	}
}

func (e *Engine) sampleTime(s *collector.Sample) time.Time {
	if s.Time.IsZero() {
		return e.now()
	}
	return s.Time
}

// raise opens a new alarm, or re-raises a cleared one not yet acknowledged
// (the same occurrence: it keeps its id, raise time and peak).
func (e *Engine) raise(ctx context.Context, ts *tagState, k int, r rule, s *collector.Sample) {
	m := r.meta()
	at := e.sampleTime(s)
	en := ts.open[k]
	var a Alarm
	if en == nil {
		a = Alarm{Site: e.site, Tag: ts.tag.ID, Rule: m.name, Peak: s.Value, RaisedAt: at}
	} else {
		a = en.alarm
		a.ClearedAt = nil
		if r.worse(s.Value, a.Peak) {
			a.Peak = s.Value
		}
	}
	a.Class, a.Severity, a.State = m.class, m.severity, ActiveUnacked
	a.Value = s.Value
	a.Message = r.message(&ts.tag, s)
	ev, ok := e.commit(ctx, EventRaised, a, at)
	if !ok {
		return
	}
	if en == nil {
		en = &entry{ts: ts}
		ts.open[k] = en
	}
	en.alarm = ev.Alarm
	e.byID[ev.Alarm.ID] = en
	e.raised.Add(1)
}

// clear ends an active alarm's condition: it closes if already
// acknowledged, else waits for its acknowledgement.
func (e *Engine) clear(ctx context.Context, en *entry, v float64, at time.Time) {
	a := en.alarm
	a.Value = v
	a.ClearedAt = &at
	typ := EventCleared
	if a.State == ActiveAcked {
		a.State, typ = Normal, EventClosed
	} else {
		a.State = ClearedUnacked
	}
	ev, ok := e.commit(ctx, typ, a, at)
	if !ok {
		return
	}
	e.cleared.Add(1)
	e.settle(en, ev.Alarm)
}

// settle takes a committed alarm into memory, dropping it once closed.
func (e *Engine) settle(en *entry, a Alarm) {
	en.alarm = a
	if a.State == Normal {
		en.ts.remove(en)
		delete(e.byID, a.ID)
	}
}

// commit journals a transition and, only once it is committed, publishes it.
func (e *Engine) commit(ctx context.Context, typ string, a Alarm, at time.Time) (Event, bool) {
	ev, err := e.j.Commit(ctx, typ, a, at)
	if err != nil {
		e.commitErrors.Add(1)
		e.log.Error("ALARM TRANSITION NOT COMMITTED: not published, retried on the next sample",
			"event", typ, "alarm_id", a.ID, "site", a.Site, "tag", a.Tag, "rule", a.Rule,
			"state", a.State, "value", a.Value, "err", err)
		return Event{}, false
	}
	e.bus.Publish(ev)
	return ev, true
}

// Ack acknowledges an open alarm on behalf of user: active_unacked becomes
// active_acked, cleared_unacked closes (normal). Anything else wraps
// ErrNotAckable; an unknown id wraps ErrNotFound. A failed commit changes
// nothing and is returned.
func (e *Engine) Ack(ctx context.Context, id int64, user string) (Alarm, error) {
	if user == "" {
		return Alarm{}, fmt.Errorf("ack alarm %d: user is required", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.byID[id]
	if en == nil {
		a, err := e.j.Get(ctx, id)
		if err != nil {
			return Alarm{}, fmt.Errorf("ack: %w", err)
		}
		return a, fmt.Errorf("ack alarm %d: state %s: %w", id, a.State, ErrNotAckable)
	}
	a := en.alarm
	at := e.now()
	a.AckedAt, a.AckedBy = &at, user
	typ := EventAcked
	switch a.State {
	case ActiveUnacked:
		a.State = ActiveAcked
	case ClearedUnacked:
		a.State, typ = Normal, EventClosed
	default:
		return en.alarm, fmt.Errorf("ack alarm %d: state %s: %w", id, a.State, ErrNotAckable)
	}
	ev, err := e.j.Commit(ctx, typ, a, at)
	if err != nil {
		e.commitErrors.Add(1)
		e.log.Error("alarm acknowledgement not committed", "alarm_id", id, "user", user, "err", err)
		return en.alarm, fmt.Errorf("ack alarm %d: %w", id, err)
	}
	e.bus.Publish(ev)
	e.acked.Add(1)
	e.settle(en, ev.Alarm)
	return ev.Alarm, nil
}

// Open returns the open alarms with their peaks as of now (the journal has
// the peak of the last transition), newest raised first.
func (e *Engine) Open() []Alarm {
	e.mu.Lock()
	out := make([]Alarm, 0, len(e.byID))
	for _, en := range e.byID {
		out = append(out, en.alarm)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Alarm) int {
		if c := b.RaisedAt.Compare(a.RaisedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Raised:       e.raised.Load(),
		Cleared:      e.cleared.Load(),
		Acked:        e.acked.Load(),
		CommitErrors: e.commitErrors.Load(),
	}
}
