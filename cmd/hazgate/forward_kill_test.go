package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols"
	"hazgate/protocols/gb26875"
	"hazgate/sim"
	"hazgate/sim/testenv"
)

// TestForwardKillNine: the issue's "none lost across the centre restarting
// and the gateway being kill -9ed with 1,000 messages queued", with a real
// gateway process. The centre is down; a control room's gateway (a child
// process) receives 1,000 fire-panel changes from its panel's transmission
// device, 500 points going to fire and then clearing, after 100 points
// going to fault; they wait in its outbox. The gateway is killed with
// SIGKILL and started again on the same data_dir; the centre (the
// project's own listener) comes up, dies once in the middle of the drain
// with a frame received but not confirmed, and comes up again; the gateway
// is killed once more while it sends, and started again. Every message
// arrives, the fire alarms in the order the panel sent them (each point's,
// and across points), every fire alarm before any status; at-least-once, so the frame the dying centre held
// comes twice, as may what was in flight at the second kill, and the
// duplicates are counted.
func TestForwardKillNine(t *testing.T) {
	if os.Getenv("HAZGATE_KILL_CHILD") != "" {
		t.Skip("child side runs in TestKillNineChild")
	}
	const firePoints, faultPoints = 500, 100
	const alarmMsgs = 2 * firePoints
	centreAddr, panelAddr := freePort(t), freePort(t)
	dir := t.TempDir()
	conf := writeSite(t, dir, fmt.Sprintf(`
site: {id: building-9, name: 九号楼消防控制室}
data_dir: %s
http: {listen: "127.0.0.1:0"}
devices:
  - {id: panel, protocol: gb26875, listen: "%s", heartbeat: 60s}
forward: {centres: ["%s"], address: "000000005678", heartbeat: 1s, confirm_timeout: 1s, dial_timeout: 500ms, alarm_after: 2s}
`, filepath.Join(dir, "var"), panelAddr, centreAddr))

	gw, out := startGatewayChild(t, conf)
	base := waitRunning(t, out)
	// "running" is logged as the devices start; the listener binds a
	// moment later, and a loaded CI machine showed the gap.
	testenv.WaitFor(t, 15*time.Second, "the panel's listener bound", func() bool {
		return strings.Contains(out.String(), "gb26875 listening")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	panel, err := sim.DialUITD(ctx, panelAddr, sim.UITDOptions{Address: 1234, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer panel.Close()
	const fire, fault = 1 << 1, 1 << 2
	send := func(zone uint16, n int, status uint16) gb26875.TimeTag {
		t.Helper()
		tt := gb26875.TimeTagOf(time.Now())
		for from := 0; from < n; from += 20 {
			u := &gb26875.Unit{Type: gb26875.TypeComponentState}
			for p := from; p < min(from+20, n); p++ {
				u.Components = append(u.Components, gb26875.ComponentState{
					Component: gb26875.Component{SysType: 1, SysAddr: 1, Type: 40, Zone: zone, Position: uint16(p + 1)},
					Status:    status | 1, Desc: gb26875.Desc(fmt.Sprintf("%d区%d号烟感", zone, p+1)), Time: tt})
			}
			if err := panel.Send(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		return tt
	}
	// Status first, so the fire alarms have a backlog to overtake; a
	// second between the fires and their clears, so each is a message of
	// its own (time tags have seconds).
	send(9, faultPoints, fault)
	fireAt := send(3, firePoints, fire)
	time.Sleep(1100 * time.Millisecond)
	clearAt := send(3, firePoints, 0)
	want := alarmMsgs + faultPoints
	testenv.WaitFor(t, 30*time.Second, "every change in the outbox", func() bool {
		st := forwardStatus(t, base)
		return st.Pending["alarm"] >= alarmMsgs && st.Pending["status"] >= faultPoints
	})
	time.Sleep(1500 * time.Millisecond) // the device's state after the last change is queued within a second
	st := forwardStatus(t, base)
	t.Logf("queued before the kill: %d alarm, %d status", st.Pending["alarm"], st.Pending["status"])
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	panel.Close()

	gw, out = startGatewayChild(t, conf)
	base = waitRunning(t, out)
	// Exactly what was queued (the changes, and the device's own state
	// messages, type 21, as it went to fire and fault).
	if after := forwardStatus(t, base); after.Pending["alarm"] != st.Pending["alarm"] || after.Pending["status"] != st.Pending["status"] {
		t.Errorf("outbox after the kill: %d alarm, %d status; want %d and %d as before it", after.Pending["alarm"], after.Pending["status"], st.Pending["alarm"], st.Pending["status"])
	}

	// The centre: it dies holding the frame that brings it past 400 fire
	// alarms, before confirming it.
	rec := &centreLog{dieAfter: 400}
	up := time.Now()
	stop := centreListener(t, centreAddr, rec)
	select {
	case <-rec.dying():
	case <-time.After(60 * time.Second):
		t.Fatalf("the centre got %d fire-point messages in a minute, want 400", rec.alarms())
	}
	stop()
	died := rec.alarms()
	// Back, a little slower (5 ms a frame), so the gateway is killed again
	// in the middle of sending: whatever the frame in flight was doing.
	reached := rec.revive(700, 5*time.Millisecond)
	stop = centreListener(t, centreAddr, rec)
	defer stop()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatalf("the centre got %d fire-point messages in a minute, want 700", rec.alarms())
	}
	// Anywhere in a frame's round: sending, waiting for the confirm, or
	// between the confirm and the outbox's commit.
	jitter := time.Duration(rand.Int64N(int64(10 * time.Millisecond)))
	time.Sleep(jitter)
	if err := gw.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	killedAt := rec.distinct("")
	if killedAt >= want {
		t.Fatalf("the drain was over (%d messages) before the second kill", killedAt)
	}
	gw, out = startGatewayChild(t, conf)
	base = waitRunning(t, out)
	testenv.WaitFor(t, 60*time.Second, "every fire alarm at the centre", func() bool { return rec.distinct(".Z3-") >= alarmMsgs })
	alarmDrain := time.Since(up)
	testenv.WaitFor(t, 60*time.Second, "every message at the centre", func() bool { return rec.distinct("") >= want })
	drain := time.Since(up)
	testenv.WaitFor(t, 10*time.Second, "the outbox empty", func() bool {
		st := forwardStatus(t, base)
		return st.Pending["alarm"] == 0 && st.Pending["status"] == 0
	})
	time.Sleep(500 * time.Millisecond) // anything more the link would send
	// Nothing torn, corrupt or dropped in the outbox across the kills.
	series := 0
	for _, line := range strings.Split(getText(t, base+"/metrics"), "\n") {
		if strings.HasPrefix(line, "hazgate_forward_outbox_skipped_total") || strings.HasPrefix(line, "hazgate_forward_outbox_dropped_total") {
			series++
			if !strings.HasSuffix(line, " 0") {
				t.Errorf("after the kills: %s", line)
			}
		}
	}
	if series != 4 {
		t.Errorf("%d outbox skipped and dropped series on /metrics, want 4 (two a class)", series)
	}
	gw.Process.Signal(os.Interrupt)
	gw.Wait()

	// Per point, the messages in the order they came, repeats dropped.
	msgs := rec.messages()
	seen := map[centreMsg]bool{}
	per := map[string][]centreMsg{}
	var alarmSeq []centreMsg // the fire alarms and clears, first arrivals in order
	dups, lastAlarm, firstStatus := 0, -1, -1
	for i, m := range msgs {
		if seen[m] {
			dups++
			continue
		}
		seen[m] = true
		per[m.point] = append(per[m.point], m)
		if strings.Contains(m.point, ".Z3-") {
			lastAlarm = i
			alarmSeq = append(alarmSeq, m)
		} else if firstStatus < 0 {
			firstStatus = i
		}
	}
	t.Logf("drain: %d messages (%d fire alarms and clears, %d status) at the centre %v after it first came up (the alarms in %v), "+
		"through its death after %d fire-point messages and the gateway's second kill after %d messages (+%v); %d duplicates",
		want, alarmMsgs, faultPoints, drain.Round(time.Millisecond), alarmDrain.Round(time.Millisecond), died, killedAt, jitter.Round(time.Microsecond), dups)
	at := func(tt gb26875.TimeTag) time.Time { x, _ := tt.Time(gb26875.Beijing); return x }
	var wrong []string
	for p := 1; p <= firePoints; p++ {
		pt := fmt.Sprintf("UITD-000000005678.S1-1.Z3-P%d", p)
		exp := []centreMsg{{pt, 1, 0, at(fireAt).UnixNano()}, {pt, 0, 0, at(clearAt).UnixNano()}}
		if fmt.Sprint(per[pt]) != fmt.Sprint(exp) {
			wrong = append(wrong, fmt.Sprintf("%s %v", pt, per[pt]))
		}
	}
	for p := 1; p <= faultPoints; p++ {
		pt := fmt.Sprintf("UITD-000000005678.S1-1.Z9-P%d", p)
		if got := per[pt]; len(got) != 1 || got[0].fire != 0 || got[0].fault != 1 {
			wrong = append(wrong, fmt.Sprintf("%s %v", pt, got))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d points with the wrong messages at the centre: %s", len(wrong), head(wrong))
	}
	// Across points too: the alarm class is one queue on disk and the link
	// stop-and-wait, so a resend (after the centre's death or the kill)
	// repeats the oldest unconfirmed frame before anything newer, and the
	// first arrivals are the panel's order: the 500 fires, then the 500
	// clears, by position.
	for i, m := range alarmSeq {
		p, tt, fire := i%firePoints+1, clearAt, 0.0
		if i < firePoints {
			tt, fire = fireAt, 1
		}
		if exp := (centreMsg{fmt.Sprintf("UITD-000000005678.S1-1.Z3-P%d", p), fire, 0, at(tt).UnixNano()}); m != exp {
			t.Errorf("fire alarm #%d at the centre %v, want %v: out of the panel's order", i, m, exp)
			break
		}
	}
	if len(alarmSeq) != alarmMsgs {
		t.Errorf("%d distinct fire alarms and clears at the centre, want %d", len(alarmSeq), alarmMsgs)
	}
	if len(per) != firePoints+faultPoints {
		t.Errorf("%d points at the centre, want %d", len(per), firePoints+faultPoints)
	}
	if firstStatus < lastAlarm {
		t.Errorf("a status message arrived (#%d) before the last fire alarm (#%d)", firstStatus, lastAlarm)
	}
	// The frame the dying centre held, and the one or two in flight at the
	// second kill.
	if dups > 3*22 {
		t.Errorf("%d duplicates, want at most three frames", dups)
	}
}

// freePort returns a loopback host:port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// centreMsg is one component state as the centre received it.
type centreMsg struct {
	point       string
	fire, fault float64
	at          int64 // the state's time tag, Unix ns
}

// centreLog records, in order, the component states the centre's listener
// hands on; once dieAfter fire-point (zone 3) messages are in, it keeps
// the next frame's unconfirmed until the listener stops, as a centre dying
// with a frame received. After revive, it takes delay over every frame and
// closes reached once mark fire-point messages are in.
type centreLog struct {
	dieAfter int
	mark     int
	reached  chan struct{}
	delay    time.Duration

	mu     sync.Mutex
	all    []centreMsg
	nfire  int
	dead   chan struct{}
	killed bool
}

func (c *centreLog) Emit(ctx context.Context, batch []collector.Sample) error {
	byPoint := map[string]*centreMsg{}
	var order []string
	for _, s := range batch {
		i := strings.LastIndexByte(s.Tag, '.')
		if i < 0 || !strings.Contains(s.Tag, ".Z") || s.Quality != collector.Good {
			continue
		}
		pt, state := s.Tag[:i], s.Tag[i+1:]
		m := byPoint[pt]
		if m == nil {
			m = &centreMsg{point: pt, at: s.Time.UnixNano()}
			byPoint[pt] = m
			order = append(order, pt)
		}
		switch state {
		case "fire":
			m.fire = s.Value
		case "fault":
			m.fault = s.Value
		}
	}
	c.mu.Lock()
	for _, pt := range order {
		c.all = append(c.all, *byPoint[pt])
		if strings.Contains(pt, ".Z3-") {
			c.nfire++
		}
	}
	die := !c.killed && c.dieAfter > 0 && c.nfire >= c.dieAfter
	if die {
		c.killed = true
		close(c.dying())
	}
	if c.mark > 0 && c.nfire >= c.mark {
		c.mark = 0
		close(c.reached)
	}
	delay := c.delay
	c.mu.Unlock()
	time.Sleep(delay)
	if die {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (c *centreLog) dying() chan struct{} {
	if c.dead == nil {
		c.dead = make(chan struct{})
	}
	return c.dead
}

func (c *centreLog) revive(mark int, delay time.Duration) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dieAfter, c.mark, c.delay, c.reached = 0, mark, delay, make(chan struct{})
	return c.reached
}

func (c *centreLog) alarms() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nfire
}

func (c *centreLog) messages() []centreMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]centreMsg(nil), c.all...)
}

// distinct counts the different messages of points whose id contains sub.
func (c *centreLog) distinct(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[centreMsg]bool, len(c.all))
	for _, m := range c.all {
		if strings.Contains(m.point, sub) {
			seen[m] = true
		}
	}
	return len(seen)
}

// centreListener runs the project's own GB/T 26875.3 listener on addr as
// the monitoring centre, handing what it receives to rec, until stop.
func centreListener(t *testing.T, addr string, rec *centreLog) (stop func()) {
	t.Helper()
	rec.mu.Lock()
	rec.dying()
	rec.mu.Unlock()
	dev := config.Device{ID: "city-centre", Protocol: "gb26875", Timeout: time.Second,
		Block: &gb26875.Config{Listen: addr, Heartbeat: time.Second, CommLossAfter: 3, MaxConnections: 10,
			HandshakeTimeout: 5 * time.Second, CommandTimeout: time.Second, CommandTries: 3}}
	l, err := gb26875.New(protocols.Env{Site: "city-119", Emit: rec, Tags: collector.NewRegistry(), Log: slog.New(slog.DiscardHandler)}, dev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("centre listener: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	actx, acancel := context.WithTimeout(ctx, 5*time.Second)
	defer acancel()
	if _, err := l.Addr(actx); err != nil {
		t.Fatalf("centre listener on %s: %v", addr, err)
	}
	return stop
}
