package forward

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/protocols/gb26875"
)

type recorder struct {
	got  []Message
	fail bool
}

func (r *recorder) Put(_ context.Context, ms ...Message) error {
	if r.fail {
		return errors.New("disk full")
	}
	r.got = append(r.got, ms...)
	return nil
}

type want struct {
	class  Class
	comp   gb26875.Component
	status uint16
}

func (w want) String() string {
	return fmt.Sprintf("%s %d/%d/%d %d-%d %#x", w.class, w.comp.SysType, w.comp.SysAddr, w.comp.Type, w.comp.Zone, w.comp.Position, w.status)
}

func got(ms []Message) []want {
	var out []want
	for _, m := range ms {
		if m.Unit.Type == gb26875.TypeSystemState {
			sy := m.Unit.Systems[0]
			out = append(out, want{m.Class, gb26875.Component{SysType: sy.SysType, SysAddr: sy.SysAddr, Type: 255}, sy.Status})
			continue
		}
		c := m.Unit.Components[0]
		out = append(out, want{m.Class, c.Component, c.Status})
	}
	return out
}

const uitd = "UITD-000000001234.S1-2.Z3-P4"

func registry(t *testing.T) *collector.Registry {
	t.Helper()
	r := collector.NewRegistry()
	add := func(point, kind, name, desc string, states ...string) {
		for _, st := range states {
			id := point
			if st != "" {
				id += "." + st
			}
			if err := r.Add(collector.Tag{ID: id, Kind: kind, Name: name, Description: desc, Device: "d"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := []string{"fire", "fault", "disabled", "supervisory", "start", "feedback", "power_fault"}
	add(uitd, gb26875.KindFirePanel, "3区4号感烟", "火灾报警系统 / 点型光电感烟火灾探测器", all...)
	add("UITD-000000001234.S10-3", gb26875.KindFirePanel, "消防联动控制器 3号", "消防联动控制器", "fire", "manual", "bus_fault")
	add("UITD-000000001234", gb26875.KindFirePanel, "用户信息传输装置", "用户信息传输装置", "fire", "link_fault")
	add("FP1.loop1.det7", gb26875.KindFirePanel, "一层东侧感烟探测器", "", all...)
	add("FP2.loop3.mcp1", gb26875.KindFirePanel, "二层手报", "", all...)
	add("FP3.pump", gb26875.KindFirePanel, "", "", all...)
	add("FP3.pump", gb26875.KindFirePanel, "", "", "manual")
	add("T1-LEL", "combustible_gas", "罐区可燃气体1", "", "")
	add("T2-H2S", "toxic_gas", "硫化氢1", "", "")
	add("T3-TEMP", "temperature", "", "", "")
	add("HYD-1", "hydrant_pressure", "1号消火栓管网", "", "")
	add("TANK-1", "level", "屋顶消防水箱", "", "")
	add("UITD-000000001234.S11-1.Z2-P5", "hydrant_pressure", "2区5号压力开关", "消火栓系统 / 压力开关", "pressure")
	return r
}

func hash(id string) (zone, pos uint16) {
	h := fnv.New32a()
	h.Write([]byte(id))
	s := h.Sum32()
	return uint16(s >> 16), uint16(s)
}

func TestSource(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	late := start.Add(DefaultSettle + time.Second)
	uitdComp := gb26875.Component{SysType: 1, SysAddr: 2, Type: 42, Zone: 3, Position: 4}
	det7 := gb26875.Component{SysType: 1, SysAddr: 1, Type: 42, Zone: 1, Position: 7}
	z, p := hash("FP3.pump")
	pump := gb26875.Component{SysType: 1, SysAddr: 9, Zone: z, Position: p}
	_, p = hash("FP2.loop3.mcp1")
	mcp := gb26875.Component{SysType: 1, SysAddr: 1, Type: 23, Zone: 5, Position: p}
	z, p = hash("T1-LEL")
	lel := gb26875.Component{SysType: 1, SysAddr: 9, Type: 10, Zone: z, Position: p}
	points := []PointMap{{Tag: "FP1.loop1.det7", SysType: 1, SysAddr: 1, CompType: 42, Zone: 1, Position: 7},
		{Tag: "FP2.*", SysType: 1, SysAddr: 1, CompType: 23, Zone: 5}}

	type batch struct {
		at      time.Time // the source's clock; the samples' time unless set
		samples []collector.Sample
	}
	s := func(tag string, v float64) collector.Sample { return collector.Sample{Tag: tag, Value: v} }
	bad := func(tag string) collector.Sample {
		return collector.Sample{Tag: tag, Quality: collector.Bad, Reason: collector.ReasonCommLoss}
	}
	tests := []struct {
		name    string
		opts    SourceOptions
		batches []batch
		want    []want
	}{
		{"a UITD's point: snapshot, fire, cleared, fault", SourceOptions{}, []batch{
			{start, []collector.Sample{s(uitd+".fire", 0), s(uitd+".fault", 0), s(uitd+".start", 0), s(uitd+".feedback", 0)}},
			{start.Add(time.Second), []collector.Sample{s(uitd+".fire", 1), s(uitd+".fault", 0)}},
			{start.Add(2 * time.Second), []collector.Sample{s(uitd+".fire", 1)}}, // no change
			{start.Add(3 * time.Second), []collector.Sample{s(uitd+".fire", 0)}},
			{start.Add(4 * time.Second), []collector.Sample{s(uitd+".fault", 1)}},
			{start.Add(5 * time.Second), []collector.Sample{s(uitd+".start", 1), s(uitd+".feedback", 1)}},
		}, []want{{ClassStatus, uitdComp, 1}, {ClassAlarm, uitdComp, 3}, {ClassAlarm, uitdComp, 1},
			{ClassStatus, uitdComp, 5}, {ClassAlarm, uitdComp, 5 | 1<<5 | 1<<6}}},
		// It may be new: sent first, as an alarm; an ongoing one is a
		// duplicate at the centre, a new one must not wait 100 s.
		{"a point in fire at a restart goes as an alarm", SourceOptions{}, []batch{
			{start, []collector.Sample{s(uitd+".fire", 1)}},
			{start.Add(time.Second), []collector.Sample{s(uitd+".fault", 0)}},
		}, []want{{ClassAlarm, uitdComp, 3}}},
		{"a point normal at a restart is a status snapshot", SourceOptions{}, []batch{
			{start, []collector.Sample{s(uitd+".fire", 0), s(uitd+".fault", 0)}},
		}, []want{{ClassStatus, uitdComp, 1}}},
		{"after settling, a point first seen in fire is an alarm", SourceOptions{}, []batch{
			{late, []collector.Sample{s(uitd+".fire", 1), s(uitd+".fault", 0)}},
		}, []want{{ClassAlarm, uitdComp, 3}}},
		{"comm loss is a fault, back is normal", SourceOptions{}, []batch{
			{start, []collector.Sample{s(uitd+".fire", 0)}},
			{start.Add(time.Second), []collector.Sample{bad(uitd + ".fire"), bad(uitd + ".fault")}},
			{start.Add(2 * time.Second), []collector.Sample{s(uitd+".fire", 0)}},
			{start.Add(3 * time.Second), []collector.Sample{s(uitd+".fault", 0)}},
		}, []want{{ClassStatus, uitdComp, 1}, {ClassStatus, uitdComp, 5}, {ClassStatus, uitdComp, 1}}},
		{"mapped, globbed and fallback addresses", SourceOptions{Points: points, FallbackSysAddr: 9}, []batch{
			{late, []collector.Sample{s("FP1.loop1.det7.fire", 1), s("FP2.loop3.mcp1.fire", 1), s("FP3.pump.start", 1)}},
		}, []want{{ClassAlarm, det7, 3}, {ClassAlarm, mcp, 3}, {ClassAlarm, pump, 1 | 1<<5}}},
		{"a received UITD's system goes as a system state, its own state not at all", SourceOptions{}, []batch{
			{late, []collector.Sample{s("UITD-000000001234.S10-3.manual", 1), s("UITD-000000001234.S10-3.fire", 0),
				s("UITD-000000001234.fire", 1), s("UITD-000000001234.link_fault", 1)}},
			{late.Add(time.Second), []collector.Sample{s("UITD-000000001234.S10-3.fire", 1)}},
		}, []want{{ClassStatus, gb26875.Component{SysType: 10, SysAddr: 3, Type: 255}, 1 | 1<<11},
			{ClassAlarm, gb26875.Component{SysType: 10, SysAddr: 3, Type: 255}, 3 | 1<<11}}},
		{"two changes of a point in one batch are two messages", SourceOptions{}, []batch{
			{late, []collector.Sample{s(uitd+".fire", 1), {Tag: uitd + ".fire", Value: 0, Time: late.Add(time.Second)}}},
		}, []want{{ClassAlarm, uitdComp, 3}, {ClassAlarm, uitdComp, 1}}},
		// Two panel frames (or MQTT messages) in one second can share a
		// batch: merged, the fire would never reach the centre.
		{"a fire and its clear in one second and one batch are two messages", SourceOptions{}, []batch{
			{late, []collector.Sample{s(uitd+".fire", 1), s(uitd+".fault", 0), {Tag: uitd + ".fire", Value: 0, Time: late.Add(300 * time.Millisecond)}}},
		}, []want{{ClassAlarm, uitdComp, 3}, {ClassAlarm, uitdComp, 1}}},
		{"not forwarded: other kinds, other states, gas without Gas", SourceOptions{}, []batch{
			{late, []collector.Sample{s("FP3.pump.manual", 1), s("T3-TEMP", 80), s("T1-LEL", 60), s("nope", 1)}},
		}, nil},
		{"select by tag glob", SourceOptions{Select: Select{Tags: []string{"FP1.*"}}, Points: points}, []batch{
			{late, []collector.Sample{s(uitd+".fire", 1), s("FP1.loop1.det7.fire", 1)}},
		}, []want{{ClassAlarm, det7, 3}}},
		{"gas above its level is a fire state, a bad reading a fault", SourceOptions{Gas: true, FallbackSysAddr: 9}, []batch{
			{start, []collector.Sample{s("T1-LEL", 3), s("T2-H2S", 50)}},
			{start.Add(time.Second), []collector.Sample{s("T1-LEL", 24.9)}},
			{start.Add(2 * time.Second), []collector.Sample{s("T1-LEL", 25)}},
			{start.Add(3 * time.Second), []collector.Sample{s("T1-LEL", 10)}},
			{start.Add(4 * time.Second), []collector.Sample{bad("T1-LEL")}},
		}, []want{{ClassStatus, lel, 1}, {ClassAlarm, lel, 3}, {ClassAlarm, lel, 1}, {ClassStatus, lel, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			rec := &recorder{}
			opts := tt.opts
			opts.Tags, opts.Out, opts.Log = registry(t), rec, slog.New(slog.DiscardHandler)
			opts.Now = func() time.Time { return now }
			src, err := NewSource(opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.batches {
				now = b.at
				smp := slices.Clone(b.samples)
				for i := range smp {
					if smp[i].Time.IsZero() {
						smp[i].Time = b.at
					}
				}
				src.Consume(context.Background(), smp)
			}
			if g := got(rec.got); !slices.Equal(g, tt.want) {
				t.Fatalf("messages\n%v\nwant\n%v", g, tt.want)
			}
		})
	}
}

func TestSourceMessageCarriesSampleTimeAndName(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	rec := &recorder{}
	reg := registry(t)
	long := strings.Repeat("消防", 10) // 40 bytes in GB 18030
	reg.Add(collector.Tag{ID: "FP9.x.fire", Kind: gb26875.KindFirePanel, Name: long, Device: "d"})
	src, err := NewSource(SourceOptions{Tags: reg, Out: rec, Settle: -1, Now: func() time.Time { return start.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	at := start.Add(17 * time.Second)
	src.Consume(context.Background(), []collector.Sample{{Tag: "FP9.x.fire", Value: 1, Time: at}})
	if len(rec.got) != 1 {
		t.Fatalf("%d messages, want 1", len(rec.got))
	}
	m := rec.got[0]
	c := m.Unit.Components[0]
	if got, _ := c.Time.Time(gb26875.Beijing); !got.Equal(at) {
		t.Errorf("object time %s, want the sample's %s", got, at)
	}
	if !m.Entered.Equal(start.Add(time.Hour)) {
		t.Errorf("entered %s, want the source's now", m.Entered)
	}
	if got := c.Text(); got != strings.Repeat("消防", 7)+"消" {
		t.Errorf("description %q, want the name cut to 31 bytes on a character boundary", got)
	}
	if st := src.Stats(); st.Points != 1 || st.Alarms != 1 || st.Snapshots != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A change the outbox refused goes again with the point's next sample.
func TestSourcePutFailureRetries(t *testing.T) {
	late := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	rec := &recorder{fail: true}
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: rec, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return late }, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	src.Consume(context.Background(), []collector.Sample{{Tag: uitd + ".fire", Value: 1, Time: late}})
	rec.fail = false
	src.Consume(context.Background(), []collector.Sample{{Tag: uitd + ".fire", Value: 1, Time: late.Add(time.Second)}})
	if g := got(rec.got); len(g) != 1 || g[0].class != ClassAlarm || g[0].status != 3 {
		t.Fatalf("after a refused put: %v, want the fire again as an alarm", g)
	}
	if st := src.Stats(); st.PutErrors != 1 {
		t.Fatalf("stats %+v, want 1 put error", st)
	}
}

func TestNewSourceRejects(t *testing.T) {
	reg, rec := registry(t), &recorder{}
	for _, o := range []SourceOptions{
		{},
		{Tags: reg, Out: rec, Select: Select{Tags: []string{"["}}},
		{Tags: reg, Out: rec, Points: []PointMap{{Tag: ""}}},
		{Tags: reg, Out: rec, Gas: true, GasLevels: map[string]float64{"toxic_gas": 0}},
		{Tags: reg, Out: rec, Analogs: []AnalogKind{{Kind: "flow"}}},
		{Tags: reg, Out: rec, Analogs: []AnalogKind{{Kind: "hydrant_pressure", AnalogType: 4}}},
		{Tags: reg, Out: rec, Analogs: []AnalogKind{{Kind: "level"}, {Kind: "level"}}},
		{Tags: reg, Out: rec, Analogs: []AnalogKind{{Kind: "level", Deadband: -1}}},
		{Tags: reg, Out: rec, Analogs: []AnalogKind{{Kind: "flow", AnalogType: 10, Scale: -10}}},
	} {
		if _, err := NewSource(o); err == nil {
			t.Errorf("NewSource(%+v): no error", o)
		}
	}
}

// A spreading fire: 2,000 points go to fire in one batch, through the
// source into a Spooled outbox on disk.
func BenchmarkSourceSpreadingFire(b *testing.B) {
	const n = 2000
	reg := collector.NewRegistry()
	var fire, clear []collector.Sample
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	for i := range n {
		id := fmt.Sprintf("FP1.L%d.D%d.fire", i/200, i%200)
		reg.Add(collector.Tag{ID: id, Kind: gb26875.KindFirePanel, Name: fmt.Sprintf("%d号感烟", i), Device: "d"})
		fire = append(fire, collector.Sample{Tag: id, Value: 1})
		clear = append(clear, collector.Sample{Tag: id, Value: 0})
	}
	o := openBox(b, b.TempDir(), SpooledOptions{})
	now := t0
	src, err := NewSource(SourceOptions{Tags: reg, Out: o, Settle: -1, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	stamp := func(ss []collector.Sample) {
		now = now.Add(time.Second)
		for i := range ss {
			ss[i].Time = now
		}
	}
	stamp(clear)
	src.Consume(context.Background(), clear)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		stamp(clear)
		src.Consume(context.Background(), clear)
		stamp(fire)
		b.StartTimer()
		src.Consume(context.Background(), fire)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/point")
	if st := src.Stats(); st.Alarms < uint64(b.N*n) {
		b.Fatalf("stats %+v: want %d alarms", st, b.N*n)
	}
}

// From samples to disk and back across a restart: the fire alarms come
// first and in order, the snapshot after, nothing confirmed comes again.
func TestSourceIntoSpooledAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	reg := collector.NewRegistry()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	var snap, fire []collector.Sample
	for i := range 50 {
		id := fmt.Sprintf("UITD-000000001234.S1-1.Z1-P%d", i)
		reg.Add(collector.Tag{ID: id + ".fire", Kind: gb26875.KindFirePanel, Name: fmt.Sprintf("%d号", i), Device: "d"})
		snap = append(snap, collector.Sample{Tag: id + ".fire", Value: 0, Time: at})
		fire = append(fire, collector.Sample{Tag: id + ".fire", Value: 1, Time: at.Add(time.Second)})
	}
	o := openBox(t, dir, SpooledOptions{})
	src, err := NewSource(SourceOptions{Tags: reg, Out: o, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	src.Consume(context.Background(), snap)
	src.Consume(context.Background(), fire)
	if err := o.Done(next(t, o, 22)...); err != nil {
		t.Fatal(err)
	}
	o.Close()

	o = openBox(t, dir, SpooledOptions{})
	var alarms, status []int
	for _, s := range drainBox(t, o, 22) {
		if s.class == ClassAlarm {
			if len(status) > 0 {
				t.Fatal("a status message went before an alarm")
			}
			alarms = append(alarms, s.nums...)
		} else {
			status = append(status, s.nums...)
		}
	}
	if !slices.Equal(alarms, seq(22, 50)) || !slices.Equal(status, seq(0, 50)) {
		t.Fatalf("after restart alarms %v, status %v; want alarms 22..49 then the snapshot 0..49", alarms, status)
	}
}

// analogWant is a message of an analog point: a type 3 value (status 0)
// or a type 2 state (value 0).
type analogWant struct {
	class  Class
	typ    uint8
	comp   gb26875.Component
	kind   uint8
	value  int16
	status uint16
}

func analogGot(ms []Message) []analogWant {
	var out []analogWant
	for _, m := range ms {
		switch m.Unit.Type {
		case gb26875.TypeAnalog:
			a := m.Unit.Analogs[0]
			out = append(out, analogWant{m.Class, 3, a.Component, a.Kind, a.Value, 0})
		case gb26875.TypeComponentState:
			c := m.Unit.Components[0]
			out = append(out, analogWant{m.Class, 2, c.Component, 0, 0, c.Status})
		}
	}
	return out
}

func TestSourceAnalog(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	z, p := hash("HYD-1")
	hyd := gb26875.Component{SysType: 11, SysAddr: 1, Type: 99, Zone: z, Position: p}
	z, p = hash("TANK-1")
	tank := gb26875.Component{SysType: 11, SysAddr: 1, Type: 92, Zone: z, Position: p}
	mapped := gb26875.Component{SysType: 11, SysAddr: 2, Type: 24, Zone: 1, Position: 3}
	received := gb26875.Component{SysType: 11, SysAddr: 1, Type: 99, Zone: 2, Position: 5}
	val := func(c gb26875.Component, kind uint8, v int16) analogWant {
		return analogWant{ClassStatus, 3, c, kind, v, 0}
	}
	state := func(class Class, c gb26875.Component, status uint16) analogWant {
		return analogWant{class, 2, c, 0, 0, status}
	}
	const normal, fault = 1, 1 | 1<<2
	tankMin := 1.5
	type batch struct {
		after   time.Duration
		samples []collector.Sample
	}
	s := func(tag string, v float64) collector.Sample { return collector.Sample{Tag: tag, Value: v} }
	bad := func(tag string) collector.Sample {
		return collector.Sample{Tag: tag, Quality: collector.Bad, Reason: collector.ReasonCommLoss}
	}
	tests := []struct {
		name    string
		opts    SourceOptions
		batches []batch
		want    []analogWant
		refused uint64
	}{
		{"hydrant by default: 0.1 kPa steps, deadband 0.01 MPa", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.35)}},
			{time.Second, []collector.Sample{s("HYD-1", 0.3401)}}, // within the deadband
			{2 * time.Second, []collector.Sample{s("HYD-1", 0.34)}},
			{3 * time.Second, []collector.Sample{s("TANK-1", 3)}}, // level not configured
		}, []analogWant{val(hyd, 5, 3500), state(ClassStatus, hyd, normal), val(hyd, 5, 3400)}, 0},
		{"refresh sends an unchanged value again", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.35)}},
			{4 * time.Minute, []collector.Sample{s("HYD-1", 0.35)}},
			{5 * time.Minute, []collector.Sample{s("HYD-1", 0.355)}},
		}, []analogWant{val(hyd, 5, 3500), state(ClassStatus, hyd, normal), val(hyd, 5, 3550)}, 0},
		{"below the minimum is a fault, an alarm when it first goes below; cleared when back", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.12)}},
			{time.Second, []collector.Sample{s("HYD-1", 0.05)}},
			{2 * time.Second, []collector.Sample{s("HYD-1", 0.045)}}, // still below, within the deadband: nothing
			{3 * time.Second, []collector.Sample{s("HYD-1", 0.10)}},  // at the minimum is not below
		}, []analogWant{val(hyd, 5, 1200), state(ClassStatus, hyd, normal),
			val(hyd, 5, 500), state(ClassAlarm, hyd, fault),
			val(hyd, 5, 1000), state(ClassStatus, hyd, normal)}, 0},
		{"below at the first reading is an alarm", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 0)}},
		}, []analogWant{val(hyd, 5, 0), state(ClassAlarm, hyd, fault)}, 0},
		{"a Bad reading is a fault with no value; the next good one goes at once", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.35)}},
			{time.Second, []collector.Sample{bad("HYD-1")}},
			{2 * time.Second, []collector.Sample{s("HYD-1", 0.35)}},
		}, []analogWant{val(hyd, 5, 3500), state(ClassStatus, hyd, normal),
			state(ClassStatus, hyd, fault), val(hyd, 5, 3500), state(ClassStatus, hyd, normal)}, 0},
		{"below after a Bad reading still alarms", SourceOptions{}, []batch{
			{0, []collector.Sample{bad("HYD-1")}},
			{time.Second, []collector.Sample{s("HYD-1", 0.02)}},
		}, []analogWant{state(ClassStatus, hyd, fault), val(hyd, 5, 200), state(ClassAlarm, hyd, fault)}, 0},
		{"outside int16 is clamped and counted; not a number is refused as a fault", SourceOptions{}, []batch{
			{0, []collector.Sample{s("HYD-1", 4)}},
			{time.Second, []collector.Sample{s("HYD-1", -5)}},
			{2 * time.Second, []collector.Sample{s("HYD-1", math.NaN())}},
		}, []analogWant{val(hyd, 5, math.MaxInt16), state(ClassStatus, hyd, normal),
			val(hyd, 5, math.MinInt16), state(ClassAlarm, hyd, fault)}, 3},
		{"a tank's level in 0.01 m with its configured minimum", SourceOptions{Analogs: []AnalogKind{{Kind: "level", Minimum: &tankMin}}}, []batch{
			{0, []collector.Sample{s("TANK-1", 2), s("HYD-1", 0.3)}},
			{time.Second, []collector.Sample{s("TANK-1", 1.96)}}, // within 0.05 m
			{2 * time.Second, []collector.Sample{s("TANK-1", 1.4)}},
		}, []analogWant{val(tank, 2, 200), state(ClassStatus, tank, normal),
			val(tank, 2, 140), state(ClassAlarm, tank, fault)}, 0},
		{"points map an analog point; a received device's value keeps its component and goes alone", SourceOptions{
			Points: []PointMap{{Tag: "HYD-*", SysType: 11, SysAddr: 2, CompType: 24, Zone: 1, Position: 3}}}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.3), s("UITD-000000001234.S11-1.Z2-P5.pressure", 0.05)}},
		}, []analogWant{val(mapped, 5, 3000), state(ClassStatus, mapped, normal), val(received, 5, 500)}, 0},
		{"empty Analogs sends none", SourceOptions{Analogs: []AnalogKind{}}, []batch{
			{0, []collector.Sample{s("HYD-1", 0.3)}},
		}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			rec := &recorder{}
			opts := tt.opts
			opts.Tags, opts.Out, opts.Log = registry(t), rec, slog.New(slog.DiscardHandler)
			opts.Now = func() time.Time { return now }
			src, err := NewSource(opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range tt.batches {
				now = start.Add(b.after)
				smp := slices.Clone(b.samples)
				for i := range smp {
					smp[i].Time = now
				}
				src.Consume(context.Background(), smp)
			}
			if g := analogGot(rec.got); !slices.Equal(g, tt.want) {
				t.Fatalf("messages\n%v\nwant\n%v", g, tt.want)
			}
			if st := src.Stats(); st.AnalogRefused != tt.refused {
				t.Errorf("refused %d, want %d", st.AnalogRefused, tt.refused)
			}
		})
	}
}

// A refused put sends the value and the state again with the next sample.
func TestSourceAnalogPutFailureRetries(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	rec := &recorder{fail: true}
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: rec, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	src.Consume(context.Background(), []collector.Sample{{Tag: "HYD-1", Value: 0.05, Time: at}})
	rec.fail = false
	src.Consume(context.Background(), []collector.Sample{{Tag: "HYD-1", Value: 0.05, Time: at}})
	if g := analogGot(rec.got); len(g) != 2 || g[0].value != 500 || g[1].class != ClassAlarm {
		t.Fatalf("after a refused put: %v, want the value and the alarm again", g)
	}
	if st := src.Stats(); st.Analogs != 1 || st.Alarms != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestSourceLatencyFromPipelineEntry: a fire queued in the pipeline behind
// a slow consumer is a message Entered when the pipeline took it, so the
// queueing counts against the 10 s.
func TestSourceLatencyFromPipelineEntry(t *testing.T) {
	const hold = 300 * time.Millisecond
	rec := &recorder{}
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: rec, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slow := consumerFunc(func(_ context.Context, b []collector.Sample) {
		if b[0].Tag == "slow" {
			<-release
		}
	})
	p := collector.NewPipeline(nil, slow, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	if err := p.Emit(ctx, []collector.Sample{{Tag: "slow"}}); err != nil {
		t.Fatal(err)
	}
	emitted := time.Now()
	if err := p.Emit(ctx, []collector.Sample{{Tag: uitd + ".fire", Value: 1, Time: emitted}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(hold)
	close(release)
	cancel()
	<-done
	if len(rec.got) != 1 || rec.got[0].Class != ClassAlarm {
		t.Fatalf("messages %v, want the fire", got(rec.got))
	}
	if e := rec.got[0].Entered; e.Sub(emitted) > hold/2 || e.Before(emitted.Add(-time.Second)) {
		t.Errorf("fire Entered %v after its Emit, want the Emit's time (the %v queued counted)", e.Sub(emitted), hold)
	}
	// Called outside a pipeline, Consume stamps its own clock.
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)
	src2, err := NewSource(SourceOptions{Tags: registry(t), Out: rec, Settle: -1, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	src2.Consume(context.Background(), []collector.Sample{{Tag: uitd + ".fire", Value: 1, Time: now}})
	if len(rec.got) != 2 || !rec.got[1].Entered.Equal(now) {
		t.Errorf("Entered %v outside a pipeline, want the source's clock %v", rec.got[len(rec.got)-1].Entered, now)
	}
}

type consumerFunc func(context.Context, []collector.Sample)

func (f consumerFunc) Consume(ctx context.Context, b []collector.Sample) { f(ctx, b) }
