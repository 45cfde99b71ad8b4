package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// slowFakeSource is a fakeSource that reads a little slower than the sink writes.
func slowFakeSource(total uint64) *fakeSource {
	src := newFakeSource(total, 32, 500)
	src.readHook = func(context.Context) error {
		time.Sleep(200 * time.Microsecond) // fake time in TestPhaseWriters' bubble
		return nil
	}
	return src
}

// phaseSource turns the first snap changes of a fakeSource into snapshot rows.
type phaseSource struct {
	*fakeSource
	snap uint64
}

func (s *phaseSource) Read(ctx context.Context) (*change.Batch, error) {
	b, err := s.fakeSource.Read(ctx)
	if b != nil {
		for _, c := range b.Changes {
			if decodePos(c.Position) <= s.snap {
				c.Op = change.OpSnapshot
			}
		}
	}
	return b, err
}

// TestPhaseWriters: the snapshot phase writes with Full.Writers lanes at once, the
// incremental phase with Incremental.Writers, and the budget follows the phase.
func TestPhaseWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total, snap = 6000, 3000
		src := &phaseSource{fakeSource: slowFakeSource(total), snap: snap}
		rec := newRecorder()
		sink := newFakeSink(rec)
		var maxFull, maxIncr atomic.Int32
		var p *Pipeline
		sink.behave = func(ctx context.Context, _ int64, recs []sdk.Record) (int, error) {
			n := sink.inWrite.Load()
			target := &maxIncr
			if recs[0].Op == change.OpSnapshot {
				target = &maxFull
			}
			for m := target.Load(); n > m && !target.CompareAndSwap(m, n); m = target.Load() {
			}
			time.Sleep(time.Millisecond) // fake time: a write latency, so that writes overlap
			return len(recs), nil
		}
		cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
		cfg.Writers = 2
		cfg.Full = PhaseResources{Writers: 4, MaxInFlightBytes: 8 << 20}
		cfg.Incremental = PhaseResources{Writers: 1, MaxInFlightBytes: 2 << 20}
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ph, res := p.Phase(); ph != PhaseIncremental || res.Writers != 1 {
			t.Fatalf("before any snapshot row: %s %+v", ph, res)
		}
		if got := p.phases.lanes(); got != 4 {
			t.Fatalf("lanes = %d, want max(4, 1)", got)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		sawFull := false
		deadline := time.Now().Add(20 * time.Second)
		for rec.deliveredTotal() < total && time.Now().Before(deadline) {
			if ph, res := p.Phase(); ph == PhaseFull {
				sawFull = true
				if res.Writers != 4 || p.budget.limit() != 8<<20 {
					t.Errorf("full phase resources %+v, budget %d", res, p.budget.limit())
				}
			}
			time.Sleep(2 * time.Millisecond) // fake time: sample the phase while the pipeline runs
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		assertAllOnce(t, rec, total, nil)
		rec.checkOrder(t)
		if !sawFull {
			t.Error("the pipeline never reported the full phase")
		}
		if m := maxFull.Load(); m < 2 || m > 4 {
			t.Errorf("snapshot writes in flight at once: %d, want 2..4", m)
		}
		// Incremental changes written while the gate still had 4 slots (the 2s quiet period
		// after the last snapshot row) may overlap; after the switch only one writes at once.
		p.phases.tick(time.Now().Add(time.Hour))
		if ph, res := p.Phase(); ph != PhaseIncremental || res.Writers != 1 || p.budget.limit() != 2<<20 || p.phases.gate.capacity() != 1 {
			t.Errorf("after the quiet period: %s %+v budget %d gate %d", ph, res, p.budget.limit(), p.phases.gate.capacity())
		}
	})
}

func TestGateResize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate(1)
		ctx := context.Background()
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{})
		go func() {
			_ = g.acquire(ctx)
			close(got)
		}()
		synctest.Wait() // the second acquire waits, or has passed
		select {
		case <-got:
			t.Fatal("second acquire passed a gate of 1")
		default:
		}
		g.resize(2)
		synctest.Wait()
		select {
		case <-got:
		default:
			t.Fatal("resize did not wake the waiter")
		}
		g.release()
		g.release()
		if g.used != 0 {
			t.Fatalf("used = %d", g.used)
		}
	})
}

// TestQuiesce: fn runs with every record read so far acknowledged and nothing in flight.
// It runs in a synctest bubble: the wait inside fn passes in fake time and returns only
// once every other goroutine is blocked, so "nothing is delivered while fn runs" is exact.
func TestQuiesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource(0, 16, 100)
		rec := newRecorder()
		sink := newFakeSink(rec)
		sink.behave = func(ctx context.Context, _ int64, recs []sdk.Record) (int, error) {
			time.Sleep(3 * time.Millisecond) // fake time: a write latency, so that writes are in flight
			return len(recs), nil
		}
		cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		if err := p.Quiesce(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
			t.Fatalf("before Run: %v %v", err, ran)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		rec.waitTotal(t, 500)
		for i := 0; i < 5; i++ {
			err := p.Quiesce(context.Background(), func() error {
				st := p.Stats()
				if inw := sink.inWrite.Load(); inw != 0 {
					t.Errorf("quiesced with %d writes in flight", inw)
				}
				// Only batches the reader holds or queued for the processor (at most 3 of 16)
				// are not delivered, and nothing is delivered while fn runs.
				d1 := uint64(rec.deliveredTotal())
				if d1+3*16 < st.ChangesRead {
					t.Errorf("quiesced with %d read and only %d delivered", st.ChangesRead, d1)
				}
				time.Sleep(20 * time.Millisecond) // fake time: any timer of the pipeline fires
				synctest.Wait()
				if d2 := uint64(rec.deliveredTotal()); d2 != d1 {
					t.Errorf("%d records delivered while quiesced", d2-d1)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := p.Quiesce(context.Background(), func() error { return nil }); err != ErrNotRunning {
			t.Fatalf("after Run: %v", err)
		}
		rec.checkOrder(t)
	})
}
