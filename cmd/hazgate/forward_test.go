package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"hazgate/alerting"
	"hazgate/alerting/selfalarm"
	"hazgate/api"
	"hazgate/collector"
	"hazgate/protocols/gb26875"
	"hazgate/protocols/gb26875/forward"
	"hazgate/sim/testenv"
)

// centreAt starts a gateway whose gb26875 listener on addr plays the city's
// monitoring centre, keeping its journal in dir across restarts.
func centreAt(t *testing.T, addr, dir string) (*gateway, string, func()) {
	t.Helper()
	cfg := parseConfig(t, `
site: {id: city-119}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: uitds, protocol: gb26875, listen: "${ADDR}", heartbeat: 1s}
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical, fault: medium}}
`, map[string]string{"DIR": dir, "ADDR": addr})
	return startGateway(t, cfg)
}

// TestForwardToTheCentre: two gateways over real TCP. A building's control
// room receives a fire from its panel's transmission device and forwards it,
// as this site's own device 000000005678, to the city's centre (the other
// gateway's listener), which raises the alarm. With the centre down, the
// control room's forward_link alarm rises and a second fire waits on disk;
// when the centre is back it gets the fire, once, and the alarm clears.
func TestForwardToTheCentre(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	centreAddr := ln.Addr().String()
	ln.Close()
	centreDir := t.TempDir()
	_, centreBase, stopCentre := centreAt(t, centreAddr, centreDir)

	site := parseConfig(t, `
site: {id: building-3, name: 三号楼消防控制室}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: panel, protocol: gb26875, listen: "127.0.0.1:0", heartbeat: 30s} # the simulated panel sends no heartbeats
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical}}
forward: {centres: ["${CENTRE}"], address: "000000005678", heartbeat: 1s, confirm_timeout: 500ms, dial_timeout: 500ms, alarm_after: 2s}
`, map[string]string{"DIR": t.TempDir(), "CENTRE": centreAddr})
	g, base, _ := startGateway(t, site)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	panel := dialPanel(ctx, t, g)
	const fire = 1 << 1
	smoke := func(pos uint16) gb26875.Component {
		return gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: 3, Position: pos}
	}
	if err := panel.Component(ctx, smoke(27), fire, "三号楼二层烟感"); err != nil {
		t.Fatal(err)
	}
	// At the centre the point is this site's device's: its address, the
	// panel's component address.
	atCentre := func(base string, pos int) alerting.Alarm {
		t.Helper()
		return waitAlarm(t, base, 20*time.Second, func(a alerting.Alarm) bool {
			return a.Tag == fmt.Sprintf("UITD-000000005678.S1-1.Z3-P%d.fire", pos) && a.Severity == alerting.SeverityCritical
		})
	}
	atCentre(centreBase, 27)
	var st api.ForwardStatus
	testenv.WaitFor(t, 10*time.Second, "the link's status says confirmed", func() bool {
		st = forwardStatus(t, base)
		return st.Connected && st.Pending["alarm"] == 0 && st.P99Seconds["alarm"] > 0
	})
	t.Logf("forward status %+v", st)
	if st.P99Seconds["alarm"] > st.LimitSeconds["alarm"] {
		t.Errorf("fire alarm p99 %v s over GB 25506's %v s", st.P99Seconds["alarm"], st.LimitSeconds["alarm"])
	}

	// The centre goes down: the control room's own alarm, and the next fire waits.
	stopCentre()
	waitAlarm(t, base, 20*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == selfalarm.ForwardLinkTag && a.Class == alerting.ClassCommLoss && a.State == alerting.ActiveUnacked
	})
	if err := panel.Component(ctx, smoke(28), fire, "三号楼三层烟感"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the second fire queued", func() bool { return forwardStatus(t, base).Pending["alarm"] >= 1 })

	_, centreBase, _ = centreAt(t, centreAddr, centreDir)
	atCentre(centreBase, 28)
	waitAlarm(t, base, 20*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == selfalarm.ForwardLinkTag && a.State == alerting.ClearedUnacked
	})
	// Each fire reached the centre's journal once.
	for _, pos := range []int{27, 28} {
		resp, err := http.Get(centreBase + fmt.Sprintf("/api/v1/alarms/history?tag=UITD-000000005678.S1-1.Z3-P%d.fire", pos))
		if err != nil {
			t.Fatal(err)
		}
		var evs []alerting.Event
		err = json.NewDecoder(resp.Body).Decode(&evs)
		resp.Body.Close()
		raised := 0
		for _, ev := range evs {
			if ev.Type == alerting.EventRaised {
				raised++
			}
		}
		if err != nil || raised != 1 {
			t.Errorf("position %d: raised %d times at the centre (%v)", pos, raised, err)
		}
	}
}

func forwardStatus(t *testing.T, base string) api.ForwardStatus {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/forward")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st api.ForwardStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		t.Fatalf("GET /api/v1/forward: %s", resp.Status)
	}
	return st
}

// TestForwardLinkAlarmOnUnconfirmedFire: a centre that is connected and
// confirms every heartbeat but never a fire alarm. With the default
// alarm_after (GB 25506's 10 s) the control room's forward_link alarm
// (comm_loss) rises once the fire has waited 10 s, not 30.
func TestForwardLinkAlarmOnUnconfirmedFire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var heartbeats, fires atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			go func() {
				rd := gb26875.NewReader(nc)
				for {
					f, err := rd.Next()
					if err != nil {
						return
					}
					if f.Cmd != gb26875.CmdSendData {
						continue
					}
					if len(f.Data) > 0 {
						fires.Add(1) // never confirmed
						continue
					}
					heartbeats.Add(1)
					b, err := gb26875.Append(nil, gb26875.Reply(f, gb26875.CmdConfirm, time.Now()))
					if err != nil {
						t.Error(err)
						return
					}
					nc.Write(b)
				}
			}()
		}
	}()
	site := parseConfig(t, `
site: {id: building-3}
data_dir: ${DIR}
http: {listen: "127.0.0.1:0"}
devices:
  - {id: panel, protocol: gb26875, listen: "127.0.0.1:0", heartbeat: 30s}
rules:
  - {name: fas, match: {kind: fire_panel}, states: {fire: critical}}
forward: {centres: ["${CENTRE}"], address: "000000005678", heartbeat: 1s, confirm_timeout: 1s, dial_timeout: 500ms}
`, map[string]string{"DIR": t.TempDir(), "CENTRE": ln.Addr().String()})
	g, base, _ := startGateway(t, site)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testenv.WaitFor(t, 10*time.Second, "the link up", func() bool { return forwardStatus(t, base).Connected })
	panel := dialPanel(ctx, t, g)
	sent := time.Now()
	if err := panel.Component(ctx, gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: 3, Position: 27}, 1<<1, "三号楼二层烟感"); err != nil {
		t.Fatal(err)
	}
	a := waitAlarm(t, base, 20*time.Second, func(a alerting.Alarm) bool {
		return a.Tag == selfalarm.ForwardLinkTag && a.Class == alerting.ClassCommLoss && a.State == alerting.ActiveUnacked
	})
	after := time.Since(sent)
	st := forwardStatus(t, base)
	t.Logf("forward_link raised %v after the fire (value %v); centre saw %d heartbeats, %d fire frames; status %+v",
		after.Round(10*time.Millisecond), a.Value, heartbeats.Load(), fires.Load(), st)
	if after < 9500*time.Millisecond || after > 13*time.Second {
		t.Errorf("forward_link raised %v after the fire, want just past 10 s", after)
	}
	if fires.Load() == 0 || heartbeats.Load() < 2 || st.Pending["alarm"] == 0 {
		t.Errorf("the fire was not sent and kept waiting: %d fire frames, %d heartbeats, %d pending", fires.Load(), heartbeats.Load(), st.Pending["alarm"])
	}
}

// TestLinkFailing: forward.link counts a fire alarm's wait at once and a
// status message's only past status_alarm_after, rounded up.
func TestLinkFailing(t *testing.T) {
	ob := func(alarm, status time.Duration) forward.OutboxStats {
		return forward.OutboxStats{Alarm: forward.ClassStats{Age: alarm}, Status: forward.ClassStats{Age: status}}
	}
	for _, tc := range []struct {
		name          string
		down          time.Duration
		alarm, status time.Duration
		want          float64
	}{
		{"all well", 0, 0, 0, 0},
		{"fire just past 10 s", 0, 10*time.Second + time.Millisecond, 0, 11},
		{"fire at 10 s exactly", 0, 10 * time.Second, 0, 10},
		{"status within 100 s", 0, 0, 99 * time.Second, 0},
		{"status past 100 s", 0, 0, 100*time.Second + 200*time.Millisecond, 101},
		{"down longest", 42 * time.Second, 3 * time.Second, 0, 42},
		{"status past its limit beats a younger fire", 0, 5 * time.Second, 150 * time.Second, 150},
	} {
		if got := linkFailing(tc.down, ob(tc.alarm, tc.status), 100*time.Second); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestForwardGasLevels: forward.gas_levels reaches the source: a toxic gas
// named there goes as a fire at its level, combustible gas at its own
// (20 %LEL, not the default 25), and an unnamed kind not at all.
func TestForwardGasLevels(t *testing.T) {
	cfg := parseConfig(t, `
site: {id: s}
data_dir: ${DIR}
forward: {centres: ["127.0.0.1:1"], address: "000000005678", gas: true, gas_levels: {combustible_gas: 20, toxic_gas: 10}}
`, map[string]string{"DIR": t.TempDir()})
	reg := collector.NewRegistry()
	for _, tg := range []collector.Tag{{ID: "T1-LEL", Kind: "combustible_gas", Device: "d"}, {ID: "T2-H2S", Kind: "toxic_gas", Device: "d"},
		{ID: "T3-O2", Kind: "oxygen", Device: "d"}} {
		if err := reg.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	f, err := openForward(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.outbox.Close()
	ctx := context.Background()
	alarms := func() uint64 { return f.outbox.Stats().Alarm.Puts }
	now := time.Now()
	f.source.Consume(ctx, []collector.Sample{{Tag: "T1-LEL", Value: 0, Time: now}, {Tag: "T2-H2S", Value: 0, Time: now}, {Tag: "T3-O2", Value: 30, Time: now}})
	base := alarms()
	for i, tc := range []struct {
		tag   string
		value float64
		want  uint64 // alarms put
	}{
		{"T1-LEL", 19, 0}, {"T1-LEL", 21, 1}, // 20 %LEL, not 25
		{"T2-H2S", 9, 0}, {"T2-H2S", 10, 1},
		{"T3-O2", 100, 0},
	} {
		before := alarms()
		f.source.Consume(ctx, []collector.Sample{{Tag: tc.tag, Value: tc.value, Time: now.Add(time.Duration(i+1) * time.Second)}})
		if got := alarms() - before; got != tc.want {
			t.Errorf("%s at %v: %d alarms put, want %d", tc.tag, tc.value, got, tc.want)
		}
	}
	if base != 0 {
		t.Errorf("%d alarms from the first readings, all below their levels", base)
	}
}

type emitFunc func(context.Context, []collector.Sample) error

func (f emitFunc) Emit(ctx context.Context, s []collector.Sample) error { return f(ctx, s) }

// TestDutyBookMissed: the 查岗 book marks a duty check missed when its
// minutes run out unanswered (at the watch after the deadline, not
// before) and when the next one replaces it; the marks are on disk for the
// next start, and a missed one can no longer be answered.
func TestDutyBookMissed(t *testing.T) {
	dir := t.TempDir()
	cfg := parseConfig(t, `
site: {id: s}
data_dir: ${DIR}
forward: {centres: ["127.0.0.1:1"], address: "000000005678"}
`, map[string]string{"DIR": dir})
	reg := collector.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	f, err := openForward(cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	emit := emitFunc(func(context.Context, []collector.Sample) error { return nil })
	t0 := time.Now()
	f.dutyCheck(forward.DutyCheck{Serial: 1, Minutes: 2, Received: t0})
	f.watch(ctx, emit, t0.Add(2*time.Minute-time.Second))
	st, _ := f.ForwardStatus(ctx)
	if st.DutyCheck == nil || st.DutyChecks[0].Missed {
		t.Fatalf("before its deadline: open %+v, book %+v", st.DutyCheck, st.DutyChecks)
	}
	f.watch(ctx, emit, t0.Add(2*time.Minute+time.Second))
	st, _ = f.ForwardStatus(ctx)
	if st.DutyCheck != nil || len(st.DutyChecks) != 1 || !st.DutyChecks[0].Missed || st.DutyChecks[0].AnsweredAt != nil {
		t.Fatalf("after its deadline: open %+v, book %+v; want it missed", st.DutyCheck, st.DutyChecks)
	}
	if _, err := f.AnswerDutyCheck(ctx, "duty-officer"); !errors.Is(err, api.ErrNoDutyCheck) {
		t.Errorf("answering a missed 查岗: %v, want ErrNoDutyCheck", err)
	}

	// Replaced before its answer: missed at once, the new one open.
	t1 := t0.Add(10 * time.Minute)
	f.dutyCheck(forward.DutyCheck{Serial: 2, Minutes: 5, Received: t1})
	f.dutyCheck(forward.DutyCheck{Serial: 3, Minutes: 5, Received: t1.Add(time.Minute)})
	st, _ = f.ForwardStatus(ctx)
	if len(st.DutyChecks) != 3 || st.DutyChecks[0].Missed || !st.DutyChecks[1].Missed || !st.DutyChecks[2].Missed ||
		st.DutyCheck == nil || !st.DutyCheck.Received.Equal(t1.Add(time.Minute)) {
		t.Fatalf("after a replacement: open %+v, book %+v", st.DutyCheck, st.DutyChecks)
	}
	f.saves.Wait() // dutyCheck saves on goroutines of its own
	f.outbox.Close()

	g, err := openForward(cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.outbox.Close()
	st, _ = g.ForwardStatus(ctx)
	if len(st.DutyChecks) != 3 || !st.DutyChecks[1].Missed || !st.DutyChecks[2].Missed || st.DutyChecks[0].Missed {
		t.Errorf("book after a restart %+v", st.DutyChecks)
	}
}
