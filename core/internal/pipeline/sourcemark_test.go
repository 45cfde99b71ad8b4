package pipeline

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
)

// recordingStore keeps every checkpoint saved.
type recordingStore struct {
	checkpoint.Store
	mu    sync.Mutex
	saved []checkpoint.Checkpoint
}

func (s *recordingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.mu.Lock()
	s.saved = append(s.saved, *cp)
	s.mu.Unlock()
	return s.Store.Save(ctx, cp)
}

// ReadBound: a checkpoint saved with a sequence above the bound taken at some moment holds a
// batch the source returned after that moment (here: a position at least the one the source
// was about to return when the bound was taken), resuming from a checkpoint that has a
// sequence already. Opened is closed once the source is open.
func TestReadBoundAndOpened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource(400, 10, 20)
		store := &recordingStore{Store: checkpoint.NewMemoryStore()}
		if err := store.Store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "test", Position: encodePos(50), Sequence: 7}); err != nil {
			t.Fatal(err)
		}
		type mark struct {
			bound uint64
			next  uint64 // the position the batch read after the bound ends at
		}
		var marks []mark
		var p *Pipeline
		src.readHook = func(context.Context) error {
			select {
			case <-p.Opened():
			default:
				t.Error("Read before Opened was closed")
			}
			marks = append(marks, mark{bound: p.ReadBound(), next: src.next + 10})
			time.Sleep(time.Millisecond) // fake time (a bubble): a checkpoint interval passes between reads
			return nil
		}
		cfg := baseConfig(t, src, newFakeSink(newRecorder()), store)
		cfg.CheckpointInterval = time.Millisecond
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		store.mu.Lock()
		defer store.mu.Unlock()
		if len(store.saved) < 3 || len(marks) < 30 {
			t.Fatalf("too few checkpoints (%d) or reads (%d) to tell", len(store.saved), len(marks))
		}
		checked := 0
		for _, cp := range store.saved {
			for _, m := range marks {
				if cp.Sequence > m.bound {
					checked++
					if got := decodePos(cp.Position); got < m.next {
						t.Errorf("checkpoint seq %d at %d is above the bound %d taken before the batch ending at %d was read",
							cp.Sequence, got, m.bound, m.next)
					}
				}
			}
		}
		if checked == 0 {
			t.Fatal("no checkpoint was above any bound")
		}
		// the bound is conservative by one batch only (the uncounted batch the reader may hold):
		// the final checkpoint (the last batch; the last read ended the source) is above the bound
		// taken before the batch before it was read
		last := store.saved[len(store.saved)-1]
		if b := marks[len(marks)-3].bound; last.Sequence <= b {
			t.Errorf("final checkpoint seq %d not above the bound %d taken two batches earlier", last.Sequence, b)
		}
	})
}
