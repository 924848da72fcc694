package hazard

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"hazgate/alerting/sqlstore"
)

// ManualRule is the rule name of records entered by hand.
const ManualRule = "manual"

// maxManualDays bounds a manual record's 整改时限: a year is already more
// than any rectification the regulators accept.
const maxManualDays = 366

// CreateRequest is a hazard found on a walk-round (排查) with no alarm
// behind it, entered by hand. Description, Level, Area or Point, Deadline
// or Days, and Person are required; the rest is optional.
type CreateRequest struct {
	Description string `json:"description"`
	Level       string `json:"level"` // 一般隐患 or 重大隐患
	Area        string `json:"area"`
	// Point is a tag id (its name, device and area are then the tag's) or
	// the name of a place.
	Point    string     `json:"point"`
	Deadline *time.Time `json:"deadline"` // 整改时限
	Days     int        `json:"days"`     // or: this many days from now
	Person   string     `json:"person"`   // 责任人

	Category    string   `json:"category"`    // default 现场排查
	Responsible string   `json:"responsible"` // 责任单位
	Basis       string   `json:"basis"`       // 判定依据
	Measures    string   `json:"measures"`    // 整改措施
	Funds       *float64 `json:"funds"`       // 整改资金, yuan
	Remarks     string   `json:"remarks"`     // 备注
}

// UnmarshalJSON reads a request refusing unknown fields, and names the
// deadline when it is not an RFC 3339 time (the decoder's own error names
// no field).
func (req *CreateRequest) UnmarshalJSON(b []byte) error {
	type plain CreateRequest
	var v struct {
		plain
		Deadline *string `json:"deadline"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*req = CreateRequest(v.plain)
	if v.Deadline != nil {
		t, err := time.Parse(time.RFC3339, *v.Deadline)
		if err != nil {
			return fmt.Errorf("deadline (整改时限) %q: want an RFC 3339 time such as 2026-03-01T17:00:00+08:00", *v.Deadline)
		}
		req.Deadline = &t
	}
	return nil
}

// defaultManualCategory is the 隐患类别 of a manual record that names none.
const defaultManualCategory = "现场排查"

// check trims req and says which field is missing or wrong, wrapping
// ErrInvalid; it returns the deadline counted from now.
func (req *CreateRequest) check(now time.Time) (time.Time, error) {
	for _, s := range []*string{&req.Description, &req.Level, &req.Area, &req.Point, &req.Person,
		&req.Category, &req.Responsible, &req.Basis, &req.Measures, &req.Remarks} {
		*s = strings.TrimSpace(*s)
	}
	bad := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
	}
	switch {
	case req.Description == "":
		return bad("description (隐患描述) is required")
	case req.Level != LevelGeneral && req.Level != LevelMajor:
		return bad("level (隐患等级) %q: want %s or %s", req.Level, LevelGeneral, LevelMajor)
	case req.Area == "" && req.Point == "":
		return bad("area (区域) or point (部位) is required")
	case req.Person == "":
		return bad("person (责任人) is required")
	case req.Deadline != nil && req.Days != 0:
		return bad("deadline and days: give one 整改时限, not both")
	case req.Deadline == nil && req.Days == 0:
		return bad("deadline (整改时限) or days is required")
	case req.Days < 0 || req.Days > maxManualDays:
		return bad("days %d: want 1 to %d", req.Days, maxManualDays)
	case req.Deadline != nil && !req.Deadline.After(now):
		return bad("deadline (整改时限) %s is not in the future", req.Deadline.Format(time.RFC3339))
	case req.Deadline != nil && req.Deadline.After(now.AddDate(0, 0, maxManualDays)):
		return bad("deadline (整改时限) %s is more than %d days away", req.Deadline.Format(time.RFC3339), maxManualDays)
	}
	if err := checkFunds(req.Funds); err != nil {
		return time.Time{}, err
	}
	if req.Category == "" {
		req.Category = defaultManualCategory
	}
	if req.Deadline != nil {
		return *req.Deadline, nil
	}
	return now.AddDate(0, 0, req.Days), nil
}

// Create records a hazard entered by hand (source manual), found now, with
// its creator in the history, and publishes it like a rule's. It fails
// wrapping ErrForbidden without the create right and ErrInvalid naming
// the field that is missing or wrong, changing nothing.
func (e *Engine) Create(ctx context.Context, actor Actor, req CreateRequest) (Hazard, error) {
	if !actor.Create {
		return Hazard{}, fmt.Errorf("new hazard: entering one needs the create right: %w", ErrForbidden)
	}
	if actor.Name == "" {
		return Hazard{}, fmt.Errorf("new hazard: %w: who is acting is required", ErrInvalid)
	}
	now := e.store.now()
	deadline, err := req.check(now)
	if err != nil {
		return Hazard{}, fmt.Errorf("new hazard: %w", err)
	}
	area, tag, tagName, device := req.Area, "", req.Point, ""
	if t, ok := e.tags.Lookup(req.Point); ok {
		tag, tagName, device = t.ID, t.Name, t.Device
		if area == "" {
			area = t.Area
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var ev Event
	err = sqlstore.InTx(ctx, e.store.db, func(tx *sql.Tx) error {
		day := now.In(Beijing).Format("20060102")
		var seq int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(day_seq), 0) + 1 FROM hazards WHERE site = $1 AND day = $2`,
			e.site, day).Scan(&seq); err != nil {
			return err
		}
		number := fmt.Sprintf("%s-%s-%04d", strings.ToUpper(e.site), day, seq)
		var id int64
		// The scope is the number: manual records never merge, however alike.
		if err := tx.QueryRowContext(ctx, `INSERT INTO hazards (number, site, day, day_seq, unit, rule, scope, area, tag, tag_name,
			device, category, level, description, basis, measures, responsible, person, found_at, deadline, status, normal_for,
			updated_at, funds, remarks, source)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, 0, $22, $23, $24, $25)
			RETURNING id`,
			number, e.site, day, seq, e.unit, ManualRule, "manual:"+number, area, tag, tagName,
			device, req.Category, req.Level, req.Description, req.Basis, req.Measures, req.Responsible, req.Person,
			sqlstore.FormatTime(now), sqlstore.FormatTime(deadline), string(Open), sqlstore.FormatTime(now),
			nullFloat(req.Funds), req.Remarks, SourceManual).Scan(&id); err != nil {
			return fmt.Errorf("insert hazard %s: %w", number, err)
		}
		ev, err = appendEvent(ctx, tx, id, Event{Type: EventCreated, By: actor.Name, To: Open, Comment: "现场排查录入"}, now)
		return err
	})
	if err != nil {
		return Hazard{}, fmt.Errorf("new hazard: %w", err)
	}
	e.published([]Event{ev})
	return ev.Hazard, nil
}
