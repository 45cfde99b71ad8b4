package protocol

import (
	"context"
	"testing"
	"time"
)

// The plugin side takes the earlier of the relative and the wall-clock deadline: a request
// that waited in the host (frozen before it was flushed) carries a stale timeout, and the
// wall-clock deadline bounds it; a wall clock stepped back is bounded by the timeout.
func TestWithWireDeadline(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name          string
		timeout, wall int64
		want          time.Duration // expected time left, ±100ms
		none          bool
	}{
		{name: "none", none: true},
		{name: "timeout only", timeout: int64(2 * time.Second), want: 2 * time.Second},
		{name: "wall only", wall: now.Add(3 * time.Second).UnixNano(), want: 3 * time.Second},
		{name: "stale timeout, wall earlier", timeout: int64(5 * time.Second), wall: now.Add(time.Second).UnixNano(), want: time.Second},
		{name: "wall later, timeout earlier", timeout: int64(time.Second), wall: now.Add(time.Hour).UnixNano(), want: time.Second},
		{name: "passed", timeout: int64(5 * time.Second), wall: now.Add(-time.Second).UnixNano(), want: -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := withWireDeadline(context.Background(), tc.timeout, tc.wall)
			defer cancel()
			d, ok := ctx.Deadline()
			if tc.none {
				if ok {
					t.Fatalf("deadline %v, want none", d)
				}
				return
			}
			if !ok {
				t.Fatal("no deadline")
			}
			if left := time.Until(d); left < tc.want-100*time.Millisecond || left > tc.want+100*time.Millisecond {
				t.Errorf("time left %v, want about %v", left, tc.want)
			}
			if tc.want < 0 && ctx.Err() == nil {
				t.Error("a passed deadline must end the context at once")
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if to, wall := wireDeadline(ctx); to <= 0 || to > int64(time.Second) || wall <= now.UnixNano() {
		t.Errorf("wireDeadline = %d, %d", to, wall)
	}
	if to, wall := wireDeadline(context.Background()); to != 0 || wall != 0 {
		t.Errorf("wireDeadline without a deadline = %d, %d", to, wall)
	}
}
