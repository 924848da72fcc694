// Package collector carries readings from protocols to their consumers: the
// Sample type, the tag registry, the pipeline, the latest-value cache and the
// InfluxDB sink.
package collector

import (
	"fmt"
	"time"
)

// Quality says how far a reading can be trusted.
type Quality uint8

const (
	// Good: the device answered and the value is inside its valid range.
	Good Quality = iota
	// Uncertain: a value was read but may be wrong (outside the sensor's
	// range, a 4-20 mA signal short of its fault limits).
	Uncertain
	// Bad: no usable value (device fault, communication lost, decode error).
	Bad
)

// Reasons for a quality other than Good. Alarm rules key on them, so a
// broken detector is never mistaken for clean air.
const (
	ReasonCommLoss    = "comm_loss"
	ReasonSensorFault = "sensor_fault"
	ReasonException   = "modbus_exception"
	ReasonDecode      = "decode_error"
	// ReasonSaturated: a 4-20 mA signal outside 4-20 mA but short of its
	// NAMUR NE 43 fault limits (Uncertain).
	ReasonSaturated = "saturated"
	// ReasonUnknownState: a state code the tag's name map lacks (Uncertain).
	ReasonUnknownState = "unknown_state"
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	case Bad:
		return "bad"
	}
	return fmt.Sprintf("quality(%d)", uint8(q))
}

// MarshalText makes Quality read as a word in JSON.
func (q Quality) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText accepts the words MarshalText writes.
func (q *Quality) UnmarshalText(b []byte) error {
	switch string(b) {
	case "good":
		*q = Good
	case "uncertain":
		*q = Uncertain
	case "bad":
		*q = Bad
	default:
		return fmt.Errorf("unknown quality %q", b)
	}
	return nil
}

// Sample is one reading of one tag.
type Sample struct {
	Tag     string
	Value   float64
	Quality Quality
	// Reason names why Quality is not Good (ReasonCommLoss, ...); empty when Good.
	Reason string
	Time   time.Time
}

// Tag is a point's identity and the metadata consumers key on.
type Tag struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	Site         string `json:"site"`
	Device       string `json:"device"`
	Kind         string `json:"kind,omitempty"`
	Unit         string `json:"unit,omitempty"`
	Area         string `json:"area,omitempty"`
	HazardSource string `json:"hazard_source,omitempty"` // 重大危险源编码
	Description  string `json:"description,omitempty"`
}
