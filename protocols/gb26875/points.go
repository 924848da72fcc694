package gb26875

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"hazgate/collector"
)

// Beijing is China Standard Time, the zone of every time tag: devices keep
// Beijing time, and a fixed zone needs no tzdata on the gateway.
var Beijing = time.FixedZone("CST", 8*3600)

// maxSkew is how far an object's own time may be from its receipt before the
// receipt time is used instead: a device whose clock was never set must not
// put a fire alarm in 2000.
const maxSkew = 10 * time.Minute

// KindFirePanel is the kind of state tags (<point>.fire, .fault, ...), so
// the alarm engine's `states` rules and the hazard rules apply to them as to
// any fire panel's.
const KindFirePanel = "fire_panel"

// KindOperation is the kind of operation tags (<system>.operation): the
// flags of the operation just received, one sample per operation.
const KindOperation = "fire_panel_operation"

// stateBit names a bit of a state word; the name is the tag suffix.
type stateBit struct {
	bit  uint
	name string
}

// Component state bits (bit 0, normal/test, is ignored: devices in the field
// send a fire as 0x0002).
var componentBits = []stateBit{
	{1, "fire"}, {2, "fault"}, {3, "disabled"}, {4, "supervisory"}, {5, "start"}, {6, "feedback"}, {8, "power_fault"},
}

// System state bits: the component bits, then the panel's own. Manual mode
// of a linkage controller is itself a common hazard (联动控制器处于手动状态).
var systemBits = []stateBit{
	{1, "fire"}, {2, "fault"}, {3, "disabled"}, {4, "supervisory"}, {5, "start"}, {6, "feedback"},
	{8, "main_power_fault"}, {9, "backup_power_fault"}, {10, "bus_fault"}, {11, "manual"},
}

// Transmission device state bits (type 21).
var uitdBits = []stateBit{
	{1, "fire"}, {2, "fault"}, {3, "main_power_fault"}, {4, "backup_power_fault"}, {5, "link_fault"}, {6, "line_fault"},
}

// OpDutyAnswer is the operation flag of a transmission device's duty-check
// answer (查岗应答, type 24 bit 5).
const OpDutyAnswer = 1 << 5

// analogType is how an analog type's steps become an engineering value.
type analogType struct {
	suffix, unit, kind string
	scale              float64
}

// Analog types of the standard. Pressure comes out in MPa whichever step
// it was sent in, so the hydrant presets (in MPa) apply.
var analogTypes = map[uint8]analogType{
	1:  {"count", "", "", 1},
	2:  {"height", "m", "level", 0.01},
	3:  {"temperature", "℃", "temperature", 0.1},
	4:  {"pressure", "MPa", "pipe_pressure", 0.1},
	5:  {"pressure", "MPa", "pipe_pressure", 0.0001}, // 0.1 kPa steps
	6:  {"gas", "%LEL", "combustible_gas", 0.1},
	7:  {"time", "s", "", 1},
	8:  {"voltage", "V", "voltage", 0.1},
	9:  {"current", "A", "current", 0.1},
	10: {"flow", "L/s", "flow", 0.1},
	11: {"air_volume", "m³/min", "air_volume", 0.1},
	12: {"wind_speed", "m/s", "wind_speed", 1},
}

// Systems whose pressure is a hydrant network's (消火栓系统, 自动喷水灭火系统).
var hydrantSystems = map[uint8]bool{11: true, 12: true}

var systemNames = map[uint8]string{
	0: "通用", 1: "火灾报警系统", 10: "消防联动控制器", 11: "消火栓系统", 12: "自动喷水灭火系统",
	13: "气体灭火系统", 14: "水喷雾灭火系统", 15: "水喷雾灭火系统", 16: "泡沫灭火系统", 17: "干粉灭火系统",
	18: "防烟排烟系统", 19: "防火门及卷帘系统", 20: "消防电梯", 21: "消防应急广播",
	22: "消防应急照明和疏散指示系统", 23: "消防电源", 24: "消防电话",
}

var componentNames = map[uint8]string{
	1: "火灾报警控制器", 10: "可燃气体探测器", 11: "点型可燃气体探测器", 12: "独立式可燃气体探测器",
	13: "线型可燃气体探测器", 16: "电气火灾监控报警器", 17: "剩余电流式电气火灾监控探测器",
	18: "测温式电气火灾监控探测器", 21: "探测回路", 22: "火灾显示盘", 23: "手动火灾报警按钮",
	24: "消火栓按钮", 25: "火灾探测器", 30: "感温火灾探测器", 40: "感烟火灾探测器",
	41: "点型离子感烟火灾探测器", 42: "点型光电感烟火灾探测器", 43: "线型光束感烟火灾探测器",
	44: "吸气式感烟火灾探测器", 50: "复合式火灾探测器", 74: "气体探测器", 84: "模块", 85: "输入模块",
	86: "输出模块", 87: "输入/输出模块", 91: "消防水泵", 92: "消防水箱", 95: "喷淋泵", 96: "水流指示器",
	97: "信号阀", 98: "报警阀", 99: "压力开关", 101: "阀驱动装置", 102: "防火门", 103: "防火阀",
	111: "防烟排烟风机", 113: "排烟防火阀", 117: "防火卷帘控制器", 118: "防火门监控器",
}

func nameOr(m map[uint8]string, v uint8, what string) string {
	if n, ok := m[v]; ok {
		return n
	}
	return what + strconv.Itoa(int(v))
}

// DevicePrefix is the tag prefix of a transmission device: UITD-000000001234.
func DevicePrefix(a Address) string { return "UITD-" + a.String() }

func systemPrefix(a Address, sysType, sysAddr uint8) string {
	return fmt.Sprintf("%s.S%d-%d", DevicePrefix(a), sysType, sysAddr)
}

func componentPrefix(a Address, c Component) string {
	return fmt.Sprintf("%s.Z%d-P%d", systemPrefix(a, c.SysType, c.SysAddr), c.Zone, c.Position)
}

// reading is a decoded value before it becomes a registered tag's sample.
type reading struct {
	tag   collector.Tag // ID, Name, Kind, Unit, Description; site and device come later
	value float64
	at    time.Time
}

// badTime is an object whose time tag was outside bounds, stamped on receipt.
type badTime struct {
	time TimeTag
	err  error
}

// objectTime is the object's own time when it is sane, else the receipt.
// A tag that is not a time at all (a clock never set sends zeros) takes the
// receipt time; so does a real time outside bounds, with the error saying
// so, for the caller to count and log as bad time. It is not dropped as the
// MQTT collector drops a reading: a fire panel whose clock reset to its
// epoch after a power cut still sends real fire alarms, the frame is
// confirmed and never sent again, and a far-future time must not freeze
// the tag in the latest values either way.
func objectTime(tt TimeTag, now time.Time, bounds collector.TimeBounds) (time.Time, error) {
	t, err := tt.Time(Beijing)
	if err != nil {
		return now, nil
	}
	if err := bounds.Check(t, now); err != nil {
		return now, err
	}
	if t.Sub(now) > maxSkew || now.Sub(t) > maxSkew {
		return now, nil
	}
	return t, nil
}

func bits(out []reading, prefix, name, desc string, word uint16, defs []stateBit, at time.Time) []reading {
	for _, b := range defs {
		out = append(out, reading{
			tag:   collector.Tag{ID: prefix + "." + b.name, Name: name, Kind: KindFirePanel, Description: desc},
			value: float64(word >> b.bit & 1),
			at:    at,
		})
	}
	return out
}

// readings turns a decoded unit from device a into readings; objects whose
// time is outside bounds are stamped on receipt and also returned in bad.
// Types it does not decode give none.
func readings(a Address, u *Unit, now time.Time, bounds collector.TimeBounds) (out []reading, bad []badTime) {
	timeOf := func(tt TimeTag) time.Time {
		t, err := objectTime(tt, now, bounds)
		if err != nil {
			bad = append(bad, badTime{time: tt, err: err})
		}
		return t
	}
	for _, s := range u.Systems {
		at := timeOf(s.Time)
		sys := nameOr(systemNames, s.SysType, "系统")
		name := fmt.Sprintf("%s %d号", sys, s.SysAddr)
		out = bits(out, systemPrefix(a, s.SysType, s.SysAddr), name, sys, s.Status, systemBits, at)
	}
	for i := range u.Components {
		c := &u.Components[i]
		at := timeOf(c.Time)
		name := c.Text()
		kind := nameOr(componentNames, c.Type, "部件")
		if name == "" {
			name = fmt.Sprintf("%d区%d号%s", c.Zone, c.Position, kind)
		}
		desc := nameOr(systemNames, c.SysType, "系统") + " / " + kind
		out = bits(out, componentPrefix(a, c.Component), name, desc, c.Status, componentBits, at)
	}
	for _, v := range u.Analogs {
		t := timeOf(v.Time)
		at, ok := analogTypes[v.Kind]
		if !ok {
			at = analogType{suffix: "analog" + strconv.Itoa(int(v.Kind)), scale: 1}
		}
		kind := at.kind
		if kind == "pipe_pressure" && hydrantSystems[v.SysType] {
			kind = "hydrant_pressure"
		}
		comp := nameOr(componentNames, v.Type, "部件")
		out = append(out, reading{
			tag: collector.Tag{ID: componentPrefix(a, v.Component) + "." + at.suffix, Kind: kind, Unit: at.unit,
				Name:        fmt.Sprintf("%d区%d号%s", v.Zone, v.Position, comp),
				Description: nameOr(systemNames, v.SysType, "系统") + " / " + comp},
			value: float64(v.Value) * at.scale,
			at:    t,
		})
	}
	for _, o := range u.Operations {
		at := timeOf(o.Time)
		prefix, name := DevicePrefix(a), "用户信息传输装置操作"
		if u.Type == TypeOperation {
			prefix = systemPrefix(a, o.SysType, o.SysAddr)
			name = fmt.Sprintf("%s %d号操作", nameOr(systemNames, o.SysType, "系统"), o.SysAddr)
		}
		out = append(out, reading{
			tag:   collector.Tag{ID: prefix + ".operation", Name: name, Kind: KindOperation, Description: "operation flags: 1 reset, 2 silence, 4 manual alarm, 8 alarm cleared, 16 self-test, 32 confirm / duty-check answer, 64 test"},
			value: float64(o.Flags),
			at:    at,
		})
	}
	for _, s := range u.UITD {
		at := timeOf(s.Time)
		out = bits(out, DevicePrefix(a), "用户信息传输装置", "用户信息传输装置", uint16(s.Flags), uitdBits, at)
	}
	return out, bad
}

// componentTypes maps a component type's name back to its number.
var componentTypes = func() map[string]uint8 {
	m := make(map[string]uint8, len(componentNames))
	for t, n := range componentNames {
		m[n] = t
	}
	return m
}()

// ComponentTypeOf reads the component type back from the description of a
// component state tag ("火灾报警系统 / 感烟火灾探测器"), so what came from a
// transmission device can be sent on with its type. ok is false for a
// description this package did not write or a type it has no name for.
func ComponentTypeOf(desc string) (t uint8, ok bool) {
	_, name, found := strings.Cut(desc, " / ")
	if !found {
		return 0, false
	}
	if t, ok = componentTypes[name]; ok {
		return t, true
	}
	if n, ok := strings.CutPrefix(name, "部件"); ok {
		if v, err := strconv.ParseUint(n, 10, 8); err == nil {
			return uint8(v), true
		}
	}
	return 0, false
}
