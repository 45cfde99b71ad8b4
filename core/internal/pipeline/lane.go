package pipeline

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/sdk"
)

// lane is one sink write lane. It owns the records whose Hash % Writers is its number, so
// records of one key are written by one lane, in order, with never two Writes in flight.
type lane struct {
	r    *run
	id   int
	in   <-chan chunk
	log  *zap.Logger
	pend []sdk.Record
	segs []seg // the batches of pend's records, run-length encoded, in pend's order
	// Key changes across lanes (keychange.go): records are numbered from 0 in arrival
	// order; base is the number of pend[0], done the number of records acknowledged.
	received, base, done int64
	sigs, waits          []laneMark // ascending by at
}

// laneMark is a chunk's mark at the lane's record number at.
type laneMark struct {
	at int64
	g  *ackGate
}

type seg struct {
	b *batchState
	n int
}

func newLane(r *run, id int) *lane {
	return &lane{r: r, id: id, in: r.lanes[id], log: r.log.With(zap.Int(logging.FieldLane, id))}
}

// run accumulates up to BatchSize records or for up to BatchTimeout, and writes them.
func (l *lane) run() {
	r := l.r
	size := r.cfg.BatchSize
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	for {
		var timeout <-chan time.Time
		if len(l.pend) > 0 {
			if !armed {
				timer.Reset(r.cfg.BatchTimeout)
				armed = true
			}
			timeout = timer.C
		}
		select {
		case c, ok := <-l.in:
			if !ok {
				// The processor is done: write what is left, then stop.
				for len(l.pend) > 0 {
					if !l.flush(min(len(l.pend), size)) {
						return
					}
				}
				return
			}
			for _, m := range c.sigs {
				l.sigs = append(l.sigs, laneMark{at: l.received + int64(m.i), g: m.g})
			}
			for _, m := range c.waits {
				l.waits = append(l.waits, laneMark{at: l.received + int64(m.i), g: m.g})
			}
			l.received += int64(len(c.recs))
			l.pend = append(l.pend, c.recs...)
			if n := len(l.segs); n > 0 && l.segs[n-1].b == c.b {
				l.segs[n-1].n += len(c.recs)
			} else {
				l.segs = append(l.segs, seg{b: c.b, n: len(c.recs)})
			}
			if len(l.pend) >= size {
				for len(l.pend) >= size {
					if !l.flush(size) {
						return
					}
				}
				timer.Stop()
				armed = false
			}
		case <-timeout:
			armed = false
			for len(l.pend) > 0 {
				if !l.flush(min(len(l.pend), size)) {
					return
				}
			}
		case <-r.workCtx.Done():
			return
		}
	}
}

// flush writes the first n pending records, retrying from the first undelivered one. It
// returns false when the lane must stop (failure or drain timeout).
func (l *lane) flush(n int) bool {
	r := l.r
	// The phase's write concurrency: at most that many lanes write at once.
	if err := r.phases.gate.acquire(r.workCtx); err != nil {
		return false
	}
	held := true
	defer func() {
		if held {
			r.phases.gate.release()
		}
	}()
	failures := 0
	for off := 0; off < n; {
		if r.stopping() {
			return false
		}
		end := n
		if len(l.waits) > 0 {
			// A key change's INSERT: write the records before it, then wait until its
			// DELETE (in another lane, or earlier in this one) is acknowledged.
			if w := int(l.waits[0].at - l.base); w <= off {
				if !l.await(l.waits[0].g, &held) {
					return false
				}
				l.waits[0] = laneMark{}
				l.waits = l.waits[1:]
				continue // the next wait may lie before n too
			} else if w < end {
				end = w
			}
		}
		batch := l.pend[off:end]
		d, fenceClosed, ok, err := l.write(batch)
		if !ok {
			return false
		}
		if d > 0 {
			if !l.delivered(batch[:d]) {
				return false
			}
			off += d
			failures = 0
		}
		if err == nil {
			if d == len(batch) {
				continue
			}
			err = fmt.Errorf("sink delivered %d of %d records without an error", d, len(batch))
		}
		if r.stopping() {
			return false
		}
		if fenceClosed {
			continue // the fence closed during the write: wait for the lease, then go on
		}
		if tl, ok := sdk.AsTooLarge(err); ok && r.cfg.OnOversize != nil && tl.Index == d {
			// The skip policy: batch[d] (now l.pend[off]) goes to the dead letters.
			if !l.skip(&l.pend[off], tl) {
				return false
			}
			off++
			failures = 0
			continue
		}
		failures++
		if !l.backoff(err, failures, n-off) {
			return false
		}
	}
	rest := copy(l.pend, l.pend[n:])
	clear(l.pend[rest:])
	l.pend = l.pend[:rest]
	l.base += int64(n)
	return true
}

// write hands batch to the sink once, inside the lease's fence, and returns how many records
// it delivered (within the batch) and its error. fenceClosed: the fence closed during the
// write (the lease is being renewed or lost). ok false: the lane must stop.
func (l *lane) write(batch []sdk.Record) (d int, fenceClosed, ok bool, err error) {
	r := l.r
	wctx, unfence, ok := l.fenced()
	if !ok {
		return 0, false, false, nil
	}
	err = protect(func() error {
		var err error
		d, err = r.cfg.Sink.Write(wctx, batch)
		return err
	})
	// Whether the fence closed during the write, read before unfence ends wctx itself.
	fenceClosed = wctx.Err() != nil && r.workCtx.Err() == nil
	unfence()
	if d < 0 {
		d = 0
	}
	if d > len(batch) {
		l.log.Warn("sink reported more records delivered than it was given",
			zap.String(logging.FieldPlugin, r.p.names.sink), zap.Int("delivered", d), zap.Int("records", len(batch)))
		d = len(batch)
	}
	return d, fenceClosed, true, err
}

// backoff handles the failures-th failed write in a row: a panic, a permanent error or the
// last allowed attempt fails the pipeline; any other error waits the retry delay before the
// write is tried again. False: the lane must stop.
func (l *lane) backoff(err error, failures, undelivered int) bool {
	r := l.r
	var pe *PanicError
	switch {
	case asPanic(err, &pe), isPermanent(err):
		r.fail(&StageError{Stage: "sink", Plugin: r.p.names.sink, Op: "write", Err: err})
		return false
	case r.cfg.Retry.MaxAttempts > 0 && failures >= r.cfg.Retry.MaxAttempts:
		r.fail(&StageError{Stage: "sink", Plugin: r.p.names.sink, Op: "write",
			Err: fmt.Errorf("%w (gave up after %d attempts)", err, failures)})
		return false
	}
	delay := r.cfg.Retry.Delay(failures)
	r.stats.retries.Add(1)
	r.stats.lastError.Store(&errorInfo{msg: err.Error(), at: time.Now()})
	l.log.Warn("sink write failed; retrying from the first undelivered record",
		zap.String(logging.FieldPlugin, r.p.names.sink), zap.Int(logging.FieldAttempt, failures),
		zap.Duration("backoff", delay), zap.Int("undelivered", undelivered), zap.Error(err))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.workCtx.Done():
		return false
	}
}

// await waits until g is closed, without holding a write slot meanwhile (the lane writing
// the record g waits for may need it). It returns false when the lane must stop.
func (l *lane) await(g *ackGate, held *bool) bool {
	r := l.r
	select {
	case <-g.ch:
		return true
	default:
	}
	r.phases.gate.release()
	*held = false
	select {
	case <-g.ch:
	case <-r.workCtx.Done():
		return false
	}
	if err := r.phases.gate.acquire(r.workCtx); err != nil {
		return false
	}
	*held = true
	return true
}

// skip applies the oversize skip policy to rec, the lane's first unacknowledged record:
// dead letter (Config.OnOversize), warning, counter, acknowledgement.
func (l *lane) skip(rec *sdk.Record, tl *sdk.TooLargeError) bool {
	r := l.r
	if err := protect(func() error { return r.cfg.OnOversize(rec, tl) }); err != nil {
		r.fail(&StageError{Stage: "sink", Plugin: r.p.names.sink, Op: "skip oversize record",
			Err: fmt.Errorf("%w (the record itself: %v)", err, tl)})
		return false
	}
	r.stats.recordsSkipped.Add(1)
	l.log.Warn("record too large for the sink: skipped into the dead letters (oversize = skip)",
		zap.String(logging.FieldPlugin, r.p.names.sink),
		zap.String("table", rec.Database+"."+rec.Table), zap.String("key", rec.Key),
		zap.String("change_id", rec.ChangeID), zap.String(logging.FieldPosition, formatPosition(rec.Position)),
		zap.Int64("size", tl.Size), zap.Int64("limit", tl.Limit))
	return l.ack(1)
}

// delivered acknowledges the records the sink delivered: they are the first records of
// segs.
func (l *lane) delivered(recs []sdk.Record) bool {
	r := l.r
	var bytes uint64
	for i := range recs {
		bytes += uint64(recs[i].BodyLen())
	}
	r.stats.recordsWritten.Add(uint64(len(recs)))
	r.stats.bytesWritten.Add(bytes)
	if f := r.cfg.OnDelivered; f != nil && len(recs) > 0 {
		f(recs, time.Now())
	}
	return l.ack(len(recs))
}

// ack acknowledges the lane's first n unacknowledged records (the first records of segs),
// delivered or skipped, and opens the gates of key-change inserts waiting on them.
func (l *lane) ack(n int) bool {
	r := l.r
	l.done += int64(n)
	for len(l.sigs) > 0 && l.sigs[0].at < l.done {
		close(l.sigs[0].g.ch)
		l.sigs[0] = laneMark{}
		l.sigs = l.sigs[1:]
	}
	left := n
	for left > 0 {
		s := &l.segs[0]
		k := min(s.n, left)
		done, err := r.tracker.Ack(s.b.seq, k)
		if err != nil {
			r.fail(fmt.Errorf("pipeline: internal error: %w", err))
			return false
		}
		if done {
			r.budget.release(s.b.weight)
		}
		s.n -= k
		left -= k
		if s.n == 0 {
			l.segs[0] = seg{}
			l.segs = l.segs[1:]
		}
	}
	return true
}
