package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// openFence is a lease that is always held: every write gets a child context that the write's
// end cancels, as checkpoint.Session's does.
type openFence struct{}

func (openFence) Wait(ctx context.Context) error { return ctx.Err() }
func (openFence) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// TestFencedWriteErrors: with a fence (a shared checkpoint store's lease), a failed write is
// handled as without one: a permanent error fails the pipeline, a transient one is retried
// with backoff until the attempts run out. The end of the write's own context (the fence's,
// cancelled once the write returned) is not a closed fence.
func TestFencedWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"permanent", permErr{"message too large"}, `sink "fake": write: message too large`},
		{"transient", tempErr{"broker unavailable"}, `sink "fake": write: broker unavailable (gave up after 3 attempts)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource(1000, 100, 10)
			rec := newRecorder()
			sink := newFakeSink(rec)
			sink.behave = func(context.Context, int64, []sdk.Record) (int, error) { return 0, tc.err }
			cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
			cfg.Writers = 1
			cfg.Retry.MaxAttempts = 3
			cfg.Retry.Initial, cfg.Retry.Max = time.Millisecond, time.Millisecond
			cfg.Fence = openFence{}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := runPipeline(t, ctx, cfg)
			var se *StageError
			if !errors.As(err, &se) || err.Error() != tc.want {
				t.Fatalf("Run = %v, want %q", err, tc.want)
			}
			want := int64(1)
			if tc.name == "transient" {
				want = 3
			}
			if n := sink.calls.Load(); n != want {
				t.Errorf("%d writes, want %d", n, want)
			}
		})
	}
}
