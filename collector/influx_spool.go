package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"hazgate/collector/spool"
)

// spoolWriteLoop writes live batches until ctx ends; see deliver.
func (s *InfluxSink) spoolWriteLoop(ctx context.Context) {
	for {
		cur := s.popPending()
		if cur == nil {
			select {
			case <-s.pendingWake:
				continue
			case <-ctx.Done():
				return
			}
		}
		// A write under way is not cut short by shutdown: the server may
		// have stored it already.
		s.deliver(ctx, context.WithoutCancel(ctx), cur)
	}
}

// deliver writes b, or spools it. A failure that may pass is retried
// liveRetries times (not after ctx ends), then b is spooled and InfluxDB is
// taken as down: later batches go straight to the spool without waiting on
// the network, and replayLoop's writes probe for the end of the outage.
// wctx bounds the writes.
func (s *InfluxSink) deliver(ctx, wctx context.Context, b *lineBatch) {
	defer s.inflight.Store(0)
	defer s.settle(b.from, b.to) // written, rejected or spooled: each is final
	for attempt := 0; !s.down.Load(); attempt++ {
		err := s.writeBatch(wctx, b)
		if err == nil {
			return
		}
		kind, retryAfter := classifyWriteError(err)
		if kind == writeRejected {
			s.reject(b, err)
			return
		}
		if kind == writeRetry && retryAfter == 0 && attempt < s.liveRetries && Sleep(ctx, s.backoffMin) {
			s.retried.Add(1)
			continue
		}
		s.goDown(kind, retryAfter, err)
	}
	s.toSpool(b)
}

// goDown sends live batches to the spool until replayLoop gets a write
// through. It logs once per outage, loudly when InfluxDB refuses us.
func (s *InfluxSink) goDown(kind writeFailure, retryAfter time.Duration, err error) {
	if retryAfter > 0 {
		s.retryAfter.Store(int64(retryAfter))
	}
	if s.down.Swap(true) {
		return
	}
	if kind == writeRefused {
		s.log.Error("influxdb refuses our writes: check token, org and bucket; spooling to disk and retrying slowly", "err", err)
		return
	}
	s.log.Warn("influxdb unreachable; spooling to disk, replaying when it answers", "err", err)
}

// toSpool puts b on disk. If the disk fails too the points are lost; the
// next live batch then tries InfluxDB again rather than the spool.
func (s *InfluxSink) toSpool(b *lineBatch) {
	body, err := b.raw()
	if err == nil {
		err = s.spool.Append(spool.Batch{Points: b.points, Oldest: b.oldest, Body: []byte(body)})
	}
	if err != nil {
		s.log.Error("influxdb spool append failed", "points", b.points, "err", err)
		s.drop(b.points, "spool append failed")
		s.down.Store(false)
		return
	}
	s.signal(s.spoolWake)
}

// replayLoop writes spooled batches in order, each committed once InfluxDB
// took it, beside the live batches and at most Spool.ReplayRate points/s.
// While InfluxDB is down it retries the oldest batch with capped
// exponential backoff (the longest wait after 401/403, at least the
// server's Retry-After): the first write that passes ends the outage.
func (s *InfluxSink) replayLoop(ctx context.Context) {
	backoff := s.backoffMin
	var next time.Time // earliest start of the next write, for the rate cap
	for {
		if s.down.Load() {
			wait := max(backoff, time.Duration(s.retryAfter.Swap(0)))
			if !Sleep(ctx, min(wait, 5*time.Minute)) {
				return
			}
			backoff = min(2*backoff, s.backoffMax)
		}
		b, pos, ok, err := s.spool.Next()
		if err != nil {
			s.log.Error("influxdb spool unreadable", "err", err)
			if !Sleep(ctx, s.backoffMax) {
				return
			}
			continue
		}
		if !ok {
			select {
			case <-s.spoolWake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if rate := s.opts.Spool.ReplayRate; rate > 0 {
			if !Sleep(ctx, time.Until(next)) {
				return
			}
			next = later(next, time.Now()).Add(time.Duration(float64(b.Points) / float64(rate) * float64(time.Second)))
		}
		lb := &lineBatch{body: string(b.Body), points: b.Points}
		// Cut short by shutdown, the batch stays uncommitted and is sent
		// again after restart; InfluxDB keeps one point per series and time.
		err = s.writeBatch(ctx, lb)
		if err == nil {
			s.replayed.Add(uint64(b.Points))
			s.commit(pos)
			backoff = s.backoffMin
			if s.down.Swap(false) {
				s.log.Info("influxdb writes resumed; replaying the spool", "spooled_points", s.spool.Stats().Points)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		kind, retryAfter := classifyWriteError(err)
		if kind == writeRejected {
			s.reject(lb, err)
			s.commit(pos)
			continue
		}
		s.retried.Add(1)
		if kind == writeRefused {
			backoff = s.backoffMax
		}
		s.goDown(kind, retryAfter, err)
	}
}

func (s *InfluxSink) commit(pos spool.Pos) {
	if err := s.spool.Commit(pos); err != nil {
		s.log.Error("influxdb spool cursor not saved; a restart will send some batches twice", "err", err)
	}
}

// spoolOnShutdown writes what is still in memory within shutdownGrace and
// spools the rest, so a stop loses nothing.
func (s *InfluxSink) spoolOnShutdown(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownGrace)
	defer cancel()
	for cur := s.popLast(); cur != nil; cur = s.popLast() {
		s.deliver(ctx, fctx, cur)
	}
}

// partialWrite finds InfluxDB 1.x's count of refused points in a 400
// answer; the rest of such a batch was stored ("partial write: ... dropped=N").
var partialWrite = regexp.MustCompile(`partial write:.*dropped=(\d+)`)

// reject handles a batch InfluxDB refused as bad data: it counts the
// refused points and, with a spool, keeps the whole batch with the server's
// message in a dead-letter file. InfluxDB 1.8 stores the good points of a
// batch whose other points conflict with a field's stored type, and none
// of a batch that conflicts with itself.
func (s *InfluxSink) reject(b *lineBatch, err error) {
	refused := b.points
	var he *influxhttp.Error
	if errors.As(err, &he) {
		if m := partialWrite.FindStringSubmatch(he.Message); m != nil {
			if n, perr := strconv.Atoi(m[1]); perr == nil && n <= b.points {
				refused = n
				s.written.Add(uint64(b.points - n))
			}
		}
	}
	s.rejected.Add(uint64(refused))
	s.dropped.Add(uint64(refused))
	if s.deadDir == "" {
		s.log.Error("influxdb rejected points; dropping them", "points", b.points, "rejected", refused, "err", err)
		return
	}
	path, werr := s.deadLetter(b, err)
	if werr != nil {
		s.log.Error("influxdb rejected points; dead-letter file failed, dropping them", "points", b.points, "rejected", refused, "err", err, "file_err", werr)
		return
	}
	s.deadLettered.Add(uint64(b.points))
	s.log.Error("influxdb rejected points; batch kept in a dead-letter file", "points", b.points, "rejected", refused, "file", path, "err", err)
}

// deadLetter writes b, headed by InfluxDB's answer as a line-protocol
// comment, so the file can be fixed and posted again as it is.
func (s *InfluxSink) deadLetter(b *lineBatch, cause error) (string, error) {
	now := time.Now().UTC()
	var f *os.File
	var err error
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d.lp", now.Format("20060102T150405.000000000Z"), i)
		f, err = os.OpenFile(filepath.Join(s.deadDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if !errors.Is(err, os.ErrExist) || i >= 100 {
			break
		}
	}
	if err != nil {
		return "", err
	}
	msg := strings.Join(strings.Fields(cause.Error()), " ")
	body, err := b.raw()
	if err == nil {
		_, err = fmt.Fprintf(f, "# rejected by InfluxDB at %s (%d points): %s\n%s", now.Format(time.RFC3339Nano), b.points, msg, body)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Sleep waits d, reporting false if ctx ended first. It is the one such
// wait of the gateway: the spool's replay, MQTT reconnects and the
// delivery wing's retries all use it.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
