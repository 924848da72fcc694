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
)

// Open reports whether the alarm still needs attention.
func (s State) Open() bool { return s != Normal }

// Active reports whether the alarm's condition still holds.
func (s State) Active() bool { return s == ActiveUnacked || s == ActiveAcked }

// Classes raised by the engine itself rather than by a configured rule name.
const (
	ClassCommLoss    = "comm_loss"
	ClassSensorFault = "sensor_fault"
	// ClassBadQuality covers every other reason a tag reads Bad (a Modbus
	// exception, a value that would not decode).
	ClassBadQuality = "bad_quality"
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
	ID        int64      `json:"id"`
	Site      string     `json:"site"`
	Tag       string     `json:"tag"`
	Rule      string     `json:"rule"`
	Class     string     `json:"class"`
	Severity  string     `json:"severity"`
	State     State      `json:"state"`
	Value     float64    `json:"value"` // value at the last transition
	Peak      float64    `json:"peak"`  // furthest value beyond the limit while active
	Message   string     `json:"message,omitempty"`
	RaisedAt  time.Time  `json:"raised_at"`
	AckedAt   *time.Time `json:"acked_at"`
	AckedBy   string     `json:"acked_by,omitempty"`
	ClearedAt *time.Time `json:"cleared_at"`
}

// Event is one committed alarm transition. Seq is its journal id: subscribers
// resume from the last Seq they delivered.
type Event struct {
	Seq   int64     `json:"seq"`
	Type  string    `json:"type"` // raised, acked, cleared, closed
	Time  time.Time `json:"time"`
	Alarm Alarm     `json:"alarm"`
}

// Event types. A transition that ends the lifecycle (an acked alarm clears,
// or a cleared alarm is acked) is EventClosed; the snapshot says which.
const (
	EventRaised  = "raised"
	EventAcked   = "acked"
	EventCleared = "cleared"
	EventClosed  = "closed"
)
