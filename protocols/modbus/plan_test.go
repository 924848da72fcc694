package modbus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"hazgate/config"
)

// pts builds points from "table:addr:type" shorthands.
func pts(specs ...string) []point {
	var out []point
	for i, s := range specs {
		var tb, typ string
		var addr uint16
		if _, err := fmt.Sscanf(s, "%1s:%d:%s", &tb, &addr, &typ); err != nil {
			panic(s + ": " + err.Error())
		}
		t := map[string]table{"c": tableCoil, "d": tableDiscrete, "h": tableHolding, "i": tableInput}[tb]
		vt, err := parseType(typ, t)
		if err != nil {
			panic(err)
		}
		out = append(out, point{id: fmt.Sprintf("p%d", i), table: t, addr: addr, typ: vt, bit: -1, scale: 1})
	}
	return out
}

// every8 is input registers 0, 8, ..., 120 (gaps of 7, always bridged) and last.
func every8(last string) []point {
	var specs []string
	for a := 0; a <= 120; a += 8 {
		specs = append(specs, fmt.Sprintf("i:%d:uint16", a))
	}
	return pts(append(specs, last)...)
}

// reqString renders a plan as "table addr+qty[points]" for comparison.
func reqString(rs []request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %d+%d%v", r.table, r.addr, r.qty, r.points))
	}
	return out
}

func TestPlan(t *testing.T) {
	eight := pts("i:0:uint16", "i:1:uint16", "i:2:uint16", "i:3:uint16", "i:4:uint16", "i:5:uint16", "i:6:uint16", "i:7:uint16")
	cases := []struct {
		name   string
		points []point
		modes  []mergeMode
		want   []string
	}{
		{"eight adjacent detectors, one read", eight, nil, []string{"input 0+8[0 1 2 3 4 5 6 7]"}},
		{"config order does not matter", pts("i:2:uint16", "i:0:uint16", "i:1:uint16"), nil, []string{"input 0+3[1 2 0]"}},
		{"32-bit values span two registers", pts("h:10:float32", "h:12:int32"), nil, []string{"holding 10+4[0 1]"}},
		{"gap of 8 is bridged", pts("h:0:uint16", "h:9:uint16"), nil, []string{"holding 0+10[0 1]"}},
		{"gap of 9 is not", pts("h:0:uint16", "h:10:uint16"), nil, []string{"holding 0+1[0]", "holding 10+1[1]"}},
		{"overlapping tags share registers", pts("h:0:uint32", "h:1:uint16"), nil, []string{"holding 0+2[0 1]"}},
		{"tables never merge", pts("h:0:uint16", "i:0:uint16", "c:0:bool", "d:0:bool"), nil,
			[]string{"coil 0+1[2]", "discrete 0+1[3]", "holding 0+1[0]", "input 0+1[1]"}},
		{"125 registers fit one read", every8("i:123:uint32"), nil, []string{"input 0+125[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]"}},
		{"126 do not", every8("i:124:uint32"), nil, []string{"input 0+121[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]", "input 124+2[16]"}},
		{"2000 bits fit one read", pts("c:0:bool", "c:60:bool", "c:120:bool"), nil, []string{"coil 0+121[0 1 2]"}},
		{"bits bridge 64", pts("d:0:bool", "d:65:bool", "d:131:bool"), nil, []string{"d 0+66[0 1]", "d 131+1[2]"}},
		{"last register of the address space", pts("i:65534:uint32"), nil, []string{"input 65534+2[0]"}},
		{"refused point is read alone", eight, []mergeMode{5: mergeRefused},
			[]string{"input 0+5[0 1 2 3 4]", "input 5+1[5]", "input 6+2[6 7]"}},
		{"pinned point is read alone", pts("h:0:uint16", "h:1:uint16"), []mergeMode{1: mergeAlone},
			[]string{"holding 0+1[0]", "holding 1+1[1]"}},
		{"no-gap points merge only when adjacent", pts("h:0:uint16", "h:1:uint16", "h:5:uint16"), []mergeMode{mergeNoGap, mergeNoGap, mergeNoGap},
			[]string{"holding 0+2[0 1]", "holding 5+1[2]"}},
		{"a no-gap point stops bridging for its neighbour too", pts("h:0:uint16", "h:5:uint16"), []mergeMode{mergeFree, mergeNoGap},
			[]string{"holding 0+1[0]", "holding 5+1[1]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			modes := tc.modes
			if modes != nil && len(modes) < len(tc.points) {
				modes = append(modes, make([]mergeMode, len(tc.points)-len(modes))...)
			}
			got := reqString(plan(tc.points, modes, defaultPlan))
			want := tc.want
			for i, w := range want { // allow "d" for discrete to keep lines short
				if len(w) > 2 && w[:2] == "d " {
					want[i] = "discrete " + w[2:]
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("plan:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// Every point is in exactly one request, and no request breaks the limits.
func TestPlanCoversEveryPointWithinLimits(t *testing.T) {
	var points []point
	for i := range 400 {
		typ := []valueType{typeUint16, typeInt32, typeFloat32}[i%3]
		points = append(points, point{table: tableInput, addr: uint16(i * 3 % 1000), typ: typ})
		points = append(points, point{table: tableCoil, addr: uint16(i * 7), typ: typeBool})
	}
	seen := make([]int, len(points))
	for _, r := range plan(points, nil, defaultPlan) {
		if int(r.qty) > r.table.maxQuantity() || r.qty == 0 {
			t.Errorf("request %s %d+%d breaks the limit", r.table, r.addr, r.qty)
		}
		for _, i := range r.points {
			seen[i]++
			p := points[i]
			if p.table != r.table || p.addr < r.addr || p.end() > int(r.addr)+int(r.qty) {
				t.Errorf("point %s %d (%v) outside request %s %d+%d", p.table, p.addr, p.typ, r.table, r.addr, r.qty)
			}
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("point %d in %d requests", i, n)
		}
	}
}

func TestPlanOptions(t *testing.T) {
	points := pts("h:0:uint16", "h:3:uint16", "h:4:float32", "h:20:uint16", "c:0:bool", "c:10:bool")
	cases := []struct {
		name string
		o    planOptions
		want []string
	}{
		{"defaults", defaultPlan, []string{"coil 0+11[4 5]", "holding 0+6[0 1 2]", "holding 20+1[3]"}},
		{"max_gap 0", planOptions{maxGapRegs: 0, maxGapBits: 0, maxRegs: 125}, []string{"coil 0+1[4]", "coil 10+1[5]", "holding 0+1[0]", "holding 3+3[1 2]", "holding 20+1[3]"}},
		{"max_gap 14 reaches 20", planOptions{maxGapRegs: 14, maxGapBits: 9, maxRegs: 125}, []string{"coil 0+11[4 5]", "holding 0+21[0 1 2 3]"}},
		{"max_registers 5", planOptions{maxGapRegs: 8, maxGapBits: 64, maxRegs: 5}, []string{"coil 0+11[4 5]", "holding 0+4[0 1]", "holding 4+2[2]", "holding 20+1[3]"}},
		{"single reads", planOptions{maxGapRegs: 8, maxGapBits: 64, maxRegs: 125, single: true},
			[]string{"coil 0+1[4]", "coil 10+1[5]", "holding 0+1[0]", "holding 3+1[1]", "holding 4+2[2]", "holding 20+1[3]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reqString(plan(points, nil, tc.o)); !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The greedy plan is the fewest requests: no partition of the sorted points
// into feasible runs is shorter. Checked against an exhaustive search on
// small random layouts.
func TestPlanIsMinimal(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := 1 + rnd.IntN(9)
		var points []point
		for range n {
			typ := []valueType{typeUint16, typeUint32, typeUint64}[rnd.IntN(3)]
			points = append(points, point{table: tableHolding, addr: uint16(rnd.IntN(40)), typ: typ, bit: -1})
		}
		o := planOptions{maxGapRegs: rnd.IntN(6), maxRegs: 4 + rnd.IntN(12)}
		got := len(plan(points, nil, o))
		if best := fewestReads(points, o); got != best {
			t.Fatalf("trial %d: %d requests for %+v with %+v, exhaustive search needs %d", trial, got, points, o, best)
		}
	}
}

// fewestReads tries every split of the address-sorted points into runs.
func fewestReads(points []point, o planOptions) int {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b point) int { return int(a.addr) - int(b.addr) })
	feasible := func(run []point) bool {
		end := run[0].end()
		for _, p := range run[1:] {
			if int(p.addr) > end+o.maxGapRegs {
				return false
			}
			end = max(end, p.end())
		}
		return end-int(run[0].addr) <= o.limit(tableHolding)
	}
	best := make([]int, len(ps)+1) // best[i]: fewest reads for ps[:i]
	for i := 1; i <= len(ps); i++ {
		best[i] = len(ps) + 1
		for j := range i {
			if feasible(ps[j:i]) {
				best[i] = min(best[i], best[j]+1)
			}
		}
	}
	return best[len(ps)]
}

func TestPlanExport(t *testing.T) {
	gds := device("tcp://127.0.0.1:502", detectorTags(4)...)
	gds.ID = "gds"
	st := tag("status", "holding", 100, "", 1, 0)
	RegisterOf(st).States = map[int]string{0: "ok", 1: "fault"}
	gds.Tags = append(gds.Tags, st)
	single := copyDevice(gds)
	single.ID, modbusOf(&single).UnitID, modbusOf(&single).SingleReads = "gds-single", 2, true
	other := config.Device{ID: "mqtt-1", Protocol: "mqtt"}
	plans, err := Plan([]config.Device{gds, other, single})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 {
		t.Fatalf("%d plans, want 2 (mqtt skipped)", len(plans))
	}
	p := plans[0]
	if p.Device != "gds" || p.Tags != 5 || len(p.Reads) != 2 {
		t.Fatalf("plan %+v", p)
	}
	if r := p.Reads[1]; r.Table != "input" || r.Address != 0 || r.Quantity != 4 || !slices.Equal(r.Tags, []string{"LEL-0", "LEL-1", "LEL-2", "LEL-3"}) {
		t.Errorf("read %+v", r)
	}
	if r := p.Reads[0]; r.Table != "holding" || r.Address != 100 || r.Quantity != 1 || !slices.Equal(r.Tags, []string{"status"}) {
		t.Errorf("read %+v", r)
	}
	if n := len(plans[1].Reads); n != 5 {
		t.Errorf("single reads: %d requests, want 5", n)
	}
	bad := copyDevice(gds)
	bad.Tags = []config.Tag{tag("x", "input", 0, "float16", 1, 0)}
	if _, err := Plan([]config.Device{bad}); err == nil || !strings.Contains(err.Error(), "device gds: tag x") {
		t.Errorf("Plan of a bad tag: %v", err)
	}
}
