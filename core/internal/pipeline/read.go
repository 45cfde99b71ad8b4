package pipeline

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// readBatch is a source batch admitted into the pipeline: its bytes are held in the budget.
type readBatch struct {
	changes []*change.Change
	pos     change.Position
	weight  int64
	// initial marks a source's start position: the first batch of a run without a
	// checkpoint, with no changes. It is saved before anything after it is processed.
	initial bool
}

// read is the reader goroutine: Source.Read, then the byte budget, then the bounded queue to
// the processor. Waiting for the budget is what throttles the source under a slow sink.
func (r *run) read() {
	defer close(r.procCh)
	src := r.cfg.Source
	first := true
	for {
		var b *change.Batch
		err := protect(func() error {
			var err error
			b, err = src.Read(r.readCtx)
			return err
		})
		if err != nil {
			var pe *PanicError
			switch {
			case errors.As(err, &pe):
			case errors.Is(err, io.EOF):
				return
			case r.readCtx.Err() != nil:
				return // stopping
			}
			r.fail(&StageError{Stage: "source", Plugin: r.p.names.source, Op: "read", Err: err})
			return
		}
		if b == nil {
			continue
		}
		pos := b.Position
		if len(pos) == 0 && len(b.Changes) > 0 {
			pos = b.Changes[len(b.Changes)-1].Position
		}
		if len(pos) == 0 {
			if len(b.Changes) == 0 {
				continue
			}
			r.fail(&StageError{Stage: "source", Plugin: r.p.names.source, Op: "read",
				Err: fmt.Errorf("batch of %d changes without a position", len(b.Changes))})
			return
		}
		initial := first && r.fresh && len(b.Changes) == 0
		first = false
		var weight int64
		snap := false
		for _, c := range b.Changes {
			weight += int64(c.ApproxSize())
			snap = snap || c.Op == change.OpSnapshot
		}
		if snap {
			// Before the budget: the snapshot phase's memory applies to this batch.
			r.phases.sawSnapshot(time.Now())
		}
		r.stats.batchesRead.Add(1)
		r.stats.changesRead.Add(uint64(len(b.Changes)))
		if err := r.budget.acquire(r.readCtx, weight); err != nil {
			return // stopping; the batch was never admitted
		}
		select {
		case r.procCh <- readBatch{changes: b.Changes, pos: pos, weight: weight, initial: initial}:
		case <-r.readCtx.Done():
			r.budget.release(weight)
			return
		}
	}
}
