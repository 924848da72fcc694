package modbus

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"hazgate/config"
)

// planOptions bound merged reads. Gaps are worth bridging: one request with a
// few wasted words is far cheaper than two round trips (libraries.md: a
// 125-register read costs about what a 1-register read does).
type planOptions struct {
	maxGapRegs int  // unused registers a read may span
	maxGapBits int  // unused coils or inputs a read may span
	maxRegs    int  // registers per read, at most 125
	single     bool // one request per point: no merging at all
}

// defaultPlan is the planner's setting when the config leaves it out.
var defaultPlan = planOptions{maxGapRegs: 8, maxGapBits: 64, maxRegs: 125}

// limit is the most one read of table t may ask for.
func (o planOptions) limit(t table) int {
	if t.bits() || o.maxRegs <= 0 {
		return t.maxQuantity()
	}
	return min(o.maxRegs, t.maxQuantity())
}

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
// per-read limit, bridging gaps up to the options' maxima. Taking points in
// address order and extending the current read while it can gives the
// fewest reads: whatever can be read together, so can any run of it.
// Requests come out ordered by table, then address, so a plan is stable
// across polls.
func plan(points []point, modes []mergeMode, o planOptions) []request {
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
		if cur != nil && cur.table == pt.table && !curSolo && !m.alone() && !o.single {
			gap := o.maxGapRegs
			if pt.table.bits() {
				gap = o.maxGapBits
			}
			if curNoGap || m == mergeNoGap {
				gap = 0
			}
			end := max(curEnd, pt.end())
			if int(pt.addr) <= curEnd+gap && end-int(cur.addr) <= o.limit(pt.table) {
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

// PlannedRead is one request of a device's poll cycle.
type PlannedRead struct {
	Table    string
	Address  uint16
	Quantity uint16
	Tags     []string // the tags it serves, by address
}

// DevicePlan is what one poll cycle of a device sends while no address has
// been refused.
type DevicePlan struct {
	Device   string
	URL      string
	Unit     uint8
	Interval time.Duration
	Tags     int // tags read, state tags not counted
	Reads    []PlannedRead
}

// Plan returns the poll plan of every modbus device in devs, in config
// order, after checking each device as New does and that devices sharing a
// URL agree on the connection's settings. Other protocols are skipped.
func Plan(devs []config.Device) ([]DevicePlan, error) {
	var out []DevicePlan
	byURL := make(map[string]*Poller)
	for _, dev := range devs {
		if dev.Protocol != "modbus" {
			continue
		}
		p := &Poller{dev: dev, base: slog.New(slog.DiscardHandler)}
		if err := p.init(); err != nil {
			return nil, fmt.Errorf("device %s: %w", dev.ID, err)
		}
		if first, ok := byURL[dev.URL]; ok {
			if d := first.spec.cfg.diff(p.spec.cfg); d != "" {
				return nil, fmt.Errorf("device %s: url %s is shared with device %s, but they differ in %s: devices on one connection need the same", dev.ID, dev.URL, first.dev.ID, d)
			}
		} else {
			byURL[dev.URL] = p
		}
		dp := DevicePlan{Device: dev.ID, URL: dev.URL, Unit: p.cfg.UnitID, Interval: dev.Interval, Tags: len(p.points)}
		for _, rq := range p.reqs {
			r := PlannedRead{Table: rq.table.String(), Address: rq.addr, Quantity: rq.qty}
			for _, i := range rq.points {
				r.Tags = append(r.Tags, p.points[i].id)
			}
			dp.Reads = append(dp.Reads, r)
		}
		out = append(out, dp)
	}
	return out, nil
}
