package mqtt

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hazgate/collector"
)

// Reasons a payload is refused, counted per subscription.
const (
	ReasonNotJSON      = "not_json"
	ReasonNotNumber    = "not_number"
	ReasonMissingField = "missing_field"
	ReasonWrongType    = "wrong_type"
	ReasonBadTime      = "bad_time"
	ReasonBadTag       = "bad_tag"
	ReasonTagConflict  = "tag_conflict"
	ReasonTooManyTags  = "too_many_tags"
	ReasonUnknownState = "unknown_state"
	ReasonBadProtobuf  = "bad_protobuf"
	ReasonBadTopic     = "bad_topic"
	ReasonNoBirth      = "no_birth"
	ReasonUnknownAlias = "unknown_alias"
)

// payloadError is why a message (or part of it) gave no reading.
type payloadError struct {
	reason string
	detail string
}

func (e *payloadError) Error() string { return e.reason + ": " + e.detail }

func bad(reason, format string, args ...any) *payloadError {
	return &payloadError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// reading is one value a payload carried, before its tag is registered.
type reading struct {
	tag     string
	name    string // display name, from the name template
	area    string
	value   float64
	quality collector.Quality
	reason  string
	time    time.Time
	// family lists the tags created together with tag on first sight (a fire
	// panel point's six state tags); nil means tag alone.
	family []string
}

type format uint8

const (
	formatJSON format = iota
	formatNumber
	formatSparkplug
	formatFirePanel
)

var formats = map[string]format{"json": formatJSON, "number": formatNumber, "sparkplug": formatSparkplug, "fire_panel": formatFirePanel}

// template is a compiled tag, name or area template.
type template []tmplPart

type tmplPart struct {
	text  string
	level int // topic level, or -1
	field string
	path  []PathStep
}

func compileTemplate(s string) (template, error) {
	parts, err := ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	t := make(template, len(parts))
	for i, p := range parts {
		t[i] = tmplPart{text: p.Text, level: p.Level, field: p.Field}
		if p.Field != "" {
			if t[i].path, err = ParseFieldPath(p.Field); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// fieldLookup resolves a template field to text.
type fieldLookup func(p *tmplPart) (string, bool)

// fill renders t for one message. A missing level or field is an error: a
// tag id with a hole in it would merge unrelated points.
func (t template) fill(levels []string, field fieldLookup) (string, error) {
	if len(t) == 1 && t[0].level < 0 && t[0].field == "" {
		return t[0].text, nil
	}
	var b strings.Builder
	for i := range t {
		p := &t[i]
		switch {
		case p.level >= 0:
			if p.level >= len(levels) {
				return "", bad(ReasonBadTopic, "topic has no level %d", p.level)
			}
			b.WriteString(levels[p.level])
		case p.field != "":
			v, ok := field(p)
			if !ok {
				return "", bad(ReasonMissingField, "no field %q for the template", p.field)
			}
			b.WriteString(v)
		default:
			b.WriteString(p.text)
		}
	}
	return b.String(), nil
}

// checkTagID refuses ids a payload could make unusable downstream.
func checkTagID(id string) error {
	if id == "" {
		return bad(ReasonBadTag, "empty tag id")
	}
	if len(id) > maxTagLen {
		return bad(ReasonBadTag, "tag id of %d bytes (at most %d)", len(id), maxTagLen)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return bad(ReasonBadTag, "tag id %q has a control or invalid character", id)
		}
	}
	return nil
}

const maxTagLen = 256

// subscription is one configured topic filter, compiled. Its decoding
// state is owned by the collector's worker goroutine; its counters are safe
// to read from anywhere.
type subscription struct {
	cfg    Subscription
	filter []string
	format format
	qos    byte

	tag, name, area template
	kind            string
	value, time     []PathStep
	array, state    []PathStep
	hasTime         bool
	hasArray        bool

	sparkplug *sparkplugState
	fire      map[string]map[string]uint8 // topic -> point -> active state bits

	messages, readings atomic.Uint64
	bad                badPayloads
}

func compileSubscription(s Subscription, defaultQoS uint8) (*subscription, error) {
	if err := CheckTopicFilter(s.Topic); err != nil {
		return nil, err
	}
	f, ok := formats[s.Format]
	if !ok {
		return nil, fmt.Errorf("topic %s: unknown format %q", s.Topic, s.Format)
	}
	sub := &subscription{cfg: s, filter: strings.Split(s.Topic, "/"), format: f, qos: defaultQoS, kind: s.Kind}
	if s.QoS != nil {
		sub.qos = *s.QoS
	}
	if sub.qos > 2 {
		return nil, fmt.Errorf("topic %s: qos %d", s.Topic, sub.qos)
	}
	tagTmpl := s.Tag
	switch f {
	case formatSparkplug:
		if !strings.HasPrefix(s.Topic, SparkplugPrefix) {
			return nil, fmt.Errorf("topic %s: sparkplug topics start with %s", s.Topic, SparkplugPrefix)
		}
		sub.sparkplug = newSparkplugState()
	case formatFirePanel:
		sub.fire = make(map[string]map[string]uint8)
		if sub.kind == "" {
			sub.kind = "fire_panel"
		}
	}
	if tagTmpl == "" && f != formatSparkplug {
		return nil, fmt.Errorf("topic %s: no tag template", s.Topic)
	}
	var err error
	for _, t := range []struct {
		dst *template
		src string
	}{{&sub.tag, tagTmpl}, {&sub.name, s.Name}, {&sub.area, s.Area}} {
		if *t.dst, err = compileTemplate(t.src); err != nil {
			return nil, fmt.Errorf("topic %s: %w", s.Topic, err)
		}
	}
	value, tm, state := s.Value, s.Time, s.State
	if f == formatFirePanel {
		value, tm, state = orDefault(value, "active"), orDefault(tm, "ts"), orDefault(state, "type")
	} else {
		value = orDefault(value, "value")
	}
	for _, p := range []struct {
		dst *[]PathStep
		src string
		set *bool
	}{{&sub.value, value, nil}, {&sub.time, tm, &sub.hasTime}, {&sub.array, s.Array, &sub.hasArray}, {&sub.state, state, nil}} {
		if p.src == "" || f == formatNumber || f == formatSparkplug {
			continue
		}
		if *p.dst, err = ParseFieldPath(p.src); err != nil {
			return nil, fmt.Errorf("topic %s: %w", s.Topic, err)
		}
		if p.set != nil {
			*p.set = true
		}
	}
	return sub, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// matches reports whether topic levels match the subscription's filter.
func (s *subscription) matches(levels []string) bool {
	for i, f := range s.filter {
		if f == "#" {
			return true
		}
		if i >= len(levels) || (f != "+" && f != levels[i]) {
			return false
		}
	}
	return len(levels) == len(s.filter)
}

// decode turns one message into readings. It may return readings and an
// error together: one bad element of an array costs only itself.
func (s *subscription) decode(topic string, levels []string, payload []byte, recv time.Time) ([]reading, error) {
	switch s.format {
	case formatNumber:
		return s.decodeNumber(levels, payload, recv)
	case formatSparkplug:
		return s.decodeSparkplug(levels, payload, recv)
	case formatFirePanel:
		return s.decodeFirePanel(topic, levels, payload, recv)
	}
	return s.decodeJSON(levels, payload, recv)
}

// SubscriptionStats counts one subscription's messages.
type SubscriptionStats struct {
	Topic    string            `json:"topic"`
	Messages uint64            `json:"messages"`
	Readings uint64            `json:"readings"`
	Bad      map[string]uint64 `json:"bad,omitempty"` // by reason
}

func (s *subscription) stats() SubscriptionStats {
	return SubscriptionStats{Topic: s.cfg.Topic, Messages: s.messages.Load(), Readings: s.readings.Load(), Bad: s.bad.counts()}
}

// badLogEvery bounds how often one subscription logs bad payloads, so a
// device spewing garbage cannot flood the log.
const badLogEvery = time.Minute

// excerptLen is how much of a bad payload a log line shows.
const excerptLen = 64

// badPayloads counts refused payloads by reason and decides when to log.
type badPayloads struct {
	mu         sync.Mutex
	byReason   map[string]uint64
	lastLog    time.Time
	suppressed uint64
}

// add counts one refusal and reports whether to log it now, with how many
// were refused silently since the last line.
func (b *badPayloads) add(reason string, now time.Time) (log bool, suppressed uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byReason == nil {
		b.byReason = make(map[string]uint64)
	}
	b.byReason[reason]++
	if !b.lastLog.IsZero() && now.Sub(b.lastLog) < badLogEvery {
		b.suppressed++
		return false, 0
	}
	b.lastLog = now
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

func (b *badPayloads) counts() map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.byReason) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(b.byReason))
	for k, v := range b.byReason {
		out[k] = v
	}
	return out
}

// excerpt is the start of a payload, printable, for a log line.
func excerpt(p []byte) string {
	s := p
	if len(s) > excerptLen {
		s = s[:excerptLen]
	}
	q := strconv.QuoteToGraphic(string(s))
	if len(p) > excerptLen {
		q += "..."
	}
	return q
}
