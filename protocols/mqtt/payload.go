package mqtt

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"hazgate/collector"
)

// decodeNumber reads a payload that is one number in text, such as 0.32.
func (s *subscription) decodeNumber(levels []string, payload []byte, recv time.Time) ([]reading, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(payload)), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, bad(ReasonNotNumber, "payload is not a number")
	}
	id, err := s.tag.fill(levels, nil)
	if err != nil {
		return nil, err
	}
	if err := checkTagID(id); err != nil {
		return nil, err
	}
	r := reading{tag: id, value: v, time: recv}
	r.name, _ = s.name.fill(levels, nil)
	r.area, _ = s.area.fill(levels, nil)
	return []reading{r}, nil
}

// decodeJSON reads one reading per element: the payload itself, or each
// element of the configured array.
func (s *subscription) decodeJSON(levels []string, payload []byte, recv time.Time) ([]reading, error) {
	root, elems, err := s.parseJSON(payload)
	if err != nil {
		return nil, err
	}
	if elems == nil {
		elems = []jv{root}
	}
	out := make([]reading, 0, len(elems))
	var first error
	for _, el := range elems {
		r, err := s.jsonReading(levels, root, el, recv)
		if err != nil {
			first = firstErr(first, err)
			continue
		}
		out = append(out, r)
	}
	return out, first
}

func firstErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// parseJSON checks payload and picks the elements readings come from; nil
// elems without an array configured: root is the one element.
func (s *subscription) parseJSON(payload []byte) (root jv, elems []jv, err error) {
	if root, err = parseJV(payload); err != nil {
		return nil, nil, bad(ReasonNotJSON, "%v", err)
	}
	if !s.hasArray {
		return root, nil, nil // the caller's one element: a slice on its stack
	}
	v, ok := root.walk(s.array)
	if !ok {
		return nil, nil, bad(ReasonMissingField, "no array at %q", s.cfg.Array)
	}
	arr, ok := v.elems()
	if !ok {
		return nil, nil, bad(ReasonWrongType, "%q is %s, not an array", s.cfg.Array, typeName(v.scalar()))
	}
	return root, arr, nil
}

func (s *subscription) jsonReading(levels []string, root, el jv, recv time.Time) (reading, error) {
	v, ok := el.walk(s.value)
	if !ok {
		return reading{}, bad(ReasonMissingField, "no value at %q", orDefault(s.cfg.Value, "value"))
	}
	num, err := number(v.scalar())
	if err != nil {
		return reading{}, bad(ReasonWrongType, "value at %q: %v", orDefault(s.cfg.Value, "value"), err)
	}
	at, err := s.readingTime(el, recv)
	if err != nil {
		return reading{}, err
	}
	r := reading{value: num, time: at}
	if r.tag, r.name, r.area, err = s.ids(levels, root, el, ""); err != nil {
		return reading{}, err
	}
	return r, nil
}

// ids fills the tag, name and area templates from the topic and the
// element, falling back to the whole payload; suffix is appended to the tag.
func (s *subscription) ids(levels []string, root, el jv, suffix string) (tag, name, area string, err error) {
	lookup := func(p *tmplPart) (string, bool) {
		v, ok := el.walk(p.path)
		if !ok && s.hasArray { // el is an element of root
			v, ok = root.walk(p.path)
		}
		if !ok {
			return "", false
		}
		return text(v.scalar())
	}
	if tag, err = s.tag.fill(levels, lookup); err != nil {
		return "", "", "", err
	}
	if err = checkTagID(tag + suffix); err != nil {
		return "", "", "", err
	}
	name, _ = s.name.fill(levels, lookup) // metadata only: a hole is no reason to drop the reading
	area, _ = s.area.fill(levels, lookup)
	return tag, name, area, nil
}

// readingTime is the element's time field, or recv when none is configured
// or the element has none.
func (s *subscription) readingTime(el jv, recv time.Time) (time.Time, error) {
	if !s.hasTime {
		return recv, nil
	}
	v, ok := el.walk(s.time)
	if !ok {
		return recv, nil
	}
	return parseTime(v.scalar())
}

// number accepts JSON numbers and booleans (a state as 0 or 1).
func number(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, &payloadError{reason: ReasonWrongType, detail: typeName(v) + ", want a number"}
}

// text renders a JSON scalar for a template; 23 and 23.0 both give "23".
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown type"
}

// Epoch numbers are told apart by size: seconds until the year 5138,
// milliseconds, microseconds, nanoseconds.
const (
	maxEpochSeconds = 1e11
	maxEpochMillis  = 1e14
	maxEpochMicros  = 1e17
	maxEpochNanos   = math.MaxInt64
)

// parseTime reads epoch seconds, milliseconds (or finer) or RFC 3339.
func parseTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case float64:
		switch {
		case x < 0 || math.IsNaN(x):
			return time.Time{}, bad(ReasonBadTime, "negative time %v", x)
		case x < maxEpochSeconds:
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(frac*1e9)), nil
		case x < maxEpochMillis:
			return time.UnixMicro(int64(x * 1e3)), nil
		case x < maxEpochMicros:
			return time.UnixMicro(int64(x)), nil
		case x < maxEpochNanos:
			return time.Unix(0, int64(x)), nil
		}
		return time.Time{}, bad(ReasonBadTime, "time %v is out of range", x)
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, bad(ReasonBadTime, "time %q is not RFC 3339", x)
		}
		return t, nil
	}
	return time.Time{}, bad(ReasonBadTime, "time is %s, want epoch seconds or milliseconds or RFC 3339", typeName(v))
}

// Fire panel point states, in the order of their bits. A rule matches a
// state by tag suffix, for example match: {tag: "*.fire"}.
var fireStates = [...]string{"fire", "fault", "supervisory", "disabled", "start", "feedback"}

// fireStateNames maps the event types panels send (in English or as the
// Chinese names on GB 16806 panels) to a state; -1 is a panel reset.
var fireStateNames = map[string]int{
	"fire": 0, "火警": 0,
	"fault": 1, "故障": 1,
	"supervisory": 2, "监管": 2,
	"disabled": 3, "屏蔽": 3,
	"start": 4, "启动": 4,
	"feedback": 5, "反馈": 5,
	"reset": -1, "复位": -1,
}

// decodeFirePanel turns panel events into 0/1 samples on per-point state
// tags. A reset event returns every state still active on the same topic
// to 0.
func (s *subscription) decodeFirePanel(topic string, levels []string, payload []byte, recv time.Time) ([]reading, error) {
	root, elems, err := s.parseJSON(payload)
	if err != nil {
		return nil, err
	}
	if elems == nil {
		elems = []jv{root}
	}
	var out []reading
	var first error
	for _, el := range elems {
		out, err = s.fireEvent(out, topic, levels, root, el, recv)
		first = firstErr(first, err)
	}
	return out, first
}

func (s *subscription) fireEvent(out []reading, topic string, levels []string, root, el jv, recv time.Time) ([]reading, error) {
	raw, ok := el.walk(s.state)
	if !ok {
		return out, bad(ReasonMissingField, "no event type at %q", orDefault(s.cfg.State, "type"))
	}
	sv := raw.scalar()
	name, ok := sv.(string)
	if !ok {
		return out, bad(ReasonWrongType, "event type is %s, want a string", typeName(sv))
	}
	state, ok := fireStateNames[name]
	if !ok {
		return out, bad(ReasonUnknownState, "unknown event type %q", name)
	}
	at, err := s.readingTime(el, recv)
	if err != nil {
		return out, err
	}
	points := s.fire[topic]
	if state < 0 {
		for base, bits := range points {
			for i, st := range fireStates {
				if bits&(1<<i) != 0 {
					out = append(out, reading{tag: base + "." + st, value: 0, time: at})
				}
			}
			delete(points, base)
		}
		return out, nil
	}
	// An event without an active flag reports a state that has occurred.
	active := 1.0
	if v, ok := el.walk(s.value); ok {
		if active, err = number(v.scalar()); err != nil {
			return out, bad(ReasonWrongType, "active flag at %q: %v", orDefault(s.cfg.Value, "active"), err)
		}
		if active != 0 {
			active = 1
		}
	}
	base, pname, area, err := s.ids(levels, root, el, ".supervisory")
	if err != nil {
		return out, err
	}
	if points == nil {
		points = make(map[string]uint8)
		s.fire[topic] = points
	}
	if active == 1 {
		points[base] |= 1 << state
	} else if bits := points[base] &^ (1 << state); bits != 0 {
		points[base] = bits
	} else {
		delete(points, base)
	}
	family := make([]string, len(fireStates))
	for i, st := range fireStates {
		family[i] = base + "." + st
	}
	return append(out, reading{tag: family[state], name: pname, area: area, value: active, time: at, family: family}), nil
}

// badQuality is a reading that says a tag's value is no longer known (0,
// as other protocols write it: NaN has no JSON or line-protocol form).
func badQuality(tag string, at time.Time, reason string) reading {
	return reading{tag: tag, quality: collector.Bad, reason: reason, time: at}
}
