package gb26875

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazgate/collector"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden frames, one per decoded type: device 4660 (0x1234) to centre 88888,
// sent 2012-09-26 09:58:02, objects at 2025-03-08 14:30:05. The checksums
// were computed outside this package (a Python one-liner) and typed in.
var golden = []struct {
	name string
	hex  string
	// want: every reading of the unit, "tag=value".
	want []string
}{
	{"system state", "404001000100023a091a090c341200000000385b01000000160002010201010300051e0e0803190a020109051e0e080319302323",
		[]string{
			"UITD-000000004660.S1-1.fire=1", "UITD-000000004660.S1-1.fault=0", "UITD-000000004660.S1-1.disabled=0",
			"UITD-000000004660.S1-1.supervisory=0", "UITD-000000004660.S1-1.start=0", "UITD-000000004660.S1-1.feedback=0",
			"UITD-000000004660.S1-1.main_power_fault=0", "UITD-000000004660.S1-1.backup_power_fault=0",
			"UITD-000000004660.S1-1.bus_fault=0", "UITD-000000004660.S1-1.manual=0",
			"UITD-000000004660.S10-2.fire=0", "UITD-000000004660.S10-2.fault=0", "UITD-000000004660.S10-2.disabled=0",
			"UITD-000000004660.S10-2.supervisory=0", "UITD-000000004660.S10-2.start=0", "UITD-000000004660.S10-2.feedback=0",
			"UITD-000000004660.S10-2.main_power_fault=1", "UITD-000000004660.S10-2.backup_power_fault=0",
			"UITD-000000004660.S10-2.bus_fault=0", "UITD-000000004660.S10-2.manual=1",
		}},
	{"component state", "404002000100023a091a090c341200000000385b01000000300002020101012803001b00020033bac5c2a532b2e3d1ccb8d000000000000000000000000000000000000000051e0e0803192a2323",
		[]string{
			"UITD-000000004660.S1-1.Z3-P27.fire=1", "UITD-000000004660.S1-1.Z3-P27.fault=0", "UITD-000000004660.S1-1.Z3-P27.disabled=0",
			"UITD-000000004660.S1-1.Z3-P27.supervisory=0", "UITD-000000004660.S1-1.Z3-P27.start=0",
			"UITD-000000004660.S1-1.Z3-P27.feedback=0", "UITD-000000004660.S1-1.Z3-P27.power_fault=0",
		}},
	{"analog", "404003000100023a091a090c341200000000385b0100000022000203020b01630100050005c409051e0e08031901014a02000900063b01051e0e080319052323",
		[]string{"UITD-000000004660.S11-1.Z1-P5.pressure=0.25", "UITD-000000004660.S1-1.Z2-P9.gas=31.5"}},
	{"operation", "404004000100023a091a090c341200000000385b010000000c0002040101010307051e0e080319c72323",
		[]string{"UITD-000000004660.S1-1.operation=3"}},
	{"transmission device state", "404005000100023a091a090c341200000000385b01000000090002150109051e0e080319d32323",
		[]string{
			"UITD-000000004660.fire=0", "UITD-000000004660.fault=0", "UITD-000000004660.main_power_fault=1",
			"UITD-000000004660.backup_power_fault=0", "UITD-000000004660.link_fault=0", "UITD-000000004660.line_fault=0",
		}},
	{"transmission device operation", "404006000100023a091a090c341200000000385b010000000a000218012003051e0e080319f22323",
		[]string{"UITD-000000004660.operation=32"}},
	{"software version (not decoded)", "404007000100023a091a090c341200000000385b01000000040002190102077f2323", nil},
	{"heartbeat", "404008000100023a091a090c341200000000385b01000000000002592323", nil},
}

func TestGoldenFrames(t *testing.T) {
	objTime := time.Date(2025, 3, 8, 14, 30, 5, 0, Beijing)
	for i, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			b := unhex(t, g.hex)
			f, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.Serial != uint16(i+1) || f.Main != 1 || f.Src != 4660 || f.Dst != 88888 || f.Cmd != CmdSendData {
				t.Errorf("header %+v", f)
			}
			if sent, err := f.Time.Time(Beijing); err != nil || !sent.Equal(time.Date(2012, 9, 26, 9, 58, 2, 0, Beijing)) {
				t.Errorf("time tag %v %v", sent, err)
			}
			data := f.Data
			if len(f.Data) > 0 {
				u, err := DecodeUnit(f.Data)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range goodReadings(t, f.Src, &u, objTime.Add(time.Minute)) {
					if !r.at.Equal(objTime) {
						t.Errorf("%s at %v, want the object's time %v", r.tag.ID, r.at, objTime)
					}
					got = append(got, r.tag.ID+"="+trimFloat(r.value))
				}
				if strings.Join(got, " ") != strings.Join(g.want, " ") {
					t.Errorf("readings\n got %v\nwant %v", got, g.want)
				}
				if data, err = u.Encode(nil); err != nil {
					t.Fatal(err)
				}
			}
			f.Data = data
			again, err := Append(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("re-encoded\n %x\nwant\n %x", again, b)
			}
		})
	}
}

func trimFloat(v float64) string { return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64) }

// published reads testdata/published_frames.txt: example frames printed with
// public descriptions of the standard, checked by someone else's hand.
func published(t testing.TB) map[string][]byte {
	t.Helper()
	fh, err := os.Open("testdata/published_frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, h, _ := strings.Cut(line, " ")
		out[name] = unhex(t, strings.TrimSpace(h))
	}
	return out
}

func TestPublishedFrames(t *testing.T) {
	frames := published(t)
	for name, b := range frames {
		f, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := Append(nil, f)
		if !bytes.Equal(again, b) {
			t.Errorf("%s re-encoded %x", name, again)
		}
	}
	fire, _ := Parse(frames["fire"])
	u, err := DecodeUnit(fire.Data)
	if err != nil {
		t.Fatal(err)
	}
	c := u.Components[0]
	// "2号10区 感烟探测器 火警": zone 10, position 2, smoke detector, fire.
	if c.Zone != 10 || c.Position != 2 || c.Type != 40 || c.Status != 2 || c.Text() != "" {
		t.Errorf("published fire: %+v %q", c, c.Text())
	}
	// Our confirm and deny of the fire frame, at the published reply time,
	// are the published ones byte for byte.
	replied := time.Date(2012, 9, 26, 9, 58, 35, 0, Beijing)
	for _, r := range []struct {
		name string
		cmd  Command
	}{{"confirm", CmdConfirm}, {"deny", CmdDeny}} {
		got, _ := Append(nil, Reply(fire, r.cmd, replied))
		if !bytes.Equal(got, frames[r.name]) {
			t.Errorf("%s %x, published %x", r.name, got, frames[r.name])
		}
	}
	// Our commands carry the published objects.
	for name, want := range map[string][]byte{"sync_clock": append([]byte{TypeSyncClock, 1}, 2, 0x3a, 9, 0x1a, 9, 0x0c), "duty_check": {TypeDutyCheck, 1, 10}} {
		f, _ := Parse(frames[name])
		if f.Cmd != CmdControl || !bytes.Equal(f.Data, want) {
			t.Errorf("%s: cmd %v data %x, want control %x", name, f.Cmd, f.Data, want)
		}
	}
	ans, _ := Parse(frames["duty_answer"])
	u, _ = DecodeUnit(ans.Data)
	if len(u.Operations) != 1 || u.Operations[0].Flags != OpDutyAnswer || u.Operations[0].Operator != 1 {
		t.Errorf("published duty answer %+v", u)
	}
}

func TestParseErrors(t *testing.T) {
	good := unhex(t, golden[1].hex)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	long := Frame{Main: 1, Cmd: CmdSendData, Data: make([]byte, MaxData)}
	maxFrame, err := Append(nil, long)
	if err != nil {
		t.Fatal(err)
	}
	long.Data = make([]byte, MaxData+1)
	if _, err := Append(nil, long); !errors.Is(err, ErrLength) {
		t.Errorf("Append of 1025 bytes: %v", err)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"checksum", mod(func(b []byte) []byte { b[len(b)-3]++; return b }), ErrChecksum},
		{"data byte flipped", mod(func(b []byte) []byte { b[40] ^= 0x10; return b }), ErrChecksum},
		{"length over 1024", mod(func(b []byte) []byte { b[24], b[25] = 0x01, 0x04; return b }), ErrLength},
		{"end mark", mod(func(b []byte) []byte { b[len(b)-1] = '#' + 1; return b }), ErrEndMark},
		{"start mark", mod(func(b []byte) []byte { b[0] = 0; return b }), ErrStart},
		{"truncated", good[:len(good)-1], ErrShort},
		{"tiny", good[:10], ErrShort},
		{"largest frame", maxFrame, nil},
	}
	for _, tt := range tests {
		_, err := Parse(tt.b)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A bad checksum still reports the serial to deny.
	f, err := Parse(tests[0].b)
	if !errors.Is(err, ErrChecksum) || f.Serial != 2 || f.Src != 4660 {
		t.Errorf("bad checksum: %+v %v", f, err)
	}
}

func TestReaderResynchronises(t *testing.T) {
	hb := unhex(t, golden[7].hex)
	comp := unhex(t, golden[1].hex)
	bad := bytes.Clone(comp)
	bad[len(bad)-3] ^= 0xff
	tooLong := bytes.Clone(hb)
	tooLong[24], tooLong[25] = 0x00, 0x05 // 1280
	var stream []byte
	stream = append(stream, "garbage without a start\r\n"...)
	stream = append(stream, hb...)
	stream = append(stream, '@', '@', 0x01, '@') // a stray start mark: implausible header
	stream = append(stream, comp...)
	stream = append(stream, bad...)
	stream = append(stream, comp[:20]...) // a frame cut short, then a whole one
	stream = append(stream, hb...)
	stream = append(stream, tooLong[:headerLen]...)
	stream = append(stream, hb...)
	stream = append(stream, '@') // a lone @ at the end

	r := NewReader(iotestOneByte(stream))
	var got []string
	for {
		f, err := r.Next()
		var fe *FrameError
		switch {
		case errors.As(err, &fe):
			got = append(got, "error:"+map[bool]string{true: "checksum", false: "length"}[errors.Is(err, ErrChecksum)]+":"+strconv.Itoa(int(fe.Frame.Serial)))
			continue
		case errors.Is(err, io.EOF):
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, "frame:"+strconv.Itoa(int(f.Serial)))
			continue
		}
		break
	}
	want := []string{"frame:8", "frame:2", "error:checksum:2", "frame:8", "error:length:8", "frame:8"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// Garbage: the text, the stray 4 bytes, the 20-byte cut frame, the
	// too-long header after its @@; the lone @ at the end waits for more.
	if wantSkip := uint64(len("garbage without a start\r\n") + 4 + 20 + headerLen - 2); r.Skipped() != wantSkip {
		t.Errorf("skipped %d bytes, want %d", r.Skipped(), wantSkip)
	}
}

// iotestOneByte hands the reader one byte per Read, as a slow link would.
func iotestOneByte(b []byte) io.Reader { return &oneByte{b: b} }

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

func TestDecodeUnitErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"no count", []byte{2}},
		{"zero objects", []byte{2, 0}},
		{"too many objects", append([]byte{21, 2}, make([]byte, 14)...)},
		{"short object", append([]byte{3, 1}, make([]byte, 15)...)},
		{"trailing bytes", append([]byte{21, 1}, make([]byte, 8)...)},
	}
	for _, tt := range tests {
		if _, err := DecodeUnit(tt.b); !errors.Is(err, ErrUnit) {
			t.Errorf("%s: %v, want ErrUnit", tt.name, err)
		}
	}
}

func TestReadingNamesAndUnits(t *testing.T) {
	now := time.Date(2025, 3, 8, 14, 31, 0, 0, Beijing)
	b := unhex(t, golden[1].hex)
	f, _ := Parse(b)
	u, _ := DecodeUnit(f.Data)
	rs := goodReadings(t, f.Src, &u, now)
	if r := rs[0]; r.tag.Name != "3号楼2层烟感" || r.tag.Kind != KindFirePanel || r.tag.Description != "火灾报警系统 / 感烟火灾探测器" {
		t.Errorf("component tag %+v", r.tag)
	}
	f, _ = Parse(unhex(t, golden[2].hex))
	u, _ = DecodeUnit(f.Data)
	rs = goodReadings(t, f.Src, &u, now)
	// 2500 × 0.1 kPa = 0.25 MPa on a hydrant system; gas in %LEL.
	if r := rs[0]; r.tag.Unit != "MPa" || r.tag.Kind != "hydrant_pressure" || r.tag.Name != "1区5号压力开关" {
		t.Errorf("pressure tag %+v", r.tag)
	}
	if r := rs[1]; r.tag.Unit != "%LEL" || r.tag.Kind != "combustible_gas" {
		t.Errorf("gas tag %+v", r.tag)
	}
	// No description: the name says where and what.
	c := ComponentState{Component: Component{SysType: 1, SysAddr: 1, Type: 23, Zone: 4, Position: 8}, Status: 2}
	u = Unit{Type: TypeComponentState, Components: []ComponentState{c}}
	if r := goodReadings(t, 1, &u, now)[0]; r.tag.Name != "4区8号手动火灾报警按钮" || !r.at.Equal(now) {
		t.Errorf("undescribed component %+v at %v (a zero time tag must give the receipt time)", r.tag, r.at)
	}
}

// goodReadings is readings under the default time bounds, for units whose
// objects are all within them.
func goodReadings(t testing.TB, a Address, u *Unit, now time.Time) []reading {
	t.Helper()
	rs, bad := readings(a, u, now, collector.TimeBounds{})
	if len(bad) > 0 {
		t.Fatalf("objects dropped for their time: %+v", bad)
	}
	return rs
}

func TestObjectTime(t *testing.T) {
	now := time.Date(2025, 3, 8, 14, 30, 0, 0, Beijing)
	tests := []struct {
		name    string
		tt      TimeTag
		bounds  collector.TimeBounds
		want    time.Time
		badTime bool
	}{
		{"sane", TimeTagOf(now.Add(-time.Minute)), collector.TimeBounds{}, now.Add(-time.Minute), false},
		{"clock never set", TimeTag{}, collector.TimeBounds{}, now, false},
		{"31 February", TimeTag{0, 0, 0, 31, 2, 25}, collector.TimeBounds{}, now, false},
		{"year byte 100, no time at all", TimeTag{0, 0, 0, 1, 1, 100}, collector.TimeBounds{}, now, false},
		{"from UTC", TimeTagOf(now.UTC()), collector.TimeBounds{}, now, false},
		{"4 minutes fast: in bounds, its own time", TimeTagOf(now.Add(4 * time.Minute)), collector.TimeBounds{}, now.Add(4 * time.Minute), false},
		{"an hour late: in bounds, past maxSkew", TimeTagOf(now.Add(-time.Hour)), collector.TimeBounds{}, now, false},
		{"an hour fast", TimeTagOf(now.Add(time.Hour)), collector.TimeBounds{}, now, true},
		{"an hour fast, future 2h", TimeTagOf(now.Add(time.Hour)), collector.TimeBounds{Future: 2 * time.Hour}, now, false},
		{"2099", TimeTag{0, 0, 0, 31, 12, 99}, collector.TimeBounds{}, now, true},
		{"2000, a clock reset to its epoch", TimeTag{5, 0, 0, 1, 1, 0}, collector.TimeBounds{}, now, true},
		{"2000, past 30y", TimeTag{5, 0, 0, 1, 1, 0}, collector.TimeBounds{Past: 30 * 8760 * time.Hour}, now, false},
	}
	for _, tt := range tests {
		got, err := objectTime(tt.tt, now, tt.bounds)
		if (err != nil) != tt.badTime || !got.Equal(tt.want) {
			t.Errorf("%s: %v, %v; want %v, bad time %v", tt.name, got, err, tt.want, tt.badTime)
		}
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	for _, s := range []string{"", "3号楼2层烟感", "B1 消防水泵房 喷淋泵", strings.Repeat("火", 20)} {
		d := Desc(s)
		c := ComponentState{Desc: d}
		want := s
		if len(s) > 0 && s[0] == 0xe7 { // 20 × 火 is 40 bytes in GB 18030: cut at 15 characters
			want = strings.Repeat("火", 15)
		}
		if got := c.Text(); got != want {
			t.Errorf("Desc(%q).Text() = %q, want %q", s, got, want)
		}
	}
}

func TestAddress(t *testing.T) {
	for _, s := range []string{"000000001234", "1234", "281474976710655"} {
		a, err := ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseAddress(a.String())
		if err != nil || a != b || len(a.String()) < 12 {
			t.Errorf("%s -> %v -> %v %v", s, a, b, err)
		}
	}
	for _, s := range []string{"", "-1", "0x12", "281474976710656"} {
		if _, err := ParseAddress(s); err == nil {
			t.Errorf("ParseAddress(%q) accepted", s)
		}
	}
}

// BenchmarkParseDecode is one component-state frame parsed, its unit
// decoded and turned into readings, as the listener does for each frame:
// CPU per frame and frames/s on one core, without the network.
func BenchmarkParseDecode(b *testing.B) {
	raw := unhex(b, golden[1].hex)
	now := time.Date(2025, 3, 8, 14, 31, 0, 0, Beijing) // a minute after the frame's objects
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		f, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		u, err := DecodeUnit(f.Data)
		if rs, bad := readings(f.Src, &u, now, collector.TimeBounds{}); err != nil || len(rs) != 7 || len(bad) != 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/frame")
}

// A stray start mark whose header claims a long body must not hold up a
// valid frame behind it: the device sends nothing more until confirmed.
func TestReaderDoesNotWaitForAPhantomBody(t *testing.T) {
	stray := unhex(t, golden[7].hex)[:headerLen]
	stray[24], stray[25] = 0x00, 0x03 // 768 bytes that never come
	comp := unhex(t, golden[1].hex)
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go client.Write(append(append(stray, "junk"...), comp...))
	r := NewReader(server)
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := r.Next()
	if err != nil || f.Serial != 2 {
		t.Fatalf("got %+v %v, want the component frame behind the stray header", f, err)
	}
	if r.Skipped() != uint64(len(stray)+4) {
		t.Errorf("skipped %d", r.Skipped())
	}
}
