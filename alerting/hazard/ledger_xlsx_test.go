package hazard

import (
	"bytes"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestLedgerXLSX: the workbook holds the CSV ledger's columns and rows
// (the formula-looking 责任人 as plain text, no apostrophe), a frozen,
// filtered header and widths set.
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
}
