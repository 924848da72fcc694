package shift

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// summarySheet is the workbook's first sheet: the report's head.
const summarySheet = "交接班"

// WriteXLSX writes the report as a workbook: the head on its first sheet,
// then one sheet per section with a styled, frozen header row, a filter
// and widths that fit the text, as the hazard ledger does. Cells are text,
// never formulas, so nothing a user typed is evaluated.
func (r Report) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := r.writeXLSX(f); err != nil {
		return fmt.Errorf("shift report xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("shift report xlsx: %w", err)
	}
	return nil
}

func (r Report) writeXLSX(f *excelize.File) error {
	head, err := f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true},
		Border:    []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
	})
	if err != nil {
		return err
	}
	body, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}})
	if err != nil {
		return err
	}
	label, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	if err := f.SetSheetName("Sheet1", summarySheet); err != nil {
		return err
	}
	for i, kv := range r.summary() {
		for c, v := range kv {
			cell, _ := excelize.CoordinatesToCellName(c+1, i+1)
			if err := f.SetCellStr(summarySheet, cell, v); err != nil {
				return fmt.Errorf("%s %s: %w", summarySheet, cell, err)
			}
		}
	}
	if err := f.SetColWidth(summarySheet, "A", "A", 14); err != nil {
		return err
	}
	if err := f.SetColWidth(summarySheet, "B", "B", 50); err != nil {
		return err
	}
	if err := f.SetCellStyle(summarySheet, "A1", fmt.Sprintf("A%d", len(r.summary())), label); err != nil {
		return err
	}
	for _, s := range r.sections() {
		if err := writeSheet(f, s, head, body); err != nil {
			return fmt.Errorf("sheet %s: %w", s.Title, err)
		}
	}
	return nil
}

func writeSheet(f *excelize.File, s section, head, body int) error {
	if _, err := f.NewSheet(s.Title); err != nil {
		return err
	}
	rows := append([][]string{s.Columns}, s.Rows...)
	for r, row := range rows {
		for c, v := range row {
			cell, err := excelize.CoordinatesToCellName(c+1, r+1)
			if err != nil {
				return err
			}
			if err := f.SetCellStr(s.Title, cell, v); err != nil {
				return fmt.Errorf("%s: %w", cell, err)
			}
		}
	}
	for c, wd := range s.Widths {
		col, _ := excelize.ColumnNumberToName(c + 1)
		if err := f.SetColWidth(s.Title, col, col, wd); err != nil {
			return err
		}
	}
	lastCol, _ := excelize.ColumnNumberToName(len(s.Columns))
	last, _ := excelize.CoordinatesToCellName(len(s.Columns), len(rows))
	if err := f.SetCellStyle(s.Title, "A1", lastCol+"1", head); err != nil {
		return err
	}
	if len(rows) > 1 {
		if err := f.SetCellStyle(s.Title, "A2", last, body); err != nil {
			return err
		}
	}
	if err := f.SetPanes(s.Title, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	return f.AutoFilter(s.Title, "A1:"+last, nil)
}
