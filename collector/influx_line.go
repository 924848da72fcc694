package collector

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

// batchBuilder encodes points as InfluxDB line protocol (nanosecond
// timestamps) into one write body. It is our own encoder because one bad
// line fails the whole batch: it never emits a line InfluxDB 1.8 would
// misparse, whatever a tag value holds.
type batchBuilder struct {
	sb      strings.Builder
	points  int
	started time.Time // when the first point of this batch arrived
	oldest  int64     // smallest timestamp in the batch, Unix ns
	lastLen int       // size of the previous body, to allocate once
	num     [40]byte
	series  map[string]*seriesKey // tag id -> its encoded series
}

// seriesKey is a reading's measurement and tags as encoded for one tag's
// metadata: a sample whose tag is unchanged since costs one write, not
// six escaped ones.
type seriesKey struct {
	tag     Tag
	site    string
	key     string
	version uint64 // of the registry when tag was looked up; 0: unknown
}

// maxSeriesKeys bounds the cache of series keys; beyond it (tags created
// and dropped over a long run) it starts again.
const maxSeriesKeys = 1 << 18

func (b *batchBuilder) begin() {
	if b.points == 0 {
		b.started = time.Now()
		if b.lastLen > 0 {
			b.sb.Grow(b.lastLen + b.lastLen/8)
		}
	}
}

// finish returns the batch so far and starts an empty one; nil if empty.
func (b *batchBuilder) finish() *lineBatch {
	if b.points == 0 {
		return nil
	}
	lb := &lineBatch{body: b.sb.String(), points: b.points, oldest: time.Unix(0, b.oldest)}
	b.lastLen = b.sb.Len()
	b.sb = strings.Builder{}
	b.points = 0
	return lb
}

// addSample writes one reading. Tags come in key order (InfluxDB sorts them
// otherwise); empty tags are left out because line protocol has no empty
// tag value.
func (b *batchBuilder) addSample(s *Sample, t *Tag, site string, version uint64) {
	b.begin()
	sb := &b.sb
	if t.Site != "" {
		site = t.Site
	}
	if k := b.series[s.Tag]; k != nil && k.tag == *t && k.site == site {
		sb.WriteString(k.key)
		k.version = version
	} else {
		start := sb.Len()
		sb.WriteString(MeasurementReading)
		b.tag(readingArea, t.Area)
		b.tag(readingDevice, t.Device)
		b.tag(readingKind, t.Kind)
		b.tag(readingSite, site)
		b.tag(readingTag, s.Tag)
		b.tag(readingUnit, t.Unit)
		if b.series == nil || len(b.series) >= maxSeriesKeys {
			b.series = make(map[string]*seriesKey)
		}
		// A copy: the body's bytes go with the batch.
		b.series[s.Tag] = &seriesKey{tag: *t, site: site, key: strings.Clone(sb.String()[start:]), version: version}
	}
	b.fields(s)
}

// addKnown writes one reading of a tag whose series key is cached for
// version of the tag registry, and reports false, writing nothing, if it is
// not: then the caller looks the tag up and calls addSample.
func (b *batchBuilder) addKnown(s *Sample, version uint64) bool {
	k := b.series[s.Tag]
	if version == 0 || k == nil || k.version != version {
		return false
	}
	b.begin()
	b.sb.WriteString(k.key)
	b.fields(s)
	return true
}

// fields writes a reading's fields and time after its series key.
func (b *batchBuilder) fields(s *Sample) {
	sb := &b.sb
	sb.WriteString(" " + readingQuality + "=\"")
	sb.WriteString(s.Quality.String())
	sb.WriteByte('"')
	if s.Reason != "" {
		sb.WriteString("," + readingReason + "=")
		b.stringValue(s.Reason)
	}
	// A Bad reading's number means nothing; writing it would put a fake
	// value on every chart. NaN and Inf have no line-protocol form.
	if s.Quality != Bad && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
		sb.WriteString("," + readingValue + "=")
		sb.Write(strconv.AppendFloat(b.num[:0], s.Value, 'g', -1, 64))
	}
	b.timestamp(s.Time, time.Time{})
	b.points++
}

// addPoint writes a ready-made point (alarm, self-metric); def stamps a
// point without time. It reports false, writing nothing, if no field of p
// can be written.
func (b *batchBuilder) addPoint(p *write.Point, def time.Time) bool {
	writable := false
	for _, f := range p.FieldList() {
		if f.Key != "" && fieldWritable(f.Value) {
			writable = true
			break
		}
	}
	if !writable || p.Name() == "" {
		return false
	}
	b.begin()
	sb := &b.sb
	b.escape(p.Name(), false)
	for _, t := range p.TagList() {
		if t.Key != "" && t.Value != "" {
			b.tag(t.Key, t.Value)
		}
	}
	sep := byte(' ')
	for _, f := range p.FieldList() {
		if f.Key == "" || !fieldWritable(f.Value) {
			continue
		}
		sb.WriteByte(sep)
		sep = ','
		b.escape(f.Key, true)
		sb.WriteByte('=')
		b.fieldValue(f.Value)
	}
	b.timestamp(p.Time(), def)
	b.points++
	return true
}

func (b *batchBuilder) tag(k, v string) {
	if v == "" {
		return
	}
	b.sb.WriteByte(',')
	b.escape(k, true)
	b.sb.WriteByte('=')
	b.escape(v, true)
}

func (b *batchBuilder) timestamp(t, def time.Time) {
	if t.IsZero() {
		t = def
	}
	if t.IsZero() {
		t = time.Now()
	}
	ns := t.UnixNano()
	if b.points == 0 || ns < b.oldest {
		b.oldest = ns
	}
	b.sb.WriteByte(' ')
	b.sb.Write(strconv.AppendInt(b.num[:0], ns, 10))
	b.sb.WriteByte('\n')
}

// escape writes a measurement (eq false), tag key, tag value or field key.
// InfluxDB 1.8 treats any backslash before a separator as an escape and
// cannot represent a literal one there, so such a backslash becomes '/'.
// Control characters become (escaped) spaces: parsers disagree about them.
func (b *batchBuilder) escape(s string, eq bool) {
	if !needsEscape(s) {
		b.sb.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ',' || c == ' ' || (c == '=' && eq):
			b.sb.WriteByte('\\')
		case isControl(c):
			b.sb.WriteString(`\ `)
			continue
		case c == '\\':
			if i+1 == len(s) || strings.IndexByte(", =", s[i+1]) >= 0 || isControl(s[i+1]) {
				c = '/'
			}
		}
		b.sb.WriteByte(c)
	}
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == ' ' || c == '=' || c == '\\' || isControl(c) {
			return true
		}
	}
	return false
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// stringValue writes a quoted string field; control characters become
// spaces (some parsers end the line at a newline even inside quotes).
func (b *batchBuilder) stringValue(s string) {
	b.sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.sb.WriteByte('\\')
			b.sb.WriteByte(c)
		case isControl(c):
			b.sb.WriteByte(' ')
		default:
			b.sb.WriteByte(c)
		}
	}
	b.sb.WriteByte('"')
}

func (b *batchBuilder) fieldValue(v any) {
	switch v := v.(type) {
	case float64:
		b.sb.Write(strconv.AppendFloat(b.num[:0], v, 'g', -1, 64))
	case float32:
		b.sb.Write(strconv.AppendFloat(b.num[:0], float64(v), 'g', -1, 32))
	case int64:
		b.integer(v)
	case int:
		b.integer(int64(v))
	case int32:
		b.integer(int64(v))
	case int16:
		b.integer(int64(v))
	case int8:
		b.integer(int64(v))
	case uint64:
		b.unsigned(v)
	case uint:
		b.unsigned(uint64(v))
	case uint32:
		b.unsigned(uint64(v))
	case uint16:
		b.unsigned(uint64(v))
	case uint8:
		b.unsigned(uint64(v))
	case bool:
		b.sb.WriteString(strconv.FormatBool(v))
	case string:
		b.stringValue(v)
	case []byte:
		b.stringValue(string(v))
	default:
		b.stringValue(fmt.Sprint(v))
	}
}

func (b *batchBuilder) integer(v int64) {
	b.sb.Write(strconv.AppendInt(b.num[:0], v, 10))
	b.sb.WriteByte('i')
}

// unsigned writes v as an integer: InfluxDB 1.8 refuses the "u" suffix.
func (b *batchBuilder) unsigned(v uint64) {
	if v > math.MaxInt64 {
		b.sb.Write(strconv.AppendFloat(b.num[:0], float64(v), 'g', -1, 64))
		return
	}
	b.integer(int64(v))
}

// fieldWritable reports whether v has a line-protocol form.
func fieldWritable(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case float64:
		return !math.IsNaN(v) && !math.IsInf(v, 0)
	case float32:
		return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
	}
	return true
}
