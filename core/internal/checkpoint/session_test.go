package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// fakeShared is a Shared store in memory whose lease counts time on the wall clock like a
// real store, with switches for "down" (every call fails) and "stolen" (another process took
// the lease).
type fakeShared struct {
	mu       sync.Mutex
	holder   *Owner
	expires  time.Time
	down     bool
	acquires int
	renews   int
	releases int
}

var errDown = errors.New("store unreachable")

func (f *fakeShared) Load(context.Context, string) (*Checkpoint, error) { return nil, nil }
func (f *fakeShared) Save(context.Context, *Checkpoint) error           { return nil }
func (f *fakeShared) Close() error                                      { return nil }
func (f *fakeShared) State() sdk.StateStore                             { return nil }
func (f *fakeShared) Describe() string                                  { return "fake" }

func (f *fakeShared) TryAcquire(_ context.Context, o Owner, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if f.holder != nil && f.holder.PID != o.PID && time.Now().Before(f.expires) {
		return fmt.Errorf("%w: %s", ErrLeaseHeld, f.holder)
	}
	f.holder, f.expires = &o, time.Now().Add(ttl)
	f.acquires++
	return nil
}

func (f *fakeShared) Renew(_ context.Context, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if f.holder == nil || f.holder.PID != 1 || !time.Now().Before(f.expires) {
		return fmt.Errorf("%w: expired or taken", ErrLeaseLost)
	}
	f.expires = time.Now().Add(ttl)
	f.renews++
	return nil
}

func (f *fakeShared) Release(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder = nil
	f.releases++
	return nil
}

func (f *fakeShared) Holder(context.Context) (*Owner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == nil || !time.Now().Before(f.expires) {
		return nil, nil
	}
	o := *f.holder
	return &o, nil
}

func (f *fakeShared) set(fn func(f *fakeShared)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// activeSession returns a session over store that took the lease and keeps it (Keep runs
// until the test ends).
func activeSession(t *testing.T, store *fakeShared, lease time.Duration) *Session {
	t.Helper()
	s := newTestSession(store, lease)
	if err := s.Acquire(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Keep(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func newTestSession(store *fakeShared, lease time.Duration) *Session {
	return NewSession(store, Owner{Pipeline: "p", PID: 1, Host: "h"}, SessionConfig{LeaseTime: lease})
}

func TestSessionDefaults(t *testing.T) {
	c := SessionConfig{LeaseTime: 10 * time.Second}.withDefaults()
	if c.RenewEvery != 2500*time.Millisecond || c.Margin != 2*time.Second || c.PollEvery != 500*time.Millisecond {
		t.Errorf("defaults for 10s: renew %v margin %v poll %v", c.RenewEvery, c.Margin, c.PollEvery)
	}
	c = SessionConfig{LeaseTime: 100 * time.Millisecond}.withDefaults()
	if c.Margin != 50*time.Millisecond || c.PollEvery != 50*time.Millisecond {
		t.Errorf("defaults for 100ms: margin %v (want half the lease at most) poll %v", c.Margin, c.PollEvery)
	}
}

// A standby waits while another process holds the lease, and takes it when it expires.
func TestSessionStandbyTakesOverAfterExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 400 * time.Millisecond
		store := &fakeShared{}
		other := Owner{Pipeline: "p", PID: 2, Host: "h2"}
		if err := store.TryAcquire(context.Background(), other, lease); err != nil {
			t.Fatal(err)
		}
		s := newTestSession(store, lease)
		if err := s.Check(); !errors.Is(err, ErrFenced) {
			t.Fatalf("Check before Acquire = %v, want ErrFenced", err)
		}
		var mu sync.Mutex
		var seen []string
		start := time.Now()
		err := s.Acquire(context.Background(), func(h *Owner, err error) {
			mu.Lock()
			defer mu.Unlock()
			if h != nil {
				seen = append(seen, h.Host)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took < lease/2 || took > lease+300*time.Millisecond {
			t.Errorf("took over after %v, want about the lease time %v", took, lease)
		}
		mu.Lock()
		if len(seen) == 0 || seen[0] != "h2" {
			t.Errorf("standby callback saw holders %v, want h2 first", seen)
		}
		mu.Unlock()
		if err := s.Check(); err != nil {
			t.Errorf("Check after Acquire: %v", err)
		}
		if d := time.Until(s.Deadline()); d <= 0 || d > lease {
			t.Errorf("fence deadline %v from now, want within the lease time", d)
		}
	})
}

func TestSessionAcquireStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeShared{down: true}
		s := newTestSession(store, time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		var errs int
		err := s.Acquire(ctx, func(h *Owner, err error) {
			if err != nil {
				errs++
			}
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire on a down store = %v, want the context's error", err)
		}
		if errs != 1 {
			t.Errorf("standby callback reported the unreachable store %d times, want once (only changes)", errs)
		}
	})
}

// Renewals keep the fence open; when the store is down the fence closes by the deadline
// and opens again once a renewal succeeds.
func TestSessionFenceClosesWhileStoreDownAndReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 400 * time.Millisecond
		store := &fakeShared{}
		s := activeSession(t, store, lease)

		time.Sleep(2 * lease)
		if err := s.Check(); err != nil {
			t.Fatalf("fence closed although renewals succeed: %v", err)
		}
		store.set(func(f *fakeShared) { f.down = true })
		down := time.Now()
		for s.Check() == nil {
			if time.Since(down) > lease {
				t.Fatal("fence still open a lease time after the store went down")
			}
			time.Sleep(5 * time.Millisecond)
		}
		closedAfter := time.Since(down)
		if closedAfter > lease-s.cfg.Margin+20*time.Millisecond {
			t.Errorf("fence closed %v after the store went down, want by lease - margin (%v)", closedAfter, lease-s.cfg.Margin)
		}
		if err := s.Check(); !errors.Is(err, ErrFenced) {
			t.Errorf("Check while fenced = %v, want ErrFenced", err)
		}
		// A write context taken now is already done.
		wctx, wcancel := s.Context(context.Background())
		if wctx.Err() == nil {
			t.Error("write context taken after the deadline is not done")
		}
		wcancel()

		// Wait blocks until the store is back (the lease in the store has not expired yet,
		// because Renew counts from the store's clock: here, reopen before it does).
		waited := make(chan error, 1)
		go func() { waited <- s.Wait(context.Background()) }()
		select {
		case err := <-waited:
			t.Fatalf("Wait returned %v while fenced", err)
		case <-time.After(30 * time.Millisecond):
		}
		store.set(func(f *fakeShared) { f.down = false; f.expires = time.Now().Add(lease) })
		select {
		case err := <-waited:
			if err != nil {
				t.Fatalf("Wait after the store came back: %v", err)
			}
		case <-time.After(2 * lease):
			t.Fatal("Wait still blocked after the store came back")
		}
	})
}

// A renewal that finds the lease taken loses it for good: Lost closes, Err wraps
// ErrLeaseLost, Wait and write contexts end.
func TestSessionLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 300 * time.Millisecond
		store := &fakeShared{}
		s := newTestSession(store, lease)
		if err := s.Acquire(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := s.Context(context.Background())
		defer wcancel()
		go s.Keep(context.Background())
		store.set(func(f *fakeShared) { f.holder = &Owner{PID: 2} })
		select {
		case <-s.Lost():
		case <-time.After(2 * lease):
			t.Fatal("lease not reported lost")
		}
		if !errors.Is(s.Err(), ErrLeaseLost) {
			t.Errorf("Err = %v, want ErrLeaseLost", s.Err())
		}
		if err := s.Wait(context.Background()); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Wait after the loss = %v, want ErrLeaseLost", err)
		}
		select {
		case <-wctx.Done():
		case <-time.After(time.Second):
			t.Fatal("write context not ended by the loss")
		}
		if !s.Deadline().IsZero() {
			t.Error("deadline kept after the loss")
		}
		// A lost lease is not given up in the store (it belongs to another process).
		if err := s.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if store.releases != 0 {
			t.Errorf("Release after the loss released the store's lease %d times", store.releases)
		}
	})
}

// The fence is a monotonic deadline: a process that was frozen past it finds it closed at
// its first check, before any renewal could run.
func TestSessionContextEndsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 300 * time.Millisecond
		s := newTestSession(&fakeShared{}, lease)
		if err := s.Acquire(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := s.Context(context.Background())
		defer wcancel()
		d, ok := wctx.Deadline()
		if !ok || !d.Equal(s.Deadline()) {
			t.Errorf("write context deadline %v %v, want the fence deadline %v", d, ok, s.Deadline())
		}
		// No Keep runs: the deadline passes.
		time.Sleep(lease)
		if wctx.Err() == nil {
			t.Error("write context not done after the fence deadline")
		}
		if err := s.Check(); !errors.Is(err, ErrFenced) {
			t.Errorf("Check after the deadline = %v, want ErrFenced", err)
		}
	})
}

func TestSessionRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeShared{}
		s := newTestSession(store, time.Second)
		if err := s.Acquire(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if store.releases != 1 {
			t.Errorf("store releases = %d, want 1", store.releases)
		}
		if err := s.Check(); !errors.Is(err, ErrFenced) {
			t.Errorf("Check after Release = %v, want ErrFenced", err)
		}
		if err := s.Wait(context.Background()); !errors.Is(err, ErrFenced) {
			t.Errorf("Wait after Release = %v, want ErrFenced (no waiting for a lease given up)", err)
		}
		// A standby takes the released lease at once.
		other := NewSession(store, Owner{Pipeline: "p", PID: 2}, SessionConfig{LeaseTime: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := other.Acquire(ctx, nil); err != nil {
			t.Fatalf("standby could not take a released lease at once: %v", err)
		}
	})
}

// A store that does not answer for a whole lease time: the session steps down (Lost, an
// ErrLeaseLost that says so) within the lease time plus one renewal period, so the pipeline
// lets go of its source for the standby that takes over.
func TestSessionStepsDownWhenStoreUnreachableForLeaseTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 400 * time.Millisecond
		store := &fakeShared{}
		s := activeSession(t, store, lease)
		time.Sleep(lease / 2)
		store.set(func(f *fakeShared) { f.down = true })
		down := time.Now()
		select {
		case <-s.Lost():
		case <-time.After(5 * lease):
			t.Fatal("the session did not step down while the store was unreachable")
		}
		if took := time.Since(down); took < lease-s.cfg.RenewEvery || took > lease+2*s.cfg.RenewEvery {
			t.Errorf("stepped down %v after the store went down, want about the lease time %v", took, lease)
		}
		if err := s.Err(); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "stepping down") {
			t.Errorf("Err = %v, want ErrLeaseLost saying it steps down", err)
		}
		if err := s.Wait(context.Background()); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Wait after stepping down = %v", err)
		}
	})
}
