package shift

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/sheet"
	"hazgate/alerting/sqlstore"
)

const (
	// MaxLedgerLength bounds one alarm ledger: a quarter, what an audit of
	// 预警处置 asks to see at once.
	MaxLedgerLength = 93 * 24 * time.Hour
	// maxLedgerRows caps the rows; Truncated says when more were raised.
	maxLedgerRows = 50_000
)

// Ledger is the alarm record (报警处置记录台账) of a period: every alarm
// raised in [From, To) as it stands now, with who acknowledged it, how it
// was disposed of and when it ended. Alarms a device's root alarm stood
// for (suppressed by design, never announced) are left to that root.
type Ledger struct {
	Site      string    `json:"site"`
	Unit      string    `json:"unit"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Generated time.Time `json:"generated"`
	Alarms    []Alarm   `json:"alarms"`
	// Truncated: more than maxLedgerRows were raised; the earliest are kept.
	Truncated bool `json:"truncated,omitempty"`
}

// Ledger reads the alarm ledger of [from, to).
func (b *Builder) Ledger(ctx context.Context, from, to time.Time) (Ledger, error) {
	if !to.After(from) {
		return Ledger{}, fmt.Errorf("alarm ledger: to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	l := Ledger{Site: b.Site, Unit: b.Unit, From: from.UTC(), To: to.UTC(), Generated: now().UTC(), Alarms: []Alarm{}}
	// Each alarm as its last transition left it: the journal's snapshot.
	rows, err := b.DB.QueryContext(ctx, `SELECT e.alarm FROM alarms a
		JOIN alarm_events e ON e.seq = (SELECT MAX(x.seq) FROM alarm_events x WHERE x.alarm_id = a.id)
		WHERE a.site = $1 AND a.raised_at >= $2 AND a.raised_at < $3 ORDER BY a.raised_at, a.id LIMIT $4`,
		b.Site, sqlstore.FormatTime(from), sqlstore.FormatTime(to), maxLedgerRows+1)
	if err != nil {
		return Ledger{}, fmt.Errorf("alarm ledger: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if n++; n > maxLedgerRows {
			l.Truncated = true
			break
		}
		var snap string
		if err := rows.Scan(&snap); err != nil {
			return Ledger{}, fmt.Errorf("alarm ledger: %w", err)
		}
		var a alerting.Alarm
		if err := json.Unmarshal([]byte(snap), &a); err != nil {
			return Ledger{}, fmt.Errorf("alarm ledger: alarm snapshot: %w", err)
		}
		if a.Root != 0 {
			continue // stood for by its device's root alarm
		}
		l.Alarms = append(l.Alarms, b.named(a))
	}
	if err := rows.Err(); err != nil {
		return Ledger{}, fmt.Errorf("alarm ledger: %w", err)
	}
	slices.SortStableFunc(l.Alarms, func(x, y Alarm) int {
		if c := x.RaisedAt.Compare(y.RaisedAt); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return l, nil
}

// LedgerColumns are the alarm ledger's columns, in CSV and XLSX alike.
var LedgerColumns = []string{"序号", "报警编号", "报警时间", "点位", "名称", "区域", "报警内容", "级别", "报警值", "峰值",
	"报警次数", "恢复时间", "持续时长", "确认人", "确认时间", "确认说明", "处置原因", "是否误报", "处置措施", "处置人", "处置时间",
	"升级次数", "状态"}

var ledgerWidths = []float64{6, 9, 17, 14, 18, 12, 44, 7, 12, 12, 8, 17, 12, 10, 17, 20, 10, 8, 30, 10, 17, 8, 12}

func (l Ledger) table() sheet.Table {
	t := sheet.Table{Name: "报警处置记录", Columns: LedgerColumns, Widths: ledgerWidths}
	for i, a := range l.Alarms {
		ended := a.ClearedAt
		until := l.Generated
		if ended != nil {
			until = *ended
		}
		row := []string{strconv.Itoa(i + 1), strconv.FormatInt(a.ID, 10), bjTime(&a.RaisedAt), a.Tag, a.Name, a.Area, a.Message,
			severityLabel(a.Severity), a.valueText(a.Value), a.valueText(a.Peak), strconv.Itoa(a.Count), bjTime(ended),
			duration(until.Sub(a.RaisedAt)), a.AckedBy, bjTime(a.AckedAt), a.AckComment, "", "", "", "", "",
			strconv.Itoa(a.Escalations), stateLabel(a.State)}
		switch {
		case ended == nil && a.Active:
			row[12] += "（未恢复）"
		case ended == nil:
			row[12] = "" // closed without clearing (out of service): no span to tell
		}
		if d := a.Disposal; d != nil {
			row[16], row[17], row[18], row[19], row[20] = causeLabel(d.Cause), yesNo(d.FalseAlarm()), joinNote(d.Measures, d.Note), d.Person, bjTime(&d.At)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// valueText is a reading with its unit; nothing for an alarm about the
// reading's absence (communication loss, a fault, no sample).
func (a Alarm) valueText(v float64) string {
	if !a.Measured() {
		return ""
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if a.Unit != "" {
		s += " " + a.Unit
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

// WriteCSV writes the ledger as CSV for Excel (UTF-8 with a byte-order mark).
func (l Ledger) WriteCSV(w io.Writer) error {
	if err := sheet.WriteCSV(w, l.table()); err != nil {
		return fmt.Errorf("alarm ledger %w", err)
	}
	return nil
}

// WriteXLSX writes the ledger as a workbook: the period on its first
// sheet, the alarms on the second.
func (l Ledger) WriteXLSX(w io.Writer) error {
	head := sheet.Table{Name: "说明", Widths: []float64{14, 50}, Rows: [][]string{
		{"单位名称", l.Unit}, {"站点", l.Site},
		{"时段", bjTime(&l.From) + " 至 " + bjTime(&l.To) + "（北京时间，按报警时间）"},
		{"生成时间", bjTime(&l.Generated)}, {"报警数", strconv.Itoa(len(l.Alarms))}}}
	if l.Truncated {
		head.Rows = append(head.Rows, []string{"注意", fmt.Sprintf("时段内报警超过 %d 条，仅列出最早的 %d 条，请缩短时段", maxLedgerRows, maxLedgerRows)})
	}
	if err := sheet.Write(w, head, l.table()); err != nil {
		return fmt.Errorf("alarm ledger %w", err)
	}
	return nil
}
