package cli

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestForceStopOnSecondSignal: the goroutine that turns a second signal into a forced stop
// ends with the command, whether or not a first signal came, and forces the stop only at a
// second signal.
func TestForceStopOnSecondSignal(t *testing.T) {
	type result struct {
		stopped, forced bool
		registered      chan<- os.Signal
	}
	start := func(ctx context.Context, done chan struct{}) (<-chan result, <-chan chan<- os.Signal) {
		out := make(chan result, 1)
		reg := make(chan chan<- os.Signal, 1)
		go func() {
			var r result
			forceStopOnSecondSignal(ctx, done, func() { r.stopped = true },
				func(c chan<- os.Signal) { r.registered = c; reg <- c },
				func() { r.forced = true })
			out <- r
		}()
		return out, reg
	}
	wait := func(out <-chan result) result {
		t.Helper()
		select {
		case r := <-out:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("the goroutine outlived the command")
			return result{}
		}
	}

	// The command returns without a signal (the source finished): the goroutine ends.
	done := make(chan struct{})
	out, _ := start(context.Background(), done)
	close(done)
	if r := wait(out); r.stopped || r.forced || r.registered != nil {
		t.Errorf("no signal: %+v", r)
	}

	// A first signal, then the graceful stop completes: no forced stop.
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	out, reg := start(ctx, done)
	cancel()
	<-reg
	close(done)
	if r := wait(out); !r.stopped || r.forced {
		t.Errorf("graceful stop: %+v", r)
	}

	// A second signal during the graceful stop forces it.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = make(chan struct{})
	defer close(done)
	out, reg = start(ctx, done)
	cancel()
	(<-reg) <- syscall.SIGTERM
	if r := wait(out); !r.stopped || !r.forced {
		t.Errorf("second signal: %+v", r)
	}
}
