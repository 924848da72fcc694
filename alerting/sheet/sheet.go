// Package sheet writes the ledgers and reports auditors open in Excel: one
// styled table per sheet, its header row frozen and filtered, its columns
// as wide as the text they hold. Every cell is text, never a formula, so
// nothing a user typed (a 责任人 of "=1+1") is evaluated.
package sheet

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Table is one sheet.
type Table struct {
	Name    string
	Columns []string // the header row; empty for a sheet of label/value rows
	Widths  []float64
	Rows    [][]string
}

// Write writes tables as one workbook, a sheet each, in order.
func Write(w io.Writer, tables ...Table) error {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return fmt.Errorf("xlsx styles: %w", err)
	}
	for i, t := range tables {
		if i == 0 {
			err = f.SetSheetName("Sheet1", t.Name)
		} else {
			_, err = f.NewSheet(t.Name)
		}
		if err == nil {
			err = st.write(f, t)
		}
		if err != nil {
			return fmt.Errorf("xlsx sheet %s: %w", t.Name, err)
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

type styles struct{ head, body, label int }

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	var err error
	if s.head, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"305496"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true},
		Border:    []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
	}); err != nil {
		return s, err
	}
	if s.body, err = f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}}); err != nil {
		return s, err
	}
	s.label, err = f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	return s, err
}

func (st styles) write(f *excelize.File, t Table) error {
	rows := t.Rows
	if len(t.Columns) > 0 {
		rows = append([][]string{t.Columns}, t.Rows...)
	}
	for r, row := range rows {
		for c, v := range row {
			cell, err := excelize.CoordinatesToCellName(c+1, r+1)
			if err != nil {
				return err
			}
			if err := f.SetCellStr(t.Name, cell, v); err != nil {
				return fmt.Errorf("%s: %w", cell, err)
			}
		}
	}
	for c, wd := range t.Widths {
		col, _ := excelize.ColumnNumberToName(c + 1)
		if err := f.SetColWidth(t.Name, col, col, wd); err != nil {
			return err
		}
	}
	if len(t.Columns) == 0 {
		if len(rows) == 0 {
			return nil
		}
		return f.SetCellStyle(t.Name, "A1", fmt.Sprintf("A%d", len(rows)), st.label) // the labels
	}
	lastCol, _ := excelize.ColumnNumberToName(len(t.Columns))
	last, _ := excelize.CoordinatesToCellName(len(t.Columns), len(rows))
	if err := f.SetCellStyle(t.Name, "A1", lastCol+"1", st.head); err != nil {
		return err
	}
	if len(rows) > 1 {
		if err := f.SetCellStyle(t.Name, "A2", last, st.body); err != nil {
			return err
		}
	}
	if err := f.SetPanes(t.Name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	return f.AutoFilter(t.Name, "A1:"+last, nil)
}

// WriteCSV writes t's header and rows as CSV for Excel: UTF-8 with a
// byte-order mark (without it Excel reads the Chinese as GBK), CRLF line
// ends, and every cell that Excel would take for a formula (=, +, -, @, a
// tab or a carriage return first) made inert with a leading apostrophe.
func WriteCSV(w io.Writer, t Table) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if len(t.Columns) > 0 {
		if err := cw.Write(t.Columns); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
	}
	row := make([]string, 0, len(t.Columns))
	for _, r := range t.Rows {
		row = row[:0]
		for _, v := range r {
			row = append(row, Inert(v))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

// Inert is s as a CSV cell Excel shows as text: a leading apostrophe
// before what it would evaluate.
func Inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
