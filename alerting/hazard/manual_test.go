package hazard

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var clerk = Actor{Name: "patrol", Create: true, Rectify: true}

func validManual() CreateRequest {
	funds := 1500.0
	return CreateRequest{Description: "2号储罐防火堤排水阀常开", Level: LevelMajor, Point: "GT-102", Days: 7,
		Person: "王五", Basis: "GB 50351-2014 3.2.13", Measures: "关闭排水阀并挂牌", Funds: &funds, Remarks: "夜间巡检发现"}
}

func TestCreateManual(t *testing.T) {
	h := newHarness(t, nil)
	sub := h.e.Subscribe(h.ctx, 0)
	defer sub.Close()
	g, err := h.e.Create(h.ctx, clerk, validManual())
	if err != nil {
		t.Fatal(err)
	}
	if g.Source != SourceManual || g.Rule != ManualRule || g.Status != Open || g.Tag != "GT-102" || g.Area != "罐区A" ||
		g.TagName != "2号储罐区可燃气体" || !g.Deadline.Equal(t0.AddDate(0, 0, 7)) || g.Funds == nil || *g.Funds != 1500 ||
		g.Remarks != "夜间巡检发现" || g.Person != "王五" || g.Category != defaultManualCategory || !strings.HasPrefix(g.Number, "CZ01-") {
		t.Errorf("record %+v", g)
	}
	select {
	case ev := <-sub.C:
		if ev.Type != EventCreated || ev.By != "patrol" || ev.Hazard.ID != g.ID {
			t.Errorf("published %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the manual record was not published")
	}
	// Two alike never merge: each walk-round finding is its own record.
	place := validManual()
	place.Point, place.Area, place.Days, place.Deadline = "东门消防通道", "厂区", 0, ptr(t0.Add(48*time.Hour))
	g2, err := h.e.Create(h.ctx, clerk, place)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Tag != "" || g2.TagName != "东门消防通道" || location(g2) != "厂区 东门消防通道" || g2.Number == g.Number {
		t.Errorf("second record %+v (部位 %q)", g2, location(g2))
	}
}

func ptr[T any](v T) *T { return &v }

// TestCreateManualRefusals: each bad request names its field and changes
// nothing.
func TestCreateManualRefusals(t *testing.T) {
	tests := []struct {
		name  string
		actor Actor
		edit  func(*CreateRequest)
		want  error
		field string
	}{
		{"no right", operator, func(*CreateRequest) {}, ErrForbidden, "create right"},
		{"no description", clerk, func(r *CreateRequest) { r.Description = "  " }, ErrInvalid, "description"},
		{"no level", clerk, func(r *CreateRequest) { r.Level = "" }, ErrInvalid, "level"},
		{"unknown level", clerk, func(r *CreateRequest) { r.Level = "较大隐患" }, ErrInvalid, "level"},
		{"nowhere", clerk, func(r *CreateRequest) { r.Point, r.Area = "", "" }, ErrInvalid, "area"},
		{"no person", clerk, func(r *CreateRequest) { r.Person = "" }, ErrInvalid, "person"},
		{"no deadline", clerk, func(r *CreateRequest) { r.Days = 0 }, ErrInvalid, "deadline"},
		{"both deadlines", clerk, func(r *CreateRequest) { r.Deadline = ptr(t0.Add(time.Hour)) }, ErrInvalid, "deadline and days"},
		{"days negative", clerk, func(r *CreateRequest) { r.Days = -3 }, ErrInvalid, "days"},
		{"days too many", clerk, func(r *CreateRequest) { r.Days = 4000 }, ErrInvalid, "days"},
		{"deadline past", clerk, func(r *CreateRequest) { r.Days, r.Deadline = 0, ptr(t0.Add(-time.Hour)) }, ErrInvalid, "deadline"},
		{"funds negative", clerk, func(r *CreateRequest) { r.Funds = ptr(-1.0) }, ErrInvalid, "funds"},
		{"nobody", Actor{Create: true}, func(*CreateRequest) {}, ErrInvalid, "who"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			req := validManual()
			tt.edit(&req)
			_, err := h.e.Create(h.ctx, tt.actor, req)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err %v, want %v naming %q", err, tt.want, tt.field)
			}
			if hs := h.hazards(); len(hs) != 0 {
				t.Errorf("refused request left %d records", len(hs))
			}
			if evs := h.events(); len(evs) != 0 {
				t.Errorf("refused request left %d events", len(evs))
			}
		})
	}
}
