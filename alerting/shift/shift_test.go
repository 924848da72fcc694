package shift

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"hazgate/alerting"
	"hazgate/alerting/hazard"
	"hazgate/collector"
)

// The shift: 08:00 to 16:00 Beijing time on 2025-03-01.
var (
	bj       = hazard.Beijing
	from, to = time.Date(2025, 3, 1, 8, 0, 0, 0, bj), time.Date(2025, 3, 1, 16, 0, 0, 0, bj)
)

func at(h, m int) time.Time      { return time.Date(2025, 3, 1, h, m, 0, 0, bj) }
func ptr(t time.Time) *time.Time { return &t }

type tagMap map[string]collector.Tag

func (m tagMap) Lookup(id string) (collector.Tag, bool) { t, ok := m[id]; return t, ok }

type hazardLog []hazard.Event

func (l hazardLog) EventsAfter(_ context.Context, seq int64, limit int) ([]hazard.Event, error) {
	var out []hazard.Event
	for _, ev := range l {
		if ev.Seq > seq && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

// fixture commits a shift's alarms, each as a list of transitions:
//
//	GT-1  raised 07:00, acked 09:00 with a comment, disposed 09:30 (泄漏),
//	      closed by the engine 10:00: handled three times, not open at 16:00.
//	GT-2  raised 12:00 with a <script> message, open all along.
//	GT-3  raised 15:00, closed 17:00 (after the shift): open at its end.
//	GT-4  raised 17:00 (after): not in the report.
//	dev-1 device root alarm raised 11:00, active: offline, standing for 3.
//	GT-5  comm loss suppressed by design under dev-1: neither open nor offline.
//	GT-6  comm loss of its own (device gds-2) since 13:00: open and offline.
//	GT-7  raised 05:00 and closed 06:00, before the shift: not in it.
func fixture(t *testing.T) *Builder {
	t.Helper()
	ctx := context.Background()
	j, err := alerting.OpenJournal(ctx, filepath.Join(t.TempDir(), "alarms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	type step struct {
		typ, by string
		at      time.Time
		change  func(*alerting.Alarm)
	}
	commit := func(a alerting.Alarm, steps ...step) alerting.Alarm {
		t.Helper()
		a.Site, a.Count, a.Active, a.State = "s1", 1, true, cmpState(a.State, alerting.ActiveUnacked)
		if a.Severity == "" {
			a.Severity = alerting.SeverityHigh
		}
		ev, err := j.Commit(ctx, alerting.EventRaised, a, a.RaisedAt)
		if err != nil {
			t.Fatal(err)
		}
		a = ev.Alarm
		for _, s := range steps {
			s.change(&a)
			if ev, err = j.CommitBy(ctx, s.typ, a, s.at, s.by); err != nil {
				t.Fatal(err)
			}
			a = ev.Alarm
		}
		return a
	}
	closeAt := func(tm time.Time) step {
		return step{alerting.EventClosed, "", tm, func(a *alerting.Alarm) {
			a.State, a.Active, a.ClearedAt = alerting.Normal, false, ptr(tm)
			if a.AckedAt == nil {
				a.AckedAt, a.AckedBy = ptr(tm), "auto"
			}
		}}
	}
	commit(alerting.Alarm{Tag: "GT-1", Rule: "lel", Level: "H", Class: "lel", Message: "1号罐区可燃气体 52 %LEL 超过二级报警值 50", RaisedAt: at(7, 0)},
		step{alerting.EventAcked, "ctrl-room", at(9, 0), func(a *alerting.Alarm) {
			a.State, a.AckedAt, a.AckedBy, a.AckComment = alerting.ActiveAcked, ptr(at(9, 0)), "ctrl-room", "已通知巡检"
		}},
		step{alerting.EventDisposed, "ctrl-room", at(9, 30), func(a *alerting.Alarm) {
			a.Disposal = &alerting.Disposal{Cause: alerting.CauseLeak, Measures: "关阀堵漏", Person: "张三", At: at(9, 20), Note: "法兰渗漏", By: "ctrl-room"}
		}},
		step{alerting.EventClosed, "", at(10, 0), func(a *alerting.Alarm) {
			a.State, a.Active, a.ClearedAt = alerting.Normal, false, ptr(at(10, 0))
		}})
	commit(alerting.Alarm{Tag: "GT-2", Rule: "lel", Level: "HH", Class: "lel", Severity: alerting.SeverityCritical,
		Message: `<script>alert("x")</script> 超限`, RaisedAt: at(12, 0)})
	commit(alerting.Alarm{Tag: "GT-3", Rule: "lel", Level: "H", Class: "lel", RaisedAt: at(15, 0)}, closeAt(at(17, 0)))
	commit(alerting.Alarm{Tag: "GT-4", Rule: "lel", Level: "H", Class: "lel", RaisedAt: at(17, 0)})
	root := commit(alerting.Alarm{Tag: "dev-1", Rule: "comm_loss", Level: "device", Class: alerting.ClassCommLoss, Message: "通信中断",
		RaisedAt: at(11, 0), Suppressed: 3})
	commit(alerting.Alarm{Tag: "GT-5", Rule: "comm_loss", Class: alerting.ClassCommLoss, State: alerting.SuppressedByDesign, Root: root.ID, RaisedAt: at(11, 0)})
	commit(alerting.Alarm{Tag: "GT-6", Rule: "comm_loss", Class: alerting.ClassCommLoss, Message: "通信中断", RaisedAt: at(13, 0)})
	commit(alerting.Alarm{Tag: "GT-7", Rule: "lel", Level: "H", Class: "lel", RaisedAt: at(5, 0)}, closeAt(at(6, 0)))

	hz := hazard.Hazard{ID: 1, Number: "S1-20250301-0001", Area: "罐区A", TagName: "1号罐区可燃气体", Level: hazard.LevelMajor,
		Description: "可燃气体报警 <b>频发</b>", Status: hazard.InProgress}
	return &Builder{Site: "s1", Unit: "演示化工有限公司", DB: j.DB(),
		Tags: tagMap{"GT-1": {ID: "GT-1", Name: "1号罐区可燃气体", Area: "罐区A", Device: "gds-1", Unit: "%LEL"}, "GT-6": {ID: "GT-6", Name: "6号", Device: "gds-2"}},
		Hazards: hazardLog{
			{Seq: 1, Type: hazard.EventCreated, Time: at(7, 0), Hazard: hz},
			{Seq: 2, Type: hazard.EventCreated, Time: at(9, 0), To: hazard.Open, Hazard: hz},
			{Seq: 3, Type: hazard.EventLinked, Time: at(10, 0), Hazard: hz},
			{Seq: 4, Type: hazard.EventTransition, Time: at(11, 0), By: "ctrl-room", From: hazard.Open, To: hazard.InProgress, Comment: "开始整改", Hazard: hz},
			{Seq: 5, Type: hazard.EventTransition, Time: at(16, 0), By: "ctrl-room", From: hazard.InProgress, To: hazard.PendingVerification, Hazard: hz},
		},
		Now: func() time.Time { return at(16, 5) }}
}

func cmpState(s, def alerting.State) alerting.State {
	if s == "" {
		return def
	}
	return s
}

func TestBuild(t *testing.T) {
	b := fixture(t)
	r, err := b.Build(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, a := range r.Open {
		open = append(open, a.Tag+"/"+string(a.State))
	}
	// Most severe first, then oldest; GT-3 as it stood at 16:00.
	if want := []string{"GT-2/active_unacked", "dev-1/active_unacked", "GT-6/active_unacked", "GT-3/active_unacked"}; !reflect.DeepEqual(open, want) {
		t.Errorf("open %v, want %v", open, want)
	}
	var handled []string
	for _, h := range r.Handled {
		handled = append(handled, h.Alarm.Tag+" "+h.Type+" by "+h.By)
	}
	if want := []string{"GT-1 acked by ctrl-room", "GT-1 disposed by ctrl-room", "GT-1 closed by ctrl-room"}; !reflect.DeepEqual(handled, want) {
		t.Errorf("handled %v, want %v", handled, want)
	}
	if d := r.Handled[1].Alarm.Disposal; d == nil || d.Cause != alerting.CauseLeak || r.Handled[1].Alarm.Name != "1号罐区可燃气体" {
		t.Errorf("disposal %+v of %+v", d, r.Handled[1].Alarm)
	}
	var hz []int64
	for _, ev := range r.Hazards {
		hz = append(hz, ev.Seq)
	}
	if want := []int64{2, 4}; !reflect.DeepEqual(hz, want) {
		t.Errorf("hazard events %v, want %v", hz, want)
	}
	want := []Offline{{Device: "dev-1", Since: at(11, 0).UTC(), Suppressed: 3, AlarmID: 5}, {Device: "gds-2", Tag: "GT-6", Name: "6号", Since: at(13, 0).UTC(), AlarmID: 7}}
	if !reflect.DeepEqual(r.Offline, want) {
		t.Errorf("offline %+v, want %+v", r.Offline, want)
	}
	if _, err := b.Build(context.Background(), to, from); err == nil {
		t.Error("reversed shift accepted")
	}
}

func TestWriteXLSX(t *testing.T) {
	r, err := fixture(t).Build(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := f.GetSheetList(), []string{"交接班", "未关闭报警", "本班处理报警", "隐患变化", "设备离线"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sheets %v, want %v", got, want)
	}
	tests := []struct {
		sheet string
		rows  int // with the header
		cell  string
		want  string
	}{
		{"交接班", 8, "B3", "2025-03-01 08:00 至 2025-03-01 16:00（北京时间）"},
		{"未关闭报警", 5, "F2", `<script>alert("x")</script> 超限`},
		{"未关闭报警", 5, "K5", "1小时"},
		{"本班处理报警", 4, "J3", "泄漏"},
		{"本班处理报警", 4, "K3", "关阀堵漏（法兰渗漏）"},
		{"本班处理报警", 4, "I2", "已通知巡检"},
		{"隐患变化", 3, "I3", "整改中"},
		{"设备离线", 3, "C2", "全部点位"},
		{"设备离线", 3, "F3", "3小时"},
	}
	for _, tt := range tests {
		rows, err := f.GetRows(tt.sheet)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != tt.rows {
			t.Errorf("%s: %d rows, want %d", tt.sheet, len(rows), tt.rows)
		}
		if v, _ := f.GetCellValue(tt.sheet, tt.cell); v != tt.want {
			t.Errorf("%s!%s = %q, want %q", tt.sheet, tt.cell, v, tt.want)
		}
	}
	if p, err := f.GetPanes("未关闭报警"); err != nil || !p.Freeze || p.YSplit != 1 {
		t.Errorf("header not frozen: %+v %v", p, err)
	}
}

func TestWriteHTML(t *testing.T) {
	r, err := fixture(t).Build(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"演示化工有限公司 交接班报表", "未关闭报警（4）", "本班处理报警（3）", "隐患变化（2）", "设备离线（2）",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; 超限", "可燃气体报警 &lt;b&gt;频发&lt;/b&gt;", "@media print", "交班人："} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "<b>") {
		t.Error("a message's markup reached the page unescaped")
	}
	// The style must be the one StyleHash names, byte for byte.
	start, end := strings.Index(page, "<style>")+len("<style>"), strings.Index(page, "</style>")
	sum := sha256.Sum256([]byte(page[start:end]))
	if got := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; got != StyleHash {
		t.Errorf("style hashes to %s, StyleHash is %s", got, StyleHash)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "不足1分钟", 35 * time.Minute: "35分钟",
		125 * time.Minute: "2小时5分钟", 26*time.Hour + 5*time.Minute: "1天2小时", 48 * time.Hour: "2天"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
}
