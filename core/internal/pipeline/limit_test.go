package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// A rows-per-second ceiling holds over a window: the measured rate stays within 10% of it,
// and snapshot rows and incremental changes each count against their own phase.
func TestRateLimitHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	for _, tc := range []struct {
		name   string
		op     change.Op
		limits Limits
		rate   float64
	}{
		{"full rows", change.OpSnapshot, Limits{Full: Rate{RowsPerSecond: 4000}, Incremental: Rate{RowsPerSecond: 10}}, 4000},
		{"incremental rows", change.OpInsert, Limits{Full: Rate{RowsPerSecond: 10}, Incremental: Rate{RowsPerSecond: 3000}}, 3000},
		{"incremental bytes", change.OpUpdate, Limits{Incremental: Rate{BytesPerSecond: 200_000}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{full: newLimiter(tc.limits.Full), incr: newLimiter(tc.limits.Incremental)}
			const window = 1500 * time.Millisecond
			recs := make([]sdk.Record, 100)
			for i := range recs {
				recs[i] = sdk.Record{Change: i, Op: tc.op, Value: make([]byte, 100)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			// Drain the initial burst first so the window measures the steady rate.
			_ = r.throttle(ctx, recs[:1])
			start := time.Now()
			rows, bytes := 0, 0
			for r.throttle(ctx, recs) == nil {
				rows += len(recs)
				bytes += len(recs) * 100
			}
			el := time.Since(start).Seconds()
			got := float64(rows) / el
			want := tc.rate
			if want == 0 {
				got, want = float64(bytes)/el, tc.limits.Incremental.BytesPerSecond
			}
			if got > want*1.1 || got < want*0.9 {
				t.Errorf("rate %.0f/s, ceiling %.0f/s", got, want)
			}
		})
	}
}

func TestNoLimitsNoWait(t *testing.T) {
	r := &run{full: newLimiter(Rate{}), incr: newLimiter(Rate{})}
	recs := make([]sdk.Record, 10000)
	start := time.Now()
	for i := 0; i < 100; i++ {
		if err := r.throttle(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Error("throttled without limits")
	}
}
