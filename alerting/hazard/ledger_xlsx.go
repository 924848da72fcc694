package hazard

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// ledgerSheet is the XLSX ledger's one sheet.
const ledgerSheet = "隐患排查治理台账"

// ledgerWidths are the columns' widths in characters, for the text each
// usually holds (a description or a basis is long, a number short).
var ledgerWidths = map[string]float64{
	"序号": 6, "隐患编号": 24, "单位名称": 22, "隐患部位": 26, "隐患类别": 16, "隐患等级": 10, "隐患描述": 40, "判定依据": 40,
	"整改措施": 32, "整改资金": 12, "责任单位": 18, "责任人": 10, "发现时间": 17, "整改时限": 17, "整改完成时间": 17,
	"整改状态": 10, "验收人": 10, "验收时间": 17, "验收意见": 28, "销号时间": 17, "关联报警": 14, "挂牌督办": 9,
	"是否超期": 9, "备注": 28,
}

// WriteXLSX writes the ledger as an Excel workbook: the same columns and
// rows as WriteCSV (times in Beijing time), a styled, frozen header row with
// a filter, and widths that fit the text. Cells are text, never formulas,
// so nothing a user typed is evaluated.
func WriteXLSX(w io.Writer, hs []Hazard) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", ledgerSheet); err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	head, err := f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true},
		Border:    []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
	})
	if err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	body, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}})
	if err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	rows := append([][]string{LedgerColumns}, ledgerRows(hs, func(s string) string { return s })...)
	for r, row := range rows {
		for c, v := range row {
			cell, err := excelize.CoordinatesToCellName(c+1, r+1)
			if err != nil {
				return fmt.Errorf("ledger xlsx: %w", err)
			}
			if err := f.SetCellStr(ledgerSheet, cell, v); err != nil {
				return fmt.Errorf("ledger xlsx: %s: %w", cell, err)
			}
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(LedgerColumns), max(len(rows), 1))
	lastCol, _ := excelize.ColumnNumberToName(len(LedgerColumns))
	for c, name := range LedgerColumns {
		col, _ := excelize.ColumnNumberToName(c + 1)
		if err := f.SetColWidth(ledgerSheet, col, col, ledgerWidths[name]); err != nil {
			return fmt.Errorf("ledger xlsx: %w", err)
		}
	}
	if err := f.SetCellStyle(ledgerSheet, "A1", lastCol+"1", head); err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	if len(rows) > 1 {
		if err := f.SetCellStyle(ledgerSheet, "A2", last, body); err != nil {
			return fmt.Errorf("ledger xlsx: %w", err)
		}
	}
	if err := f.SetPanes(ledgerSheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	if err := f.AutoFilter(ledgerSheet, "A1:"+last, nil); err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("ledger xlsx: %w", err)
	}
	return nil
}
