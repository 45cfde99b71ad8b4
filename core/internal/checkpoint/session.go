package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// SessionConfig tunes a Session.
type SessionConfig struct {
	// LeaseTime is how long the lease lasts without a renewal: a standby takes over at most
	// about this long after the active died, froze or lost the store.
	LeaseTime time.Duration
	// RenewEvery is how often the active renews (default LeaseTime/4).
	RenewEvery time.Duration
	// Margin is taken off the deadline the active fences itself by (default LeaseTime/5,
	// at least 100ms): a write that begins before the deadline has that long to reach the
	// sink before the store can give the lease to another process.
	Margin time.Duration
	// PollEvery is how often a standby tries to take the lease (default LeaseTime/20,
	// between 50ms and 500ms: one small read of the store; it bounds how late after the
	// lease expired a standby sees it).
	PollEvery time.Duration
	// Logger receives the session's logs (default: none).
	Logger *zap.Logger
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.LeaseTime <= 0 {
		c.LeaseTime = 10 * time.Second
	}
	if c.RenewEvery <= 0 {
		c.RenewEvery = c.LeaseTime / 4
	}
	if c.Margin <= 0 {
		c.Margin = max(c.LeaseTime/5, 100*time.Millisecond)
	}
	if c.Margin >= c.LeaseTime/2 {
		c.Margin = c.LeaseTime / 2
	}
	if c.PollEvery <= 0 {
		c.PollEvery = min(max(c.LeaseTime/20, 50*time.Millisecond), 500*time.Millisecond)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Session holds a pipeline's lease in a Shared store: Acquire waits as a standby until the
// lease is free and takes it, Keep renews it, and the fence (Check, Wait, Context) tells the
// writers whether they may send. The fence is a deadline on the monotonic clock: the start
// of the last successful renewal plus the lease time minus the margin. The store counts the
// lease from when it received that renewal, which is later, so the fence closes before the
// store can give the lease to another process, even when this process was frozen (SIGSTOP:
// the monotonic clock runs on) or cut off from the store.
type Session struct {
	store Shared
	owner Owner
	cfg   SessionConfig
	log   *zap.Logger

	mu       sync.Mutex
	deadline time.Time     // with a monotonic reading; zero: not held
	renewed  chan struct{} // closed (and replaced) when the deadline moves
	lost     chan struct{}
	lostErr  error
	released bool
}

// NewSession returns a session of owner over store; nothing is taken before Acquire.
func NewSession(store Shared, owner Owner, cfg SessionConfig) *Session {
	cfg = cfg.withDefaults()
	return &Session{store: store, owner: owner, cfg: cfg, log: cfg.Logger,
		renewed: make(chan struct{}), lost: make(chan struct{})}
}

// LeaseTime returns the session's lease time.
func (s *Session) LeaseTime() time.Duration { return s.cfg.LeaseTime }

// Acquire takes the lease, waiting as a standby while another process holds it (or the store
// cannot be reached). onStandby, when set, is called whenever the holder seen changes (nil:
// the store could not be asked; err says why). It returns nil once the lease is held, or
// ctx's error.
func (s *Session) Acquire(ctx context.Context, onStandby func(holder *Owner, err error)) error {
	var last string
	for first := true; ; first = false {
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTime/2)
		err := s.store.TryAcquire(actx, s.owner, s.cfg.LeaseTime)
		cancel()
		if err == nil {
			s.extend(start)
			s.log.Info("pipeline lease taken: this process is the active one",
				zap.String("store", s.store.Describe()), zap.Duration("lease_time", s.cfg.LeaseTime))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var holder *Owner
		if errors.Is(err, ErrLeaseHeld) {
			hctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTime/2)
			holder, _ = s.store.Holder(hctx)
			cancel()
		}
		key := err.Error()
		if holder != nil {
			key = holder.String()
		}
		if key != last {
			last = key
			if holder != nil {
				s.log.Info("standby: another process holds the pipeline lease", zap.String("holder", holder.String()))
			} else if errors.Is(err, ErrLeaseHeld) {
				s.log.Info("standby: another process holds the pipeline lease")
			} else {
				s.log.Warn("standby: the checkpoint store cannot be reached; retrying", zap.Error(err))
			}
			if onStandby != nil {
				if errors.Is(err, ErrLeaseHeld) {
					onStandby(holder, nil)
				} else {
					onStandby(nil, err)
				}
			}
		} else if first && onStandby != nil {
			onStandby(holder, nil)
		}
		t := time.NewTimer(s.cfg.PollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Session) extend(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := start.Add(s.cfg.LeaseTime - s.cfg.Margin)
	if d.After(s.deadline) {
		s.deadline = d
		close(s.renewed)
		s.renewed = make(chan struct{})
	}
}

// Keep renews the lease every RenewEvery until ctx ends or the lease is lost (then Lost is
// closed and Err says why). A failed renewal (the store is down) is retried; the fence
// closes when the deadline passes and opens again after a renewal succeeds. When no renewal
// succeeded for a whole lease time the session steps down (the lease counts as lost).
func (s *Session) Keep(ctx context.Context) {
	t := time.NewTicker(s.cfg.RenewEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
			return
		case <-t.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, min(s.cfg.RenewEvery, s.cfg.LeaseTime/2))
		err := s.store.Renew(rctx, s.cfg.LeaseTime)
		cancel()
		switch {
		case err == nil:
			s.extend(start)
			if failing {
				s.log.Info("pipeline lease renewed again; writes go on")
				failing = false
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLeaseLost):
			s.setLost(err)
			return
		default:
			// A full lease time since the start of the last renewal that succeeded: the
			// store has let the lease expire (or is about to), and a standby that reaches the
			// store may hold it already. Step down: the pipeline stops and lets go of what
			// the new active needs (the binlog connection: a Binlog Service or MySQL admits
			// one dump per server_id), and this process waits as a standby. If nobody else
			// took the lease, it takes it again when the store answers.
			if d := s.Deadline(); !d.IsZero() && !time.Now().Before(d.Add(s.cfg.Margin)) {
				s.setLost(fmt.Errorf("%w: not renewed for the lease time %v (the checkpoint store could not be reached: %v); stepping down",
					ErrLeaseLost, s.cfg.LeaseTime, err))
				return
			}
			if !failing {
				s.log.Warn("pipeline lease not renewed (the checkpoint store cannot be reached); writes stop when it would expire",
					zap.Duration("left", time.Until(s.Deadline())), zap.Error(err))
				failing = true
			}
		}
	}
}

func (s *Session) setLost(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lostErr != nil {
		return
	}
	s.lostErr = err
	s.deadline = time.Time{}
	close(s.lost)
	s.log.Warn("pipeline lease lost: another process is active; this one stops sending", zap.Error(err))
}

// Lost is closed when the lease was lost.
func (s *Session) Lost() <-chan struct{} { return s.lost }

// Err returns why the lease was lost (wrapping ErrLeaseLost), or nil.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lostErr
}

// Deadline returns the fence deadline (zero when the lease is not held).
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Check returns nil while this process may send: the lease is held and the fence deadline
// has not passed.
func (s *Session) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked()
}

func (s *Session) checkLocked() error {
	if s.lostErr != nil {
		return s.lostErr
	}
	if s.released {
		return fmt.Errorf("%w: released", ErrFenced)
	}
	if s.deadline.IsZero() || !time.Now().Before(s.deadline) {
		return fmt.Errorf("%w: the lease was not renewed in time", ErrFenced)
	}
	return nil
}

// Wait blocks until Check passes. It returns the loss (ErrLeaseLost) or ctx's error.
func (s *Session) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		err := s.checkLocked()
		ch := s.renewed
		s.mu.Unlock()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrLeaseLost) || s.isReleased() {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.lost:
		case <-ch:
		}
	}
}

func (s *Session) isReleased() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released
}

// Context returns a child of parent that ends at the fence deadline as it is now (or when
// the lease is lost), for one sink write: the write stops before the lease can pass to
// another process. Its Err reports the deadline as soon as it has passed, even before the
// timer goroutine ran (a process woken from SIGSTOP sees it at its first check).
func (s *Session) Context(parent context.Context) (context.Context, context.CancelFunc) {
	d := s.Deadline()
	ctx, cancel := context.WithCancelCause(parent)
	fc := &fenceCtx{Context: ctx, cancel: cancel, deadline: d}
	if d.IsZero() {
		cancel(fmt.Errorf("%w: the lease is not held", ErrFenced))
		return fc, func() {}
	}
	t := time.AfterFunc(time.Until(d), func() { cancel(context.DeadlineExceeded) })
	stopLost := context.AfterFunc(ctxOf(s.lost), func() { cancel(ErrLeaseLost) })
	return fc, func() {
		t.Stop()
		stopLost()
		cancel(context.Canceled)
	}
}

// ctxOf returns a context that is done when ch is closed.
func ctxOf(ch <-chan struct{}) context.Context { return chanCtx(ch) }

type chanCtx <-chan struct{}

func (c chanCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c chanCtx) Done() <-chan struct{}       { return c }
func (c chanCtx) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}
func (c chanCtx) Value(any) any { return nil }

// fenceCtx is a context whose Err checks the deadline on the monotonic clock itself.
type fenceCtx struct {
	context.Context
	cancel   context.CancelCauseFunc
	deadline time.Time
}

func (c *fenceCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.Context.Deadline(); ok && pd.Before(c.deadline) {
		return pd, true
	}
	return c.deadline, !c.deadline.IsZero()
}

func (c *fenceCtx) Err() error {
	if c.Context.Err() == nil && !time.Now().Before(c.deadline) {
		c.cancel(context.DeadlineExceeded)
	}
	return c.Context.Err()
}

func (c *fenceCtx) Done() <-chan struct{} {
	_ = c.Err()
	return c.Context.Done()
}

// Release stops the fence and gives the lease up in the store (after the final checkpoint
// was saved), so a standby takes over at once.
func (s *Session) Release(ctx context.Context) error {
	s.mu.Lock()
	held := !s.deadline.IsZero() && s.lostErr == nil
	s.released = true
	s.deadline = time.Time{}
	close(s.renewed)
	s.renewed = make(chan struct{})
	s.mu.Unlock()
	if !held {
		return nil
	}
	return s.store.Release(ctx)
}
