package alerting

import (
	"context"
	"time"

	"hazgate/collector"
)

// Designed suppression (ISA-18.2): when a device stops answering, every tag
// it serves reads Bad at once, and forty communication-loss alarms would
// bury the one thing the operator must know. The first of them raises one
// root-cause alarm for the device instead (tag: the device id, level
// device); the tags' own communication-loss alarms, and their stale and
// process alarms while they cannot read, are still raised and journalled
// (the hazard rules that judge a silent detector need them) but in state
// suppressed_by_design: never annunciated, no acknowledgement, closed when
// their condition goes. A device is down when every tag of it (two or more)
// has lost communication; one dead detector on a live controller is its own
// alarm. When the device answers again the root clears and any suppressed
// alarm whose condition still holds is announced: all at once when every
// tag is back, at the next Tick when only some are (theirs are then their
// own faults).
//
// A device can also fall silent without a Bad reading (an MQTT device that
// stops publishing): its tags go stale one by one. When a tag goes stale
// and its device has sent nothing on any tag for half that tag's stale
// time, the device is silent: the same root alarm is raised and the stale
// alarms of its tags are suppressed under it. It stands until the device
// is heard again; the next Tick then releases it, after the samples that
// came back have closed what they cleared.

// devCount is what the engine knows of a device's tags.
type devCount struct {
	tags, lost int
	heard      time.Time // the last sample from any of its tags (not the start-up seed)
	silent     bool      // its root stands for silence, not for Bad readings
}

func (e *Engine) device(id string) *devCount {
	d := e.devices[id]
	if d == nil {
		d = new(devCount)
		e.devices[id] = d
	}
	return d
}

// countLost follows a tag's communication-loss condition in its device's count.
func (e *Engine) countLost(ts *tagState, lost bool) {
	if !ts.known || ts.tag.Device == "" {
		return
	}
	d := e.device(ts.tag.Device)
	if lost {
		d.lost++
	} else if d.lost > 0 {
		d.lost--
	}
}

// judgeDevices finds the devices a batch says are unreachable: every known
// tag of theirs (two or more) has lost communication, with this batch. A
// device that still answers for some tags is not down: a dead detector on
// a live controller is an alarm of its own. Judged before the batch's
// samples, so the first tag of a dead device already knows.
func (e *Engine) judgeDevices(batch []collector.Sample) {
	if !e.handling.DeviceSuppression {
		return
	}
	var fresh map[string]int // tags newly lost in this batch, per device
	for i := range batch {
		s := &batch[i]
		if s.Quality != collector.Bad || s.Reason != collector.ReasonCommLoss {
			continue
		}
		ts := e.state[s.Tag]
		if ts == nil || !ts.known || ts.tag.Device == "" || ts.commLost() {
			continue
		}
		if fresh == nil {
			fresh = map[string]int{}
		}
		fresh[ts.tag.Device]++
	}
	if fresh == nil {
		return // the common case: nothing lost, nothing more to look at
	}
	answers := map[string]bool{}
	for i := range batch {
		if s := &batch[i]; s.Quality != collector.Bad || s.Reason != collector.ReasonCommLoss {
			if ts := e.state[s.Tag]; ts != nil && ts.known {
				answers[ts.tag.Device] = true
			}
		}
	}
	if e.down == nil {
		e.down = map[string]bool{}
	}
	for dev, n := range fresh {
		d := e.device(dev)
		e.down[dev] = !answers[dev] && d.tags > 1 && d.lost+n >= d.tags
	}
}

// deviceLoss is the root alarm's rule. It judges nothing itself: the
// engine raises and clears it from its tags' communication-loss conditions.
type deviceLoss struct{ ruleMeta }

var deviceLossRule = &deviceLoss{ruleMeta{name: ClassCommLoss, level: LevelDevice, kind: kindQuality,
	class: ClassCommLoss, severity: SeverityHigh}}

func (*deviceLoss) matches(collector.Tag) bool { return false }
func (*deviceLoss) eval(*slot, *collector.Tag, *collector.Sample, bool) verdict {
	return verdictHold
}
func (*deviceLoss) worse(float64, float64) bool { return false }
func (*deviceLoss) message(t *collector.Tag, _ *collector.Sample) text {
	return deviceLossText(t.ID)
}

// isCommLoss reports whether r is the per-tag communication-loss rule.
func isCommLoss(r rule) bool {
	m := r.meta()
	return m.name == ClassCommLoss && m.kind == kindQuality && m.level == ""
}

// commLost reports whether the tag's communication-loss condition holds.
func (ts *tagState) commLost() bool {
	for k := range ts.slots {
		if isCommLoss(ts.slots[k].r) {
			return ts.slots[k].cond
		}
	}
	return false
}

// rootState is the device's root-alarm state, made on first use.
func (e *Engine) rootState(device string) *tagState {
	if ts := e.roots[device]; ts != nil {
		return ts
	}
	ts := &tagState{tag: collector.Tag{ID: device, Site: e.site, Device: device}, known: true, root: true,
		slots: []slot{{r: deviceLossRule}}}
	e.roots[device] = ts
	return ts
}

// standing is the root alarm of a device while it stands for its tags:
// active, or suppressed by an operator (a shelved root still stands).
func standing(rts *tagState) *entry {
	if rts == nil {
		return nil
	}
	if en := rts.slots[0].open; en != nil && (en.alarm.State.Active() || en.alarm.State.Suppressed()) {
		return en
	}
	return nil
}

// rootFor returns the root alarm that suppresses a new alarm of rule sl on
// ts, raising it for a communication loss, or nil when the alarm is to be
// announced.
func (e *Engine) rootFor(ctx context.Context, ts *tagState, sl *slot, s *collector.Sample, at time.Time) *entry {
	if !e.handling.DeviceSuppression || ts.root || !ts.known || ts.tag.Device == "" {
		return nil
	}
	m := sl.r.meta()
	dev := ts.tag.Device
	switch {
	case isCommLoss(sl.r):
		if root := standing(e.roots[dev]); root != nil {
			return root
		}
		if !e.down[dev] {
			return nil // one tag of a device that answers: its own alarm
		}
		return e.raiseRoot(ctx, dev, s, at)
	case m.kind == kindStale:
		if root := standing(e.roots[dev]); root != nil {
			return root
		}
		if !e.silent(ts, sl, at) {
			return nil // its device still sends on other tags
		}
		root := e.raiseRoot(ctx, dev, s, at)
		if root != nil {
			e.device(dev).silent = true
		}
		return root
	case m.kind == kindQuality:
		return nil // a sensor fault or bad value: the device answers
	case !ts.commLost():
		return nil // this tag reads: what it says is announced
	}
	return standing(e.roots[dev])
}

// silent reports whether the device of ts, whose stale rule sl has just
// run out, has sent nothing on any of its tags (two or more) for half that
// rule's time: its tags went quiet together, so the device did.
func (e *Engine) silent(ts *tagState, sl *slot, at time.Time) bool {
	st, ok := sl.r.(*stale)
	d := e.device(ts.tag.Device)
	return ok && d.tags > 1 && at.Sub(d.heard) >= st.after/2
}

// heard notes a sample of ts arriving at the engine at time at.
func (e *Engine) heard(ts *tagState, at time.Time) {
	if !ts.known || ts.tag.Device == "" {
		return
	}
	if d := e.device(ts.tag.Device); at.After(d.heard) {
		d.heard = at
	}
}

// releaseAnswering releases the root alarms of devices that answer again:
// for a silent device, once it has been heard since its root was raised;
// for one whose tags read Bad, once some tag reads again.
func (e *Engine) releaseAnswering(ctx context.Context, now time.Time) {
	for dev, rts := range e.roots {
		root := standing(rts)
		if root == nil {
			continue
		}
		d := e.device(dev)
		if d.silent {
			if !d.heard.After(root.alarm.RaisedAt) {
				continue // still silent
			}
			d.silent = false // heard: now it stands or falls by its tags' readings
		}
		if d.lost < d.tags {
			e.releaseRoot(ctx, dev, now)
		}
	}
}

// raiseRoot raises (or re-raises) the device's root alarm unless it stands;
// nil if its commit failed, so the tag's own alarm is announced instead.
func (e *Engine) raiseRoot(ctx context.Context, device string, s *collector.Sample, at time.Time) *entry {
	rts := e.rootState(device)
	if en := standing(rts); en != nil {
		return en
	}
	sl := &rts.slots[0]
	sl.cond, sl.since = true, at
	e.raise(ctx, rts, sl, s, at)
	return standing(rts)
}

// releaseRoot clears the device's root alarm and releases what it
// suppressed; called once the device answers.
func (e *Engine) releaseRoot(ctx context.Context, device string, at time.Time) {
	rts := e.roots[device]
	root := standing(rts)
	if root == nil {
		return
	}
	id := root.alarm.ID
	rts.slots[0].cond = false
	e.device(device).silent = false
	if root.alarm.State.Suppressed() {
		root.alarm.Active = false // closes when returned to service
	} else {
		e.clear(ctx, root, 0, at)
	}
	for _, en := range e.byID {
		if en.alarm.State == SuppressedByDesign && en.alarm.Root == id {
			e.release(ctx, en, at)
		}
	}
}

// release ends an alarm's designed suppression: announced if its condition
// still holds, else closed.
func (e *Engine) release(ctx context.Context, en *entry, at time.Time) {
	a := en.alarm
	if !a.Active {
		e.clear(ctx, en, a.Value, at)
		return
	}
	a.State, a.Root = ActiveUnacked, 0
	if ev, ok := e.commit(ctx, EventRaised, a, at); ok {
		en.alarm = ev.Alarm
		e.raised.Add(1)
	}
}
