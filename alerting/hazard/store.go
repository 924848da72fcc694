package hazard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"hazgate/alerting/sqlstore"
)

// Store reads and writes hazard records in the alarm journal's database.
// Like the journal, the SQL is portable ($n placeholders, RETURNING,
// partial indexes, ON CONFLICT) so a hub can put the tables on PostgreSQL;
// only the id columns of the migrations are SQLite's.
type Store struct {
	db  *sql.DB
	now func() time.Time // for what a read derives: overdue, restored
}

// migrations are applied in order, each once, recorded in
// hazard_schema_migrations (the journal keeps its own versions). Never edit
// one that has shipped: add the next.
var migrations = []string{
	// 1: records, their evidence, their history, and the rule engine's memory.
	`CREATE TABLE hazards (
		id               INTEGER PRIMARY KEY AUTOINCREMENT,
		number           TEXT NOT NULL UNIQUE,
		site             TEXT NOT NULL,
		day              TEXT NOT NULL,
		day_seq          INTEGER NOT NULL,
		unit             TEXT NOT NULL,
		rule             TEXT NOT NULL,
		scope            TEXT NOT NULL,
		area             TEXT NOT NULL,
		tag              TEXT NOT NULL,
		tag_name         TEXT NOT NULL,
		device           TEXT NOT NULL,
		category         TEXT NOT NULL,
		level            TEXT NOT NULL,
		description      TEXT NOT NULL,
		basis            TEXT NOT NULL,
		measures         TEXT NOT NULL,
		responsible      TEXT NOT NULL,
		person           TEXT NOT NULL DEFAULT '',
		found_at         TEXT NOT NULL,
		deadline         TEXT NOT NULL,
		status           TEXT NOT NULL,
		supervised       BOOLEAN NOT NULL DEFAULT FALSE,
		supervised_by    TEXT NOT NULL DEFAULT '',
		supervised_at    TEXT,
		supervise_note   TEXT NOT NULL DEFAULT '',
		verified_by      TEXT NOT NULL DEFAULT '',
		closed_at        TEXT,
		normal_for       BIGINT NOT NULL,
		condition_active BOOLEAN NOT NULL DEFAULT FALSE,
		normal_since     TEXT,
		updated_at       TEXT NOT NULL
	);
	-- One open record per rule and tag (or area), whatever the engine does.
	CREATE UNIQUE INDEX hazards_open_once ON hazards (site, rule, scope) WHERE status NOT IN ('closed', 'dismissed');
	CREATE UNIQUE INDEX hazards_day_seq ON hazards (site, day, day_seq);
	CREATE INDEX hazards_found ON hazards (found_at);
	CREATE TABLE hazard_alarms (
		hazard_id  BIGINT NOT NULL REFERENCES hazards (id),
		alarm_id   BIGINT NOT NULL,
		active     BOOLEAN NOT NULL,
		cleared_at TEXT,
		PRIMARY KEY (hazard_id, alarm_id)
	);
	CREATE INDEX hazard_alarms_alarm ON hazard_alarms (alarm_id);
	CREATE TABLE hazard_events (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		hazard_id   BIGINT NOT NULL REFERENCES hazards (id),
		type        TEXT NOT NULL,
		time        TEXT NOT NULL,
		actor       TEXT NOT NULL DEFAULT '',
		from_status TEXT NOT NULL DEFAULT '',
		to_status   TEXT NOT NULL DEFAULT '',
		comment     TEXT NOT NULL DEFAULT '',
		alarm_ids   TEXT NOT NULL DEFAULT '',
		hazard      TEXT NOT NULL
	);
	CREATE INDEX hazard_events_hazard ON hazard_events (hazard_id);
	-- Persistence rules: matching alarms active since when.
	CREATE TABLE hazard_watch (
		rule     TEXT NOT NULL,
		alarm_id BIGINT NOT NULL,
		scope    TEXT NOT NULL,
		since    TEXT NOT NULL,
		alarm    TEXT NOT NULL,
		PRIMARY KEY (rule, alarm_id)
	);
	-- Recurrence rules: raises in the window, one per alarm event.
	CREATE TABLE hazard_hits (
		rule       TEXT NOT NULL,
		scope      TEXT NOT NULL,
		seq        BIGINT NOT NULL,
		alarm_id   BIGINT NOT NULL,
		at         TEXT NOT NULL,
		active     BOOLEAN NOT NULL,
		cleared_at TEXT,
		PRIMARY KEY (rule, seq)
	);
	CREATE INDEX hazard_hits_scope ON hazard_hits (rule, scope, at);
	CREATE INDEX hazard_hits_alarm ON hazard_hits (alarm_id);
	-- The last alarm event seq the engine has judged.
	CREATE TABLE hazard_cursor (
		name TEXT PRIMARY KEY,
		seq  BIGINT NOT NULL
	);`,
	// 2: the standard 台账 columns the first lacked (整改资金, 整改完成时间,
	// 验收时间, 验收意见, 备注), and where a record came from (a rule, or a
	// walk-round entered by hand).
	`ALTER TABLE hazards ADD COLUMN funds DOUBLE PRECISION;
	ALTER TABLE hazards ADD COLUMN remarks TEXT NOT NULL DEFAULT '';
	ALTER TABLE hazards ADD COLUMN rectified_at TEXT;
	ALTER TABLE hazards ADD COLUMN verified_at TEXT;
	ALTER TABLE hazards ADD COLUMN verify_comment TEXT NOT NULL DEFAULT '';
	ALTER TABLE hazards ADD COLUMN source TEXT NOT NULL DEFAULT 'rule';`,
	// 3: why a verifier closed a record whose condition still held.
	`ALTER TABLE hazard_events ADD COLUMN override_reason TEXT NOT NULL DEFAULT '';`,
}

// OpenStore brings the hazard tables in db up to date. db is the alarm
// journal's (alerting.Journal.DB).
func OpenStore(ctx context.Context, db *sql.DB) (*Store, error) {
	s := &Store{db: db, now: time.Now}
	if err := sqlstore.Migrate(ctx, s.db, "hazard_schema_migrations", migrations); err != nil {
		return nil, fmt.Errorf("hazard store: %w", err)
	}
	return s, nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

const hazardColumns = `id, number, site, unit, rule, scope, area, tag, tag_name, device, category, level,
	description, basis, measures, responsible, person, found_at, deadline, status,
	supervised, supervised_by, supervised_at, supervise_note, verified_by, closed_at,
	normal_for, condition_active, normal_since, updated_at,
	funds, remarks, rectified_at, verified_at, verify_comment, source`

func scanHazard(row interface{ Scan(...any) error }) (Hazard, error) {
	var h Hazard
	var found, deadline, updated, status string
	var supAt, closed, normalSince, rectified, verified sql.NullString
	var funds sql.NullFloat64
	var normalFor int64
	if err := row.Scan(&h.ID, &h.Number, &h.Site, &h.Unit, &h.Rule, &h.Scope, &h.Area, &h.Tag, &h.TagName, &h.Device,
		&h.Category, &h.Level, &h.Description, &h.Basis, &h.Measures, &h.Responsible, &h.Person,
		&found, &deadline, &status, &h.Supervised, &h.SupervisedBy, &supAt, &h.SuperviseNote, &h.VerifiedBy, &closed,
		&normalFor, &h.ConditionActive, &normalSince, &updated,
		&funds, &h.Remarks, &rectified, &verified, &h.VerifyComment, &h.Source); err != nil {
		return Hazard{}, err
	}
	if funds.Valid {
		h.Funds = &funds.Float64
	}
	h.Status, h.NormalFor = Status(status), time.Duration(normalFor)*time.Second
	var err error
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&h.FoundAt, found}, {&h.Deadline, deadline}, {&h.UpdatedAt, updated}} {
		if *t.dst, err = time.Parse(time.RFC3339Nano, t.src); err != nil {
			return Hazard{}, fmt.Errorf("hazard %d: time %q: %w", h.ID, t.src, err)
		}
	}
	for _, t := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&h.SupervisedAt, supAt}, {&h.ClosedAt, closed}, {&h.NormalSince, normalSince},
		{&h.RectifiedAt, rectified}, {&h.VerifiedAt, verified}} {
		if *t.dst, err = sqlstore.ParseNullTime(t.src); err != nil {
			return Hazard{}, fmt.Errorf("hazard %d: %w", h.ID, err)
		}
	}
	return h, nil
}

// derive fills what depends on the time of the read.
func derive(h *Hazard, now time.Time) {
	h.Overdue = !h.Status.Done() && now.After(h.Deadline)
	h.Restored = !h.ConditionActive && h.NormalSince != nil && now.Sub(*h.NormalSince) >= h.NormalFor
	if h.AlarmIDs == nil {
		h.AlarmIDs = []int64{}
	}
}

// Get returns one record with its alarm ids; an unknown id wraps ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Hazard, error) {
	h, err := getHazard(ctx, s.db, id)
	if err != nil {
		return Hazard{}, err
	}
	derive(&h, s.now())
	return h, nil
}

func getHazard(ctx context.Context, q querier, id int64) (Hazard, error) {
	h, err := scanHazard(q.QueryRowContext(ctx, "SELECT "+hazardColumns+" FROM hazards WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Hazard{}, fmt.Errorf("hazard %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Hazard{}, fmt.Errorf("hazard %d: %w", id, err)
	}
	links, err := alarmLinks(ctx, q, []int64{id})
	if err != nil {
		return Hazard{}, fmt.Errorf("hazard %d: %w", id, err)
	}
	h.AlarmIDs = links[id]
	return h, nil
}

// alarmLinks returns the linked alarm ids of each record, in id order.
func alarmLinks(ctx context.Context, q querier, ids []int64) (map[int64][]int64, error) {
	out := make(map[int64][]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = fmt.Sprintf("$%d", i+1), id
	}
	rows, err := q.QueryContext(ctx, `SELECT hazard_id, alarm_id FROM hazard_alarms WHERE hazard_id IN (`+
		strings.Join(ph, ", ")+`) ORDER BY hazard_id, alarm_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("linked alarms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, a int64
		if err := rows.Scan(&h, &a); err != nil {
			return nil, err
		}
		out[h] = append(out[h], a)
	}
	return out, rows.Err()
}

// Filter selects records for List. Zero fields select everything.
type Filter struct {
	Site     string
	Statuses []Status
	Category string
	Level    string
	// Overdue keeps only records past their deadline and not done.
	Overdue bool
	// From and To bound the time found: From <= found_at < To.
	From, To time.Time
	Limit    int // 0: no limit
}

// List returns the records f selects, newest found first.
func (s *Store) List(ctx context.Context, f Filter) ([]Hazard, error) {
	now := s.now()
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Site != "" {
		where = append(where, "site = "+arg(f.Site))
	}
	if len(f.Statuses) > 0 {
		ph := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ph[i] = arg(string(st))
		}
		where = append(where, "status IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Category != "" {
		where = append(where, "category = "+arg(f.Category))
	}
	if f.Level != "" {
		where = append(where, "level = "+arg(f.Level))
	}
	if f.Overdue {
		where = append(where, "deadline < "+arg(sqlstore.FormatTime(now))+" AND status NOT IN ('closed', 'dismissed')")
	}
	if !f.From.IsZero() {
		where = append(where, "found_at >= "+arg(sqlstore.FormatTime(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "found_at < "+arg(sqlstore.FormatTime(f.To)))
	}
	q := "SELECT " + hazardColumns + " FROM hazards"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY found_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	out, err := s.list(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list hazards: %w", err)
	}
	for i := range out {
		derive(&out[i], now)
	}
	return out, nil
}

func (s *Store) list(ctx context.Context, q string, args ...any) ([]Hazard, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []Hazard
	var ids []int64
	for rows.Next() {
		h, err := scanHazard(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, h)
		ids = append(ids, h.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	links, err := alarmLinks(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].AlarmIDs = links[out[i].ID]
	}
	return out, nil
}

// History returns a record's events, oldest first; an unknown id wraps
// ErrNotFound.
func (s *Store) History(ctx context.Context, id int64) ([]Event, error) {
	evs, err := s.events(ctx, `SELECT `+eventColumns+` FROM hazard_events WHERE hazard_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("hazard %d history: %w", id, err)
	}
	if len(evs) == 0 {
		if _, err := getHazard(ctx, s.db, id); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// EventsAfter returns up to limit events with seq greater than seq, in seq order.
func (s *Store) EventsAfter(ctx context.Context, seq int64, limit int) ([]Event, error) {
	evs, err := s.events(ctx, `SELECT `+eventColumns+` FROM hazard_events WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("hazard events after %d: %w", seq, err)
	}
	return evs, nil
}

// LastSeq returns the newest event's seq, 0 when there is none.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM hazard_events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("hazard events last seq: %w", err)
	}
	return seq, nil
}

const eventColumns = `seq, type, time, actor, from_status, to_status, comment, alarm_ids, hazard, override_reason`

func (s *Store) events(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var ev Event
		var at, from, to, ids, snap string
		if err := rows.Scan(&ev.Seq, &ev.Type, &at, &ev.By, &from, &to, &ev.Comment, &ids, &snap, &ev.OverrideReason); err != nil {
			return nil, err
		}
		ev.From, ev.To = Status(from), Status(to)
		if ev.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("event %d: time: %w", ev.Seq, err)
		}
		if ids != "" {
			if err := json.Unmarshal([]byte(ids), &ev.AlarmIDs); err != nil {
				return nil, fmt.Errorf("event %d: alarm ids: %w", ev.Seq, err)
			}
		}
		if err := json.Unmarshal([]byte(snap), &ev.Hazard); err != nil {
			return nil, fmt.Errorf("event %d: snapshot: %w", ev.Seq, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// appendEvent records a change of record id, made at at by by, with the
// record as it now stands in tx.
func appendEvent(ctx context.Context, tx *sql.Tx, id int64, ev Event, at time.Time) (Event, error) {
	h, err := getHazard(ctx, tx, id)
	if err != nil {
		return Event{}, err
	}
	derive(&h, at)
	snap, err := json.Marshal(h)
	if err != nil {
		return Event{}, err
	}
	var ids string
	if len(ev.AlarmIDs) > 0 {
		b, _ := json.Marshal(ev.AlarmIDs)
		ids = string(b)
	}
	ev.Time, ev.Hazard = at.UTC(), h
	err = tx.QueryRowContext(ctx, `INSERT INTO hazard_events
		(hazard_id, type, time, actor, from_status, to_status, comment, alarm_ids, hazard, override_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
		id, ev.Type, sqlstore.FormatTime(at), ev.By, string(ev.From), string(ev.To), ev.Comment, ids, string(snap),
		ev.OverrideReason).Scan(&ev.Seq)
	if err != nil {
		return Event{}, fmt.Errorf("hazard %d: append %s event: %w", id, ev.Type, err)
	}
	return ev, nil
}
