// Package alerting turns samples into alarms: rules, the ISA-18.2 alarm
// lifecycle, the journal that commits every transition, and the event bus
// that publishes them.
package alerting

import "time"

// State is an alarm's place in the ISA-18.2 lifecycle.
type State string

const (
	// ActiveUnacked: the condition holds and no one has acknowledged it.
	ActiveUnacked State = "active_unacked"
	// ActiveAcked: the condition holds and an operator has acknowledged it.
	ActiveAcked State = "active_acked"
	// ClearedUnacked: the condition has gone but no one has acknowledged it.
	ClearedUnacked State = "cleared_unacked"
	// Normal: cleared and acknowledged; the alarm is closed and kept as history.
	Normal State = "normal"
	// Shelved: an operator has silenced the alarm until an expiry, with a
	// reason; its condition is still evaluated (Alarm.Active).
	Shelved State = "shelved"
	// OutOfService: removed from service (maintenance) until returned; like
	// Shelved without an expiry.
	OutOfService State = "out_of_service"
	// AwaitingDisposal (待处置): cleared and acknowledged, but its severity
	// needs a disposal record (报警处置) before it may close.
	AwaitingDisposal State = "awaiting_disposal"
	// SuppressedByDesign (设计抑制): raised while its device's
	// communication-loss alarm stands for it (ISA-18.2 designed
	// suppression): journalled and evaluated, never annunciated, closed when
	// its condition goes, announced if it still holds when the device
	// answers. It needs no acknowledgement.
	SuppressedByDesign State = "suppressed_by_design"
)

// States lists every state, in lifecycle order.
var States = []State{ActiveUnacked, ActiveAcked, ClearedUnacked, AwaitingDisposal, Normal, Shelved, OutOfService, SuppressedByDesign}

// Open reports whether the alarm still needs attention.
func (s State) Open() bool { return s != Normal }

// Active reports whether the alarm is annunciated as active (its condition
// holds and it is not suppressed).
func (s State) Active() bool { return s == ActiveUnacked || s == ActiveAcked }

// Unacked reports whether the alarm waits for an acknowledgement.
func (s State) Unacked() bool { return s == ActiveUnacked || s == ClearedUnacked }

// Suppressed reports whether the alarm is shelved, out of service or
// suppressed by design: evaluated, not annunciated.
func (s State) Suppressed() bool { return s == Shelved || s == OutOfService || s == SuppressedByDesign }

// Classes raised by the engine itself rather than by a configured rule name.
const (
	ClassCommLoss    = "comm_loss"
	ClassSensorFault = "sensor_fault"
	// ClassBadQuality covers every other reason a tag reads Bad (a Modbus
	// exception, a value that would not decode).
	ClassBadQuality = "bad_quality"
)

// Levels of limit rules. Rate rules use LevelRise and LevelFall, stale
// rules LevelStale, state rules the state's name, quality rules none.
const (
	LevelHH    = "HH"
	LevelH     = "H"
	LevelL     = "L"
	LevelLL    = "LL"
	LevelRise  = "rise"
	LevelFall  = "fall"
	LevelStale = "stale"
	// LevelDevice is a device's communication-loss root alarm, whose tag is
	// the device id.
	LevelDevice = "device"
)

// Severities in rising order.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Alarm is one occurrence of a rule's condition on one tag, from raise to close.
type Alarm struct {
	ID       int64   `json:"id"`
	Site     string  `json:"site"`
	Tag      string  `json:"tag"`
	Rule     string  `json:"rule"`
	Level    string  `json:"level,omitempty"` // HH, H, L, LL, rise, fall or a state; one open alarm per (tag, rule, level)
	Class    string  `json:"class"`
	Severity string  `json:"severity"`
	State    State   `json:"state"`
	Active   bool    `json:"active"` // the condition holds, whatever the state (a shelved alarm may be active)
	Value    float64 `json:"value"`  // value at the last transition
	Peak     float64 `json:"peak"`   // furthest value beyond the limit while active
	Count    int     `json:"count"`  // raises of this occurrence: 1, plus one per re-raise before it closed
	// Message is the alarm in Chinese, as raised; MessageEN the same from
	// the same catalogue, for a console switched to English.
	Message   string     `json:"message,omitempty"`
	MessageEN string     `json:"message_en,omitempty"`
	RaisedAt  time.Time  `json:"raised_at"`
	AckedAt   *time.Time `json:"acked_at"`
	AckedBy   string     `json:"acked_by,omitempty"`
	// AckComment is what the operator wrote when acknowledging.
	AckComment string     `json:"ack_comment,omitempty"`
	ClearedAt  *time.Time `json:"cleared_at"`
	// Chattering: raised and cleared Chatter.Count times within its window;
	// held active until quiet.
	Chattering bool `json:"chattering,omitempty"`
	// Shelving or removal from service: by whom, why, until when (nil: until
	// returned to service).
	ShelvedAt    *time.Time `json:"shelved_at,omitempty"`
	ShelvedUntil *time.Time `json:"shelved_until,omitempty"`
	ShelvedBy    string     `json:"shelved_by,omitempty"`
	ShelveReason string     `json:"shelve_reason,omitempty"`
	// Disposal is how the alarm was handled (报警处置), once filed.
	Disposal *Disposal `json:"disposal,omitempty"`
	// Escalations counts how often the alarm waited unacknowledged past its
	// severity's escalation time; each raised Severity one step.
	Escalations int        `json:"escalations,omitempty"`
	EscalatedAt *time.Time `json:"escalated_at,omitempty"`
	// Suppressed counts the alarms of this device's tags that this root-cause
	// alarm stood for while it was active (designed suppression); device
	// communication-loss alarms only.
	Suppressed int `json:"suppressed,omitempty"`
	// Root is the id of the device alarm that suppresses this one by design
	// (state suppressed_by_design); 0 once released or never suppressed.
	Root int64 `json:"root_id,omitempty"`
}

// Disposal is the record of how an alarm was handled (报警处置), which
// MEM's rules for the 风险监测预警系统 ask of every warning: why it
// happened, what was done, who did it and when.
type Disposal struct {
	Cause    string    `json:"cause"`    // one of DisposalCauses
	Measures string    `json:"measures"` // 处置措施
	Person   string    `json:"person"`   // 处置人: who handled it on site
	At       time.Time `json:"at"`       // 处置时间
	Note     string    `json:"note,omitempty"`
	By       string    `json:"by"` // the user who filed it
}

// Measured reports whether the alarm's value is a reading: not for a
// communication loss, sensor fault or bad quality, nor for a device's root
// alarm, a stale tag or a panel state (levels that are no limit or rate),
// whose 0 or 1 a list or ledger must not show as one.
func (a *Alarm) Measured() bool {
	switch a.Class {
	case ClassCommLoss, ClassSensorFault, ClassBadQuality:
		return false
	}
	switch a.Level {
	case "", LevelHH, LevelH, LevelL, LevelLL, LevelRise, LevelFall:
		return true
	}
	return false
}

// FalseAlarm reports whether the disposal found no real condition (误报).
func (d *Disposal) FalseAlarm() bool { return d != nil && d.Cause == CauseFalseAlarm }

// Disposal causes: a fixed list, so the regulator's 处置率 and 误报率 count
// like with like.
const (
	CauseFalseAlarm   = "false_alarm"   // 误报
	CauseDeviceFault  = "device_fault"  // 设备故障
	CauseProcessUpset = "process_upset" // 工艺波动
	CauseLeak         = "leak"          // 泄漏
	CauseMaintenance  = "maintenance"   // 检修作业
	CauseDrill        = "drill"         // 测试/演练
	CauseOther        = "other"         // 其他
)

// DisposalCauses names each cause in Chinese, in the order a form lists them.
var DisposalCauses = []struct{ Code, Name string }{
	{CauseFalseAlarm, "误报"},
	{CauseDeviceFault, "设备故障"},
	{CauseProcessUpset, "工艺波动"},
	{CauseLeak, "泄漏"},
	{CauseMaintenance, "检修作业"},
	{CauseDrill, "测试/演练"},
	{CauseOther, "其他"},
}

// IsDisposalCause reports whether code is one of DisposalCauses.
func IsDisposalCause(code string) bool {
	for _, c := range DisposalCauses {
		if c.Code == code {
			return true
		}
	}
	return false
}

// Event is one committed alarm transition. Seq is its journal id: subscribers
// resume from the last Seq they delivered.
type Event struct {
	Seq  int64     `json:"seq"`
	Type string    `json:"type"` // raised, acked, cleared, closed, shelved, unshelved, disposed, escalated
	Time time.Time `json:"time"`
	// By is the user who made the transition (ack, shelve, unshelve); empty
	// for the engine's own.
	By    string `json:"by,omitempty"`
	Alarm Alarm  `json:"alarm"`
}

// Event types. A transition that ends the lifecycle (an acked alarm clears,
// or a cleared alarm is acked) is EventClosed; the snapshot says which.
const (
	EventRaised  = "raised"
	EventAcked   = "acked"
	EventCleared = "cleared"
	EventClosed  = "closed"
	// EventShelved: shelved or removed from service (the snapshot's state says which).
	EventShelved = "shelved"
	// EventUnshelved: back from shelving or out of service, to active_unacked
	// if its condition holds, else closed (normal).
	EventUnshelved = "unshelved"
	// EventDisposed: a disposal record was filed; an alarm awaiting it closes
	// (the snapshot's state says normal).
	EventDisposed = "disposed"
	// EventEscalated: unacknowledged past its escalation time; the snapshot
	// carries the raised severity.
	EventEscalated = "escalated"
)
