package forward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazgate/protocols/gb26875"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, gb26875.Beijing)

// msg is a component-state message whose position is n, so tests can read
// the order back.
func msg(c Class, n int) Message {
	return Message{Class: c, Entered: t0.Add(time.Duration(n) * time.Millisecond), Unit: gb26875.Unit{
		Type: gb26875.TypeComponentState,
		Components: []gb26875.ComponentState{{
			Component: gb26875.Component{SysType: 1, SysAddr: 1, Type: 42, Zone: 1, Position: uint16(n)},
			Status:    1 | 2, Desc: gb26875.Desc(fmt.Sprintf("%d号探测器", n)),
			Time: gb26875.TimeTagOf(t0.Add(time.Duration(n) * time.Second)),
		}},
	}}
}

func uitdMsg(n int) Message {
	return Message{Class: ClassStatus, Entered: t0, Unit: gb26875.Unit{Type: gb26875.TypeUITDState,
		UITD: []gb26875.UITDState{{Flags: 1, Time: gb26875.TimeTagOf(t0.Add(time.Duration(n) * time.Second))}}}}
}

// num reads a message's number back: its position, or its UITD time's seconds.
func num(m Message) int {
	if m.Unit.Type == gb26875.TypeUITDState {
		tt, _ := m.Unit.UITD[0].Time.Time(gb26875.Beijing)
		return 1000 + int(tt.Sub(t0)/time.Second)
	}
	return int(m.Unit.Components[0].Position)
}

func openBox(t testing.TB, dir string, opts SpooledOptions) *Spooled {
	t.Helper()
	opts.Dir = dir
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	o, err := OpenSpooled(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func put(t testing.TB, o *Spooled, msgs ...Message) {
	t.Helper()
	if err := o.Put(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// next calls Next with a deadline so a test that expects messages never hangs.
func next(t testing.TB, o *Spooled, max int) []Pending {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := o.Next(ctx, max)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return ps
}

type sent struct {
	class Class
	nums  []int
}

// drainBox takes everything with Next and Done, max at a time, and returns
// each Next's class and numbers.
func drainBox(t *testing.T, o *Spooled, max int) []sent {
	t.Helper()
	var out []sent
	for o.Stats().Alarm.Depth+o.Stats().Status.Depth > 0 {
		ps := next(t, o, max)
		s := sent{class: ps[0].Class}
		for _, p := range ps {
			if p.Class != s.class || p.Unit.Type != ps[0].Unit.Type {
				t.Fatalf("one Next mixed classes or unit types: %+v", ps)
			}
			s.nums = append(s.nums, num(p.Message))
		}
		out = append(out, s)
		if err := o.Done(ps...); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestOutboxOrder(t *testing.T) {
	type step struct {
		alarms, status []int // numbers put, in one Put each
	}
	tests := []struct {
		name string
		puts []step
		max  int
		want []sent
	}{
		{"within a class, in max-sized takes", []step{{status: seq(0, 10)}, {status: seq(10, 30)}}, 22,
			[]sent{{ClassStatus, seq(0, 22)}, {ClassStatus, seq(22, 30)}}},
		{"one at a time", []step{{status: seq(0, 3)}}, 1,
			[]sent{{ClassStatus, []int{0}}, {ClassStatus, []int{1}}, {ClassStatus, []int{2}}}},
		{"alarms overtake a backlog of status", []step{{status: seq(0, 40)}, {alarms: seq(100, 103)}, {status: seq(40, 45)}}, 22,
			[]sent{{ClassAlarm, seq(100, 103)}, {ClassStatus, seq(0, 22)}, {ClassStatus, seq(22, 44)}, {ClassStatus, []int{44}}}},
		{"one Put of both classes", []step{{alarms: []int{7}, status: []int{1, 2}}}, 22,
			[]sent{{ClassAlarm, []int{7}}, {ClassStatus, []int{1, 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := openBox(t, t.TempDir(), SpooledOptions{})
			for _, s := range tt.puts {
				var ms []Message
				for _, n := range s.status {
					ms = append(ms, msg(ClassStatus, n))
				}
				for _, n := range s.alarms {
					ms = append(ms, msg(ClassAlarm, n))
				}
				put(t, o, ms...)
			}
			if got := drainBox(t, o, tt.max); !slices.EqualFunc(got, tt.want, func(a, b sent) bool {
				return a.class == b.class && slices.Equal(a.nums, b.nums)
			}) {
				t.Fatalf("sent %v, want %v", got, tt.want)
			}
		})
	}
}

// A take holds one unit type, so the link can pack it into one unit.
func TestOutboxNextKeepsToOneUnitType(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{})
	put(t, o, msg(ClassStatus, 0), msg(ClassStatus, 1), uitdMsg(0), msg(ClassStatus, 2))
	want := []sent{{ClassStatus, []int{0, 1}}, {ClassStatus, []int{1000}}, {ClassStatus, []int{2}}}
	if got := drainBox(t, o, 22); !slices.EqualFunc(got, want, func(a, b sent) bool { return slices.Equal(a.nums, b.nums) }) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

func TestOutboxRedeliversUntilDone(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{})
	put(t, o, msg(ClassAlarm, 0), msg(ClassAlarm, 1), msg(ClassAlarm, 2))
	first := next(t, o, 2)
	again := next(t, o, 2)
	if !slices.Equal(ids(first), ids(again)) || len(first) != 2 {
		t.Fatalf("Next without Done gave %v then %v, want the same two", ids(first), ids(again))
	}
	// Done out of order: the second is confirmed, the head is not, so the
	// head comes again and the second does not; nothing is committed yet.
	if err := o.Done(first[1]); err != nil {
		t.Fatal(err)
	}
	if got := nums(next(t, o, 2)); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("after Done of the second: %v, want [0 2]", got)
	}
	if d := o.Stats().Alarm.Depth; d != 3 {
		t.Fatalf("depth %d, want 3: the head is not done", d)
	}
	if err := o.Done(first[0]); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats().Alarm; st.Depth != 1 || st.Dones != 2 || st.Puts != 3 {
		t.Fatalf("stats %+v, want depth 1, 2 done, 3 put", st)
	}
	if err := o.Done(first...); err != nil { // again: ignored
		t.Fatal(err)
	}
	if got := nums(next(t, o, 2)); !slices.Equal(got, []int{2}) {
		t.Fatalf("last: %v, want [2]", got)
	}
}

func TestOutboxRestartKeepsWhatWasNotDone(t *testing.T) {
	dir := t.TempDir()
	o := openBox(t, dir, SpooledOptions{})
	for i := range 10 {
		put(t, o, msg(ClassAlarm, i), msg(ClassStatus, 100+i))
	}
	ps := next(t, o, 4)
	if err := o.Done(ps...); err != nil {
		t.Fatal(err)
	}
	next(t, o, 3) // handed out, not confirmed: must come again
	o.Close()

	o = openBox(t, dir, SpooledOptions{})
	if st := o.Stats(); st.Alarm.Depth != 6 || st.Status.Depth != 10 {
		t.Fatalf("after restart depths %d alarm, %d status; want 6, 10", st.Alarm.Depth, st.Status.Depth)
	}
	want := []sent{{ClassAlarm, seq(4, 10)}, {ClassStatus, seq(100, 110)}}
	if got := drainBox(t, o, 22); !slices.EqualFunc(got, want, func(a, b sent) bool { return slices.Equal(a.nums, b.nums) }) {
		t.Fatalf("after restart sent %v, want %v", got, want)
	}
	// What a message carries survives the disk.
	put(t, o, msg(ClassAlarm, 5))
	o.Close()
	o = openBox(t, dir, SpooledOptions{})
	got := next(t, o, 1)[0].Message
	if w := msg(ClassAlarm, 5); !got.Entered.Equal(w.Entered) || got.Class != w.Class || got.Unit.Components[0] != w.Unit.Components[0] {
		t.Fatalf("read back %+v, want %+v", got, w)
	}
}

// A crash during a write leaves a torn record at the end; it is cut off
// and counted, and what came before is all there.
func TestOutboxTornTail(t *testing.T) {
	dir := t.TempDir()
	o := openBox(t, dir, SpooledOptions{})
	for i := range 5 {
		put(t, o, msg(ClassAlarm, i))
	}
	o.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "alarm", "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{60, 0, 0, 0, 1, 2, 3, 4, 1, 0}) // a header and part of a payload
	f.Close()

	o = openBox(t, dir, SpooledOptions{})
	if st := o.Stats().Alarm; st.Depth != 5 || st.Skipped != 1 {
		t.Fatalf("stats %+v, want 5 waiting, 1 skipped", st)
	}
	want := []sent{{ClassAlarm, seq(0, 5)}}
	if got := drainBox(t, o, 22); !slices.EqualFunc(got, want, func(a, b sent) bool { return slices.Equal(a.nums, b.nums) }) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	put(t, o, msg(ClassAlarm, 9)) // appends after the cut, readable
	if got := nums(next(t, o, 5)); !slices.Equal(got, []int{9}) {
		t.Fatalf("after the cut: %v, want [9]", got)
	}
}

func TestOutboxNextBlocksUntilPut(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{})
	got := make(chan []Pending, 1)
	go func() {
		ps, _ := o.Next(context.Background(), 5)
		got <- ps
	}()
	select {
	case ps := <-got:
		t.Fatalf("Next returned %v on an empty outbox", ps)
	case <-time.After(50 * time.Millisecond):
	}
	put(t, o, msg(ClassStatus, 3))
	select {
	case ps := <-got:
		if !slices.Equal(nums(ps), []int{3}) {
			t.Fatalf("woke with %v, want [3]", nums(ps))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake on Put")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	o2 := openBox(t, t.TempDir(), SpooledOptions{})
	if _, err := o2.Next(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a context that ends: %v", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); o2.Close() }()
	if _, err := o2.Next(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next across Close: %v, want ErrClosed", err)
	}
	if err := o2.Put(context.Background(), msg(ClassAlarm, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
}

// Past MaxBytes the oldest go, and every one is counted.
func TestOutboxBoundCountsDropped(t *testing.T) {
	now := t0.Add(time.Hour)
	o := openBox(t, t.TempDir(), SpooledOptions{MaxBytes: 4096, Now: func() time.Time { return now }})
	for i := range 300 {
		put(t, o, msg(ClassStatus, i))
	}
	st := o.Stats().Status
	if st.Dropped == 0 || uint64(st.Depth)+st.Dropped != 300 || st.Puts != 300 || st.Bytes > 4096 {
		t.Fatalf("stats %+v: want some dropped, depth+dropped = 300 put, at most 4096 bytes", st)
	}
	got := drainBox(t, o, 22)
	if first := got[0].nums[0]; first != int(st.Dropped) {
		t.Fatalf("first sent %d, want %d: the oldest are the ones dropped", first, st.Dropped)
	}
	if st.Age != now.Sub(msg(ClassStatus, int(st.Dropped)).Entered) {
		t.Fatalf("age %s of oldest %s", st.Age, st.Oldest)
	}
}

func TestOutboxRejectsUnencodableMessage(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{})
	bad := Message{Class: ClassAlarm, Unit: gb26875.Unit{Type: gb26875.TypeComponentState}}
	if err := o.Put(context.Background(), msg(ClassAlarm, 1), bad); err == nil {
		t.Fatal("Put of a unit without objects: no error")
	}
	if d := o.Stats().Alarm.Depth; d != 0 {
		t.Fatalf("depth %d after a failed Put, want 0: nothing of it is written", d)
	}
}

func ids(ps []Pending) []uint64 {
	var out []uint64
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func nums(ps []Pending) []int {
	var out []int
	for _, p := range ps {
		out = append(out, num(p.Message))
	}
	return out
}

const killChildEnv = "HAZGATE_FORWARD_KILL_CHILD"

// TestOutboxKillNineChild is the process TestOutboxKillNine kills: it puts
// 1,000 alarm messages one by one and says when each Put returned.
func TestOutboxKillNineChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("run by TestOutboxKillNine")
	}
	o, err := OpenSpooled(SpooledOptions{Dir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := range 1000 {
		if err := o.Put(context.Background(), msg(ClassAlarm, i)); err != nil {
			fmt.Fprintln(w, "error", err)
			w.Flush()
			os.Exit(1)
		}
		fmt.Fprintln(w, "put", i)
		w.Flush()
	}
	select {} // wait for the kill
}

// Every message whose Put returned before a SIGKILL is there after it, in
// order, none twice; at most the one in flight is there besides.
func TestOutboxKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxKillNineChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAt := 300 + int(time.Now().UnixNano()%400)
	last := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		n, ok := strings.CutPrefix(line, "put ")
		if !ok {
			if strings.HasPrefix(line, "error") {
				t.Fatalf("child: %s", line)
			}
			continue
		}
		last, _ = strconv.Atoi(n)
		if last == killAt {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if last < killAt {
		t.Fatalf("child stopped after put %d, before %d: %s", last, killAt, stderr.String())
	}

	o := openBox(t, dir, SpooledOptions{})
	var got []int
	for {
		ps := func() []Pending {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			ps, _ := o.Next(ctx, 22)
			return ps
		}()
		if len(ps) == 0 {
			break
		}
		got = append(got, nums(ps)...)
		if err := o.Done(ps...); err != nil {
			t.Fatal(err)
		}
	}
	// The child went on putting between our read and the kill: more may be
	// there, but in order, without gaps or repeats.
	if len(got) < last+1 || !slices.Equal(got, seq(0, len(got))) {
		t.Fatalf("after kill -9 at put %d: %d messages, want 0..%d at least, in order, none twice: %v",
			last, len(got), last, got[:min(len(got), 20)])
	}
	t.Logf("killed after put %d returned; %d messages there", last, len(got))
}

// The bound may drop segments the link holds messages of; what it holds
// still goes, and the rest follows in order, none twice.
func TestOutboxDropWhileHandedOut(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{MaxBytes: 4096})
	for i := range 20 {
		put(t, o, msg(ClassAlarm, i))
	}
	held := next(t, o, 10)
	for i := 20; i < 300; i++ {
		put(t, o, msg(ClassAlarm, i))
	}
	if o.Stats().Alarm.Dropped == 0 {
		t.Fatal("nothing dropped: the test needs a smaller bound")
	}
	if err := o.Done(held...); err != nil {
		t.Fatal(err)
	}
	got := nums(held)
	for _, s := range drainBox(t, o, 22) {
		got = append(got, s.nums...)
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) || got[len(got)-1] != 299 {
		t.Fatalf("sent %v: want rising, none twice, ending with 299", got)
	}
}

// A producer and the link at once: everything arrives, in order.
func TestOutboxConcurrentPutAndNext(t *testing.T) {
	o := openBox(t, t.TempDir(), SpooledOptions{})
	const n = 500
	go func() {
		for i := 0; i < n; i += 5 {
			o.Put(context.Background(), msg(ClassStatus, i), msg(ClassStatus, i+1), msg(ClassStatus, i+2), msg(ClassStatus, i+3), msg(ClassStatus, i+4))
		}
	}()
	var got []int
	for len(got) < n {
		ps := next(t, o, 22)
		got = append(got, nums(ps)...)
		if err := o.Done(ps...); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, seq(0, n)) {
		t.Fatalf("got %v", got)
	}
}
