// Package hazard turns alarm history into hazard records (隐患) that people
// rectify and close: rules read the alarm event stream (and people enter
// what a walk-round, 排查, finds), records follow the
// 待整改 → 整改中 → 待验收 → 已销号 workflow with a history of every change,
// and the ledger (隐患排查治理台账) exports them. Records live in the alarm
// journal's database file, and every change is committed before it is
// published.
package hazard

import (
	"errors"
	"fmt"
	"time"
)

// Status is a record's place in the rectification workflow.
type Status string

const (
	Open                Status = "open"                 // 待整改
	InProgress          Status = "in_progress"          // 整改中
	PendingVerification Status = "pending_verification" // 待验收
	Closed              Status = "closed"               // 已销号
	Dismissed           Status = "dismissed"            // 误报, with a reason
)

// Statuses lists every status in workflow order.
var Statuses = []Status{Open, InProgress, PendingVerification, Closed, Dismissed}

// Done reports whether the record has left the workflow (closed or dismissed).
func (s Status) Done() bool { return s == Closed || s == Dismissed }

// Label is the status as the ledger writes it.
func (s Status) Label() string {
	switch s {
	case Open:
		return "待整改"
	case InProgress:
		return "整改中"
	case PendingVerification:
		return "待验收"
	case Closed:
		return "已销号"
	case Dismissed:
		return "误报"
	}
	return string(s)
}

// Levels of a hazard.
const (
	LevelGeneral = "一般隐患"
	LevelMajor   = "重大隐患"
)

// Beijing is the time zone of record numbers and ledgers: regulators read
// 发现时间 and 整改时限 in China Standard Time whatever the host's zone.
var Beijing = time.FixedZone("CST", 8*3600)

// Hazard is one record.
type Hazard struct {
	ID     int64  `json:"id"`
	Number string `json:"number"` // site, date and sequence: DEMO-01-20251122-0003
	Site   string `json:"site"`
	// Unit is the 单位名称 (the site's display name).
	Unit string `json:"unit"`
	Rule string `json:"rule"`
	// Scope is what the record covers: a tag id, or an area for rules by area.
	Scope   string `json:"scope"`
	Area    string `json:"area"`
	Tag     string `json:"tag"`
	TagName string `json:"tag_name"`
	Device  string `json:"device"`

	Category    string `json:"category"`
	Level       string `json:"level"`
	Description string `json:"description"`
	Basis       string `json:"basis"`
	Measures    string `json:"measures"`
	Responsible string `json:"responsible"` // 责任单位
	Person      string `json:"person"`      // 责任人

	FoundAt  time.Time `json:"found_at"`
	Deadline time.Time `json:"deadline"`
	Status   Status    `json:"status"`
	// Overdue (超期): past the deadline and not closed or dismissed, as of
	// the read.
	Overdue bool `json:"overdue"`

	Supervised    bool       `json:"supervised"` // 挂牌督办
	SupervisedBy  string     `json:"supervised_by,omitempty"`
	SupervisedAt  *time.Time `json:"supervised_at,omitempty"`
	SuperviseNote string     `json:"supervise_note,omitempty"`

	// Funds (整改资金) is in yuan, nil until someone states it.
	Funds   *float64 `json:"funds"`
	Remarks string   `json:"remarks"` // 备注
	// Source is where the record came from: SourceRule or SourceManual.
	Source string `json:"source"`

	RectifiedAt   *time.Time `json:"rectified_at"`             // 整改完成时间: when it last went to 待验收
	VerifiedBy    string     `json:"verified_by,omitempty"`    // 验收人
	VerifiedAt    *time.Time `json:"verified_at"`              // 验收时间: the last verify step
	VerifyComment string     `json:"verify_comment,omitempty"` // 验收意见: that step's comment
	ClosedAt      *time.Time `json:"closed_at"`                // 销号时间, or when dismissed

	// The linked alarms as evidence, and whether their condition holds:
	// ConditionActive while any of them is active; otherwise NormalSince is
	// when the last cleared, and Restored says it has been normal for the
	// rule's normal_for, for the verifier to see before 销号.
	AlarmIDs        []int64       `json:"alarm_ids"`
	ConditionActive bool          `json:"condition_active"`
	NormalSince     *time.Time    `json:"normal_since"`
	NormalFor       time.Duration `json:"normal_for_ns"`
	Restored        bool          `json:"restored"`

	UpdatedAt time.Time `json:"updated_at"`
}

// Sources of a record.
const (
	SourceRule   = "rule"   // a hazard rule opened it from alarms
	SourceManual = "manual" // entered by hand after a walk-round (排查)
)

// Event types.
const (
	EventCreated      = "created"      // a rule opened the record
	EventLinked       = "linked"       // later alarms attached as evidence
	EventTransition   = "transition"   // status changed by a user
	EventSupervised   = "supervised"   // 挂牌督办 set
	EventUnsupervised = "unsupervised" // 挂牌督办 lifted
	// EventOverdue: the record passed its 整改时限 undone (超期); once per
	// record, the history remembering it was sent.
	EventOverdue = "overdue"
)

// Event is one committed change of a record, its history entry: who, when,
// from which status to which, why. Seq is its id in the hazard journal,
// monotonic across records, so a subscriber resumes after the last it saw.
type Event struct {
	Seq     int64     `json:"seq"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	By      string    `json:"by,omitempty"` // empty for the engine's own
	From    Status    `json:"from,omitempty"`
	To      Status    `json:"to,omitempty"`
	Comment string    `json:"comment,omitempty"`
	// AlarmIDs are the alarms a created or linked event attached.
	AlarmIDs []int64 `json:"alarm_ids,omitempty"`
	// OverrideReason is why a verifier closed (销号) the record while its
	// condition still held.
	OverrideReason string `json:"override_reason,omitempty"`
	Hazard         Hazard `json:"hazard"` // the record after the change
}

// Actor is who asks for a change and what the caller's role allows: the API
// maps roles to these rights; the workflow decides what each allows.
type Actor struct {
	Name      string
	Rectify   bool // move 待整改 → 整改中 → 待验收 (plant operators)
	Verify    bool // 验收: close, reject, dismiss (verifiers)
	Supervise bool // 挂牌督办 (regulators)
	Create    bool // enter a record found on a walk-round (排查)
}

// Errors a change can fail with, wrapped.
var (
	ErrNotFound = errors.New("hazard not found")
	// ErrForbidden: the actor's rights do not allow this change.
	ErrForbidden = errors.New("not allowed for this role")
	// ErrWrongState: the record's status (or level) does not allow it.
	ErrWrongState = errors.New("hazard state does not allow this")
	// ErrInvalid: the request lacks something the change needs (a reason).
	ErrInvalid = errors.New("invalid request")
	// ErrConditionActive: 销号 of a record whose condition still holds,
	// without an override reason; a kind of ErrWrongState.
	ErrConditionActive = fmt.Errorf("condition still active: %w", ErrWrongState)
)
