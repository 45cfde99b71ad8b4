package pipeline

import (
	"context"
	"math"

	"golang.org/x/time/rate"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Rate is a ceiling on throughput; zero fields mean unlimited.
type Rate struct {
	RowsPerSecond  float64
	BytesPerSecond float64
}

// Limits are the rate ceilings of the two phases: snapshot rows count against Full, every
// other change against Incremental. Bytes are message bytes (record values).
type Limits struct {
	Full, Incremental Rate
}

// limiter enforces one Rate smoothly: its bursts are a tenth of a second's worth, so a
// ceiling holds over any window of a second or more.
type limiter struct {
	rows, bytes *rate.Limiter
}

func newLimiter(r Rate) limiter {
	mk := func(perSecond float64) *rate.Limiter {
		if perSecond <= 0 {
			return nil
		}
		burst := int(math.Max(1, math.Ceil(perSecond/10)))
		return rate.NewLimiter(rate.Limit(perSecond), burst)
	}
	return limiter{rows: mk(r.RowsPerSecond), bytes: mk(r.BytesPerSecond)}
}

// wait blocks until n tokens of l are available, in steps no larger than its burst.
func wait(ctx context.Context, l *rate.Limiter, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// throttle waits until the records of one batch fit the phase ceilings.
func (r *run) throttle(ctx context.Context, recs []sdk.Record) error {
	if r.full.rows == nil && r.full.bytes == nil && r.incr.rows == nil && r.incr.bytes == nil {
		return nil
	}
	var fullRows, fullBytes, incrRows, incrBytes int
	last := -1
	for i := range recs {
		rec := &recs[i]
		row := rec.Change != last // a change with several records is one row
		last = rec.Change
		if rec.Op == change.OpSnapshot {
			if row {
				fullRows++
			}
			fullBytes += rec.BodyLen()
			continue
		}
		if row && rec.Op.IsRow() {
			incrRows++
		}
		incrBytes += rec.BodyLen()
	}
	for _, w := range []struct {
		l *rate.Limiter
		n int
	}{{r.full.rows, fullRows}, {r.full.bytes, fullBytes}, {r.incr.rows, incrRows}, {r.incr.bytes, incrBytes}} {
		if err := wait(ctx, w.l, w.n); err != nil {
			return err
		}
	}
	return nil
}
