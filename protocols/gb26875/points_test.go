package gb26875

import (
	"testing"
	"time"

	"hazgate/collector"
)

// What the listener writes in a component's description reads back as its
// type, so the forwarder can send a received component on unchanged.
func TestComponentTypeOf(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, Beijing)
	for _, typ := range []uint8{42, 23, 10, 74, 200} {
		u := Unit{Type: TypeComponentState, Components: []ComponentState{{Component: Component{SysType: 1, SysAddr: 2, Type: typ, Zone: 3, Position: 4}, Time: TimeTagOf(now)}}}
		rs, _ := readings(Address(1234), &u, now, collector.TimeBounds{})
		got, ok := ComponentTypeOf(rs[0].tag.Description)
		if !ok || got != typ {
			t.Errorf("type %d: description %q reads back as %d, %v", typ, rs[0].tag.Description, got, ok)
		}
	}
	for _, d := range []string{"", "火灾报警系统", "火灾报警系统 / 不知道", "x / 部件999"} {
		if got, ok := ComponentTypeOf(d); ok {
			t.Errorf("%q: type %d, want none", d, got)
		}
	}
}
