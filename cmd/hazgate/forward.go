package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hazgate/alerting/selfalarm"
	"hazgate/api"
	"hazgate/collector"
	"hazgate/config"
	"hazgate/protocols/gb26875"
	"hazgate/protocols/gb26875/forward"
)

// GB 25506-2010's limits, which /api/v1/forward compares the p99 with.
var forwardLimits = map[string]float64{forward.ClassAlarm.String(): 10, forward.ClassStatus.String(): 100}

// dutyBookSize is how many 查岗 the gateway keeps, answered or missed.
const dutyBookSize = 200

// forwardStage is the site as a transmission device of the city's fire
// remote-monitoring centre: the source turns fire panel samples into
// messages, the outbox keeps them on disk, the link sends them; the stage
// watches the link for the control room's own alarm and keeps the 查岗
// book (who answered which, and when).
type forwardStage struct {
	cfg    *config.Forward
	log    *slog.Logger
	outbox *forward.Spooled
	source *forward.Source
	link   *forward.Link

	saving    sync.Mutex     // one writer of the book's file at a time
	saves     sync.WaitGroup // the book's saves on goroutines, waited for at shutdown
	mu        sync.Mutex
	book      []api.DutyCheck // newest first
	bookPath  string
	downSince time.Time // zero while the link is up
	state     uint8     // the device state (type 21) last queued; 0 before the first
	lastValue float64
	lastEmit  time.Time
}

// openForward opens the outbox in data_dir/forward and builds the source
// and the link; Run starts them.
func openForward(cfg *config.Config, tags collector.TagLookup, log *slog.Logger) (*forwardStage, error) {
	fc := cfg.Forward
	addr, err := config.ParseUITDAddress(fc.Address)
	if err != nil {
		return nil, fmt.Errorf("forward.address %w", err)
	}
	var centre uint64
	if fc.CentreAddress != "" {
		if centre, err = config.ParseUITDAddress(fc.CentreAddress); err != nil {
			return nil, fmt.Errorf("forward.centre_address %w", err)
		}
	}
	dir := filepath.Join(cfg.DataDir, "forward")
	f := &forwardStage{cfg: fc, log: log, bookPath: filepath.Join(dir, "duty-checks.json")}
	if f.outbox, err = forward.OpenSpooled(forward.SpooledOptions{Dir: dir, MaxBytes: int64(fc.MaxBytes), Log: log}); err != nil {
		return nil, err
	}
	var analogs []forward.AnalogKind // nil (absent): the source's default; []: none
	if fc.Analogs != nil {
		analogs = make([]forward.AnalogKind, len(fc.Analogs))
	}
	for i, a := range fc.Analogs {
		analogs[i] = forward.AnalogKind{Kind: a.Kind, AnalogType: a.AnalogType, Scale: a.Scale, Deadband: a.Deadband, Refresh: a.Refresh, Minimum: a.Minimum}
	}
	f.source, err = forward.NewSource(forward.SourceOptions{Select: forward.Select{Kinds: fc.Kinds, Tags: fc.Tags},
		Points: fc.Points, Gas: fc.Gas, GasLevels: fc.GasLevels, Analogs: analogs, Tags: tags, Out: f.outbox, Log: log})
	if err == nil {
		f.link, err = forward.NewLink(forward.LinkOptions{Centres: fc.Centres, Address: gb26875.Address(addr), CentreAddress: gb26875.Address(centre),
			Heartbeat: fc.Heartbeat, ConfirmTimeout: fc.ConfirmTimeout, Retries: fc.Retries, DialTimeout: fc.DialTimeout,
			Backoff: min(time.Second, fc.MaxBackoff), MaxBackoff: fc.MaxBackoff,
			Outbox: f.outbox, Log: log, OnDutyCheck: f.dutyCheck, State: f.source.DeviceState, Facts: f.source,
			Serials: forward.FileNumber{Path: filepath.Join(dir, "serial")}, ClockOffset: forward.FileNumber{Path: filepath.Join(dir, "clock_offset")}})
	}
	if err == nil {
		err = f.loadBook()
	}
	if err != nil {
		f.outbox.Close()
		return nil, fmt.Errorf("forward: %w", err)
	}
	log.Info("forwarding to the monitoring centre", "centres", fc.Centres, "address", fc.Address, "outbox", dir)
	return f, nil
}

// Run runs the link and, every second, the watch on it until ctx ends.
func (f *forwardStage) Run(ctx context.Context, emit selfalarm.Emitter) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.link.Run(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("forward link stopped", "err", err)
		}
	})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			f.saves.Wait()
			f.outbox.Close()
			return
		case now := <-t.C:
			f.watch(ctx, emit, now)
		}
	}
}

// watch queues the device's state (type 21) when it changes; emits
// forward.link (linkFailing); and closes a 查岗 whose minutes ran out as
// missed.
func (f *forwardStage) watch(ctx context.Context, emit selfalarm.Emitter, now time.Time) {
	// The device's own state goes when it changes (and once at start), like
	// a hardware transmission device's.
	if ds := f.source.DeviceState(); ds != f.state {
		if err := f.outbox.Put(ctx, forward.DeviceStateMessage(f.state, ds, now)); err != nil {
			f.log.Error("device state not queued for the centre; tried again in a second", "state", ds, "err", err)
		} else {
			f.state = ds
		}
	}
	st := f.link.Stats()
	f.mu.Lock()
	up := st.Connected && !st.LastConfirm.IsZero() && now.Sub(st.LastConfirm) < 3*f.cfg.Heartbeat+f.cfg.ConfirmTimeout
	switch {
	case up:
		f.downSince = time.Time{}
	case f.downSince.IsZero():
		f.downSince = now
	}
	var down time.Duration
	if !f.downSince.IsZero() {
		down = now.Sub(f.downSince)
	}
	v := linkFailing(down, f.outbox.Stats(), f.cfg.StatusAlarmAfter)
	// Every second while failing, once when it ends, a minute apart when well.
	send := v != f.lastValue || now.Sub(f.lastEmit) >= time.Minute
	if send {
		f.lastValue, f.lastEmit = v, now
	}
	missed := false
	if len(f.book) > 0 && f.book[0].AnsweredAt == nil && !f.book[0].Missed && now.After(f.book[0].Deadline) {
		f.book[0].Missed, missed = true, true
	}
	f.mu.Unlock()
	if missed {
		f.log.Warn("查岗 missed: the centre's duty check was not answered in time")
		f.saveBook()
	}
	if !send {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := emit.Emit(ctx, []collector.Sample{{Tag: selfalarm.ForwardLinkTag, Value: v, Time: now}}); err != nil {
		f.log.Error("forward link state not recorded: pipeline busy", "err", err)
	}
}

// linkFailing is forward.link's value: the seconds the link has failed its
// promise, the longest of its time down, the oldest fire alarm's wait and
// the oldest status message's wait once past statusAfter (below it, a
// status backlog is within GB 25506's 100 s). Rounded up, so the rule
// "above alarm_after" fires as soon as a wait is past it, not a second
// later; whole seconds, so watch emits only when it changes.
func linkFailing(down time.Duration, ob forward.OutboxStats, statusAfter time.Duration) float64 {
	failing := max(down, ob.Alarm.Age)
	if ob.Status.Age > statusAfter {
		failing = max(failing, ob.Status.Age)
	}
	return math.Ceil(failing.Seconds())
}

// dutyCheck is the link's report of a 查岗; it must not block.
func (f *forwardStage) dutyCheck(dc forward.DutyCheck) {
	f.mu.Lock()
	if len(f.book) > 0 && f.book[0].AnsweredAt == nil && !f.book[0].Missed {
		f.book[0].Missed = true // replaced by the new one before it was answered
	}
	f.book = append([]api.DutyCheck{{Received: dc.Received, Deadline: dc.Deadline()}}, f.book...)
	f.book = f.book[:min(len(f.book), dutyBookSize)]
	f.mu.Unlock()
	f.log.Warn("查岗: the monitoring centre asks who is on duty", "minutes", dc.Minutes, "deadline", dc.Deadline())
	f.saves.Go(f.saveBook)
}

// ForwardStatus is the API's view of the link.
func (f *forwardStage) ForwardStatus(context.Context) (api.ForwardStatus, error) {
	st, ob := f.link.Stats(), f.outbox.Stats()
	out := api.ForwardStatus{Connected: st.Connected, Centre: st.Centre, LimitSeconds: forwardLimits,
		Pending: map[string]int{}, OldestSeconds: map[string]float64{}, P99Seconds: map[string]float64{},
		ClockOffsetSeconds: st.ClockOffset.Seconds()}
	for _, c := range []forward.Class{forward.ClassAlarm, forward.ClassStatus} {
		cs := ob.Class(c)
		out.Pending[c.String()], out.OldestSeconds[c.String()] = cs.Depth, cs.Age.Seconds()
		out.P99Seconds[c.String()] = st.Latency[c].Quantile(0.99).Seconds()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out.DutyChecks = append([]api.DutyCheck{}, f.book...)
	if len(f.book) > 0 && f.book[0].AnsweredAt == nil && !f.book[0].Missed {
		open := f.book[0]
		out.DutyCheck = &open
	}
	return out, nil
}

// AnswerDutyCheck answers the waiting 查岗 for user and records who and when.
func (f *forwardStage) AnswerDutyCheck(ctx context.Context, user string) (api.DutyCheck, error) {
	f.mu.Lock()
	waiting := len(f.book) > 0 && f.book[0].AnsweredAt == nil && !f.book[0].Missed && time.Now().Before(f.book[0].Deadline)
	f.mu.Unlock()
	if !waiting {
		return api.DutyCheck{}, fmt.Errorf("查岗: %w", api.ErrNoDutyCheck)
	}
	// The protocol's answer carries an operator number, not a name: the
	// name is the gateway's to keep.
	if err := f.link.AnswerDutyCheck(ctx, 1); errors.Is(err, forward.ErrNotConnected) {
		return api.DutyCheck{}, fmt.Errorf("查岗 answer: %w", api.ErrCentreUnreachable)
	} else if err != nil {
		return api.DutyCheck{}, fmt.Errorf("查岗 answer to the centre: %w", err)
	}
	now := time.Now()
	f.mu.Lock()
	f.book[0].AnsweredAt, f.book[0].AnsweredBy = &now, user
	dc := f.book[0]
	f.mu.Unlock()
	f.saveBook()
	f.log.Info("查岗 answered", "user", user, "received", dc.Received, "after", now.Sub(dc.Received))
	return dc, nil
}

func (f *forwardStage) loadBook() error {
	b, err := os.ReadFile(f.bookPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &f.book)
	}
	if err != nil {
		return fmt.Errorf("duty-check book %s: %w", f.bookPath, err)
	}
	return nil
}

// saveBook writes the book whole, through a rename, so a crash leaves the
// old or the new one.
func (f *forwardStage) saveBook() {
	f.saving.Lock()
	defer f.saving.Unlock()
	f.mu.Lock()
	b, err := json.MarshalIndent(f.book, "", "  ")
	f.mu.Unlock()
	if err == nil {
		tmp := f.bookPath + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, f.bookPath)
		}
	}
	if err != nil {
		f.log.Error("duty-check book not saved", "path", f.bookPath, "err", err)
	}
}

// forwarder is the API's link, nil (untyped, so the routes answer 501)
// without a forward block.
func (f *forwardStage) forwarder() api.Forwarder {
	if f == nil {
		return nil
	}
	return f
}

// metrics are the outbox's, the source's and the link's series.
func (f *forwardStage) metrics() []prometheus.Collector {
	return []prometheus.Collector{f.outbox.Metrics(), f.source.Metrics(), f.link.Metrics()}
}
