package sheet

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	head := Table{Name: "摘要", Widths: []float64{14, 50}, Rows: [][]string{{"单位", "演示化工"}, {"时段", "2025-03-01"}}}
	table := Table{Name: "台账", Columns: []string{"序号", "责任人"}, Widths: []float64{6, 12},
		Rows: [][]string{{"1", "=1+1"}, {"2", "李四"}}}
	if err := Write(&buf, head, table); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !reflect.DeepEqual(got, []string{"摘要", "台账"}) {
		t.Fatalf("sheets %q", got)
	}
	rows, err := f.GetRows("台账")
	if err != nil || !reflect.DeepEqual(rows, [][]string{{"序号", "责任人"}, {"1", "=1+1"}, {"2", "李四"}}) {
		t.Errorf("rows %q (%v)", rows, err)
	}
	if formula, _ := f.GetCellFormula("台账", "B2"); formula != "" {
		t.Errorf("B2 holds the formula %q, want text", formula)
	}
	style := func(sheet, cell string) *excelize.Style {
		t.Helper()
		id, err := f.GetCellStyle(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.GetStyle(id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := style("台账", "B1"); s.Font == nil || !s.Font.Bold || len(s.Fill.Color) == 0 || s.Fill.Color[0] != "305496" {
		t.Errorf("header B1 style %+v, want bold on the blue fill", s)
	}
	if s := style("台账", "B3"); s.Font != nil && s.Font.Bold {
		t.Errorf("body B3 is bold")
	}
	if s := style("摘要", "A2"); s.Font == nil || !s.Font.Bold {
		t.Errorf("summary label A2 not bold")
	}
	if s := style("摘要", "B2"); s.Font != nil && s.Font.Bold {
		t.Errorf("summary value B2 is bold")
	}
	panes, err := f.GetPanes("台账")
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("panes %+v (%v), want the header row frozen", panes, err)
	}
	if panes, _ := f.GetPanes("摘要"); panes.Freeze {
		t.Errorf("the summary sheet has no header to freeze")
	}
	if w, err := f.GetColWidth("台账", "B"); err != nil || w != 12 {
		t.Errorf("column B width %v (%v), want 12", w, err)
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	tb := Table{Columns: []string{"序号", "责任人"}, Rows: [][]string{{"1", "=HYPERLINK(\"x\")"}, {"2", "-3"}, {"3", "李四"}, {"4", "@SUM(A1)"}}}
	if err := WriteCSV(&buf, tb); err != nil {
		t.Fatal(err)
	}
	want := "\uFEFF序号,责任人\r\n1,\"'=HYPERLINK(\"\"x\"\")\"\r\n2,'-3\r\n3,李四\r\n4,'@SUM(A1)\r\n"
	if got := buf.String(); got != want {
		t.Errorf("csv\n%q\nwant\n%q", got, want)
	}
	if tb.Rows[0][1] != "=HYPERLINK(\"x\")" {
		t.Errorf("WriteCSV changed its table: %q", tb.Rows[0][1])
	}
}
