package hazard

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazgate/alerting/sheet"
)

// LedgerColumns are the columns of the 隐患排查治理台账, in order: those the
// regulators' forms share, then 关联报警, 挂牌督办, 是否超期 and 备注 last,
// as the forms put it.
var LedgerColumns = []string{"序号", "隐患编号", "单位名称", "隐患部位", "隐患类别", "隐患等级", "隐患描述", "判定依据",
	"整改措施", "整改资金", "责任单位", "责任人", "发现时间", "整改时限", "整改完成时间", "整改状态",
	"验收人", "验收时间", "验收意见", "销号时间", "关联报警", "挂牌督办", "是否超期", "备注"}

// ledgerTime is how the ledger writes times, in Beijing time.
const ledgerTime = "2006-01-02 15:04"

// ledgerRows turns records into ledger rows, oldest found first and
// numbered from 1.
func ledgerRows(hs []Hazard) [][]string {
	hs = slices.Clone(hs)
	slices.SortStableFunc(hs, func(a, b Hazard) int {
		if c := a.FoundAt.Compare(b.FoundAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	rows := make([][]string, len(hs))
	for i, h := range hs {
		row := []string{
			strconv.Itoa(i + 1), h.Number, h.Unit, location(h), h.Category, h.Level, h.Description, h.Basis,
			h.Measures, yuan(h.Funds), h.Responsible, h.Person, ledgerFormat(&h.FoundAt), ledgerFormat(&h.Deadline),
			ledgerFormat(h.RectifiedAt), h.Status.Label(),
			h.VerifiedBy, ledgerFormat(h.VerifiedAt), h.VerifyComment, ledgerFormat(h.ClosedAt), alarmList(h.AlarmIDs),
			yesNo(h.Supervised), yesNo(h.Overdue), h.Remarks,
		}
		rows[i] = row
	}
	return rows
}

// location is the 隐患部位: area, point name and tag id, or the area alone
// for a record by area; a manual record's point may be a place, no tag.
func location(h Hazard) string {
	var parts []string
	if h.Area != "" {
		parts = append(parts, h.Area)
	}
	if strings.HasPrefix(h.Scope, "tag:") || h.Source == SourceManual {
		switch {
		case h.TagName != "" && h.Tag != "":
			parts = append(parts, h.TagName+"（"+h.Tag+"）")
		case h.TagName != "":
			parts = append(parts, h.TagName)
		case h.Tag != "":
			parts = append(parts, h.Tag)
		}
	}
	return strings.Join(parts, " ")
}

func ledgerFormat(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(Beijing).Format(ledgerTime)
}

// yuan writes 整改资金 with two decimals, empty when not stated.
func yuan(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', 2, 64)
}

func alarmList(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

// WriteCSV writes the ledger as CSV for Excel, as sheet.WriteCSV writes
// (a cell a user typed, 责任人 or 整改措施, never read as a formula).
func WriteCSV(w io.Writer, hs []Hazard) error {
	if err := sheet.WriteCSV(w, sheet.Table{Columns: LedgerColumns, Rows: ledgerRows(hs)}); err != nil {
		return fmt.Errorf("ledger %w", err)
	}
	return nil
}
