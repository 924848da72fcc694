package shift

import (
	"fmt"
	"io"

	"hazgate/alerting/sheet"
)

// summarySheet is the workbook's first sheet: the report's head.
const summarySheet = "交接班"

// WriteXLSX writes the report as a workbook: the head on its first sheet,
// then one sheet per section, as sheet writes its tables.
func (r Report) WriteXLSX(w io.Writer) error {
	tables := []sheet.Table{{Name: summarySheet, Widths: []float64{14, 50}}}
	for _, kv := range r.summary() {
		tables[0].Rows = append(tables[0].Rows, kv[:])
	}
	tables = append(tables, r.sections()...)
	if err := sheet.Write(w, tables...); err != nil {
		return fmt.Errorf("shift report %w", err)
	}
	return nil
}
