package pipeline

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// startingSource is a fakeSource that, opened without a position, first returns an empty
// batch carrying its start position (the sdk.Source.Open contract).
type startingSource struct {
	*fakeSource
	fresh bool
}

var startPos = change.Position("start-of-run")

func (s *startingSource) Open(ctx context.Context, req sdk.OpenRequest) error {
	s.fresh = req.Position == nil
	return s.fakeSource.Open(ctx, req)
}

func (s *startingSource) Read(ctx context.Context) (*change.Batch, error) {
	if s.fresh {
		s.fresh = false
		return &change.Batch{Position: startPos}, nil
	}
	return s.fakeSource.Read(ctx)
}

// A fresh run saves its source's start position before any record reaches the sink, so a
// crash before the first periodic checkpoint resumes from the run's start.
func TestFreshRunSavesStartPositionFirst(t *testing.T) {
	src := &startingSource{fakeSource: newFakeSource(200, 10, 20)}
	store := checkpoint.NewMemoryStore()
	rec := newRecorder()
	sink := newFakeSink(rec)
	var sawStart atomic.Bool
	sink.behave = func(ctx context.Context, call int64, recs []sdk.Record) (int, error) {
		if call == 1 {
			cp, err := store.Load(ctx, "test")
			sawStart.Store(err == nil && cp != nil && string(cp.Position) == string(startPos))
		}
		return len(recs), nil
	}
	cfg := baseConfig(t, src, sink, store)
	cfg.Name = "test"
	cfg.CheckpointInterval = 1 << 40 // no periodic save: only the initial and the final one
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !sawStart.Load() {
		t.Error("the first sink write happened before the start position was saved")
	}
	cp, _ := store.Load(context.Background(), "test")
	if cp == nil || len(cp.Position) != 8 || binary.BigEndian.Uint64(cp.Position) != 200 {
		t.Errorf("final checkpoint %+v", cp)
	}
}
