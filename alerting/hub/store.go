package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/deliver/northbound"
	"hazgate/alerting/hazard"
	"hazgate/alerting/sqlstore"
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
		status_time   TEXT,
		last_seen     TEXT,
		version       TEXT NOT NULL DEFAULT '',
		config_digest TEXT NOT NULL DEFAULT '',
		alarm_seq     BIGINT NOT NULL DEFAULT 0,
		hazard_seq    BIGINT NOT NULL DEFAULT 0,
		summary       TEXT NOT NULL DEFAULT '{}'
	);
	CREATE TABLE hub_alarm_events (
		site     TEXT NOT NULL,
		seq      BIGINT NOT NULL,
		type     TEXT NOT NULL,
		time     TEXT NOT NULL,
		actor    TEXT NOT NULL DEFAULT '',
		alarm_id BIGINT NOT NULL,
		received TEXT NOT NULL,
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
		raised_at TEXT NOT NULL,
		alarm     TEXT NOT NULL,
		PRIMARY KEY (site, id)
	);
	CREATE INDEX hub_alarms_open ON hub_alarms (state, severity);
	CREATE TABLE hub_hazard_events (
		site      TEXT NOT NULL,
		seq       BIGINT NOT NULL,
		type      TEXT NOT NULL,
		time      TEXT NOT NULL,
		actor     TEXT NOT NULL DEFAULT '',
		hazard_id BIGINT NOT NULL,
		event     TEXT NOT NULL,
		received  TEXT NOT NULL,
		PRIMARY KEY (site, seq)
	);
	CREATE TABLE hub_hazards (
		site       TEXT NOT NULL,
		id         BIGINT NOT NULL,
		last_seq   BIGINT NOT NULL,
		level      TEXT NOT NULL,
		status     TEXT NOT NULL,
		supervised BOOLEAN NOT NULL,
		deadline   TEXT NOT NULL,
		hazard     TEXT NOT NULL,
		PRIMARY KEY (site, id)
	);
	-- One row per time a site went offline at the hub: the comm_loss alarm
	-- while until is NULL, and the record 离线时长 and 在线率 are read from.
	CREATE TABLE hub_outages (
		site   TEXT NOT NULL,
		since  TEXT NOT NULL,
		until  TEXT,
		reason TEXT NOT NULL,
		PRIMARY KEY (site, since)
	);`,
}

// Store keeps what the hub received.
type Store struct{ db *sql.DB }

// OpenStore brings the hub's tables in db up to date.
func OpenStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlstore.Migrate(ctx, db, "hub_schema_migrations", migrations); err != nil {
		return nil, fmt.Errorf("hub store: %w", err)
	}
	return &Store{db: db}, nil
}

// Applied says what storing one event did.
type Applied int

const (
	// Stored: a new event, and the current row moved to it.
	Stored Applied = iota
	// Duplicate: the site and seq were stored before (a redelivery).
	Duplicate
	// Late: a new event older than the current row (out of order); kept in
	// the history, the current row left as it is.
	Late
)

// ApplyAlarm stores one alarm event of site, received at now, and moves
// the site's copy of the alarm to it when it is the newest.
func (s *Store) ApplyAlarm(ctx context.Context, m northbound.AlarmMessage, now time.Time) (Applied, error) {
	snap, err := json.Marshal(m.Alarm)
	if err != nil {
		return 0, err
	}
	a := m.Alarm
	return s.apply(ctx, m.Site, m.Seq, now,
		`INSERT INTO hub_alarm_events (site, seq, type, time, actor, alarm_id, received) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (site, seq) DO NOTHING`,
		[]any{m.Site, m.Seq, m.Type, sqlstore.FormatTime(m.Time), m.By, a.ID, sqlstore.FormatTime(now)},
		`INSERT INTO hub_alarms (site, id, last_seq, tag, rule, class, severity, state, raised_at, alarm)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (site, id) DO UPDATE SET last_seq = excluded.last_seq, severity = excluded.severity,
				state = excluded.state, raised_at = excluded.raised_at, alarm = excluded.alarm
			WHERE hub_alarms.last_seq < excluded.last_seq`,
		[]any{m.Site, a.ID, m.Seq, a.Tag, a.Rule, a.Class, a.Severity, string(a.State), sqlstore.FormatTime(a.RaisedAt), string(snap)},
		"alarm_seq")
}

// ApplyHazard stores one hazard record event of site and moves the site's
// copy of the record to it when it is the newest.
func (s *Store) ApplyHazard(ctx context.Context, m northbound.HazardMessage, now time.Time) (Applied, error) {
	ev, err := json.Marshal(m.Event)
	if err != nil {
		return 0, err
	}
	h := m.Hazard
	snap, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	return s.apply(ctx, m.Site, m.Seq, now,
		`INSERT INTO hub_hazard_events (site, seq, type, time, actor, hazard_id, event, received) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (site, seq) DO NOTHING`,
		[]any{m.Site, m.Seq, m.Type, sqlstore.FormatTime(m.Time), m.By, h.ID, string(ev), sqlstore.FormatTime(now)},
		`INSERT INTO hub_hazards (site, id, last_seq, level, status, supervised, deadline, hazard)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (site, id) DO UPDATE SET last_seq = excluded.last_seq, level = excluded.level,
				status = excluded.status, supervised = excluded.supervised, deadline = excluded.deadline, hazard = excluded.hazard
			WHERE hub_hazards.last_seq < excluded.last_seq`,
		[]any{m.Site, h.ID, m.Seq, h.Level, string(h.Status), h.Supervised, sqlstore.FormatTime(h.Deadline), string(snap)},
		"hazard_seq")
}

// apply inserts an event (ignoring a repeat), upserts the current row
// (only forward in seq), and marks the site seen, in one transaction.
func (s *Store) apply(ctx context.Context, site string, seq int64, now time.Time,
	insert string, insertArgs []any, upsert string, upsertArgs []any, seqColumn string) (Applied, error) {
	var out Applied
	err := sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insert, insertArgs...)
		if err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			out = Duplicate
			return seen(ctx, tx, site, now, "", 0)
		}
		res, err = tx.ExecContext(ctx, upsert, upsertArgs...)
		if err != nil {
			return fmt.Errorf("update current: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			out = Late
		}
		return seen(ctx, tx, site, now, seqColumn, seq)
	})
	if err != nil {
		return 0, fmt.Errorf("hub store: site %s seq %d: %w", site, seq, err)
	}
	return out, nil
}

// seen records that site spoke at now and, with seqColumn, the newest seq.
func seen(ctx context.Context, tx *sql.Tx, site string, now time.Time, seqColumn string, seq int64) error {
	set := "last_seen = excluded.last_seen"
	if seqColumn != "" {
		set += ", " + seqColumn + " = CASE WHEN hub_sites." + seqColumn + " < excluded." + seqColumn +
			" THEN excluded." + seqColumn + " ELSE hub_sites." + seqColumn + " END"
	} else {
		seqColumn = "alarm_seq"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO hub_sites (site, last_seen, `+seqColumn+`) VALUES ($1, $2, $3)
		ON CONFLICT (site) DO UPDATE SET `+set, site, sqlstore.FormatTime(now), seq)
	return err
}

// ApplyStatus records a site's birth or death. A death opens an outage
// (the comm_loss alarm), a birth closes the open one.
func (s *Store) ApplyStatus(ctx context.Context, st northbound.Status, now time.Time) error {
	online := st.State == northbound.SiteOnline
	err := sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO hub_sites (site, online, reason, status_time, last_seen, version, config_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (site) DO UPDATE SET online = excluded.online, reason = excluded.reason,
				status_time = excluded.status_time, last_seen = excluded.last_seen,
				version = CASE WHEN excluded.version = '' THEN hub_sites.version ELSE excluded.version END,
				config_digest = CASE WHEN excluded.config_digest = '' THEN hub_sites.config_digest ELSE excluded.config_digest END`,
			st.Site, online, st.Reason, sqlstore.FormatTime(st.Time), sqlstore.FormatTime(now), st.Version, st.ConfigDigest); err != nil {
			return err
		}
		if online {
			return closeOutage(ctx, tx, st.Site, now)
		}
		return openOutage(ctx, tx, st.Site, now, "site said offline: "+st.Reason)
	})
	if err != nil {
		return fmt.Errorf("hub store: site %s status: %w", st.Site, err)
	}
	return nil
}

// ApplySummary keeps a site's latest summary; a site that speaks is online.
func (s *Store) ApplySummary(ctx context.Context, sum northbound.Summary, now time.Time) error {
	raw, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO hub_sites (site, last_seen, summary) VALUES ($1, $2, $3)
		ON CONFLICT (site) DO UPDATE SET last_seen = excluded.last_seen, summary = excluded.summary`,
		sum.Site, sqlstore.FormatTime(now), string(raw)); err != nil {
		return fmt.Errorf("hub store: site %s summary: %w", sum.Site, err)
	}
	return nil
}

func openOutage(ctx context.Context, tx *sql.Tx, site string, now time.Time, reason string) error {
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM hub_outages WHERE site = $1 AND until IS NULL`, site).Scan(&open); err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO hub_outages (site, since, reason) VALUES ($1, $2, $3)`,
		site, sqlstore.FormatTime(now), reason)
	return err
}

func closeOutage(ctx context.Context, tx *sql.Tx, site string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE hub_outages SET until = $2 WHERE site = $1 AND until IS NULL`,
		site, sqlstore.FormatTime(now))
	return err
}

// MarkSilent opens an outage for every known site not seen since before
// cutoff and marks it offline; it returns the sites it marked. A site seen
// again (any message) closes its outage through Back.
func (s *Store) MarkSilent(ctx context.Context, cutoff, now time.Time) ([]string, error) {
	var marked []string
	err := sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT s.site FROM hub_sites s
			WHERE s.last_seen < $1 AND NOT EXISTS (SELECT 1 FROM hub_outages o WHERE o.site = s.site AND o.until IS NULL)`,
			sqlstore.FormatTime(cutoff))
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
			if err := openOutage(ctx, tx, site, now, "silent"); err != nil {
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
	err := sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hub_outages SET until = $2 WHERE site = $1 AND until IS NULL AND reason = 'silent'`,
			site, sqlstore.FormatTime(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		back = true
		_, err = tx.ExecContext(ctx, `UPDATE hub_sites SET online = TRUE, reason = '' WHERE site = $1`, site)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("hub store: site %s back: %w", site, err)
	}
	return back, nil
}

// SiteHealth is one site as the hub sees it.
type SiteHealth struct {
	Site         string              `json:"site"`
	Online       bool                `json:"online"`
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

// Sites returns every site the hub has heard from, by id.
func (s *Store) Sites(ctx context.Context) ([]SiteHealth, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.site, s.online, s.reason, s.last_seen, s.status_time, s.version, s.config_digest,
		s.alarm_seq, s.hazard_seq, s.summary, (SELECT MIN(o.since) FROM hub_outages o WHERE o.site = s.site AND o.until IS NULL)
		FROM hub_sites s ORDER BY s.site`)
	if err != nil {
		return nil, fmt.Errorf("hub sites: %w", err)
	}
	defer rows.Close()
	var out []SiteHealth
	for rows.Next() {
		var h SiteHealth
		var seen, status, since sql.NullString
		var summary string
		if err := rows.Scan(&h.Site, &h.Online, &h.Reason, &seen, &status, &h.Version, &h.ConfigDigest,
			&h.AlarmSeq, &h.HazardSeq, &summary, &since); err != nil {
			return nil, fmt.Errorf("hub sites: %w", err)
		}
		for _, t := range []struct {
			dst **time.Time
			src sql.NullString
		}{{&h.LastSeen, seen}, {&h.StatusTime, status}, {&h.OfflineSince, since}} {
			if *t.dst, err = sqlstore.ParseNullTime(t.src); err != nil {
				return nil, fmt.Errorf("hub sites: site %s: %w", h.Site, err)
			}
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

// AlarmFilter selects remote alarms.
type AlarmFilter struct {
	Sites    []string // empty: every site
	OpenOnly bool
	Severity string
	Limit    int // 0: 500
}

// Alarms returns the sites' alarms as they have them, newest raised first.
func (s *Store) Alarms(ctx context.Context, f AlarmFilter) ([]alerting.Alarm, error) {
	q := `SELECT alarm FROM hub_alarms WHERE 1 = 1`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.Sites) > 0 {
		q += " AND site IN ("
		for i, site := range f.Sites {
			if i > 0 {
				q += ", "
			}
			q += arg(site)
		}
		q += ")"
	}
	if f.OpenOnly {
		q += " AND state <> " + arg(string(alerting.Normal))
	}
	if f.Severity != "" {
		q += " AND severity = " + arg(f.Severity)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	q += " ORDER BY raised_at DESC, site, id LIMIT " + arg(limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("hub alarms: %w", err)
	}
	defer rows.Close()
	out := []alerting.Alarm{}
	for rows.Next() {
		var raw string
		var a alerting.Alarm
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("hub alarms: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return nil, fmt.Errorf("hub alarms: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Hazards returns the sites' hazard records as they have them.
func (s *Store) Hazards(ctx context.Context, sites []string) ([]hazard.Hazard, error) {
	q := `SELECT hazard FROM hub_hazards`
	var args []any
	if len(sites) > 0 {
		q += " WHERE site IN ("
		for i, site := range sites {
			if i > 0 {
				q += ", "
			}
			args = append(args, site)
			q += fmt.Sprintf("$%d", len(args))
		}
		q += ")"
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY site, id", args...)
	if err != nil {
		return nil, fmt.Errorf("hub hazards: %w", err)
	}
	defer rows.Close()
	out := []hazard.Hazard{}
	for rows.Next() {
		var raw string
		var h hazard.Hazard
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("hub hazards: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return nil, fmt.Errorf("hub hazards: %w", err)
		}
		out = append(out, h)
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
