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
)

// States lists every state, in lifecycle order.
var States = []State{ActiveUnacked, ActiveAcked, ClearedUnacked, Normal, Shelved, OutOfService}

// Open reports whether the alarm still needs attention.
func (s State) Open() bool { return s != Normal }

// Active reports whether the alarm is annunciated as active (its condition
// holds and it is not suppressed).
func (s State) Active() bool { return s == ActiveUnacked || s == ActiveAcked }

// Suppressed reports whether the alarm is shelved or out of service.
func (s State) Suppressed() bool { return s == Shelved || s == OutOfService }

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
	ID       int64      `json:"id"`
	Site     string     `json:"site"`
	Tag      string     `json:"tag"`
	Rule     string     `json:"rule"`
	Level    string     `json:"level,omitempty"` // HH, H, L, LL, rise, fall or a state; one open alarm per (tag, rule, level)
	Class    string     `json:"class"`
	Severity string     `json:"severity"`
	State    State      `json:"state"`
	Active   bool       `json:"active"` // the condition holds, whatever the state (a shelved alarm may be active)
	Value    float64    `json:"value"`  // value at the last transition
	Peak     float64    `json:"peak"`   // furthest value beyond the limit while active
	Count    int        `json:"count"`  // raises of this occurrence: 1, plus one per re-raise before it closed
	Message  string     `json:"message,omitempty"`
	RaisedAt time.Time  `json:"raised_at"`
	AckedAt  *time.Time `json:"acked_at"`
	AckedBy  string     `json:"acked_by,omitempty"`
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
}

// Event is one committed alarm transition. Seq is its journal id: subscribers
// resume from the last Seq they delivered.
type Event struct {
	Seq  int64     `json:"seq"`
	Type string    `json:"type"` // raised, acked, cleared, closed, shelved, unshelved
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
)
