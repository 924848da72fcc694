package alerting

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"hazgate/alerting/sqlstore"
)

// ErrNotFound is returned (wrapped) for an alarm id the journal does not hold.
var ErrNotFound = errors.New("alarm not found")

// ErrDuplicateOpen is returned (wrapped) by Commit when inserting an alarm
// while one of the same site, tag, rule and level is open: the store's
// unique index refuses it in the same transaction.
var ErrDuplicateOpen = errors.New("an open alarm of the same tag, rule and level exists")

// Journal is the embedded alarm store: one row per alarm and one row per
// transition, committed together. The SQL is kept portable ($n placeholders,
// RETURNING, partial indexes) so a hub can put the same tables on PostgreSQL;
// only the migrations' id columns are SQLite-specific.
type Journal struct {
	db   *sql.DB
	path string
	w    writer // group commit (groupcommit.go)

	closeOnce sync.Once
	closeErr  error
}

// migrations are applied in order, each once, recorded in schema_migrations.
// Never edit one that has shipped: add the next.
var migrations = []string{
	// 1: alarms and their transitions.
	`CREATE TABLE alarms (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		site       TEXT NOT NULL,
		tag        TEXT NOT NULL,
		rule       TEXT NOT NULL,
		class      TEXT NOT NULL,
		severity   TEXT NOT NULL,
		state      TEXT NOT NULL,
		value      DOUBLE PRECISION NOT NULL,
		peak       DOUBLE PRECISION NOT NULL,
		message    TEXT NOT NULL DEFAULT '',
		raised_at  TEXT NOT NULL,
		acked_at   TEXT,
		acked_by   TEXT NOT NULL DEFAULT '',
		cleared_at TEXT
	);
	CREATE INDEX alarms_state ON alarms (state);
	CREATE INDEX alarms_tag ON alarms (tag);
	-- At most one open alarm per (site, tag, rule), whatever the engine does.
	CREATE UNIQUE INDEX alarms_open_once ON alarms (site, tag, rule) WHERE state <> 'normal';
	CREATE TABLE alarm_events (
		seq      INTEGER PRIMARY KEY AUTOINCREMENT,
		alarm_id BIGINT NOT NULL REFERENCES alarms (id),
		type     TEXT NOT NULL,
		time     TEXT NOT NULL,
		alarm    TEXT NOT NULL
	);
	CREATE INDEX alarm_events_alarm ON alarm_events (alarm_id);`,
	// 2: levels (one open alarm per tag, rule and level), the condition apart
	// from the state, re-raise counts, ack comments, chattering, shelving;
	// time indexes for history and KPIs.
	`ALTER TABLE alarms ADD COLUMN level TEXT NOT NULL DEFAULT '';
	ALTER TABLE alarms ADD COLUMN active BOOLEAN NOT NULL DEFAULT FALSE;
	ALTER TABLE alarms ADD COLUMN raise_count INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE alarms ADD COLUMN ack_comment TEXT NOT NULL DEFAULT '';
	ALTER TABLE alarms ADD COLUMN chattering BOOLEAN NOT NULL DEFAULT FALSE;
	ALTER TABLE alarms ADD COLUMN shelved_at TEXT;
	ALTER TABLE alarms ADD COLUMN shelved_until TEXT;
	ALTER TABLE alarms ADD COLUMN shelved_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE alarms ADD COLUMN shelve_reason TEXT NOT NULL DEFAULT '';
	UPDATE alarms SET active = (state IN ('active_unacked', 'active_acked'));
	DROP INDEX alarms_open_once;
	-- At most one open alarm per (site, tag, rule, level), whatever the engine does.
	CREATE UNIQUE INDEX alarms_open_once ON alarms (site, tag, rule, level) WHERE state <> 'normal';
	CREATE INDEX alarms_raised ON alarms (raised_at);
	CREATE INDEX alarm_events_time ON alarm_events (time);
	ALTER TABLE alarm_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';`,
	// 3: disposal records (报警处置), kept whole as JSON with the columns KPIs
	// count by beside it; escalations; root-cause suppression counts.
	`ALTER TABLE alarms ADD COLUMN disposal TEXT NOT NULL DEFAULT '';
	ALTER TABLE alarms ADD COLUMN disposed_at TEXT;
	ALTER TABLE alarms ADD COLUMN disposal_cause TEXT NOT NULL DEFAULT '';
	ALTER TABLE alarms ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE alarms ADD COLUMN escalated_at TEXT;
	ALTER TABLE alarms ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE alarms ADD COLUMN root_id BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE alarms ADD COLUMN message_en TEXT NOT NULL DEFAULT '';
	CREATE INDEX alarms_disposed ON alarms (disposed_at);`,
}

// OpenJournal opens (creating if needed) the store at path and brings its
// schema up to date.
func OpenJournal(ctx context.Context, path string) (*Journal, error) {
	db, err := sqlstore.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("alarm journal %s: %w", path, err)
	}
	j := &Journal{db: db, path: path}
	if err := sqlstore.Migrate(ctx, j.db, "schema_migrations", migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("alarm journal %s: %w", path, err)
	}
	if err := j.startWriter(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("alarm journal %s: %w", path, err)
	}
	return j, nil
}

// DB is the journal's database handle, for stores that keep their own
// tables in the same file (hazard records, KPIs): one file to back up, and
// their transactions serialize with the journal's under one set of pragmas.
func (j *Journal) DB() *sql.DB { return j.db }

// Close commits what is queued, then closes the store. If the store keeps
// failing for closeGrace, the transitions still queued are refused and
// counted in the error.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		w := &j.w
		refused := w.refused.Load()
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.poke()
		<-w.stopped
		j.closeErr = j.db.Close()
		if n := w.refused.Load() - refused; n > 0 && j.closeErr == nil {
			j.closeErr = fmt.Errorf("alarm journal %s: closed with %d transitions not committed", j.path, n)
		}
	})
	return j.closeErr
}

// Commit records one transition: it inserts the alarm (when a.ID is 0) or
// updates its row, and appends an event carrying the alarm's snapshot, in one
// transaction, and waits for it. The returned event holds the alarm as stored
// (id set, times in UTC) and its journal seq. Publish only what Commit
// returned. The engine submits without waiting (Submit); Commit is for
// whoever must know the outcome before going on.
func (j *Journal) Commit(ctx context.Context, typ string, a Alarm, at time.Time) (Event, error) {
	return j.CommitBy(ctx, typ, a, at, "")
}

// CommitBy is Commit for a transition a user made (ack, shelve, unshelve):
// the event records who. It goes ahead of bulk work, and a failing store
// fails it at once rather than retrying.
func (j *Journal) CommitBy(ctx context.Context, typ string, a Alarm, at time.Time, by string) (Event, error) {
	if err := ctx.Err(); err != nil {
		return Event{}, fmt.Errorf("journal %s of alarm %d: %w", typ, a.ID, err)
	}
	type outcome struct {
		ev  Event
		err error
	}
	res := make(chan outcome, 1)
	if _, err := j.submit(typ, a, at, by, j.NewBurst(), true, func(ev Event, err error) { res <- outcome{ev, err} }); err != nil {
		return Event{}, err
	}
	// Not ctx: the writer answers within one transaction, and an answer
	// abandoned here would leave the caller unsure whether it committed.
	r := <-res
	return r.ev, r.err
}

// AlarmFilter selects alarms for List. Zero fields select everything.
type AlarmFilter struct {
	Site     string
	States   []State
	OpenOnly bool // state other than normal
	// NotStates leaves these states out (suppressed_by_design, for a
	// control room's list).
	NotStates []State
	Tag       string
	Limit     int // 0: no limit
}

const alarmColumns = `id, site, tag, rule, level, class, severity, state, active, value, peak, raise_count, message,
	raised_at, acked_at, acked_by, ack_comment, cleared_at, chattering, shelved_at, shelved_until, shelved_by, shelve_reason,
	disposal, escalations, escalated_at, suppressed, root_id, message_en`

// disposalRow is a disposal as the alarms table keeps it: the whole record
// as JSON, and its time and cause apart for KPIs to count by.
type disposalRow struct {
	json, cause string
	at          any
}

func disposalColumns(d *Disposal) (disposalRow, error) {
	if d == nil {
		return disposalRow{}, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return disposalRow{}, err
	}
	return disposalRow{json: string(b), cause: d.Cause, at: sqlstore.FormatTime(d.At)}, nil
}

// List returns the alarms f selects, newest raised first.
func (j *Journal) List(ctx context.Context, f AlarmFilter) ([]Alarm, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Site != "" {
		where = append(where, "site = "+arg(f.Site))
	}
	if f.Tag != "" {
		where = append(where, "tag = "+arg(f.Tag))
	}
	if f.OpenOnly {
		where = append(where, "state <> "+arg(string(Normal)))
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, s := range f.States {
			ph[i] = arg(string(s))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	for _, s := range f.NotStates {
		where = append(where, "state <> "+arg(string(s)))
	}
	q := "SELECT " + alarmColumns + " FROM alarms"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY raised_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, fmt.Errorf("list alarms: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	return out, nil
}

// Get returns one alarm; an unknown id wraps ErrNotFound.
func (j *Journal) Get(ctx context.Context, id int64) (Alarm, error) {
	row := j.db.QueryRowContext(ctx, "SELECT "+alarmColumns+" FROM alarms WHERE id = $1", id)
	a, err := scanAlarm(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Alarm{}, fmt.Errorf("alarm %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alarm{}, fmt.Errorf("alarm %d: %w", id, err)
	}
	return a, nil
}

// EventsAfter returns up to limit events with seq greater than seq, in seq order.
func (j *Journal) EventsAfter(ctx context.Context, seq int64, limit int) ([]Event, error) {
	out, err := j.events(ctx, `SELECT seq, type, time, alarm, actor FROM alarm_events
		WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("alarm events after %d: %w", seq, err)
	}
	return out, nil
}

// events runs a query selecting seq, type, time, alarm and actor.
func (j *Journal) events(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var at, snap string
		if err := rows.Scan(&ev.Seq, &ev.Type, &at, &snap, &ev.By); err != nil {
			return nil, err
		}
		if ev.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("event %d: time: %w", ev.Seq, err)
		}
		if err := json.Unmarshal([]byte(snap), &ev.Alarm); err != nil {
			return nil, fmt.Errorf("event %d: snapshot: %w", ev.Seq, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// LastSeq returns the newest event's seq, 0 for an empty journal; subscribe
// after it to get live events only.
func (j *Journal) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := j.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM alarm_events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("alarm journal last seq: %w", err)
	}
	return seq, nil
}

func scanAlarm(row interface{ Scan(...any) error }) (Alarm, error) {
	var a Alarm
	var state, raised string
	var acked, cleared, shelved, until, escalated sql.NullString
	var disposal string
	if err := row.Scan(&a.ID, &a.Site, &a.Tag, &a.Rule, &a.Level, &a.Class, &a.Severity, &state, &a.Active, &a.Value, &a.Peak,
		&a.Count, &a.Message, &raised, &acked, &a.AckedBy, &a.AckComment, &cleared, &a.Chattering,
		&shelved, &until, &a.ShelvedBy, &a.ShelveReason, &disposal, &a.Escalations, &escalated, &a.Suppressed, &a.Root, &a.MessageEN); err != nil {
		return Alarm{}, err
	}
	if disposal != "" {
		a.Disposal = new(Disposal)
		if err := json.Unmarshal([]byte(disposal), a.Disposal); err != nil {
			return Alarm{}, fmt.Errorf("alarm %d disposal: %w", a.ID, err)
		}
	}
	a.State = State(state)
	var err error
	if a.RaisedAt, err = time.Parse(time.RFC3339Nano, raised); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d raised_at: %w", a.ID, err)
	}
	if a.AckedAt, err = sqlstore.ParseNullTime(acked); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d acked_at: %w", a.ID, err)
	}
	if a.ClearedAt, err = sqlstore.ParseNullTime(cleared); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d cleared_at: %w", a.ID, err)
	}
	if a.ShelvedAt, err = sqlstore.ParseNullTime(shelved); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d shelved_at: %w", a.ID, err)
	}
	if a.ShelvedUntil, err = sqlstore.ParseNullTime(until); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d shelved_until: %w", a.ID, err)
	}
	if a.EscalatedAt, err = sqlstore.ParseNullTime(escalated); err != nil {
		return Alarm{}, fmt.Errorf("alarm %d escalated_at: %w", a.ID, err)
	}
	return a, nil
}

// normalize puts a's times in UTC, so what Commit returns equals what a
// later read returns.
func normalize(a Alarm) Alarm {
	a.RaisedAt = a.RaisedAt.UTC()
	for _, p := range []**time.Time{&a.AckedAt, &a.ClearedAt, &a.ShelvedAt, &a.ShelvedUntil, &a.EscalatedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	if a.Disposal != nil {
		d := *a.Disposal
		d.At = d.At.UTC()
		a.Disposal = &d
	}
	return a
}

// HistoryFilter selects alarm events for History.
type HistoryFilter struct {
	Site     string
	From, To time.Time // [From, To); zero: unbounded
	Tag      string
	Class    string
	Limit    int // 0: DefaultHistoryLimit
}

// DefaultHistoryLimit caps a history answer when the filter sets none.
const DefaultHistoryLimit = 1000

// History returns the transitions f selects, oldest first: the alarm
// journal as an operator or regulator reads it.
func (j *Journal) History(ctx context.Context, f HistoryFilter) ([]Event, error) {
	q := `SELECT e.seq, e.type, e.time, e.alarm, e.actor FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE 1 = 1`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Site != "" {
		q += " AND a.site = " + arg(f.Site)
	}
	if !f.From.IsZero() {
		q += " AND e.time >= " + arg(sqlstore.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		q += " AND e.time < " + arg(sqlstore.FormatTime(f.To))
	}
	if f.Tag != "" {
		q += " AND a.tag = " + arg(f.Tag)
	}
	if f.Class != "" {
		q += " AND a.class = " + arg(f.Class)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	q += " ORDER BY e.seq LIMIT " + arg(limit)
	out, err := j.events(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("alarm history: %w", err)
	}
	return out, nil
}
