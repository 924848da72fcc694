package forward

import (
	"context"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/protocols/gb26875"
)

func TestDeviceState(t *testing.T) {
	src, err := NewSource(SourceOptions{Tags: registry(t), Out: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	feed := func(ss ...collector.Sample) uint8 {
		t.Helper()
		at = at.Add(time.Second)
		for i := range ss {
			ss[i].Time = at
		}
		src.Consume(context.Background(), ss)
		return src.DeviceState()
	}
	s := func(tag string, v float64) collector.Sample { return collector.Sample{Tag: tag, Value: v} }
	steps := []struct {
		name    string
		samples []collector.Sample
		want    uint8
	}{
		{"all normal", []collector.Sample{s("FP1.loop1.det7.fire", 0), s("FP2.loop3.mcp1.fire", 0)}, UITDNormal},
		{"a detector in fire", []collector.Sample{s("FP1.loop1.det7.fire", 1)}, UITDNormal | uitdFire},
		{"and another faulty", []collector.Sample{s("FP2.loop3.mcp1.fault", 1)}, UITDNormal | uitdFire | uitdFault},
		{"the fire out", []collector.Sample{s("FP1.loop1.det7.fire", 0)}, UITDNormal | uitdFault},
		{"a panel not heard", []collector.Sample{{Tag: "FP1.loop1.det7.fire", Quality: collector.Bad, Reason: collector.ReasonCommLoss}},
			UITDNormal | uitdFault | uitdLineFault},
		{"all back", []collector.Sample{s("FP1.loop1.det7.fire", 0), s("FP2.loop3.mcp1.fault", 0)}, UITDNormal},
	}
	for _, st := range steps {
		if got := feed(st.samples...); got != st.want {
			t.Errorf("%s: state %#b, want %#b", st.name, got, st.want)
		}
	}
	if m := DeviceStateMessage(UITDNormal, UITDNormal|uitdFire, at); m.Class != ClassAlarm || m.Unit.Type != gb26875.TypeUITDState || m.Unit.UITD[0].Flags != UITDNormal|uitdFire {
		t.Errorf("fire message %+v", m)
	}
	if m := DeviceStateMessage(UITDNormal, UITDNormal|uitdFault, at); m.Class != ClassStatus {
		t.Errorf("fault message class %s", m.Class)
	}
}
