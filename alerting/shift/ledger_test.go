package shift

import (
	"bytes"
	"context"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestLedger(t *testing.T) {
	b := fixture(t)
	ctx := context.Background()
	tags := func(l Ledger) []string {
		var out []string
		for _, a := range l.Alarms {
			out = append(out, a.Tag)
		}
		return out
	}
	// The shift: raised in it, the suppressed GT-5 left to dev-1's root.
	l, err := b.Ledger(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dev-1", "GT-2", "GT-6", "GT-3"}; !reflect.DeepEqual(tags(l), want) {
		t.Errorf("shift's ledger %v, want %v", tags(l), want)
	}
	day, err := b.Ledger(ctx, at(0, 0), at(0, 0).Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GT-7", "GT-1", "dev-1", "GT-2", "GT-6", "GT-3", "GT-4"}; !reflect.DeepEqual(tags(day), want) {
		t.Errorf("day's ledger %v, want %v", tags(day), want)
	}
	rows := day.table().Rows
	col := func(row []string, name string) string {
		for i, c := range LedgerColumns {
			if c == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	gt1 := rows[1]
	for name, want := range map[string]string{"序号": "2", "报警时间": "2025-03-01 07:00", "名称": "1号罐区可燃气体", "区域": "罐区A",
		"报警值": "0 %LEL", "恢复时间": "2025-03-01 10:00", "持续时长": "3小时", "确认人": "ctrl-room", "确认时间": "2025-03-01 09:00",
		"确认说明": "已通知巡检", "处置原因": "泄漏", "是否误报": "否", "处置措施": "关阀堵漏（法兰渗漏）", "处置人": "张三",
		"处置时间": "2025-03-01 09:20", "级别": "高", "状态": "已关闭"} {
		if got := col(gt1, name); got != want {
			t.Errorf("GT-1 %s = %q, want %q", name, got, want)
		}
	}
	// Still active at the report's time; a communication loss has no value.
	if got := col(rows[3], "持续时长"); got != "4小时5分钟（未恢复）" {
		t.Errorf("GT-2 持续时长 %q", got)
	}
	if got := col(rows[2], "报警值") + col(rows[4], "报警值") + col(rows[4], "峰值"); got != "" {
		t.Errorf("dev-1 and GT-6 (communication loss) show a value: %q", got)
	}
	if _, err := b.Ledger(ctx, to, from); err == nil {
		t.Error("reversed period accepted")
	}

	var xl bytes.Buffer
	if err := day.WriteXLSX(&xl); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.GetRows("报警处置记录")
	if err != nil || len(got) != len(rows)+1 || !reflect.DeepEqual(got[0], LedgerColumns) {
		t.Fatalf("xlsx: %d rows (%v), head %q", len(got), err, got[0])
	}
	for i, row := range rows {
		if !reflect.DeepEqual(got[i+1], row[:len(got[i+1])]) { // GetRows drops trailing empty cells
			t.Errorf("xlsx row %d: %q, want %q", i+1, got[i+1], row)
		}
	}
	if v, _ := f.GetCellValue("说明", "B5"); v != "7" {
		t.Errorf("xlsx head: 报警数 %q, want 7", v)
	}

	var c bytes.Buffer
	if err := day.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(c.String(), "\uFEFF"))).ReadAll()
	if err != nil || !strings.HasPrefix(c.String(), "\uFEFF") {
		t.Fatalf("csv: %v, BOM %v", err, strings.HasPrefix(c.String(), "\uFEFF"))
	}
	if !reflect.DeepEqual(recs[0], LedgerColumns) || !reflect.DeepEqual(recs[1:], rows) {
		t.Errorf("csv rows differ from the ledger's:\n%q\n%q", recs[1:], rows)
	}
}
