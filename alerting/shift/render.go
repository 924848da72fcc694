package shift

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/alerting/sheet"
)

// reportTime is how the report writes times: Beijing time, as the ledger.
const reportTime = "2006-01-02 15:04"

// The report's sections are sheet.Tables: the XLSX sheets and the HTML
// tables show one list of columns.

func (r Report) sections() []sheet.Table {
	open := sheet.Table{Name: "未关闭报警",
		Columns: []string{"序号", "报警时间", "点位", "名称", "区域", "报警内容", "级别", "状态", "确认人", "确认时间", "持续"},
		Widths:  []float64{6, 17, 14, 18, 12, 40, 8, 12, 10, 17, 12}}
	for i, a := range r.Open {
		open.Rows = append(open.Rows, []string{strconv.Itoa(i + 1), bjTime(&a.RaisedAt), a.Tag, a.Name, a.Area, a.Message,
			severityLabel(a.Severity), stateLabel(a.State), a.AckedBy, bjTime(a.AckedAt), duration(r.To.Sub(a.RaisedAt))})
	}
	handled := sheet.Table{Name: "本班处理报警",
		Columns: []string{"序号", "时间", "操作", "操作人", "点位", "名称", "报警内容", "报警时间", "确认说明", "处置原因", "处置措施", "处置人", "处置时间"},
		Widths:  []float64{6, 17, 8, 10, 14, 18, 40, 17, 20, 10, 30, 10, 17}}
	for i, h := range r.Handled {
		a := h.Alarm
		row := []string{strconv.Itoa(i + 1), bjTime(&h.Time), eventLabel(h.Type), h.By, a.Tag, a.Name, a.Message, bjTime(&a.RaisedAt), a.AckComment, "", "", "", ""}
		if d := a.Disposal; d != nil {
			row[9], row[10], row[11], row[12] = causeLabel(d.Cause), joinNote(d.Measures, d.Note), d.Person, bjTime(&d.At)
		}
		handled.Rows = append(handled.Rows, row)
	}
	hazards := sheet.Table{Name: "隐患变化",
		Columns: []string{"序号", "时间", "隐患编号", "隐患部位", "隐患等级", "隐患描述", "变更", "原状态", "现状态", "操作人", "说明"},
		Widths:  []float64{6, 17, 24, 24, 10, 40, 10, 10, 10, 10, 30}}
	for i, ev := range r.Hazards {
		h := ev.Hazard
		from, to := "", h.Status.Label()
		if ev.From != "" {
			from = ev.From.Label()
		}
		if ev.To != "" {
			to = ev.To.Label()
		}
		hazards.Rows = append(hazards.Rows, []string{strconv.Itoa(i + 1), bjTime(&ev.Time), h.Number, joinSpace(h.Area, h.TagName), h.Level,
			h.Description, hazardEventLabel(ev.Type), from, to, ev.By, ev.Comment})
	}
	offline := sheet.Table{Name: "设备离线",
		Columns: []string{"序号", "设备", "点位", "名称", "离线起始", "离线时长", "抑制报警数"},
		Widths:  []float64{6, 16, 14, 18, 17, 12, 10}}
	for i, o := range r.Offline {
		tag := o.Tag
		if tag == "" {
			tag = "全部点位"
		}
		offline.Rows = append(offline.Rows, []string{strconv.Itoa(i + 1), o.Device, tag, o.Name, bjTime(&o.Since),
			duration(r.To.Sub(o.Since)), strconv.Itoa(o.Suppressed)})
	}
	return []sheet.Table{open, handled, hazards, offline}
}

// summary is the report's head, as label and value pairs.
func (r Report) summary() [][2]string {
	out := [][2]string{
		{"单位名称", r.Unit}, {"站点", r.Site},
		{"交班时段", bjTime(&r.From) + " 至 " + bjTime(&r.To) + "（北京时间）"},
		{"生成时间", bjTime(&r.Generated)},
		{"未关闭报警", strconv.Itoa(len(r.Open))}, {"本班处理报警", strconv.Itoa(len(r.Handled))},
		{"隐患变化", strconv.Itoa(len(r.Hazards))}, {"设备离线", strconv.Itoa(len(r.Offline))},
	}
	if len(r.Truncated) > 0 {
		out = append(out, [2]string{"注意", fmt.Sprintf("以下部分超过 %d 条，仅列出前 %d 条：%s", maxRows, maxRows, strings.Join(r.Truncated, ", "))})
	}
	return out
}

func bjTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(hazard.Beijing).Format(reportTime)
}

// duration is d in days, hours and minutes, in Chinese: 1天2小时, 35分钟.
func duration(d time.Duration) string {
	if d < time.Minute {
		return "不足1分钟"
	}
	m := int(d / time.Minute)
	days, hours, mins := m/1440, m%1440/60, m%60
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%d天", days)
	}
	if hours > 0 {
		fmt.Fprintf(&b, "%d小时", hours)
	}
	if mins > 0 && days == 0 {
		fmt.Fprintf(&b, "%d分钟", mins)
	}
	return b.String()
}

func severityLabel(s string) string {
	switch s {
	case alerting.SeverityCritical:
		return "紧急"
	case alerting.SeverityHigh:
		return "高"
	case alerting.SeverityMedium:
		return "中"
	case alerting.SeverityLow:
		return "低"
	}
	return s
}

func stateLabel(s alerting.State) string {
	switch s {
	case alerting.ActiveUnacked:
		return "报警未确认"
	case alerting.ActiveAcked:
		return "报警已确认"
	case alerting.ClearedUnacked:
		return "已恢复未确认"
	case alerting.AwaitingDisposal:
		return "待处置"
	case alerting.Normal:
		return "已关闭"
	case alerting.Shelved:
		return "已搁置"
	case alerting.OutOfService:
		return "停用"
	case alerting.SuppressedByDesign:
		return "设计抑制"
	}
	return string(s)
}

func eventLabel(typ string) string {
	switch typ {
	case alerting.EventAcked:
		return "确认"
	case alerting.EventDisposed:
		return "处置"
	case alerting.EventClosed:
		return "关闭"
	}
	return typ
}

func hazardEventLabel(typ string) string {
	switch typ {
	case hazard.EventCreated:
		return "登记"
	case hazard.EventTransition:
		return "状态变更"
	case hazard.EventSupervised:
		return "挂牌督办"
	case hazard.EventUnsupervised:
		return "撤销督办"
	}
	return typ
}

func causeLabel(code string) string {
	for _, c := range alerting.DisposalCauses {
		if c.Code == code {
			return c.Name
		}
	}
	return code
}

func joinNote(measures, note string) string {
	if note == "" {
		return measures
	}
	if measures == "" {
		return note
	}
	return measures + "（" + note + "）"
}

func joinSpace(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
