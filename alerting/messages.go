package alerting

import (
	"strconv"
	"strings"
	"time"

	"hazgate/collector"
)

// text is an alarm message in the console's two languages. Both come from
// this one catalogue when the alarm is raised and are journalled together,
// so history reads as it was raised whatever the console is switched to.
// Chinese is the source: it is what the control room, the ledger and the
// regulator read.
type text struct{ zh, en string }

// limitWords names a limit the way its standard does: GB/T 50493 speaks of
// level-1 and level-2 alarm values, GB 50974 of working and minimum
// pressures; a limit without a preset is high-high, high, low or low-low.
type limitWords struct{ zh, en, clause string }

// presetWords gives each preset level its words and the clause it cites.
func presetWords(preset, hydrant, level string) limitWords {
	switch preset {
	case PresetCombustible, PresetToxic:
		clause := "GB/T 50493-2019 5.5.1"
		if preset == PresetToxic {
			clause = "GB/T 50493-2019 5.5.2"
		}
		if level == LevelHH {
			return limitWords{"二级报警值", "level-2 alarm value", clause}
		}
		return limitWords{"一级报警值", "level-1 alarm value", clause}
	case PresetOxygen:
		if level == LevelL {
			return limitWords{"缺氧报警值", "oxygen-deficiency alarm value", "GB/T 50493-2019 5.5.3"}
		}
		return limitWords{"富氧报警值", "oxygen-enrichment alarm value", "GB/T 50493-2019 5.5.3"}
	case PresetHydrant:
		if hydrant == HydrantIndoor || hydrant == HydrantIndoorHighRise {
			return limitWords{"栓口动压下限", "outlet dynamic pressure minimum", "GB 50974-2014 7.4.12"}
		}
		if level == LevelLL {
			return limitWords{"最不利点最低压力", "least-favourable minimum pressure", "GB 50974-2014 7.2.8"}
		}
		return limitWords{"工作压力下限", "working pressure minimum", "GB 50974-2014 7.2.8"}
	}
	switch level {
	case LevelHH:
		return limitWords{zh: "高高报警值", en: "high-high limit"}
	case LevelH:
		return limitWords{zh: "高报警值", en: "high limit"}
	case LevelL:
		return limitWords{zh: "低报警值", en: "low limit"}
	}
	return limitWords{zh: "低低报警值", en: "low-low limit"}
}

// stateWords are the fire panel's states as GB 4717 and the panels name them.
var stateWords = map[string][2]string{
	StateFire:        {"火警", "fire"},
	StateFault:       {"故障", "fault"},
	StateSupervisory: {"监管", "supervisory"},
	StateDisabled:    {"屏蔽", "disabled"},
	StateStart:       {"启动", "start"},
	StateFeedback:    {"反馈", "feedback"},
}

// qualityWords are what a Bad reading's class means.
var qualityWords = map[string][2]string{
	ClassCommLoss:    {"通信中断", "communication lost"},
	ClassSensorFault: {"传感器故障", "sensor fault"},
	ClassBadQuality:  {"数据质量坏", "bad quality"},
}

// PointName is how people name a tag: its area and name apart (罐区A
// 1号储罐可燃气体, not 罐区A1号储罐), the area once when the name starts with
// it (泵房可燃气体, not 泵房泵房可燃气体), else its id.
func PointName(t *collector.Tag) string {
	if t.Name == "" {
		return t.ID
	}
	if t.Area != "" && !strings.HasPrefix(t.Name, t.Area) {
		return t.Area + " " + t.Name
	}
	return t.Name
}

// valueText writes a reading with its unit: "52 %LEL".
func valueText(t *collector.Tag, v float64) string {
	s := strconv.FormatFloat(v, 'g', 6, 64)
	if t.Unit != "" {
		s += " " + t.Unit
	}
	return s
}

// num writes a limit as people read it: 7.058, not 7.058426310501757.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// SpanZH writes a duration the way a control room says it: 7天, 24小时,
// 30分钟, 45秒.
func SpanZH(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "天"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "小时"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "分钟"
	case d%time.Second == 0:
		return strconv.Itoa(int(d/time.Second)) + "秒"
	}
	return d.String()
}

func limitText(t *collector.Tag, v float64, high bool, w limitWords, limit float64) text {
	name, val := PointName(t), valueText(t, v)
	zh, en := name+" "+val+" 低于"+w.zh+" "+num(limit), name+" "+val+" below "+w.en+" "+num(limit)
	if high {
		zh, en = name+" "+val+" 超过"+w.zh+" "+num(limit), name+" "+val+" above "+w.en+" "+num(limit)
	}
	if w.clause != "" {
		zh += "（" + w.clause + "）"
		en += " (" + w.clause + ")"
	}
	return text{zh, en}
}

func rateText(t *collector.Tag, v float64, rising bool, perLimit float64, per, window time.Duration) text {
	name, val := PointName(t), valueText(t, v)
	unit := t.Unit
	if unit != "" {
		unit = " " + unit
	}
	dirZH, dirEN := "下降", "falling"
	if rising {
		dirZH, dirEN = "上升", "rising"
	}
	return text{
		name + " " + val + "，" + SpanZH(window) + "内" + dirZH + "速率超过每" + SpanZH(per) + " " + num(perLimit) + unit,
		name + " " + val + ": " + dirEN + " faster than " + num(perLimit) + unit + " per " + per.String() + " (over " + window.String() + ")",
	}
}

func staleText(t *collector.Tag, after time.Duration) text {
	name := PointName(t)
	return text{name + " " + SpanZH(after) + "无数据", name + ": no sample for " + after.String()}
}

func qualityText(t *collector.Tag, class, reason string) text {
	w := qualityWords[class]
	name := PointName(t)
	out := text{name + " " + w[0], name + ": " + w[1]}
	if reason != "" && reason != class {
		out.zh += "（" + reason + "）"
		out.en += " (" + reason + ")"
	}
	return out
}

func stateText(t *collector.Tag, point, state string) text {
	w, ok := stateWords[state]
	if !ok {
		w = [2]string{state, state}
	}
	name := point
	if t.Name != "" {
		name = PointName(t)
	}
	return text{name + " " + w[0], name + " " + w[1]}
}

func deviceLossText(device string) text {
	return text{"设备 " + device + " 通信中断（其点位报警已抑制）", "device " + device + ": communication lost (its points' alarms suppressed)"}
}
