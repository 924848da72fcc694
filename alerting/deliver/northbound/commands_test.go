package northbound

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"hazgate/alerting/hazard"
)

// fakeRecords is a site's hazard records for the command path.
type fakeRecords struct {
	supervised map[int64]bool
	calls      int
	events     int64
}

func (f *fakeRecords) Supervise(_ context.Context, id int64, actor hazard.Actor, req hazard.SuperviseRequest) (hazard.Hazard, error) {
	f.calls++
	cur, ok := f.supervised[id]
	switch {
	case !ok:
		return hazard.Hazard{}, fmt.Errorf("hazard %d: %w", id, hazard.ErrNotFound)
	case cur == !req.Lift:
		return hazard.Hazard{}, fmt.Errorf("already: %w", hazard.ErrWrongState)
	case !actor.Supervise || actor.Name == "":
		return hazard.Hazard{}, hazard.ErrForbidden
	}
	f.supervised[id] = !req.Lift
	f.events++
	return hazard.Hazard{ID: id, Supervised: !req.Lift}, nil
}

func (f *fakeRecords) Get(_ context.Context, id int64) (hazard.Hazard, error) {
	return hazard.Hazard{ID: id, Supervised: f.supervised[id]}, nil
}

func (f *fakeRecords) History(_ context.Context, id int64) ([]hazard.Event, error) {
	return []hazard.Event{{Seq: f.events}}, nil
}

func cmdJSON(id, site, typ string, hz int64) []byte {
	b, _ := json.Marshal(Command{V: 1, ID: id, Site: site, Type: typ, Hazard: hz, By: "市应急局", Note: "限期整改"})
	return b
}

func TestCommandsApplyEachIDOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "northbound-commands.json")
	recs := &fakeRecords{supervised: map[int64]bool{1: false, 2: true}}
	c, err := newCommands("s1", path, "hazgate/s1/command/ack", recs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload []byte
		ok      bool
		errPart string // in the answer's error, or in the refusal
		refused bool   // not answered at all
	}{
		{"supervise", cmdJSON("c1", "s1", commandSupervise, 1), true, "", false},
		{"the same id again", cmdJSON("c1", "s1", commandSupervise, 1), true, "", false},
		{"already as asked", cmdJSON("c2", "s1", commandSupervise, 2), true, "", false},
		{"unknown record", cmdJSON("c3", "s1", commandSupervise, 9), false, "not found", false},
		{"unknown type", cmdJSON("c4", "s1", "instruct", 1), false, `unknown command type "instruct"`, false},
		{"another site's", cmdJSON("c5", "s2", commandSupervise, 1), false, `site "s2"`, true},
		{"not JSON", []byte("{"), false, "not a command", true},
	}
	for _, tt := range tests {
		ack, err := c.apply(ctx, tt.payload)
		if tt.refused {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("%s: %+v %v, want a refusal with %q", tt.name, ack, err, tt.errPart)
			}
			continue
		}
		if err != nil || ack.OK != tt.ok || !strings.Contains(ack.Error, tt.errPart) || ack.Site != "s1" {
			t.Errorf("%s: %+v %v", tt.name, ack, err)
		}
	}
	if recs.calls != 3 { // c1 once, c2, c3; not the unknown type
		t.Errorf("Supervise called %d times, want 3 (c1 once, c2, c3)", recs.calls)
	}
	// A restart remembers the answers: a resend is not applied again.
	again, err := newCommands("s1", path, "hazgate/s1/command/ack", recs)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := again.apply(ctx, cmdJSON("c1", "s1", commandSupervise, 1))
	if err != nil || !ack.OK || ack.HazardSeq != 1 || recs.calls != 3 {
		t.Errorf("after a restart: %+v %v, %d calls", ack, err, recs.calls)
	}
}
