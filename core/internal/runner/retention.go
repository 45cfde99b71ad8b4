package runner

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/retention"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

// retentionHook is what ferry run does for the retention block: open the pipeline's store,
// make the pipeline's source the store (which reads the real source into it) and mark
// replayed records, report the store in status and serve POST /rewind. With the block off
// it does nothing. Close it after the pipeline's Run.
type retentionHook struct {
	store *retention.Store
	src   *retention.Source
}

// RetentionDir is the retention store of pipeline p.
func RetentionDir(p *config.Pipeline) string { return filepath.Join(p.Retention.Dir, p.Name) }

func openRetention(p *config.Pipeline, pcfg *pipeline.Config, tracker *status.Tracker, log *zap.Logger) (*retentionHook, error) {
	if !p.Retention.Enabled {
		return &retentionHook{}, nil
	}
	st, err := retention.OpenStore(retention.Options{Dir: RetentionDir(p), Duration: p.Retention.Duration,
		MaxBytes: p.Retention.MaxBytes, MinFree: p.Retention.MinFree, Logger: log})
	if err != nil {
		return nil, err
	}
	inner := pcfg.Source
	src := retention.NewSource(inner, st, log)
	pcfg.Source = src
	pcfg.Serializer = retention.Serializer{Serializer: pcfg.Serializer}
	tracker.SetPositionDescriber(src.DescribePosition)
	var cacheMu sync.Mutex
	var cached *status.Retention
	var cachedAt time.Time
	tracker.SetRetention(func() *status.Retention {
		cacheMu.Lock()
		defer cacheMu.Unlock()
		if cached != nil && time.Since(cachedAt) < time.Second {
			return cached
		}
		s := st.Stats()
		r := &status.Retention{Dir: st.Dir(), Oldest: s.Window.Oldest, Newest: s.Window.Newest,
			Records: s.Records, Changes: s.Changes, Bytes: s.Bytes, MaxBytes: p.Retention.MaxBytes, DiskBytes: st.DiskBytes(),
			LeadRecords: s.LeadRecords, LeadChanges: s.LeadChanges, LeadBytes: s.LeadBytes, Waiting: s.Waiting}
		if pos := st.SourcePosition(); len(pos) > 0 {
			r.SourcePosition = hex.EncodeToString(pos)
			if d, ok := inner.(sdk.PositionDescriber); ok {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				r.SourcePositionText, _ = d.DescribePosition(ctx, pos)
				cancel()
			}
		}
		if s.Rewind != nil {
			r.LastRewind = &status.RewindResponse{Pipeline: p.Name, To: s.Rewind.To, Record: s.Rewind.Seq, Skip: s.Rewind.Skip,
				ReplayUntil: s.Rewind.Until, At: s.Rewind.At}
		}
		cached, cachedAt = r, time.Now()
		return r
	})
	tracker.SetRewind(func(_ context.Context, to time.Time) (status.RewindResponse, error) {
		rw, err := src.Rewind(to)
		if errors.Is(err, retention.ErrOutsideWindow) {
			return status.RewindResponse{}, fmt.Errorf("%w: %w", status.ErrRewindRefused, err)
		}
		if err != nil {
			return status.RewindResponse{}, err
		}
		return status.RewindResponse{Pipeline: p.Name, To: rw.To, Record: rw.Seq, Skip: rw.Skip, ReplayUntil: rw.Until, At: rw.At}, nil
	})
	log.Info("retention: changes are kept in the local store; the writer reads them from there",
		zap.String("dir", st.Dir()), zap.Duration("duration", p.Retention.Duration), zap.Int64("max_bytes", p.Retention.MaxBytes),
		zap.Stringer("window", st.Window()))
	return &retentionHook{store: st, src: src}, nil
}

// lowerMemoryLimit keeps the process within the resources block: the store's pebble cache
// and memtables (retention.MemoryBytes) live outside the Go heap, so the Go memory limit
// that setMemoryLimit set gives them room.
func (h *retentionHook) lowerMemoryLimit(log *zap.Logger) {
	if h.store == nil {
		return
	}
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 && cur > 2*retention.MemoryBytes {
		debug.SetMemoryLimit(cur - retention.MemoryBytes)
		log.Info("retention: the Go memory limit leaves room for the store's cache and memtables", zap.Int64("bytes", retention.MemoryBytes))
	}
}

// Close closes the store (after the pipeline's Run closed the source).
func (h *retentionHook) Close() {
	if h.store != nil {
		_ = h.store.Close()
	}
}
