package hazard

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"hazgate/alerting"
)

var update = flag.Bool("update", false, "rewrite golden files")

// ledgerFixture makes four records in different states: a closed 重大隐患,
// a supervised one in progress, an overdue recurring leak and a dismissed
// over-pressure, with a person whose name would be a spreadsheet formula.
func ledgerFixture(t *testing.T) *harness {
	h := newHarness(t, nil)
	closed := newRestoredMajor(h) // GT-101 down, found t0+1d, back an hour later
	walk(h, closed, InProgress)
	h.clock.Set(t0.Add(day + 6*hour))
	funds := 3200.5
	if _, err := h.e.Transition(h.ctx, closed, operator, TransitionRequest{To: PendingVerification, Comment: "更换探测器",
		Funds: &funds, Remarks: "厂家上门"}); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(t0.Add(2 * day))
	if _, err := h.e.Transition(h.ctx, closed, verifier, TransitionRequest{To: Closed, Comment: "验收合格",
		Remarks: "备件已入库"}); err != nil {
		t.Fatal(err)
	}
	h.raise("GT-102", "comm_loss", "", alerting.ClassCommLoss, 0, t0.Add(day))
	h.tick(t0.Add(2*day + hour))
	var supervised int64
	for _, g := range h.hazards() {
		if g.Tag == "GT-102" {
			supervised = g.ID
		}
	}
	if _, err := h.e.Transition(h.ctx, supervised, operator, TransitionRequest{To: InProgress, Person: "=李四", Measures: "更换探测器, 加装\"防雨罩\""}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Supervise(h.ctx, supervised, regulator, SuperviseRequest{Note: "挂牌督办"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.cycle("AT-201", "h2s", alerting.LevelHH, "h2s", 15, t0.Add(3*day+time.Duration(i)*hour))
	}
	h.raise("PT-401", "pipe", alerting.LevelHH, "pipe", 1.8, t0.Add(4*day))
	for _, g := range h.hazards() {
		if g.Rule == "pipe-overpressure" {
			if _, err := h.e.Transition(h.ctx, g.ID, verifier, TransitionRequest{To: Dismissed, Comment: "变送器故障"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.clock.Set(t0.Add(20 * day)) // the leak's 7-day deadline has passed
	return h
}

func TestLedgerCSVGolden(t *testing.T) {
	h := ledgerFixture(t)
	hs := h.hazards()
	if len(hs) != 4 {
		t.Fatalf("%d records, want 4", len(hs))
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, hs); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "ledger.golden.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("ledger differs from %s (go test -update to rewrite):\n%s", golden, buf.String())
	}

	// Parsed back, field by field.
	data := buf.Bytes()
	if !bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		t.Fatal("no UTF-8 byte-order mark")
	}
	recs, err := csv.NewReader(bytes.NewReader(data[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], LedgerColumns) {
		t.Errorf("header %v", recs[0])
	}
	if len(recs) != 5 {
		t.Fatalf("%d rows, want header + 4", len(recs))
	}
	col := func(row []string, name string) string { return row[slices.Index(LedgerColumns, name)] }
	byNumber := map[string]Hazard{}
	for _, g := range hs {
		byNumber[g.Number] = g
	}
	var prev time.Time
	for i, row := range recs[1:] {
		g, ok := byNumber[col(row, "隐患编号")]
		if !ok {
			t.Fatalf("row %d: unknown number %q", i+1, col(row, "隐患编号"))
		}
		found, err := time.ParseInLocation(ledgerTime, col(row, "发现时间"), Beijing)
		if err != nil || !found.Equal(g.FoundAt) || found.Before(prev) {
			t.Errorf("row %d: 发现时间 %q (%v), record %s, previous %s", i+1, col(row, "发现时间"), err, g.FoundAt, prev)
		}
		prev = found
		var ids []string
		for _, id := range g.AlarmIDs {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		checks := map[string]string{
			"序号": strconv.Itoa(i + 1), "单位名称": "演示化工有限公司", "隐患类别": g.Category, "隐患等级": g.Level,
			"隐患描述": g.Description, "判定依据": g.Basis, "整改措施": g.Measures, "责任单位": g.Responsible,
			"整改时限": g.Deadline.In(Beijing).Format(ledgerTime), "整改状态": g.Status.Label(),
			"关联报警": strings.Join(ids, ","), "验收人": g.VerifiedBy, "挂牌督办": yesNo(g.Supervised), "是否超期": yesNo(g.Overdue),
			"验收意见": g.VerifyComment, "备注": g.Remarks, "整改资金": yuan(g.Funds),
			"整改完成时间": ledgerFormat(g.RectifiedAt), "验收时间": ledgerFormat(g.VerifiedAt),
		}
		for name, want := range checks {
			if got := col(row, name); got != want {
				t.Errorf("row %d %s: %q, want %q", i+1, name, got, want)
			}
		}
		if g.Person == "=李四" && col(row, "责任人") != "'=李四" {
			t.Errorf("责任人 %q: a formula-like cell must be made inert", col(row, "责任人"))
		}
		if (g.ClosedAt == nil) != (col(row, "销号时间") == "") {
			t.Errorf("row %d 销号时间 %q, record %v", i+1, col(row, "销号时间"), g.ClosedAt)
		}
		if g.Tag != "" && !strings.Contains(col(row, "隐患部位"), g.Tag) {
			t.Errorf("row %d 隐患部位 %q lacks the tag", i+1, col(row, "隐患部位"))
		}
	}
}

// TestLedgerStandardColumns: the closed record carries what its rectifier
// and verifier stated, in both formats.
func TestLedgerStandardColumns(t *testing.T) {
	h := ledgerFixture(t)
	hs := h.hazards()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, hs); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes()[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var xbuf bytes.Buffer
	if err := WriteXLSX(&xbuf, hs); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xbuf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xrows, err := f.GetRows(ledgerSheet)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"整改资金": "3200.50", "整改完成时间": "2025-11-23 14:00", "验收时间": "2025-11-24 08:00",
		"验收意见": "验收合格", "销号时间": "2025-11-24 08:00", "备注": "备件已入库", "整改状态": "已销号",
	}
	for name, rows := range map[string][][]string{"csv": recs, "xlsx": xrows} {
		var row []string
		for _, r := range rows[1:] {
			if slices.Contains(r, "已销号") {
				row = r
			}
		}
		if row == nil {
			t.Fatalf("%s: no closed row", name)
		}
		for col, v := range want {
			if i := slices.Index(LedgerColumns, col); i >= len(row) || row[i] != v {
				t.Errorf("%s %s: row %q, want %q", name, col, row, v)
			}
		}
	}
}

func TestListFilters(t *testing.T) {
	h := ledgerFixture(t)
	tests := []struct {
		name string
		f    Filter
		want []string // rules, newest found first
	}{
		{"all", Filter{}, []string{"pipe-overpressure", "gas-leak-recurring", "gas-detector-down", "gas-detector-down"}},
		{"site", Filter{Site: "elsewhere"}, nil},
		{"open ones", Filter{Statuses: []Status{Open, InProgress, PendingVerification}}, []string{"gas-leak-recurring", "gas-detector-down"}},
		{"closed", Filter{Statuses: []Status{Closed}}, []string{"gas-detector-down"}},
		{"major", Filter{Level: LevelMajor}, []string{"gas-detector-down", "gas-detector-down"}},
		{"category", Filter{Category: "压力管道"}, []string{"pipe-overpressure"}},
		{"overdue", Filter{Overdue: true}, []string{"gas-leak-recurring", "gas-detector-down"}},
		{"period", Filter{From: t0.Add(2 * day), To: t0.Add(4 * day)}, []string{"gas-leak-recurring", "gas-detector-down"}},
		{"limit", Filter{Limit: 1}, []string{"pipe-overpressure"}},
	}
	for _, tt := range tests {
		hs, err := h.e.List(h.ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range hs {
			got = append(got, g.Rule)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
