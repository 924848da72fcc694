package mqtt

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"hazgate/collector"
	"hazgate/protocols/mqtt/sparkplugpb"
)

// spMsg builds a Sparkplug B payload with the schema's generated types, as
// an edge node would.
func spMsg(t testing.TB, ts uint64, ms ...*sparkplugpb.Payload_Metric) []byte {
	t.Helper()
	b, err := proto.Marshal(&sparkplugpb.Payload{Timestamp: proto.Uint64(ts), Seq: proto.Uint64(0), Metrics: ms})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metric(name string, alias uint64, datatype uint32) *sparkplugpb.Payload_Metric {
	m := &sparkplugpb.Payload_Metric{Datatype: proto.Uint32(datatype)}
	if name != "" {
		m.Name = proto.String(name)
	}
	if alias != 0 {
		m.Alias = proto.Uint64(alias)
	}
	return m
}

func withDouble(m *sparkplugpb.Payload_Metric, v float64) *sparkplugpb.Payload_Metric {
	m.Value = &sparkplugpb.Payload_Metric_DoubleValue{DoubleValue: v}
	return m
}

func withInt(m *sparkplugpb.Payload_Metric, v uint32) *sparkplugpb.Payload_Metric {
	m.Value = &sparkplugpb.Payload_Metric_IntValue{IntValue: v}
	return m
}

func withLong(m *sparkplugpb.Payload_Metric, v uint64) *sparkplugpb.Payload_Metric {
	m.Value = &sparkplugpb.Payload_Metric_LongValue{LongValue: v}
	return m
}

func withBool(m *sparkplugpb.Payload_Metric, v bool) *sparkplugpb.Payload_Metric {
	m.Value = &sparkplugpb.Payload_Metric_BooleanValue{BooleanValue: v}
	return m
}

type spStep struct {
	topic   string
	payload []byte
	want    map[string]float64 // tag -> value; NaN for Bad
	reason  string
}

func runSparkplug(t *testing.T, sub *subscription, steps []spStep) {
	t.Helper()
	for i, st := range steps {
		rs, err := decodeOne(sub, st.topic, string(st.payload))
		if r := reasonOf(err); r != st.reason {
			t.Errorf("step %d %s: err %v, want reason %q", i, st.topic, err, st.reason)
		}
		got := make(map[string]float64)
		for _, r := range rs {
			v := r.value
			if r.quality == collector.Bad {
				v = math.NaN()
			}
			got[r.tag] = v
		}
		if len(got) != len(st.want) {
			t.Errorf("step %d %s: readings %v, want %v", i, st.topic, got, st.want)
			continue
		}
		for tag, w := range st.want {
			g, ok := got[tag]
			if !ok || (math.IsNaN(w) != math.IsNaN(g)) || (!math.IsNaN(w) && g != w) {
				t.Errorf("step %d %s: %s = %v (present %v), want %v", i, st.topic, tag, g, ok, w)
			}
		}
	}
}

func TestSparkplugLifecycle(t *testing.T) {
	sub := mustSub(t, Subscription{Topic: "spBv1.0/plant/#", Format: "sparkplug"})
	bad := math.NaN()
	const ts = 1732250000000
	runSparkplug(t, sub, []spStep{
		{"spBv1.0/plant/NDATA/E1", spMsg(t, ts, withDouble(metric("", 1, 10), 1)), nil, ReasonNoBirth},
		{"spBv1.0/plant/NBIRTH/E1", spMsg(t, ts,
			withLong(metric("bdSeq", 0, 8), 3),
			withBool(metric("Node Control/Rebirth", 0, 11), false),
			withDouble(metric("Supply/Voltage", 1, 10), 24.1),
			withInt(metric("Temp", 2, 2), 0xFFFF_FFF6), // Int16 -10, two's complement
			&sparkplugpb.Payload_Metric{Name: proto.String("Label"), Alias: proto.Uint64(3), Datatype: proto.Uint32(12), Value: &sparkplugpb.Payload_Metric_StringValue{StringValue: "x"}},
		), map[string]float64{"E1.Supply/Voltage": 24.1, "E1.Temp": -10}, ""},
		{"spBv1.0/plant/DBIRTH/E1/GD-1", spMsg(t, ts,
			withDouble(metric("LEL", 10, 10), 0),
			withBool(metric("Fault", 11, 11), false),
		), map[string]float64{"E1.GD-1.LEL": 0, "E1.GD-1.Fault": 0}, ""},
		{"spBv1.0/plant/DDATA/E1/GD-1", spMsg(t, ts+1000,
			withDouble(&sparkplugpb.Payload_Metric{Alias: proto.Uint64(10)}, 27.5), // datatype from the birth
			withDouble(metric("", 99, 10), 1),                                      // unknown alias: refused alone
		), map[string]float64{"E1.GD-1.LEL": 27.5}, ReasonUnknownAlias},
		{"spBv1.0/plant/NDATA/E1", spMsg(t, ts+1000, withInt(&sparkplugpb.Payload_Metric{Alias: proto.Uint64(2)}, 5)),
			map[string]float64{"E1.Temp": 5}, ""},
		{"spBv1.0/plant/NDATA/E1", spMsg(t, ts+1000, &sparkplugpb.Payload_Metric{Name: proto.String("Temp"), IsNull: proto.Bool(true)}),
			map[string]float64{"E1.Temp": bad}, ""},
		{"spBv1.0/plant/DDEATH/E1/GD-1", spMsg(t, ts+2000), map[string]float64{"E1.GD-1.LEL": bad, "E1.GD-1.Fault": bad}, ""},
		{"spBv1.0/plant/DDATA/E1/GD-1", spMsg(t, ts+3000, withDouble(metric("", 10, 10), 1)), nil, ReasonNoBirth},
		// A late will of an earlier session (bdSeq 2) must not kill the live node.
		{"spBv1.0/plant/NDEATH/E1", spMsg(t, 0, withLong(metric("bdSeq", 0, 8), 2)), nil, ""},
		{"spBv1.0/plant/NDEATH/E1", spMsg(t, 0, withLong(metric("bdSeq", 0, 8), 3)),
			map[string]float64{"E1.Supply/Voltage": bad, "E1.Temp": bad, "E1.GD-1.LEL": bad, "E1.GD-1.Fault": bad}, ""},
		{"spBv1.0/plant/NDATA/E1", spMsg(t, ts, withDouble(metric("", 1, 10), 1)), nil, ReasonNoBirth},
		{"spBv1.0/plant/NCMD/E1", spMsg(t, ts, withBool(metric("Node Control/Rebirth", 0, 11), true)), nil, ""},
		{"spBv1.0/plant/NDATA/E1", []byte{0xff, 0xff}, nil, ReasonBadProtobuf},
		{"spBv1.0/plant/XDATA/E1", spMsg(t, ts), nil, ReasonBadTopic},
		{"spBv1.0/plant/DDATA/E1", spMsg(t, ts), nil, ReasonBadTopic},
		{"spBv1.0/plant/NBIRTH/E2", spMsg(t, ts, metric("", 1, 10)), nil, ReasonMissingField},
	})
}

func TestSparkplugTimesAndTemplate(t *testing.T) {
	sub := mustSub(t, Subscription{Topic: "spBv1.0/+/#", Format: "sparkplug", Tag: "{group}:{node}:{metric}", Area: "{1}"})
	m := withDouble(metric("P", 1, 10), 0.5)
	m.Timestamp = proto.Uint64(1732250000999)
	rs, err := decodeOne(sub, "spBv1.0/g1/NBIRTH/n1", string(spMsg(t, 1732250000000, m, withDouble(metric("Q", 2, 10), 1))))
	if err != nil || len(rs) != 2 {
		t.Fatalf("%+v %v", rs, err)
	}
	if rs[0].tag != "g1:n1:P" || !rs[0].time.Equal(time.UnixMilli(1732250000999)) || rs[0].area != "g1" {
		t.Errorf("metric with own timestamp: %+v", rs[0])
	}
	if !rs[1].time.Equal(time.UnixMilli(1732250000000)) {
		t.Errorf("metric without timestamp takes the payload's: %v", rs[1].time)
	}
}

func TestSpValue(t *testing.T) {
	tests := []struct {
		m    *sparkplugpb.Payload_Metric
		dt   uint32
		want float64
		ok   bool
	}{
		{withInt(metric("a", 0, 1), 0xFF), 1, -1, true},
		{withInt(metric("a", 0, 3), 0x8000_0000), 3, math.MinInt32, true},
		{withInt(metric("a", 0, 7), 0x8000_0000), 7, 0x8000_0000, true},
		{withLong(metric("a", 0, 4), math.MaxUint64), 4, -1, true},
		{withLong(metric("a", 0, 13), 5), 13, 0, false},
		{&sparkplugpb.Payload_Metric{Value: &sparkplugpb.Payload_Metric_FloatValue{FloatValue: float32(math.Inf(1))}}, 9, 0, false},
		{withBool(metric("a", 0, 11), true), 11, 1, true},
		{metric("a", 0, 10), 10, 0, false},
	}
	for i, tt := range tests {
		got, ok := spValue(tt.m, tt.dt)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%d: spValue = %v, %v; want %v, %v", i, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzSparkplug(f *testing.F) {
	f.Add("NBIRTH", "", spMsg(f, 1, withDouble(metric("A", 1, 10), 1), withLong(metric("bdSeq", 0, 8), 1)))
	f.Add("DBIRTH", "D1", spMsg(f, 1, withInt(metric("B", 2, 2), 7)))
	f.Add("DDATA", "D1", spMsg(f, 1, withInt(&sparkplugpb.Payload_Metric{Alias: proto.Uint64(2)}, 9)))
	f.Add("NDEATH", "", spMsg(f, 1, withLong(metric("bdSeq", 0, 8), 1)))
	f.Add("NDATA", "", []byte{0x12, 0x03, 0x10, 0x01, 0x69})
	sub := mustSub(f, Subscription{Topic: "spBv1.0/#", Format: "sparkplug"})
	f.Fuzz(func(t *testing.T, typ, device string, payload []byte) {
		topic := "spBv1.0/g/" + typ + "/n"
		if device != "" {
			topic += "/" + device
		}
		// State carries over between inputs, as it does between messages.
		rs, _ := decodeOne(sub, topic, string(payload))
		for _, r := range rs {
			if r.tag == "" || math.IsNaN(r.value) || math.IsInf(r.value, 0) {
				t.Fatalf("bad reading %+v from %s", r, topic)
			}
			if r.quality == collector.Bad && r.reason == "" {
				t.Fatalf("bad quality without reason: %+v", r)
			}
		}
	})
}
