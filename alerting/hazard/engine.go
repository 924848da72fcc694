package hazard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/sqlstore"
	"hazgate/collector"
	"hazgate/config"
)

// TagLookup gives a tag's metadata (collector.Registry).
type TagLookup interface {
	Lookup(id string) (collector.Tag, bool)
}

// AlarmFeed is the alarm event bus (*alerting.Bus).
type AlarmFeed interface {
	Subscribe(ctx context.Context, afterSeq int64) *alerting.Subscription
}

// AlarmLog tells how far the alarm journal goes (*alerting.Journal), so
// time-driven rules wait until the engine has caught up with it.
type AlarmLog interface {
	LastSeq(ctx context.Context) (int64, error)
}

// Options configures NewEngine.
type Options struct {
	Site string // site id: records carry it, numbers start with it
	Unit string // 单位名称 for the ledger (the site's display name)
	// Rules: nil means DefaultRules, an empty list none (as a config without
	// hazard_rules, or with hazard_rules: []).
	Rules []config.HazardRule
	Tags  TagLookup
	Log   *slog.Logger
	Now   func() time.Time // default time.Now
}

// cursorName is the hazard_cursor row of the alarm event stream.
const cursorName = "alarms"

// applyBatch is how many alarm events one transaction judges at most.
const applyBatch = 256

// Engine judges alarm events against hazard rules and runs the records'
// workflow. Each batch of alarm events is judged in one transaction that
// also advances the engine's cursor, so a restart resumes where the last
// commit left off, without missing or repeating an event. Changes are
// committed before they are published. Safe for concurrent use.
type Engine struct {
	store      *Store
	site, unit string
	tags       TagLookup
	log        *slog.Logger
	bus        *Bus

	// mu serializes writers, so event seqs are committed in order even on a
	// database whose sequences do not wait for commits.
	mu     sync.Mutex
	rules  []*rule
	byName map[string]*rule
	minFor time.Duration // the shortest persistence: no watch is due before
	// lastOverdue is when Tick last looked for overdue records (Tick runs
	// from one goroutine, Run's).
	lastOverdue time.Time
}

// Get, List, History, EventsAfter and LastSeq read the store: the engine is
// what the API and the delivery wing hold, but only it writes.

// Get returns one record; an unknown id wraps ErrNotFound.
func (e *Engine) Get(ctx context.Context, id int64) (Hazard, error) { return e.store.Get(ctx, id) }

// List returns the records f selects.
func (e *Engine) List(ctx context.Context, f Filter) ([]Hazard, error) { return e.store.List(ctx, f) }

// History returns one record's workflow events, oldest first.
func (e *Engine) History(ctx context.Context, id int64) ([]Event, error) {
	return e.store.History(ctx, id)
}

// EventsAfter returns up to limit record events after seq, for subscribers.
func (e *Engine) EventsAfter(ctx context.Context, seq int64, limit int) ([]Event, error) {
	return e.store.EventsAfter(ctx, seq, limit)
}

// LastSeq returns the newest record event's seq.
func (e *Engine) LastSeq(ctx context.Context) (int64, error) { return e.store.LastSeq(ctx) }

// NewEngine opens the hazard tables in db (the alarm journal's,
// alerting.Journal.DB) and compiles the rules.
func NewEngine(ctx context.Context, db *sql.DB, opts Options) (*Engine, error) {
	if opts.Tags == nil {
		return nil, errors.New("hazard engine: tag lookup is required")
	}
	rules, err := compileRules(opts.Rules)
	if err != nil {
		return nil, fmt.Errorf("hazard rules: %w", err)
	}
	st, err := OpenStore(ctx, db)
	if err != nil {
		return nil, err
	}
	if opts.Now != nil {
		st.now = opts.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{store: st, site: opts.Site, unit: opts.Unit, tags: opts.Tags, log: log, rules: rules,
		byName: make(map[string]*rule, len(rules))}
	e.bus = &Bus{store: st, wake: make(chan struct{})}
	for _, r := range rules {
		e.byName[r.cfg.Name] = r
		if r.kind == persistence && (e.minFor == 0 || r.cfg.For < e.minFor) {
			e.minFor = r.cfg.For
		}
	}
	return e, nil
}

// Subscribe delivers every hazard event with seq greater than afterSeq, in
// order: first those committed, then live ones.
func (e *Engine) Subscribe(ctx context.Context, afterSeq int64) *Subscription {
	return e.bus.Subscribe(ctx, afterSeq)
}

// Cursor returns the last alarm event seq the engine has judged.
func (e *Engine) Cursor(ctx context.Context) (int64, error) {
	return cursor(ctx, e.store.db)
}

func cursor(ctx context.Context, q querier) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT seq FROM hazard_cursor WHERE name = $1`, cursorName).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("hazard cursor: %w", err)
	}
	return seq, nil
}

// Run follows the alarm bus from the engine's cursor and calls Tick every
// interval once it has caught up with the journal, until ctx ends. A
// failed commit is logged and the batch judged again from the stored
// cursor after a pause.
func (e *Engine) Run(ctx context.Context, alarms AlarmFeed, journal AlarmLog, interval time.Duration) {
	const retry = time.Second
	for ctx.Err() == nil {
		if err := e.follow(ctx, alarms, journal, interval); err != nil && ctx.Err() == nil {
			e.log.Error("hazard engine: retrying from the stored cursor", "err", err, "in", retry)
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
		}
	}
}

func (e *Engine) follow(ctx context.Context, alarms AlarmFeed, journal AlarmLog, interval time.Duration) error {
	from, err := e.Cursor(ctx)
	if err != nil {
		return err
	}
	target, err := journal.LastSeq(ctx)
	if err != nil {
		return err
	}
	sub := alarms.Subscribe(ctx, from)
	defer sub.Close()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := from
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.C:
			if !ok {
				return fmt.Errorf("alarm feed closed: %w", sub.Err())
			}
			batch := []alerting.Event{ev}
		drain:
			for len(batch) < applyBatch {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						break drain
					}
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			if err := e.Apply(ctx, batch); err != nil {
				return err
			}
			last = batch[len(batch)-1].Seq
		case <-tick.C:
			// Before catching up, a watched alarm may already have cleared
			// in an event not yet judged.
			if last < target {
				continue
			}
			if err := e.Tick(ctx, e.store.now()); err != nil {
				return err
			}
		}
	}
}

// Apply judges alarm events, in seq order, in transactions that also move
// the cursor past them (one, unless the alarm journal needs the database
// meanwhile); events at or before the cursor are skipped, so applying twice
// changes nothing. New hazard events are published once committed.
func (e *Engine) Apply(ctx context.Context, evs []alerting.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(evs) > 0 {
		n, err := e.applySome(ctx, evs)
		if err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// applySome judges evs in one transaction, and commits early, after n of
// them, when the alarm journal waits for the database: a flood's hazards
// are worked out between its commits, not in front of them.
func (e *Engine) applySome(ctx context.Context, evs []alerting.Event) (n int, err error) {
	var out []Event
	err = sqlstore.InTx(ctx, e.store.db, func(tx *sql.Tx) error {
		out, n = out[:0], 0
		cur, err := cursor(ctx, tx)
		if err != nil {
			return err
		}
		for n < len(evs) && (n == 0 || !sqlstore.FirstWaiting(e.store.db)) {
			ev := &evs[n]
			n++
			if ev.Seq <= cur {
				continue
			}
			made, err := e.judge(ctx, tx, ev)
			if err != nil {
				return fmt.Errorf("alarm event %d (alarm %d, tag %s): %w", ev.Seq, ev.Alarm.ID, ev.Alarm.Tag, err)
			}
			out = append(out, made...)
			cur = ev.Seq
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO hazard_cursor (name, seq) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, cursorName, cur)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("hazard engine: %w", err)
	}
	e.published(out)
	return n, nil
}

// published logs and publishes committed events.
func (e *Engine) published(evs []Event) {
	for _, ev := range evs {
		h := ev.Hazard
		e.log.Info("hazard "+ev.Type, "number", h.Number, "rule", h.Rule, "scope", h.Scope, "level", h.Level,
			"status", h.Status, "by", ev.By, "alarms", ev.AlarmIDs)
	}
	if len(evs) > 0 {
		e.bus.publish()
	}
}

func (e *Engine) tag(id string) collector.Tag {
	if t, ok := e.tags.Lookup(id); ok {
		return t
	}
	return collector.Tag{ID: id} // unknown tags still match rules that ask nothing of their metadata
}

// judge applies one alarm event: it keeps the linked alarms' condition,
// then lets every rule that selects the alarm look at it.
func (e *Engine) judge(ctx context.Context, tx *sql.Tx, ev *alerting.Event) ([]Event, error) {
	a := &ev.Alarm
	if e.site != "" && a.Site != e.site {
		return nil, nil
	}
	if err := trackCondition(ctx, tx, a); err != nil {
		return nil, err
	}
	t := e.tag(a.Tag)
	var out []Event
	for _, r := range e.rules {
		if !r.selects(a, &t) {
			continue
		}
		var made []Event
		var err error
		switch r.kind {
		case persistence:
			made, err = e.persist(ctx, tx, r, &t, ev)
		case recurrence:
			made, err = e.recur(ctx, tx, r, &t, ev)
		case immediate:
			if ev.Type == alerting.EventRaised {
				made, err = e.open(ctx, tx, r, &t, a, ev.Time)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("hazard rule %s: %w", r.cfg.Name, err)
		}
		out = append(out, made...)
	}
	return out, nil
}

// trackCondition records an alarm's condition wherever it is evidence, so a
// record shows whether its condition still holds and since when it has not.
func trackCondition(ctx context.Context, tx *sql.Tx, a *alerting.Alarm) error {
	cleared := sqlstore.NullTime(a.ClearedAt)
	if _, err := tx.ExecContext(ctx, `UPDATE hazard_hits SET active = $1, cleared_at = $2 WHERE alarm_id = $3`,
		a.Active, cleared, a.ID); err != nil {
		return fmt.Errorf("track alarm %d: %w", a.ID, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE hazard_alarms SET active = $1, cleared_at = $2 WHERE alarm_id = $3`,
		a.Active, cleared, a.ID)
	if err != nil {
		return fmt.Errorf("track alarm %d: %w", a.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE hazards SET
		condition_active = EXISTS (SELECT 1 FROM hazard_alarms l WHERE l.hazard_id = hazards.id AND l.active),
		normal_since = (SELECT MAX(l.cleared_at) FROM hazard_alarms l WHERE l.hazard_id = hazards.id)
		WHERE id IN (SELECT hazard_id FROM hazard_alarms WHERE alarm_id = $1)`, a.ID)
	if err != nil {
		return fmt.Errorf("track alarm %d: %w", a.ID, err)
	}
	return nil
}

// persist follows a persistence rule's alarm: watched from when it became
// active, a hazard once active for the rule's time (judged here at each of
// its events, and by Tick in between).
func (e *Engine) persist(ctx context.Context, tx *sql.Tx, r *rule, t *collector.Tag, ev *alerting.Event) ([]Event, error) {
	a := &ev.Alarm
	var out []Event
	if ev.Type == alerting.EventRaised {
		made, err := e.linkOpen(ctx, tx, r, r.scope(t), a)
		if err != nil {
			return nil, err
		}
		out = append(out, made...)
	}
	var since string
	err := tx.QueryRowContext(ctx, `SELECT since FROM hazard_watch WHERE rule = $1 AND alarm_id = $2`,
		r.cfg.Name, a.ID).Scan(&since)
	watched := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	snap, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	start := ev.Time
	if watched {
		if start, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return nil, fmt.Errorf("watch of alarm %d: %w", a.ID, err)
		}
	} else if ev.Type != alerting.EventRaised {
		start = a.RaisedAt // active before the rule existed: as old as the alarm
	}
	end := ev.Time
	if !a.Active && a.ClearedAt != nil {
		end = *a.ClearedAt
	}
	if !watched && !a.Active {
		return out, nil
	}
	if end.Sub(start) >= r.cfg.For {
		made, err := e.open(ctx, tx, r, t, a, start.Add(r.cfg.For))
		if err != nil {
			return nil, err
		}
		out = append(out, made...)
		_, err = tx.ExecContext(ctx, `DELETE FROM hazard_watch WHERE rule = $1 AND alarm_id = $2`, r.cfg.Name, a.ID)
		return out, err
	}
	if !a.Active {
		_, err = tx.ExecContext(ctx, `DELETE FROM hazard_watch WHERE rule = $1 AND alarm_id = $2`, r.cfg.Name, a.ID)
		return out, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO hazard_watch (rule, alarm_id, scope, since, alarm) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (rule, alarm_id) DO UPDATE SET alarm = excluded.alarm`,
		r.cfg.Name, a.ID, r.scope(t), sqlstore.FormatTime(start), string(snap))
	return out, err
}

// recur counts a recurrence rule's raises per scope; Count of them within
// the window open a record with every alarm counted. While a record is
// open, raises attach to it instead; counting starts afresh after.
func (e *Engine) recur(ctx context.Context, tx *sql.Tx, r *rule, t *collector.Tag, ev *alerting.Event) ([]Event, error) {
	if ev.Type != alerting.EventRaised {
		return nil, nil
	}
	a := &ev.Alarm
	scope := r.scope(t)
	made, err := e.linkOpen(ctx, tx, r, scope, a)
	if err != nil || made != nil {
		return made, err
	}
	if open, err := e.openRecord(ctx, tx, r, scope); err != nil || open != 0 {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO hazard_hits (rule, scope, seq, alarm_id, at, active, cleared_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule, seq) DO NOTHING`,
		r.cfg.Name, scope, ev.Seq, a.ID, sqlstore.FormatTime(ev.Time), a.Active, sqlstore.NullTime(a.ClearedAt)); err != nil {
		return nil, err
	}
	// Only raises inside (at - within, at] count.
	if _, err := tx.ExecContext(ctx, `DELETE FROM hazard_hits WHERE rule = $1 AND scope = $2 AND at <= $3`,
		r.cfg.Name, scope, sqlstore.FormatTime(ev.Time.Add(-r.cfg.Within))); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT alarm_id, active, cleared_at FROM hazard_hits
		WHERE rule = $1 AND scope = $2 ORDER BY seq`, r.cfg.Name, scope)
	if err != nil {
		return nil, err
	}
	var hits []evidence
	for rows.Next() {
		var h evidence
		var cleared sql.NullString
		if err := rows.Scan(&h.id, &h.active, &cleared); err != nil {
			rows.Close()
			return nil, err
		}
		h.cleared = cleared
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(hits) < r.cfg.Count {
		return nil, nil
	}
	made, err = e.create(ctx, tx, r, t, a, ev.Time, hits, len(hits))
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM hazard_hits WHERE rule = $1 AND scope = $2`, r.cfg.Name, scope)
	return made, err
}

// evidence is an alarm to link with its condition as last seen.
type evidence struct {
	id      int64
	active  bool
	cleared sql.NullString
}

func evidenceOf(a *alerting.Alarm) evidence {
	ev := evidence{id: a.ID, active: a.Active}
	if a.ClearedAt != nil {
		ev.cleared = sql.NullString{String: sqlstore.FormatTime(*a.ClearedAt), Valid: true}
	}
	return ev
}

// Tick judges what time alone changes: persistence rules whose alarms
// have stayed active long enough, and records past their deadline. Run
// calls it; now is the engine's clock.
func (e *Engine) Tick(ctx context.Context, now time.Time) error {
	if err := e.tickWatches(ctx, now); err != nil {
		return err
	}
	return e.tickOverdue(ctx, now)
}

// overdueCheck is how often Tick looks for records past their deadline:
// a deadline is a day, not a second, so once a minute is soon enough.
const overdueCheck = time.Minute

// tickOverdue emits one overdue event for each record past its deadline
// and not done that has none in its history yet, so a restart (which
// forgets lastOverdue) sends nothing twice.
func (e *Engine) tickOverdue(ctx context.Context, now time.Time) error {
	if !e.lastOverdue.IsZero() && now.Sub(e.lastOverdue) < overdueCheck && !now.Before(e.lastOverdue) {
		return nil
	}
	const due = `SELECT id FROM hazards WHERE site = $1 AND deadline < $2 AND status NOT IN ('closed', 'dismissed')
		AND NOT EXISTS (SELECT 1 FROM hazard_events ev WHERE ev.hazard_id = hazards.id AND ev.type = $3) ORDER BY deadline, id`
	ids, err := e.ids(ctx, e.store.db, due, e.site, sqlstore.FormatTime(now), EventOverdue)
	if err != nil {
		return fmt.Errorf("hazard tick: overdue records: %w", err)
	}
	if len(ids) == 0 {
		e.lastOverdue = now
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	err = sqlstore.InTx(ctx, e.store.db, func(tx *sql.Tx) error {
		out = out[:0]
		ids, err := e.ids(ctx, tx, due, e.site, sqlstore.FormatTime(now), EventOverdue) // again, under the lock
		if err != nil {
			return err
		}
		for _, id := range ids {
			ev, err := appendEvent(ctx, tx, id, Event{Type: EventOverdue}, now)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hazard tick: overdue records: %w", err)
	}
	e.lastOverdue = now
	e.published(out)
	return nil
}

// ids runs a query of one id column.
func (e *Engine) ids(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// tickWatches opens the records of persistence rules whose alarms have
// stayed active for the rule's time.
func (e *Engine) tickWatches(ctx context.Context, now time.Time) error {
	// Most ticks find nothing due: look without taking the write lock.
	var due int
	if err := e.store.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM hazard_watch WHERE since <= $1`,
		sqlstore.FormatTime(now.Add(-e.minFor))).Scan(&due); err != nil {
		return fmt.Errorf("hazard tick: %w", err)
	}
	if due == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	err := sqlstore.InTx(ctx, e.store.db, func(tx *sql.Tx) error {
		out = out[:0]
		type watch struct {
			rule  string
			since time.Time
			alarm alerting.Alarm
		}
		rows, err := tx.QueryContext(ctx, `SELECT rule, since, alarm FROM hazard_watch ORDER BY since`)
		if err != nil {
			return err
		}
		var due []watch
		for rows.Next() {
			var w watch
			var since, snap string
			if err := rows.Scan(&w.rule, &since, &snap); err != nil {
				rows.Close()
				return err
			}
			if w.since, err = time.Parse(time.RFC3339Nano, since); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(snap), &w.alarm); err != nil {
				rows.Close()
				return err
			}
			if r := e.byName[w.rule]; r == nil || now.Sub(w.since) >= r.cfg.For {
				due = append(due, w)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, w := range due {
			if r := e.byName[w.rule]; r != nil { // else the rule is gone: forget its watches
				t := e.tag(w.alarm.Tag)
				made, err := e.open(ctx, tx, r, &t, &w.alarm, w.since.Add(r.cfg.For))
				if err != nil {
					return fmt.Errorf("hazard rule %s, alarm %d: %w", w.rule, w.alarm.ID, err)
				}
				out = append(out, made...)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM hazard_watch WHERE rule = $1 AND alarm_id = $2`,
				w.rule, w.alarm.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hazard tick: %w", err)
	}
	e.published(out)
	return nil
}

// openRecord returns the id of the rule's open record for scope, 0 if none.
func (e *Engine) openRecord(ctx context.Context, tx *sql.Tx, r *rule, scope string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM hazards WHERE site = $1 AND rule = $2 AND scope = $3
		AND status NOT IN ('closed', 'dismissed')`, e.site, r.cfg.Name, scope).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// linkOpen attaches alarm a to the rule's open record for scope, if there
// is one, returning the linked event (none when a was linked already).
func (e *Engine) linkOpen(ctx context.Context, tx *sql.Tx, r *rule, scope string, a *alerting.Alarm) ([]Event, error) {
	id, err := e.openRecord(ctx, tx, r, scope)
	if err != nil || id == 0 {
		return nil, err
	}
	return e.link(ctx, tx, id, []evidence{evidenceOf(a)}, EventLinked)
}

// link attaches alarms to record id and, if any is new, records typ (at
// the engine's clock: history says when the record changed; the evidence
// says when the alarms happened).
func (e *Engine) link(ctx context.Context, tx *sql.Tx, id int64, alarms []evidence, typ string) ([]Event, error) {
	var added []int64
	for _, a := range alarms {
		res, err := tx.ExecContext(ctx, `INSERT INTO hazard_alarms (hazard_id, alarm_id, active, cleared_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (hazard_id, alarm_id) DO NOTHING`, id, a.id, a.active, a.cleared)
		if err != nil {
			return nil, fmt.Errorf("link alarm %d to hazard %d: %w", a.id, id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, a.id)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE hazards SET
		condition_active = EXISTS (SELECT 1 FROM hazard_alarms l WHERE l.hazard_id = hazards.id AND l.active),
		normal_since = (SELECT MAX(l.cleared_at) FROM hazard_alarms l WHERE l.hazard_id = hazards.id)
		WHERE id = $1`, id); err != nil {
		return nil, err
	}
	ev, err := appendEvent(ctx, tx, id, Event{Type: typ, AlarmIDs: added}, e.store.now())
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// open links a to the rule's open record for t, or creates one found at
// found.
func (e *Engine) open(ctx context.Context, tx *sql.Tx, r *rule, t *collector.Tag, a *alerting.Alarm, found time.Time) ([]Event, error) {
	if made, err := e.linkOpen(ctx, tx, r, r.scope(t), a); err != nil || made != nil {
		return made, err
	}
	if id, err := e.openRecord(ctx, tx, r, r.scope(t)); err != nil || id != 0 {
		return nil, err // open, and a linked already
	}
	return e.create(ctx, tx, r, t, a, found, []evidence{evidenceOf(a)}, 1)
}

// create inserts a record numbered site-date-sequence and links its alarms.
func (e *Engine) create(ctx context.Context, tx *sql.Tx, r *rule, t *collector.Tag, a *alerting.Alarm, found time.Time, alarms []evidence, count int) ([]Event, error) {
	c := &r.cfg
	day := found.In(Beijing).Format("20060102")
	var seq int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(day_seq), 0) + 1 FROM hazards WHERE site = $1 AND day = $2`,
		e.site, day).Scan(&seq); err != nil {
		return nil, err
	}
	number := fmt.Sprintf("%s-%s-%04d", strings.ToUpper(e.site), day, seq)
	now := e.store.now()
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO hazards (number, site, day, day_seq, unit, rule, scope, area, tag, tag_name,
		device, category, level, description, basis, measures, responsible, found_at, deadline, status, normal_for, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		RETURNING id`,
		number, e.site, day, seq, e.unit, c.Name, r.scope(t), t.Area, t.ID, t.Name,
		t.Device, c.Category, c.Level, r.describe(t, a, count), c.Basis, c.Measures, c.Responsible,
		sqlstore.FormatTime(found), sqlstore.FormatTime(found.Add(c.Deadline)), string(Open), int64(c.NormalFor/time.Second), sqlstore.FormatTime(now)).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("insert hazard %s: %w", number, err)
	}
	return e.link(ctx, tx, id, alarms, EventCreated)
}
