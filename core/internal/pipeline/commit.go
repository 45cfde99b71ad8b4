package pipeline

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/sdk"
)

// commitLoop saves the watermark every CheckpointInterval while it moves. A failed periodic
// save is logged and tried again at the next tick (nothing is lost, the checkpoint only
// lags); the final save's error is returned by Run.
func (r *run) commitLoop(stop <-chan struct{}) {
	t := time.NewTicker(r.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := r.commit(r.workCtx); err != nil {
				if r.stopping() {
					continue
				}
				r.log.Warn("checkpoint save failed; will retry", zap.Error(err))
			}
		}
	}
}

// commit saves the watermark when it moved since the last save, then tells the source.
func (r *run) commit(ctx context.Context) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	m := r.tracker.Committed()
	if m.Sequence == r.lastSaved {
		return nil
	}
	cp := &checkpoint.Checkpoint{
		Pipeline: r.cfg.Name,
		Position: m.Position,
		SavedAt:  time.Now().UTC(),
		Sequence: m.Sequence,
		Changes:  m.Changes,
	}
	if err := protect(func() error { return r.cfg.Store.Save(ctx, cp) }); err != nil {
		return &StageError{Stage: "checkpoint", Op: "save", Err: err}
	}
	r.lastSaved = m.Sequence
	r.stats.committed.Store(&committedInfo{pos: m.Position, seq: m.Sequence, at: cp.SavedAt})
	if acker, ok := r.cfg.Source.(sdk.SourceAcker); ok {
		if err := protect(func() error { return acker.Ack(ctx, m.Position) }); err != nil {
			// Advisory: the source only learns what it may release; the checkpoint is saved.
			r.log.Warn("source ack failed", zap.String(logging.FieldPlugin, r.p.names.source),
				zap.String(logging.FieldPosition, formatPosition(m.Position)), zap.Error(err))
		}
	}
	r.log.Debug("checkpoint saved", zap.String(logging.FieldPosition, formatPosition(m.Position)),
		zap.Uint64("sequence", m.Sequence))
	return nil
}
