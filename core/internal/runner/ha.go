package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/status"
)

// haRun is `ferry run` over a shared checkpoint store (checkpoint.store = "etcd" or
// "mysql", ADR 0014): the store holds the checkpoint, the source's state and the lease;
// the process waits as a standby until it takes the lease, renews it while it runs, and
// fences its sink writes with it (pipeline.Config.Fence). Everything of it that run.go needs
// is here, so that run.go only calls it at four places.
type haRun struct {
	open    checkpoint.SharedConfig
	store   checkpoint.Shared // nil until connect
	owner   checkpoint.Owner
	cfg     checkpoint.SessionConfig
	session *checkpoint.Session
	log     *zap.Logger
	redact  func(string) string

	stopKeep context.CancelFunc
	keepDone chan struct{}
}

// newHA prepares the pipeline's shared checkpoint store (checkpoint.store = "etcd" or
// "mysql"); nil when the pipeline uses the file store. Nothing is connected yet: connect
// does that once status is served, so that a standby waiting for a store it cannot reach
// says so in /status.
func newHA(redact func(string) string, p *config.Pipeline, owner checkpoint.Owner, log *zap.Logger) *haRun {
	c := p.Checkpoint
	if c.Store == "" || c.Store == config.StoreFile {
		return nil
	}
	timeout := max(min(c.LeaseTime/3, 5*time.Second), 500*time.Millisecond)
	return &haRun{owner: owner, log: log, redact: redact,
		open: checkpoint.SharedConfig{
			Kind: c.Store, Pipeline: p.Name, Endpoints: c.Endpoints, Address: c.Address, User: c.User, Password: c.Password,
			Database: c.Database, Table: c.Table, Prefix: c.Prefix, Timeout: timeout,
		},
		cfg: checkpoint.SessionConfig{LeaseTime: c.LeaseTime, Logger: log}}
}

// connect connects to the shared checkpoint store. A store that cannot be reached is
// retried, with backoff, until until (the end of the start-up wait at a first start: none
// fails at once), forever when the process runs again as a standby after it lost or gave up
// the lease (it was healthy and must stay a standby until the store answers), or until ctx
// ends. Meanwhile status shows a standby with the store's error.
func (h *haRun) connect(ctx context.Context, until time.Time, forever bool, tracker *status.Tracker) error {
	since := time.Now().UTC()
	pause := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		store, err := checkpoint.OpenShared(ctx, h.open)
		if err == nil {
			if attempt > 1 {
				h.log.Info("checkpoint store reached", zap.String("store", store.Describe()), zap.Int("attempt", attempt))
			}
			h.store = store
			return nil
		}
		err = errors.New(h.redact(err.Error()))
		if ctx.Err() != nil || (!forever && !time.Now().Add(pause).Before(until)) {
			return err
		}
		if attempt == 1 || attempt%10 == 0 {
			h.log.Warn("standby: the checkpoint store cannot be reached; retrying", zap.Int("attempt", attempt), zap.Error(err))
		}
		tracker.SetLease(&status.Lease{Store: h.open.Describe(), Role: status.RoleStandby, LeaseTime: h.cfg.LeaseTime.Seconds(),
			Since: since, Error: err.Error()})
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// acquire waits as a standby (status phase "standby", /readyz 503) until this process takes
// the lease, then starts renewing it. It returns ctx's error when stopped meanwhile.
func (h *haRun) acquire(ctx context.Context, tracker *status.Tracker) error {
	h.session = checkpoint.NewSession(h.store, h.owner, h.cfg)
	since := time.Now().UTC()
	err := h.session.Acquire(ctx, func(holder *checkpoint.Owner, err error) {
		l := &status.Lease{Store: h.store.Describe(), Role: status.RoleStandby, LeaseTime: h.cfg.LeaseTime.Seconds(), Since: since}
		if holder != nil {
			l.Holder = holder.String()
		}
		if err != nil {
			l.Error = h.redact(err.Error())
		}
		tracker.SetLease(l)
	})
	if err != nil {
		return err
	}
	tracker.SetLease(&status.Lease{Store: h.store.Describe(), Role: status.RoleActive, LeaseTime: h.cfg.LeaseTime.Seconds(),
		Deadline: h.session.Deadline})
	kctx, cancel := context.WithCancel(context.Background())
	h.stopKeep, h.keepDone = cancel, make(chan struct{})
	go func() { defer close(h.keepDone); h.session.Keep(kctx) }()
	return nil
}

// watchLost cancels the run with the loss when the lease is lost.
func (h *haRun) watchLost(ctx context.Context, cancel context.CancelCauseFunc) {
	go func() {
		select {
		case <-h.session.Lost():
			cancel(h.session.Err())
		case <-ctx.Done():
		}
	}()
}

// lost returns the loss of the lease (wrapping checkpoint.ErrLeaseLost), or nil.
func (h *haRun) lost() error {
	if h == nil || h.session == nil {
		return nil
	}
	return h.session.Err()
}

// close stops the renewals, gives the lease up (after the final checkpoint: a standby takes
// over at once) and closes the store.
func (h *haRun) close() {
	if h.store == nil {
		return // never connected
	}
	if h.session != nil && h.stopKeep != nil {
		h.stopKeep()
		<-h.keepDone
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.session.Release(ctx); err != nil {
			h.log.Warn("could not give the pipeline lease up; a standby takes over when it expires", zap.Error(errors.New(h.redact(err.Error()))))
		}
		cancel()
	}
	_ = h.store.Close()
}

// leaseLostError is what run returns when the lease was lost while running.
func leaseLostError(err error) error {
	return fmt.Errorf("pipeline stopped: %w", err)
}

// Wait implements pipeline.Fence.
func (h *haRun) Wait(ctx context.Context) error { return h.session.Wait(ctx) }

// Context implements pipeline.Fence.
func (h *haRun) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	return h.session.Context(ctx)
}

// haStore is the pipeline's checkpoint store and state store over a shared store that is
// connected only later (haRun.connect, before the lease is taken): the pipeline uses
// neither before it runs, and it runs only once the lease is held.
type haStore struct{ h *haRun }

func (s haStore) Load(ctx context.Context, pipeline string) (*checkpoint.Checkpoint, error) {
	return s.h.store.Load(ctx, pipeline)
}

func (s haStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	return s.h.store.Save(ctx, cp)
}

// Close implements checkpoint.Store; haRun.close closes the store.
func (haStore) Close() error { return nil }

func (s haStore) Get(ctx context.Context, key string) ([]byte, error) {
	return s.h.store.State().Get(ctx, key)
}

func (s haStore) Put(ctx context.Context, key string, value []byte) error {
	return s.h.store.State().Put(ctx, key, value)
}

func (s haStore) Delete(ctx context.Context, key string) error {
	return s.h.store.State().Delete(ctx, key)
}

func (s haStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.h.store.State().List(ctx, prefix)
}
