package mqtt

import (
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"hazgate/collector"
	"hazgate/protocols/mqtt/sparkplugpb"
)

// Sparkplug B data types hazgate turns into readings (Sparkplug 3.0, 6.4.16).
const (
	spInt8     = 1
	spInt16    = 2
	spInt32    = 3
	spInt64    = 4
	spDateTime = 13
)

// ReasonNull marks a Sparkplug metric the edge node reports as null.
const ReasonNull = "null_value"

// Default tag templates when a sparkplug subscription sets none.
var (
	spNodeTag   = mustTemplate("{node}.{metric}")
	spDeviceTag = mustTemplate("{node}.{device}.{metric}")
)

func mustTemplate(s string) template {
	t, err := compileTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// spScope is what a birth established for an edge node or one of its
// devices: metric aliases and data types, and the tags fed, which its death
// marks Bad.
type spScope struct {
	born    bool
	aliases map[uint64]spMetric
	types   map[string]uint32
	tags    map[string]struct{}
}

type spMetric struct {
	name     string
	datatype uint32
}

type spNode struct {
	spScope
	bdSeq    uint64
	hasBdSeq bool
	devices  map[string]*spScope
}

// sparkplugState is the births seen on one subscription, by group/node.
type sparkplugState struct {
	nodes map[string]*spNode
}

func newSparkplugState() *sparkplugState {
	return &sparkplugState{nodes: make(map[string]*spNode)}
}

func (n *spNode) device(id string) *spScope {
	d := n.devices[id]
	if d == nil {
		d = &spScope{tags: make(map[string]struct{})}
		n.devices[id] = d
	}
	return d
}

func (sc *spScope) rebirth() {
	sc.born = true
	sc.aliases = make(map[uint64]spMetric)
	sc.types = make(map[string]uint32)
}

// decodeSparkplug handles one message of spBv1.0/{group}/{type}/{node}[/{device}].
func (s *subscription) decodeSparkplug(levels []string, payload []byte, recv time.Time) ([]reading, error) {
	if len(levels) < 4 || len(levels) > 5 || levels[0] != strings.TrimSuffix(SparkplugPrefix, "/") {
		return nil, bad(ReasonBadTopic, "not a Sparkplug B topic spBv1.0/group/type/node[/device]")
	}
	group, typ, nodeID, deviceID := levels[1], levels[2], levels[3], ""
	if len(levels) == 5 {
		deviceID = levels[4]
	}
	device := strings.HasPrefix(typ, "D")
	if device != (deviceID != "") {
		return nil, bad(ReasonBadTopic, "%s with %d topic levels", typ, len(levels))
	}
	switch typ {
	case "NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH":
	case "NCMD", "DCMD", "STATE":
		return nil, nil // commands and host state carry no readings
	default:
		return nil, bad(ReasonBadTopic, "unknown Sparkplug message type %q", typ)
	}
	var p sparkplugpb.Payload
	if err := proto.Unmarshal(payload, &p); err != nil {
		return nil, bad(ReasonBadProtobuf, "%v", err)
	}
	st := s.sparkplug
	key := group + "/" + nodeID
	node := st.nodes[key]
	if node == nil {
		node = &spNode{spScope: spScope{tags: make(map[string]struct{})}, devices: make(map[string]*spScope)}
		st.nodes[key] = node
	}
	at := spTime(p.GetTimestamp(), recv)
	ctx := spContext{s: s, levels: levels, group: group, node: nodeID, device: deviceID}

	switch typ {
	case "NBIRTH":
		node.rebirth()
		node.hasBdSeq = false
		for _, d := range node.devices {
			d.born = false // a node's rebirth is followed by its devices'
		}
		for _, m := range p.GetMetrics() {
			if m.GetName() == "bdSeq" {
				node.bdSeq, node.hasBdSeq = m.GetLongValue(), true
			}
		}
		return ctx.metrics(&node.spScope, p.GetMetrics(), true, at)
	case "DBIRTH":
		d := node.device(deviceID)
		d.rebirth()
		return ctx.metrics(d, p.GetMetrics(), true, at)
	case "NDATA":
		if !node.born {
			return nil, bad(ReasonNoBirth, "NDATA from node %s before its NBIRTH", key)
		}
		return ctx.metrics(&node.spScope, p.GetMetrics(), false, at)
	case "DDATA":
		d := node.devices[deviceID]
		if d == nil || !d.born {
			return nil, bad(ReasonNoBirth, "DDATA from device %s/%s before its DBIRTH", key, deviceID)
		}
		return ctx.metrics(d, p.GetMetrics(), false, at)
	case "NDEATH":
		// A death whose bdSeq is not the current birth's is the will of an
		// earlier session, delivered late: the node is alive.
		for _, m := range p.GetMetrics() {
			if m.GetName() == "bdSeq" && node.hasBdSeq && m.GetLongValue() != node.bdSeq {
				return nil, nil
			}
		}
		out := deathReadings(nil, &node.spScope, at)
		for _, d := range node.devices {
			out = deathReadings(out, d, at)
		}
		return out, nil
	}
	// DDEATH
	d := node.devices[deviceID]
	if d == nil {
		return nil, nil
	}
	return deathReadings(nil, d, at), nil
}

// deathReadings marks every tag of sc Bad; data before the next birth is refused.
func deathReadings(out []reading, sc *spScope, at time.Time) []reading {
	sc.born = false
	for tag := range sc.tags {
		out = append(out, badQuality(tag, at, collector.ReasonCommLoss))
	}
	return out
}

// spContext names the source of one message for tag templates.
type spContext struct {
	s                   *subscription
	levels              []string
	group, node, device string
}

// metrics turns a birth's or data message's metrics into readings; a
// birth also records names, aliases and types.
func (c *spContext) metrics(sc *spScope, ms []*sparkplugpb.Payload_Metric, birth bool, at time.Time) ([]reading, error) {
	tmpl := c.s.tag
	if len(tmpl) == 0 {
		tmpl = spNodeTag
		if c.device != "" {
			tmpl = spDeviceTag
		}
	}
	out := make([]reading, 0, len(ms))
	var first error
	for _, m := range ms {
		name, datatype := m.GetName(), m.GetDatatype()
		switch {
		case birth && name == "":
			first = firstErr(first, bad(ReasonMissingField, "birth metric without a name"))
			continue
		case birth:
			if m.Alias != nil {
				sc.aliases[m.GetAlias()] = spMetric{name, datatype}
			}
			sc.types[name] = datatype
		case name == "" && m.Alias == nil:
			first = firstErr(first, bad(ReasonMissingField, "metric with neither name nor alias"))
			continue
		case name == "":
			known, ok := sc.aliases[m.GetAlias()]
			if !ok {
				first = firstErr(first, bad(ReasonUnknownAlias, "alias %d not in the birth of %s", m.GetAlias(), c.source()))
				continue
			}
			name = known.name
			if m.Datatype == nil {
				datatype = known.datatype
			}
		case m.Datatype == nil:
			datatype = sc.types[name]
		}
		if name == "bdSeq" || strings.HasPrefix(name, "Node Control/") {
			continue // session bookkeeping, not plant values
		}
		v, ok := spValue(m, datatype)
		if !ok && !m.GetIsNull() {
			continue // text, bytes, datasets: not a reading
		}
		lookup := func(p *tmplPart) (string, bool) { return c.field(p.field, name) }
		tag, err := tmpl.fill(c.levels, lookup)
		if err == nil {
			err = checkTagID(tag)
		}
		if err != nil {
			first = firstErr(first, err)
			continue
		}
		sc.tags[tag] = struct{}{}
		t := at
		if m.Timestamp != nil {
			t = spTime(m.GetTimestamp(), at)
		}
		if m.GetIsNull() {
			out = append(out, badQuality(tag, t, ReasonNull))
			continue
		}
		r := reading{tag: tag, value: v, time: t}
		r.name, _ = c.s.name.fill(c.levels, lookup)
		r.area, _ = c.s.area.fill(c.levels, lookup)
		out = append(out, r)
	}
	return out, first
}

func (c *spContext) field(f, metric string) (string, bool) {
	switch f {
	case "group":
		return c.group, true
	case "node":
		return c.node, true
	case "device":
		return c.device, true
	case "metric":
		return metric, true
	}
	return "", false
}

func (c *spContext) source() string {
	if c.device != "" {
		return c.group + "/" + c.node + "/" + c.device
	}
	return c.group + "/" + c.node
}

// spValue reads a numeric or boolean metric value. Signed integers travel
// as two's complement in unsigned fields.
func spValue(m *sparkplugpb.Payload_Metric, datatype uint32) (float64, bool) {
	switch v := m.GetValue().(type) {
	case *sparkplugpb.Payload_Metric_IntValue:
		switch datatype {
		case spInt8:
			return float64(int8(v.IntValue)), true
		case spInt16:
			return float64(int16(v.IntValue)), true
		case spInt32:
			return float64(int32(v.IntValue)), true
		}
		return float64(v.IntValue), true
	case *sparkplugpb.Payload_Metric_LongValue:
		switch datatype {
		case spInt64:
			return float64(int64(v.LongValue)), true
		case spDateTime:
			return 0, false
		}
		return float64(v.LongValue), true
	case *sparkplugpb.Payload_Metric_FloatValue:
		f := float64(v.FloatValue)
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case *sparkplugpb.Payload_Metric_DoubleValue:
		return v.DoubleValue, !math.IsNaN(v.DoubleValue) && !math.IsInf(v.DoubleValue, 0)
	case *sparkplugpb.Payload_Metric_BooleanValue:
		if v.BooleanValue {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// spTime reads a Sparkplug timestamp (ms since the epoch), or def when unset
// or beyond what time.Time holds sensibly.
func spTime(ms uint64, def time.Time) time.Time {
	if ms == 0 || ms > maxEpochMillis {
		return def
	}
	return time.UnixMilli(int64(ms))
}
