package modbus

import (
	"cmp"
	"slices"
)

// Gaps of unused addresses a merged read may span: one request with a few
// wasted words is far cheaper than two round trips (libraries.md: a 125-register
// read costs about what a 1-register read does).
const (
	maxGapRegisters = 8
	maxGapBits      = 64
)

// point is a tag resolved to where it lives and how it decodes.
type point struct {
	id     string
	table  table
	addr   uint16
	typ    valueType
	scale  float64
	offset float64
}

// size is how many registers (or bits) the point occupies.
func (p point) size() int { return p.typ.words() }

// end is one past the point's last address.
func (p point) end() int { return int(p.addr) + p.size() }

// request is one read on the wire and the points it serves.
type request struct {
	table  table
	addr   uint16
	qty    uint16
	points []int // indexes into the poller's points
}

// mergeMode says how a point may be combined with others after a failure
// taught us something about the device.
type mergeMode uint8

const (
	mergeFree    mergeMode = iota // merge, bridging small gaps
	mergeNoGap                    // merge only with adjacent or overlapping points: a gap address was refused
	mergeAlone                    // read alone for good: merging it failed though it answers alone
	mergeRefused                  // read alone while the device refuses it; merged again once it answers
)

// alone reports whether a point in this mode gets a request of its own.
func (m mergeMode) alone() bool { return m == mergeAlone || m == mergeRefused }

// plan merges points of one table into the fewest requests, each within the
// protocol's per-read limit, bridging gaps up to maxGap. Requests come out
// ordered by table, then address, so a plan is stable across polls.
func plan(points []point, modes []mergeMode) []request {
	idx := make([]int, len(points))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		pa, pb := points[a], points[b]
		if c := cmp.Compare(pa.table, pb.table); c != 0 {
			return c
		}
		return cmp.Compare(pa.addr, pb.addr)
	})
	mode := func(i int) mergeMode {
		if i < len(modes) {
			return modes[i]
		}
		return mergeFree
	}

	var out []request
	var cur *request // always the last of out; re-taken after each append
	curEnd, curSolo, curNoGap := 0, false, false
	for _, i := range idx {
		pt := points[i]
		m := mode(i)
		if cur != nil && cur.table == pt.table && !curSolo && !m.alone() {
			gap := maxGapRegisters
			if pt.table.bits() {
				gap = maxGapBits
			}
			if curNoGap || m == mergeNoGap {
				gap = 0
			}
			end := max(curEnd, pt.end())
			if int(pt.addr) <= curEnd+gap && end-int(cur.addr) <= pt.table.maxQuantity() {
				cur.points = append(cur.points, i)
				curEnd = end
				cur.qty = uint16(curEnd - int(cur.addr))
				curNoGap = curNoGap || m == mergeNoGap
				continue
			}
		}
		out = append(out, request{table: pt.table, addr: pt.addr, qty: uint16(pt.size()), points: []int{i}})
		cur = &out[len(out)-1]
		curEnd, curSolo, curNoGap = pt.end(), m.alone(), m == mergeNoGap
	}
	return out
}
