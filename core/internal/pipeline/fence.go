package pipeline

import (
	"context"
	"errors"
)

// Fence guards the sink writes of a pipeline that holds a lease in a shared checkpoint store
// (checkpoint.Session): before every Sink.Write the lane waits until Wait returns, and the
// write gets the context of Context, which ends when the lease would expire, so a process
// that lost its lease (frozen, cut off from the store) sends nothing more.
type Fence interface {
	// Wait blocks until writes may go on; an error (the lease is lost, ctx ended) stops the
	// lane.
	Wait(ctx context.Context) error
	// Context returns the context of one write: a child of ctx that ends at the lease's
	// deadline.
	Context(ctx context.Context) (context.Context, context.CancelFunc)
}

// fenced waits for the fence and returns the context of the next Sink.Write, the function
// that ends it, and false when the lane must stop (the lease is lost: the pipeline fails with
// that error; or the pipeline stops).
func (l *lane) fenced() (context.Context, context.CancelFunc, bool) {
	r := l.r
	f := r.cfg.Fence
	if f == nil {
		return r.workCtx, func() {}, true
	}
	if err := f.Wait(r.workCtx); err != nil {
		if r.workCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			r.fail(&StageError{Stage: "sink", Plugin: r.p.names.sink, Op: "write", Err: err})
		}
		return nil, nil, false
	}
	ctx, cancel := f.Context(r.workCtx)
	return ctx, cancel, true
}
