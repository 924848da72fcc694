package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/sqlstore"
	"hazgate/config"
)

// migrations are the hub's tables. Events are keyed by site and the site's
// journal seq, so a redelivered message is stored once; the current rows
// (alarms, hazards) move only forward in seq, so a late, older event does
// not undo a newer state. Never edit one that has shipped: add the next.
var migrations = []string{
	`CREATE TABLE hub_sites (
		site          TEXT PRIMARY KEY,
		online        BOOLEAN NOT NULL DEFAULT FALSE,
		reason        TEXT NOT NULL DEFAULT '',
		name          TEXT NOT NULL DEFAULT '',
		region        TEXT NOT NULL DEFAULT '',
		type          TEXT NOT NULL DEFAULT '',
		expected      BOOLEAN NOT NULL DEFAULT FALSE,
		status_time   {{time}},
		last_seen     {{time}},
		version       TEXT NOT NULL DEFAULT '',
		config_digest TEXT NOT NULL DEFAULT '',
		alarm_seq     BIGINT NOT NULL DEFAULT 0,
		hazard_seq    BIGINT NOT NULL DEFAULT 0,
		-- What the site says its journals hold (status, summary), and how
		-- far the hub holds them without a gap: a difference that stays is
		-- asked for again (a replay command).
		site_alarm_seq  BIGINT NOT NULL DEFAULT 0,
		site_hazard_seq BIGINT NOT NULL DEFAULT 0,
		alarm_contig    BIGINT NOT NULL DEFAULT 0,
		hazard_contig   BIGINT NOT NULL DEFAULT 0,
		summary       TEXT NOT NULL DEFAULT '{}'
	);
	CREATE TABLE hub_alarm_events (
		site     TEXT NOT NULL,
		seq      BIGINT NOT NULL,
		type     TEXT NOT NULL,
		time     {{time}} NOT NULL,
		actor    TEXT NOT NULL DEFAULT '',
		alarm_id BIGINT NOT NULL,
		received {{time}} NOT NULL,
		PRIMARY KEY (site, seq)
	);
	CREATE TABLE hub_alarms (
		site      TEXT NOT NULL,
		id        BIGINT NOT NULL,
		last_seq  BIGINT NOT NULL,
		tag       TEXT NOT NULL,
		rule      TEXT NOT NULL,
		class     TEXT NOT NULL,
		severity  TEXT NOT NULL,
		state     TEXT NOT NULL,
		raised_at {{time}} NOT NULL,
		acked     BOOLEAN NOT NULL,
		alarm     TEXT NOT NULL,
		PRIMARY KEY (site, id)
	);
	CREATE INDEX hub_alarms_open ON hub_alarms (state, severity);
	CREATE TABLE hub_hazard_events (
		site      TEXT NOT NULL,
		seq       BIGINT NOT NULL,
		type      TEXT NOT NULL,
		time      {{time}} NOT NULL,
		actor     TEXT NOT NULL DEFAULT '',
		hazard_id BIGINT NOT NULL,
		event     TEXT NOT NULL,
		received  {{time}} NOT NULL,
		PRIMARY KEY (site, seq)
	);
	CREATE TABLE hub_hazards (
		site       TEXT NOT NULL,
		id         BIGINT NOT NULL,
		last_seq   BIGINT NOT NULL,
		level      TEXT NOT NULL,
		status     TEXT NOT NULL,
		supervised BOOLEAN NOT NULL,
		deadline   {{time}} NOT NULL,
		hazard     TEXT NOT NULL,
		PRIMARY KEY (site, id)
	);
	-- One row per time a site went offline at the hub: the comm_loss alarm
	-- while until is NULL, and the record 离线时长 and 在线率 are read from.
	CREATE TABLE hub_outages (
		site   TEXT NOT NULL,
		since  {{time}} NOT NULL,
		until  {{time}},
		reason TEXT NOT NULL,
		PRIMARY KEY (site, since)
	);
	-- Instructions to sites (挂牌督办): kept until the site acknowledges,
	-- resent until then; the site applies each id once.
	CREATE TABLE hub_commands (
		id         TEXT PRIMARY KEY,
		site       TEXT NOT NULL,
		hazard_id  BIGINT NOT NULL,
		type       TEXT NOT NULL,
		actor      TEXT NOT NULL,
		note       TEXT NOT NULL DEFAULT '',
		deadline   {{time}},
		created    {{time}} NOT NULL,
		sent_at    {{time}},
		sends      INTEGER NOT NULL DEFAULT 0,
		acked_at   {{time}},
		ok         BOOLEAN NOT NULL DEFAULT FALSE,
		error      TEXT NOT NULL DEFAULT '',
		hazard_seq BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX hub_commands_pending ON hub_commands (acked_at, site);
	-- The newest reading per site and tag (northbound.readings at the site).
	CREATE TABLE hub_readings (
		site     TEXT NOT NULL,
		tag      TEXT NOT NULL,
		kind     TEXT NOT NULL DEFAULT '',
		unit     TEXT NOT NULL DEFAULT '',
		value    DOUBLE PRECISION NOT NULL,
		quality  TEXT NOT NULL,
		time     {{time}} NOT NULL,
		received {{time}} NOT NULL,
		PRIMARY KEY (site, tag)
	);`,
}

// Store keeps what the hub received, on PostgreSQL or SQLite.
type Store struct {
	db *sql.DB
	d  sqlstore.Dialect

	// seenAt is when this process last marked each site seen: at most once
	// per seenEvery, so a busy site costs one row update a second, not one
	// per batch, and hub processes sharing a store seldom wait on each
	// other's lock of the same site row.
	mu        sync.Mutex
	seenAt    map[string]time.Time
	seenEvery time.Duration
}

// defaultSeenEvery is how fresh a site's last_seen is kept; the ingest
// makes it a quarter of hub.offline_after when that is shorter, so a site
// that speaks is never taken for silent.
const defaultSeenEvery = time.Second

// OpenStore brings the hub's tables in db, of dialect d, up to date.
func OpenStore(ctx context.Context, db *sql.DB, d sqlstore.Dialect) (*Store, error) {
	if err := sqlstore.MigrateDialect(ctx, db, d, "hub_schema_migrations", migrations); err != nil {
		return nil, fmt.Errorf("hub store: %w", err)
	}
	return &Store{db: db, d: d, seenAt: map[string]time.Time{}, seenEvery: defaultSeenEvery}, nil
}

// Expect records the sites the hub expects (hub.sites) with their names,
// regions and types; a site dropped from the list is no longer expected
// but keeps its history.
func (s *Store) Expect(ctx context.Context, sites []config.HubSite) error {
	return sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE hub_sites SET expected = FALSE`); err != nil {
			return err
		}
		for _, st := range sites {
			if _, err := tx.ExecContext(ctx, `INSERT INTO hub_sites (site, name, region, type, expected) VALUES ($1, $2, $3, $4, TRUE)
				ON CONFLICT (site) DO UPDATE SET name = excluded.name, region = excluded.region, type = excluded.type, expected = TRUE`,
				st.ID, st.Name, st.Region, st.Type); err != nil {
				return fmt.Errorf("hub store: site %s: %w", st.ID, err)
			}
		}
		return nil
	})
}

// txq is a transaction that prepares each statement once: a batch runs the
// same few statements hundreds of times, and SQLite would otherwise parse
// each every time (measured: 40 % of the hub's CPU).
type txq struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// rowsPer is how many rows a multi-row statement carries: all of a
	// batch on PostgreSQL (one round trip), one on SQLite, whose driver
	// binds $n arguments in time quadratic in their number (measured: 433
	// µs of CPU per event at 512 rows, 81 µs at one row, prepared once).
	rowsPer int
}

func (s *Store) newTxq(tx *sql.Tx) *txq {
	q := &txq{tx: tx, stmts: map[string]*sql.Stmt{}, rowsPer: 1}
	if s.d == sqlstore.Postgres {
		q.rowsPer = maxRows
	}
	return q
}

// maxRows bounds a multi-row statement: PostgreSQL takes at most 65,535
// arguments, and the widest row here has 11.
const maxRows = 4096

func (q *txq) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := q.stmts[query]; ok {
		return st, nil
	}
	st, err := q.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	q.stmts[query] = st
	return st, nil
}

// ExecContext and QueryContext prepare each statement once per
// transaction on SQLite; on PostgreSQL multi-row statements differ in
// length, and pgx keeps its own statement cache.
func (q *txq) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return run(ctx, q, query, args, (*sql.Tx).ExecContext, (*sql.Stmt).ExecContext)
}

func (q *txq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return q.tx.QueryRowContext(ctx, query, args...) // reports the same error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

func (q *txq) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return run(ctx, q, query, args, (*sql.Tx).QueryContext, (*sql.Stmt).QueryContext)
}

// run sends query directly (PostgreSQL) or through its prepared statement.
func run[R any](ctx context.Context, q *txq, query string, args []any,
	direct func(*sql.Tx, context.Context, string, ...any) (R, error),
	prepared func(*sql.Stmt, context.Context, ...any) (R, error)) (R, error) {
	if q.rowsPer > 1 {
		return direct(q.tx, ctx, query, args...)
	}
	st, err := q.stmt(ctx, query)
	if err != nil {
		var zero R
		return zero, err
	}
	return prepared(st, ctx, args...)
}

func (q *txq) close() {
	for _, st := range q.stmts {
		st.Close()
	}
}

// Applied says what storing one message did.
type Applied int

const (
	// Stored: a new event (or a status, summary or answer), and the
	// current row moved to it.
	Stored Applied = iota
	// Duplicate: the site and seq were stored before (a redelivery), or an
	// answer to a command already answered or never sent to that site.
	Duplicate
	// Late: a new event older than the current row (out of order); kept in
	// the history, the current row left as it is.
	Late
)

// Message is one decoded message of a site: exactly one of the pointers is
// set.
type Message struct {
	Site     string
	Alarm    *northbound.AlarmMessage
	Hazard   *northbound.HazardMessage
	Status   *northbound.Status
	Summary  *northbound.Summary
	Ack      *northbound.CommandAck
	Readings *northbound.ReadingMessage
}

// Batch is what Apply did: per message, and the sites that came back from
// a silence (they spoke again without a new birth).
type Batch struct {
	Applied []Applied
	Back    []string
}

// Apply stores a batch of messages in one transaction, so the hub commits
// (and the broker is acknowledged) once per batch, not once per event. The
// batch's events go in a few multi-row statements whatever its size (one
// round trip each on PostgreSQL), and each site in it is marked seen once,
// with its newest seqs.
func (s *Store) Apply(ctx context.Context, batch []Message, now time.Time) (Batch, error) {
	var out Batch
	err := sqlstore.InTx(ctx, s.db, func(sqltx *sql.Tx) error {
		tx := s.newTxq(sqltx)
		defer tx.close()
		var err error
		out, err = s.apply(ctx, tx, batch, now)
		return err
	})
	if err != nil {
		return Batch{}, fmt.Errorf("hub store: %w", err)
	}
	return out, nil
}

// siteSeen is what a batch says of one site.
type siteSeen struct {
	alarmSeq, hazardSeq int64
	spoke               bool // anything but a status: a silent site is back
}

func (s *Store) apply(ctx context.Context, tx *txq, batch []Message, now time.Time) (Batch, error) {
	out := Batch{Applied: make([]Applied, len(batch))}
	seen := map[string]*siteSeen{}
	var order []string
	mark := func(site string) *siteSeen {
		if ss, ok := seen[site]; ok {
			return ss
		}
		ss := &siteSeen{}
		seen[site] = ss
		order = append(order, site)
		return ss
	}
	var alarms, hazards []int // indexes into batch
	for i, m := range batch {
		var err error
		switch {
		case m.Alarm != nil:
			alarms = append(alarms, i)
			mark(m.Site).spoke = true
		case m.Hazard != nil:
			hazards = append(hazards, i)
			mark(m.Site).spoke = true
		case m.Status != nil:
			mark(m.Site)
			err = s.statusTx(ctx, tx, *m.Status, now)
		case m.Summary != nil:
			mark(m.Site).spoke = true
			err = s.summaryTx(ctx, tx, *m.Summary, now)
		case m.Readings != nil:
			mark(m.Site).spoke = true
			err = s.readingsTx(ctx, tx, *m.Readings, now)
		case m.Ack != nil:
			mark(m.Site).spoke = true
			var known bool
			if known, err = s.ackTx(ctx, tx, *m.Ack, now); err == nil && !known {
				out.Applied[i] = Duplicate
			}
		default:
			err = errors.New("empty message")
		}
		if err != nil {
			return Batch{}, fmt.Errorf("site %s: %w", m.Site, err)
		}
	}
	if len(alarms) > 0 {
		if err := s.alarmEvents(ctx, tx, batch, alarms, now, out.Applied); err != nil {
			return Batch{}, err
		}
		for _, i := range alarms {
			if ss := seen[batch[i].Site]; out.Applied[i] != Duplicate && batch[i].Alarm.Seq > ss.alarmSeq {
				ss.alarmSeq = batch[i].Alarm.Seq
			}
		}
	}
	if len(hazards) > 0 {
		if err := s.hazardEvents(ctx, tx, batch, hazards, now, out.Applied); err != nil {
			return Batch{}, err
		}
		for _, i := range hazards {
			if ss := seen[batch[i].Site]; out.Applied[i] != Duplicate && batch[i].Hazard.Seq > ss.hazardSeq {
				ss.hazardSeq = batch[i].Hazard.Seq
			}
		}
	}
	// Sorted: two hub processes lock site rows in the same order, so they
	// wait for each other rather than deadlock.
	order = s.due(order, now)
	slices.Sort(order)
	if err := s.seenTx(ctx, tx, order, seen, now); err != nil {
		return Batch{}, err
	}
	var spoke []string
	for _, site := range order {
		if seen[site].spoke {
			spoke = append(spoke, site)
		}
	}
	var err error
	if out.Back, err = s.backTx(ctx, tx, spoke, now); err != nil {
		return Batch{}, err
	}
	return out, nil
}

// due keeps the sites this process has not marked seen within seenEvery,
// and records them as marked. (A status or a summary writes last_seen
// itself.)
func (s *Store) due(sites []string, now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := sites[:0]
	for _, site := range sites {
		if last, ok := s.seenAt[site]; ok && now.Sub(last) < s.seenEvery && now.After(last) {
			continue
		}
		s.seenAt[site] = now
		out = append(out, site)
	}
	return out
}

// keys runs a multi-row insert or upsert and adds the keys of the rows it
// wrote to into. Several rows (PostgreSQL) return their keys (returning
// names the key columns); one row (SQLite) is only counted, first being its
// key: cheaper there than reading rows back.
func (q *txq) keys(ctx context.Context, stmt, returning string, args []any, first siteKey, into map[siteKey]bool) error {
	if q.rowsPer == 1 {
		res, err := q.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			into[first] = true
		}
		return nil
	}
	res, err := q.QueryContext(ctx, stmt+" RETURNING "+returning, args...)
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var k siteKey
		if err := res.Scan(&k.site, &k.n); err != nil {
			return err
		}
		into[k] = true
	}
	return res.Err()
}

// siteKey is a site and a number (an event's seq, a record's id).
type siteKey struct {
	site string
	n    int64
}

// insertEvents inserts the events (each a row of args) of the batch's
// indexes idx, skipping repeats, and returns the new ones. A repeat within
// the batch is marked Duplicate before it reaches the database.
func insertEvents(ctx context.Context, tx *txq, table, columns string, cols int, idx []int, key func(int) siteKey,
	args func(int) []any, applied []Applied) (map[siteKey]bool, error) {
	var todo []int
	first := map[siteKey]bool{}
	for _, i := range idx {
		if k := key(i); first[k] {
			applied[i] = Duplicate
		} else {
			first[k] = true
			todo = append(todo, i)
		}
	}
	inserted := map[siteKey]bool{}
	for chunk := range slices.Chunk(todo, tx.rowsPer) {
		vals := make([]any, 0, len(chunk)*cols)
		for _, i := range chunk {
			vals = append(vals, args(i)...)
		}
		q := `INSERT INTO ` + table + ` (` + columns + `) VALUES ` + sqlstore.Rows(len(chunk), cols) +
			` ON CONFLICT (site, seq) DO NOTHING`
		if err := tx.keys(ctx, q, "site, seq", vals, key(chunk[0]), inserted); err != nil {
			return nil, fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	for _, i := range todo {
		if !inserted[key(i)] {
			applied[i] = Duplicate
		}
	}
	return inserted, nil
}

// upsertCurrent moves each record's current row to the newest of the
// batch's new events, only forward in seq, and marks Late the events whose
// record the store already held at a newer seq.
func upsertCurrent(ctx context.Context, tx *txq, upsert string, cols int, idx []int, applied []Applied,
	record func(int) siteKey, seq func(int) int64, args func(int) []any) error {
	newest := map[siteKey]int{} // record → batch index of its newest new event
	var order []siteKey
	for _, i := range idx {
		if applied[i] == Duplicate {
			continue
		}
		k := record(i)
		j, ok := newest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || seq(i) > seq(j) {
			newest[k] = i
		}
	}
	if len(order) == 0 {
		return nil
	}
	moved := map[siteKey]bool{}
	for chunk := range slices.Chunk(order, tx.rowsPer) {
		vals := make([]any, 0, len(chunk)*cols)
		for _, k := range chunk {
			vals = append(vals, args(newest[k])...)
		}
		if err := tx.keys(ctx, fmt.Sprintf(upsert, sqlstore.Rows(len(chunk), cols)), "site, id", vals, chunk[0], moved); err != nil {
			return fmt.Errorf("update current: %w", err)
		}
	}
	for _, i := range idx {
		if applied[i] != Duplicate && !moved[record(i)] {
			applied[i] = Late
		}
	}
	return nil
}

func (s *Store) alarmEvents(ctx context.Context, tx *txq, batch []Message, idx []int, now time.Time, applied []Applied) error {
	msg := func(i int) *northbound.AlarmMessage { return batch[i].Alarm }
	_, err := insertEvents(ctx, tx, "hub_alarm_events", "site, seq, type, time, actor, alarm_id, received", 7, idx,
		func(i int) siteKey { return siteKey{msg(i).Site, msg(i).Seq} },
		func(i int) []any {
			m := msg(i)
			return []any{m.Site, m.Seq, m.Type, s.d.Time(m.Time), m.By, m.Alarm.ID, s.d.Time(now)}
		}, applied)
	if err != nil {
		return err
	}
	snaps := map[int]string{}
	for _, i := range idx {
		if applied[i] == Duplicate {
			continue
		}
		b, err := json.Marshal(msg(i).Alarm)
		if err != nil {
			return err
		}
		snaps[i] = string(b)
	}
	return upsertCurrent(ctx, tx, `INSERT INTO hub_alarms (site, id, last_seq, tag, rule, class, severity, state, raised_at, acked, alarm)
		VALUES %s
		ON CONFLICT (site, id) DO UPDATE SET last_seq = excluded.last_seq, severity = excluded.severity,
			state = excluded.state, raised_at = excluded.raised_at, acked = excluded.acked, alarm = excluded.alarm
		WHERE hub_alarms.last_seq < excluded.last_seq`, 11, idx, applied,
		func(i int) siteKey { return siteKey{msg(i).Site, msg(i).Alarm.ID} },
		func(i int) int64 { return msg(i).Seq },
		func(i int) []any {
			m, a := msg(i), msg(i).Alarm
			return []any{m.Site, a.ID, m.Seq, a.Tag, a.Rule, a.Class, a.Severity, string(a.State), s.d.Time(a.RaisedAt), !a.State.Unacked(), snaps[i]}
		})
}

func (s *Store) hazardEvents(ctx context.Context, tx *txq, batch []Message, idx []int, now time.Time, applied []Applied) error {
	msg := func(i int) *northbound.HazardMessage { return batch[i].Hazard }
	evs, snaps := map[int]string{}, map[int]string{}
	for _, i := range idx {
		ev, err := json.Marshal(msg(i).Event)
		if err != nil {
			return err
		}
		snap, err := json.Marshal(msg(i).Hazard)
		if err != nil {
			return err
		}
		evs[i], snaps[i] = string(ev), string(snap)
	}
	_, err := insertEvents(ctx, tx, "hub_hazard_events", "site, seq, type, time, actor, hazard_id, event, received", 8, idx,
		func(i int) siteKey { return siteKey{msg(i).Site, msg(i).Seq} },
		func(i int) []any {
			m := msg(i)
			return []any{m.Site, m.Seq, m.Type, s.d.Time(m.Time), m.By, m.Hazard.ID, evs[i], s.d.Time(now)}
		}, applied)
	if err != nil {
		return err
	}
	return upsertCurrent(ctx, tx, `INSERT INTO hub_hazards (site, id, last_seq, level, status, supervised, deadline, hazard)
		VALUES %s
		ON CONFLICT (site, id) DO UPDATE SET last_seq = excluded.last_seq, level = excluded.level,
			status = excluded.status, supervised = excluded.supervised, deadline = excluded.deadline, hazard = excluded.hazard
		WHERE hub_hazards.last_seq < excluded.last_seq`, 8, idx, applied,
		func(i int) siteKey { return siteKey{msg(i).Site, msg(i).Hazard.ID} },
		func(i int) int64 { return msg(i).Seq },
		func(i int) []any {
			m, h := msg(i), msg(i).Hazard
			return []any{m.Site, h.ID, m.Seq, h.Level, string(h.Status), h.Supervised, s.d.Time(h.Deadline), snaps[i]}
		})
}

// ApplyAlarm stores one alarm event (a batch of one).
func (s *Store) ApplyAlarm(ctx context.Context, m northbound.AlarmMessage, now time.Time) (Applied, error) {
	return s.applyOne(ctx, Message{Site: m.Site, Alarm: &m}, now)
}

// ApplyHazard stores one hazard record event (a batch of one).
func (s *Store) ApplyHazard(ctx context.Context, m northbound.HazardMessage, now time.Time) (Applied, error) {
	return s.applyOne(ctx, Message{Site: m.Site, Hazard: &m}, now)
}

// ApplyStatus records a site's birth or death (a batch of one).
func (s *Store) ApplyStatus(ctx context.Context, st northbound.Status, now time.Time) error {
	_, err := s.applyOne(ctx, Message{Site: st.Site, Status: &st}, now)
	return err
}

// ApplySummary keeps a site's latest summary (a batch of one).
func (s *Store) ApplySummary(ctx context.Context, sum northbound.Summary, now time.Time) error {
	_, err := s.applyOne(ctx, Message{Site: sum.Site, Summary: &sum}, now)
	return err
}

func (s *Store) applyOne(ctx context.Context, m Message, now time.Time) (Applied, error) {
	b, err := s.Apply(ctx, []Message{m}, now)
	if err != nil {
		return 0, err
	}
	return b.Applied[0], nil
}

// seenTx records that the batch's sites spoke at now, with their newest
// seqs, in one statement.
func (s *Store) seenTx(ctx context.Context, tx *txq, order []string, seen map[string]*siteSeen, now time.Time) error {
	if len(order) == 0 {
		return nil
	}
	for chunk := range slices.Chunk(order, tx.rowsPer) {
		vals := make([]any, 0, 4*len(chunk))
		for _, site := range chunk {
			vals = append(vals, site, s.d.Time(now), seen[site].alarmSeq, seen[site].hazardSeq)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO hub_sites (site, last_seen, alarm_seq, hazard_seq) VALUES `+sqlstore.Rows(len(chunk), 4)+`
			ON CONFLICT (site) DO UPDATE SET last_seen = excluded.last_seen,
				alarm_seq = CASE WHEN hub_sites.alarm_seq < excluded.alarm_seq THEN excluded.alarm_seq ELSE hub_sites.alarm_seq END,
				hazard_seq = CASE WHEN hub_sites.hazard_seq < excluded.hazard_seq THEN excluded.hazard_seq ELSE hub_sites.hazard_seq END`,
			vals...)
		if err != nil {
			return fmt.Errorf("marking sites seen: %w", err)
		}
	}
	return nil
}

// statusTx records a site's birth or death. A death opens an outage (the
// comm_loss alarm), a birth closes the open one.
func (s *Store) statusTx(ctx context.Context, tx *txq, st northbound.Status, now time.Time) error {
	online := st.State == northbound.SiteOnline
	if _, err := tx.ExecContext(ctx, `INSERT INTO hub_sites (site, online, reason, status_time, last_seen, version, config_digest,
			site_alarm_seq, site_hazard_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (site) DO UPDATE SET online = excluded.online, reason = excluded.reason,
			status_time = excluded.status_time, last_seen = excluded.last_seen,
			version = CASE WHEN excluded.version = '' THEN hub_sites.version ELSE excluded.version END,
			config_digest = CASE WHEN excluded.config_digest = '' THEN hub_sites.config_digest ELSE excluded.config_digest END,`+siteSeqs,
		st.Site, online, st.Reason, s.d.Time(st.Time), s.d.Time(now), st.Version, st.ConfigDigest, st.AlarmSeq, st.HazardSeq); err != nil {
		return err
	}
	if online {
		return s.closeOutage(ctx, tx, st.Site, now)
	}
	return s.openOutage(ctx, tx, st.Site, now, "site said offline: "+st.Reason)
}

// readingsTx keeps the newest reading of each tag (only forward in time).
func (s *Store) readingsTx(ctx context.Context, tx *txq, m northbound.ReadingMessage, now time.Time) error {
	newest := map[string]northbound.Reading{}
	var order []string
	for _, r := range m.Readings {
		if prev, ok := newest[r.Tag]; !ok || r.Time.After(prev.Time) {
			if !ok {
				order = append(order, r.Tag)
			}
			newest[r.Tag] = r
		}
	}
	for chunk := range slices.Chunk(order, tx.rowsPer) {
		vals := make([]any, 0, 8*len(chunk))
		for _, tag := range chunk {
			r := newest[tag]
			vals = append(vals, m.Site, r.Tag, r.Kind, r.Unit, r.Value, r.Quality, s.d.Time(r.Time), s.d.Time(now))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hub_readings (site, tag, kind, unit, value, quality, time, received)
			VALUES `+sqlstore.Rows(len(chunk), 8)+`
			ON CONFLICT (site, tag) DO UPDATE SET kind = excluded.kind, unit = excluded.unit, value = excluded.value,
				quality = excluded.quality, time = excluded.time, received = excluded.received
			WHERE hub_readings.time < excluded.time`, vals...); err != nil {
			return fmt.Errorf("readings: %w", err)
		}
	}
	return nil
}

// Readings returns one site's newest reading per tag, by tag.
func (s *Store) Readings(ctx context.Context, site string) ([]northbound.Reading, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tag, kind, unit, value, quality, time FROM hub_readings WHERE site = $1 ORDER BY tag`, site)
	if err != nil {
		return nil, fmt.Errorf("hub readings: %w", err)
	}
	defer rows.Close()
	out := []northbound.Reading{}
	for rows.Next() {
		var r northbound.Reading
		if err := rows.Scan(&r.Tag, &r.Kind, &r.Unit, &r.Value, &r.Quality, sqlstore.ScanTime(&r.Time)); err != nil {
			return nil, fmt.Errorf("hub readings: site %s: %w", site, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// summaryTx keeps a site's latest summary.
func (s *Store) summaryTx(ctx context.Context, tx *txq, sum northbound.Summary, now time.Time) error {
	raw, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO hub_sites (site, last_seen, summary, site_alarm_seq, site_hazard_seq) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (site) DO UPDATE SET last_seen = excluded.last_seen, summary = excluded.summary,`+siteSeqs,
		sum.Site, s.d.Time(now), string(raw), sum.AlarmSeq, sum.HazardSeq)
	return err
}

// siteSeqs keeps the highest seqs a site has said its journals hold.
const siteSeqs = `
	site_alarm_seq = CASE WHEN hub_sites.site_alarm_seq < excluded.site_alarm_seq THEN excluded.site_alarm_seq ELSE hub_sites.site_alarm_seq END,
	site_hazard_seq = CASE WHEN hub_sites.site_hazard_seq < excluded.site_hazard_seq THEN excluded.site_hazard_seq ELSE hub_sites.site_hazard_seq END`

// Gap is a journal of a site the hub holds only up to After (without a
// gap) while the site says it holds Site.
type Gap struct {
	Site    string
	Journal string // alarm or hazard
	After   int64
	Behind  int64
}

// gapScan bounds how many stored seqs one check walks past the
// contiguous end; a longer run is walked at the next check.
const gapScan = 10000

// Gaps moves each site's contiguous end forward over what is stored and
// returns the journals still short of what their site says it holds. It
// reads the shared store, so it is right whichever hub process stored what.
func (s *Store) Gaps(ctx context.Context) ([]Gap, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT site, alarm_contig, site_alarm_seq, hazard_contig, site_hazard_seq FROM hub_sites
		WHERE site_alarm_seq > alarm_contig OR site_hazard_seq > hazard_contig`)
	if err != nil {
		return nil, fmt.Errorf("hub gaps: %w", err)
	}
	type behind struct {
		site               string
		alarm, siteAlarm   int64
		hazard, siteHazard int64
	}
	var todo []behind
	for rows.Next() {
		var b behind
		if err := rows.Scan(&b.site, &b.alarm, &b.siteAlarm, &b.hazard, &b.siteHazard); err != nil {
			rows.Close()
			return nil, fmt.Errorf("hub gaps: %w", err)
		}
		todo = append(todo, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hub gaps: %w", err)
	}
	var out []Gap
	for _, b := range todo {
		for _, j := range []struct {
			journal, table, column string
			contig, site           int64
		}{{"alarm", "hub_alarm_events", "alarm_contig", b.alarm, b.siteAlarm}, {"hazard", "hub_hazard_events", "hazard_contig", b.hazard, b.siteHazard}} {
			if j.site <= j.contig {
				continue
			}
			end, err := s.advance(ctx, j.table, j.column, b.site, j.contig)
			if err != nil {
				return nil, err
			}
			if j.site > end {
				out = append(out, Gap{Site: b.site, Journal: j.journal, After: end, Behind: j.site - end})
			}
		}
	}
	return out, nil
}

// advance walks the stored seqs after contig while they follow one
// another, and records the new end.
func (s *Store) advance(ctx context.Context, table, column, site string, contig int64) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq FROM `+table+` WHERE site = $1 AND seq > $2 ORDER BY seq LIMIT `+fmt.Sprint(gapScan), site, contig)
	if err != nil {
		return contig, fmt.Errorf("hub gaps: site %s: %w", site, err)
	}
	end := contig
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return contig, err
		}
		if seq != end+1 {
			break
		}
		end = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return contig, err
	}
	if end > contig {
		if _, err := s.db.ExecContext(ctx, `UPDATE hub_sites SET `+column+` = $2 WHERE site = $1 AND `+column+` < $2`, site, end); err != nil {
			return contig, fmt.Errorf("hub gaps: site %s: %w", site, err)
		}
	}
	return end, nil
}

func (s *Store) openOutage(ctx context.Context, tx *txq, site string, now time.Time, reason string) error {
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM hub_outages WHERE site = $1 AND until IS NULL`, site).Scan(&open); err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO hub_outages (site, since, reason) VALUES ($1, $2, $3)`,
		site, s.d.Time(now), reason)
	return err
}

func (s *Store) closeOutage(ctx context.Context, tx *txq, site string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE hub_outages SET until = $2 WHERE site = $1 AND until IS NULL`,
		site, s.d.Time(now))
	return err
}

// MarkSilent opens an outage for every known site not seen since before
// cutoff and marks it offline; it returns the sites it marked. With
// neverSeen, an expected site that has not spoken at all counts too (the
// hub has been up for longer than offline_after). A site seen again (any
// message) closes its outage through Back.
func (s *Store) MarkSilent(ctx context.Context, cutoff, now time.Time, neverSeen bool) ([]string, error) {
	var marked []string
	err := sqlstore.InTx(ctx, s.db, func(sqltx *sql.Tx) error {
		tx := s.newTxq(sqltx)
		defer tx.close()
		rows, err := sqltx.QueryContext(ctx, `SELECT s.site FROM hub_sites s
			WHERE (s.last_seen < $1 OR (s.last_seen IS NULL AND s.expected AND $2))
			AND NOT EXISTS (SELECT 1 FROM hub_outages o WHERE o.site = s.site AND o.until IS NULL)`,
			s.d.Time(cutoff), neverSeen)
		if err != nil {
			return err
		}
		for rows.Next() {
			var site string
			if err := rows.Scan(&site); err != nil {
				rows.Close()
				return err
			}
			marked = append(marked, site)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, site := range marked {
			if err := s.openOutage(ctx, tx, site, now, "silent"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE hub_sites SET online = FALSE, reason = 'silent' WHERE site = $1`, site); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub store: marking silent sites: %w", err)
	}
	return marked, nil
}

// Back closes a silent site's outage when it speaks again without a new
// birth (a summary or an event after a network gap); a site that said it
// was offline stays offline until its next birth.
func (s *Store) Back(ctx context.Context, site string, now time.Time) (bool, error) {
	var back bool
	err := sqlstore.InTx(ctx, s.db, func(sqltx *sql.Tx) error {
		tx := s.newTxq(sqltx)
		defer tx.close()
		sites, err := s.backTx(ctx, tx, []string{site}, now)
		back = len(sites) > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("hub store: site %s back: %w", site, err)
	}
	return back, nil
}

func (s *Store) backTx(ctx context.Context, tx *txq, sites []string, now time.Time) ([]string, error) {
	var back []string
	for chunk := range slices.Chunk(sites, tx.rowsPer) {
		args := []any{s.d.Time(now)}
		in := make([]string, len(chunk))
		for i, site := range chunk {
			args = append(args, site)
			in[i] = fmt.Sprintf("$%d", i+2)
		}
		res, err := tx.QueryContext(ctx, `UPDATE hub_outages SET until = $1 WHERE site IN (`+strings.Join(in, ", ")+`)
			AND until IS NULL AND reason = 'silent' RETURNING site`, args...)
		if err != nil {
			return nil, fmt.Errorf("closing silences: %w", err)
		}
		for res.Next() {
			var site string
			if err := res.Scan(&site); err != nil {
				res.Close()
				return nil, err
			}
			back = append(back, site)
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	for _, site := range back {
		if _, err := tx.ExecContext(ctx, `UPDATE hub_sites SET online = TRUE, reason = '' WHERE site = $1`, site); err != nil {
			return nil, err
		}
	}
	return back, nil
}

// SiteHealth is one site as the hub sees it.
type SiteHealth struct {
	Site     string `json:"site"`
	Name     string `json:"name,omitempty"`
	Region   string `json:"region,omitempty"`
	Type     string `json:"type,omitempty"`
	Expected bool   `json:"expected"` // listed in hub.sites
	Online   bool   `json:"online"`
	// Reason says why an offline site is: "lost" (its last will),
	// "stopped" (a clean stop), "silent" (nothing for hub.offline_after).
	Reason       string              `json:"reason,omitempty"`
	LastSeen     *time.Time          `json:"last_seen,omitempty"`
	StatusTime   *time.Time          `json:"status_time,omitempty"`
	Version      string              `json:"version,omitempty"`
	ConfigDigest string              `json:"config_digest,omitempty"`
	AlarmSeq     int64               `json:"alarm_seq"`
	HazardSeq    int64               `json:"hazard_seq"`
	OfflineSince *time.Time          `json:"offline_since,omitempty"`
	Summary      *northbound.Summary `json:"summary,omitempty"`
}

// Sites returns every site the hub expects or has heard from, by id.
func (s *Store) Sites(ctx context.Context) ([]SiteHealth, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.site, s.name, s.region, s.type, s.expected, s.online, s.reason,
		s.last_seen, s.status_time, s.version, s.config_digest, s.alarm_seq, s.hazard_seq, s.summary,
		(SELECT MIN(o.since) FROM hub_outages o WHERE o.site = s.site AND o.until IS NULL)
		FROM hub_sites s ORDER BY s.site`)
	if err != nil {
		return nil, fmt.Errorf("hub sites: %w", err)
	}
	defer rows.Close()
	out := []SiteHealth{}
	for rows.Next() {
		var h SiteHealth
		var summary string
		if err := rows.Scan(&h.Site, &h.Name, &h.Region, &h.Type, &h.Expected, &h.Online, &h.Reason,
			sqlstore.ScanNullTime(&h.LastSeen), sqlstore.ScanNullTime(&h.StatusTime), &h.Version, &h.ConfigDigest,
			&h.AlarmSeq, &h.HazardSeq, &summary, sqlstore.ScanNullTime(&h.OfflineSince)); err != nil {
			return nil, fmt.Errorf("hub sites: %w", err)
		}
		if summary != "{}" {
			h.Summary = new(northbound.Summary)
			if err := json.Unmarshal([]byte(summary), h.Summary); err != nil {
				return nil, fmt.Errorf("hub sites: site %s summary: %w", h.Site, err)
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// RemoteAlarm is one site's alarm as the site has it. Stale: the site is
// offline, so this is its state as of the site's last word.
type RemoteAlarm struct {
	alerting.Alarm
	SiteName string `json:"site_name,omitempty"`
	Region   string `json:"region,omitempty"`
	Stale    bool   `json:"stale"`
}

// AlarmFilter selects remote alarms. Sites is the caller's scope and the
// filters' together: nil is every site, empty (non-nil) none.
type AlarmFilter struct {
	Sites    []string
	Region   string
	Type     string // enterprise type
	Severity string
	Class    string
	OpenOnly bool
	// UnackedFor keeps alarms raised and unacknowledged for longer than
	// this, as of Now.
	UnackedFor time.Duration
	Now        time.Time
	Limit      int // 0: DefaultLimit
	Offset     int
}

// DefaultLimit is a page when the filter sets none; MaxLimit the most.
const (
	DefaultLimit = 200
	MaxLimit     = 5000
)

// where builds the shared WHERE clause for a site-scoped query on alias t
// (joined with hub_sites s).
type where struct {
	clauses []string
	args    []any
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) add(c string) { w.clauses = append(w.clauses, c) }

func (w *where) sites(col string, sites []string) {
	if sites == nil {
		return
	}
	if len(sites) == 0 {
		w.add("1 = 0")
		return
	}
	in := make([]string, len(sites))
	for i, site := range sites {
		in[i] = w.arg(site)
	}
	w.add(col + " IN (" + strings.Join(in, ", ") + ")")
}

func (w *where) sql() string {
	if len(w.clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.clauses, " AND ")
}

func page(limit, offset int) (int, int) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return min(limit, MaxLimit), max(offset, 0)
}

// Alarms returns the sites' alarms as they have them, newest raised first,
// and how many match in all (for paging).
func (s *Store) Alarms(ctx context.Context, f AlarmFilter) ([]RemoteAlarm, int, error) {
	var w where
	w.sites("a.site", f.Sites)
	if f.Region != "" {
		w.add("s.region = " + w.arg(f.Region))
	}
	if f.Type != "" {
		w.add("s.type = " + w.arg(f.Type))
	}
	if f.Severity != "" {
		w.add("a.severity = " + w.arg(f.Severity))
	}
	if f.Class != "" {
		w.add("a.class = " + w.arg(f.Class))
	}
	if f.OpenOnly || f.UnackedFor > 0 {
		// An alarm its device's root alarm stands for is not the
		// regulator's to read: the root is listed instead.
		w.add("a.state NOT IN (" + w.arg(string(alerting.Normal)) + ", " + w.arg(string(alerting.SuppressedByDesign)) + ")")
	}
	if f.UnackedFor > 0 {
		w.add("NOT a.acked AND a.raised_at < " + w.arg(s.d.Time(f.Now.Add(-f.UnackedFor))))
	}
	from := ` FROM hub_alarms a JOIN hub_sites s ON s.site = a.site` + w.sql()
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+from, w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("hub alarms: %w", err)
	}
	limit, offset := page(f.Limit, f.Offset)
	q := `SELECT a.alarm, s.name, s.region, NOT s.online` + from +
		` ORDER BY a.raised_at DESC, a.site, a.id LIMIT ` + w.arg(limit) + ` OFFSET ` + w.arg(offset)
	rows, err := s.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("hub alarms: %w", err)
	}
	defer rows.Close()
	out := []RemoteAlarm{}
	for rows.Next() {
		var raw string
		var a RemoteAlarm
		if err := rows.Scan(&raw, &a.SiteName, &a.Region, &a.Stale); err != nil {
			return nil, 0, fmt.Errorf("hub alarms: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &a.Alarm); err != nil {
			return nil, 0, fmt.Errorf("hub alarms: %w", err)
		}
		a.Stale = a.Stale && a.State != alerting.Normal
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// HazardFilter selects remote hazard records; Sites as in AlarmFilter.
type HazardFilter struct {
	Sites      []string
	Region     string
	Level      string // hazard.LevelGeneral or LevelMajor (一般隐患, 重大隐患)
	Open       bool   // not closed or dismissed
	Overdue    bool   // open past the deadline, as of Now
	Supervised bool   // 挂牌督办
	Now        time.Time
	Limit      int
	Offset     int
}

// Hazards returns the sites' hazard records as they have them, and how
// many match in all.
func (s *Store) Hazards(ctx context.Context, f HazardFilter) ([]hazard.Hazard, int, error) {
	var w where
	w.sites("h.site", f.Sites)
	if f.Region != "" {
		w.add("s.region = " + w.arg(f.Region))
	}
	if f.Level != "" {
		w.add("h.level = " + w.arg(f.Level))
	}
	if f.Open || f.Overdue {
		w.add("h.status NOT IN (" + w.arg(string(hazard.Closed)) + ", " + w.arg(string(hazard.Dismissed)) + ")")
	}
	if f.Overdue {
		w.add("h.deadline < " + w.arg(s.d.Time(f.Now)))
	}
	if f.Supervised {
		w.add("h.supervised")
	}
	from := ` FROM hub_hazards h JOIN hub_sites s ON s.site = h.site` + w.sql()
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+from, w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("hub hazards: %w", err)
	}
	limit, offset := page(f.Limit, f.Offset)
	rows, err := s.db.QueryContext(ctx, `SELECT h.hazard`+from+` ORDER BY h.site, h.id LIMIT `+w.arg(limit)+` OFFSET `+w.arg(offset), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("hub hazards: %w", err)
	}
	defer rows.Close()
	out := []hazard.Hazard{}
	for rows.Next() {
		var raw string
		var h hazard.Hazard
		if err := rows.Scan(&raw); err != nil {
			return nil, 0, fmt.Errorf("hub hazards: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return nil, 0, fmt.Errorf("hub hazards: %w", err)
		}
		h.Overdue = !h.Status.Done() && f.Now.After(h.Deadline)
		out = append(out, h)
	}
	return out, total, rows.Err()
}

// CommandRecord is one instruction to a site and where it stands:
// delivered once the broker took it (SentAt), acknowledged once the site
// answered (AckedAt, OK, Error).
type CommandRecord struct {
	northbound.Command
	SentAt    *time.Time `json:"sent_at,omitempty"`
	Sends     int        `json:"sends"`
	AckedAt   *time.Time `json:"acked_at,omitempty"`
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	HazardSeq int64      `json:"hazard_seq,omitempty"`
}

// AddCommand records a new instruction before it is sent, so a hub
// restart resends it.
func (s *Store) AddCommand(ctx context.Context, c northbound.Command) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO hub_commands (id, site, hazard_id, type, actor, note, deadline, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ID, c.Site, c.Hazard, c.Type, c.By, c.Note, s.d.NullTime(c.Deadline), s.d.Time(c.Time))
	if err != nil {
		return fmt.Errorf("hub store: command %s to site %s: %w", c.ID, c.Site, err)
	}
	return nil
}

// Sent records that the broker took command id.
func (s *Store) Sent(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE hub_commands SET sent_at = $2, sends = sends + 1 WHERE id = $1`, id, s.d.Time(at))
	return err
}

// ackTx records a site's answer; it reports false for an id the hub did
// not send to that site (or one already answered).
func (s *Store) ackTx(ctx context.Context, tx *txq, a northbound.CommandAck, at time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE hub_commands SET acked_at = $3, ok = $4, error = $5, hazard_seq = $6
		WHERE id = $1 AND site = $2 AND acked_at IS NULL`, a.ID, a.Site, s.d.Time(at), a.OK, a.Error, a.HazardSeq)
	if err != nil {
		return false, fmt.Errorf("ack of command %s: %w", a.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Commands returns instructions, newest first: pending ones only, or all of
// sites (nil: every site).
func (s *Store) Commands(ctx context.Context, sites []string, pendingOnly bool, limit int) ([]CommandRecord, error) {
	var w where
	w.sites("site", sites)
	if pendingOnly {
		w.add("acked_at IS NULL")
	}
	limit, _ = page(limit, 0)
	rows, err := s.db.QueryContext(ctx, `SELECT id, site, hazard_id, type, actor, note, deadline, created, sent_at, sends,
		acked_at, ok, error, hazard_seq FROM hub_commands`+w.sql()+` ORDER BY created DESC, id LIMIT `+w.arg(limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("hub commands: %w", err)
	}
	defer rows.Close()
	out := []CommandRecord{}
	for rows.Next() {
		c := CommandRecord{Command: northbound.Command{V: northbound.ContractVersion}}
		if err := rows.Scan(&c.ID, &c.Site, &c.Hazard, &c.Type, &c.By, &c.Note, sqlstore.ScanNullTime(&c.Deadline),
			sqlstore.ScanTime(&c.Time), sqlstore.ScanNullTime(&c.SentAt), &c.Sends, sqlstore.ScanNullTime(&c.AckedAt),
			&c.OK, &c.Error, &c.HazardSeq); err != nil {
			return nil, fmt.Errorf("hub commands: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// EventCounts counts the stored events per site, for tests and
// reconciliation against a site's journal.
func (s *Store) EventCounts(ctx context.Context) (alarms, hazards map[string]int, err error) {
	alarms, hazards = map[string]int{}, map[string]int{}
	for _, c := range []struct {
		table string
		dst   map[string]int
	}{{"hub_alarm_events", alarms}, {"hub_hazard_events", hazards}} {
		rows, err := s.db.QueryContext(ctx, `SELECT site, COUNT(*) FROM `+c.table+` GROUP BY site`)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var site string
			var n int
			if err := rows.Scan(&site, &n); err != nil {
				rows.Close()
				return nil, nil, err
			}
			c.dst[site] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return alarms, hazards, nil
}

// HazardHistory returns one site's record's events as the hub received
// them, oldest first.
func (s *Store) HazardHistory(ctx context.Context, site string, id int64) ([]hazard.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event FROM hub_hazard_events WHERE site = $1 AND hazard_id = $2 ORDER BY seq`, site, id)
	if err != nil {
		return nil, fmt.Errorf("hub hazard history: %w", err)
	}
	defer rows.Close()
	out := []hazard.Event{}
	for rows.Next() {
		var raw string
		var ev hazard.Event
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("hub hazard history: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("hub hazard history: site %s: %w", site, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Outage is one time a site was offline at the hub; Until is nil while it
// still is.
type Outage struct {
	Since  time.Time  `json:"since"`
	Until  *time.Time `json:"until,omitempty"`
	Reason string     `json:"reason"`
}

// Outages returns site's outages that overlap [from, to), oldest first.
func (s *Store) Outages(ctx context.Context, site string, from, to time.Time) ([]Outage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT since, until, reason FROM hub_outages
		WHERE site = $1 AND since < $3 AND (until IS NULL OR until > $2) ORDER BY since`, site, s.d.Time(from), s.d.Time(to))
	if err != nil {
		return nil, fmt.Errorf("hub outages: %w", err)
	}
	defer rows.Close()
	out := []Outage{}
	for rows.Next() {
		var o Outage
		if err := rows.Scan(sqlstore.ScanTime(&o.Since), sqlstore.ScanNullTime(&o.Until), &o.Reason); err != nil {
			return nil, fmt.Errorf("hub outages: site %s: %w", site, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
