package hazard

import (
	"bytes"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestLedgerXLSX: the workbook holds the CSV ledger's columns and rows
// (the formula-looking 责任人 as plain text, no apostrophe), a frozen,
// filtered header in bold on a fill, and widths set.
func TestLedgerXLSX(t *testing.T) {
	h := ledgerFixture(t)
	hs := h.hazards()
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, hs); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatalf("not a workbook: %v", err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{ledgerSheet}) {
		t.Fatalf("sheets %v", got)
	}
	rows, err := f.GetRows(ledgerSheet)
	if err != nil {
		t.Fatal(err)
	}
	want := append([][]string{LedgerColumns}, ledgerRows(hs)...)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		// GetRows drops trailing empty cells.
		if !slices.Equal(rows[i], want[i][:len(rows[i])]) {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
	found := false
	for r, row := range rows {
		for c, v := range row {
			if v == "=李四" {
				found = true
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if formula, _ := f.GetCellFormula(ledgerSheet, cell); formula != "" {
					t.Errorf("%s holds a formula %q: a typed name must stay text", cell, formula)
				}
			}
		}
	}
	if !found {
		t.Error("the person typed as =李四 is not in the workbook as typed")
	}
	panes, err := f.GetPanes(ledgerSheet)
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("panes %+v %v: want the header row frozen", panes, err)
	}
	if w, _ := f.GetColWidth(ledgerSheet, "G"); w != ledgerWidths["隐患描述"] {
		t.Errorf("隐患描述 column width %g", w)
	}
	// The header row, read back: bold white on a solid blue fill, first to
	// last column; the rows below not.
	last, _ := excelize.CoordinatesToCellName(len(LedgerColumns), 1)
	for _, cell := range []string{"A1", "G1", last} {
		st := cellStyle(t, f, cell)
		if st.Font == nil || !st.Font.Bold || st.Font.Color != "FFFFFF" {
			t.Errorf("header %s font %+v, want bold white", cell, st.Font)
		}
		if st.Fill.Type != "pattern" || st.Fill.Pattern != 1 || !slices.Equal(st.Fill.Color, []string{"305496"}) {
			t.Errorf("header %s fill %+v, want solid 305496", cell, st.Fill)
		}
	}
	if st := cellStyle(t, f, "A2"); (st.Font != nil && st.Font.Bold) || st.Fill.Pattern != 0 {
		t.Errorf("first record's cell styled as the header: font %+v fill %+v", st.Font, st.Fill)
	}
}

// cellStyle reads a cell's style back from the workbook.
func cellStyle(t *testing.T, f *excelize.File, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(ledgerSheet, cell)
	if err != nil {
		t.Fatalf("%s: %v", cell, err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatalf("%s style %d: %v", cell, id, err)
	}
	return st
}
