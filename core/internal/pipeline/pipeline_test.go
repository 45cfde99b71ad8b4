package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func baseConfig(t *testing.T, src sdk.Source, sink sdk.Sink, store checkpoint.Store) Config {
	return Config{
		Name:               "test",
		Source:             src,
		Serializer:         &fakeSerializer{fakePlugin: fakePlugin{"fake"}},
		Sink:               sink,
		Store:              store,
		BatchSize:          64,
		BatchTimeout:       2 * time.Millisecond,
		Writers:            4,
		CheckpointInterval: 5 * time.Millisecond,
		Retry:              fastRetry,
		Logger:             testLogger(t),
	}
}

// assertAllOnce checks that changes 1..n that should reach the sink were delivered exactly
// once (expected nil: all of them), and nothing else.
func assertAllOnce(t *testing.T, rec *recorder, n uint64, expected func(uint64) bool) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := 0
	for i := uint64(1); i <= n; i++ {
		exp := expected == nil || expected(i)
		switch c := rec.count[i]; {
		case exp && c != 1:
			t.Fatalf("change %d delivered %d times, want once", i, c)
		case !exp && c != 0:
			t.Fatalf("change %d delivered %d times, want never", i, c)
		}
		if exp {
			want++
		}
	}
	if rec.total != want {
		t.Fatalf("%d records delivered, want %d", rec.total, want)
	}
}

func TestOrderPerKeyParallelWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total, keys = 50_000, 500
		src := newFakeSource(total, 250, keys)
		rec := newRecorder()
		sink := newFakeSink(rec)
		var overlap atomic.Int32
		var rngMu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2))
		sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
			rngMu.Lock()
			d := time.Duration(rng.IntN(300)) * time.Microsecond
			rngMu.Unlock()
			time.Sleep(d) // fake time (a bubble): Writes of the lanes complete out of order
			return len(recs), nil
		}
		store := newCheckingStore(t, rec)
		cfg := baseConfig(t, src, sink, store)
		cfg.Writers = 8
		cfg.BatchSize = 128
		// Track the Writes in flight per lane: a lane must never have two.
		inLane := make([]atomic.Int32, cfg.Writers)
		inner := sink.behave
		sink.behave = func(ctx context.Context, call int64, recs []sdk.Record) (int, error) {
			l := recs[0].Hash % uint64(len(inLane))
			for _, r := range recs {
				if r.Hash%uint64(len(inLane)) != l {
					t.Errorf("one Write holds records of lanes %d and %d", l, r.Hash%uint64(len(inLane)))
					break
				}
			}
			if inLane[l].Add(1) > 1 {
				overlap.Add(1)
			}
			defer inLane[l].Add(-1)
			return inner(ctx, call, recs)
		}

		p, err := runPipeline(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rec.checkOrder(t)
		assertAllOnce(t, rec, total, nil)
		if overlap.Load() != 0 {
			t.Errorf("%d times a lane had two Writes in flight", overlap.Load())
		}
		if m := sink.maxBatch.Load(); m > int32(cfg.BatchSize) {
			t.Errorf("a Write had %d records, more than BatchSize %d", m, cfg.BatchSize)
		}
		if got := store.position(t, "test"); got != total {
			t.Errorf("final checkpoint at %d, want %d", got, total)
		}
		st := p.Stats()
		if st.ChangesRead != total || st.RecordsWritten != total || st.BatchesRead != total/250 {
			t.Errorf("stats %+v", st)
		}
		if st.InFlightBytes != 0 {
			t.Errorf("%d bytes still accounted in flight after the end", st.InFlightBytes)
		}
		if decodePos(st.Committed) != total || st.CommittedSequence != total/250 {
			t.Errorf("stats committed %d/%d", decodePos(st.Committed), st.CommittedSequence)
		}
		if src.closed.Load() != 1 || sink.closed.Load() != 1 {
			t.Errorf("source closed %d times, sink %d", src.closed.Load(), sink.closed.Load())
		}
		if src.lastAck() != total {
			t.Errorf("source last acked %d, want %d", src.lastAck(), total)
		}
	})
}

func TestCheckpointNeverAheadOfAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total = 20_000
		src := newFakeSource(total, 100, 97)
		rec := newRecorder()
		sink := newFakeSink(rec)
		var rngMu sync.Mutex
		rng := rand.New(rand.NewPCG(3, 4))
		sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
			rngMu.Lock()
			d := time.Duration(rng.IntN(500)) * time.Microsecond
			partial := rng.IntN(5) == 0
			n := rng.IntN(len(recs) + 1)
			rngMu.Unlock()
			time.Sleep(d) // fake time (a bubble): Writes of the lanes complete out of order
			if partial {
				return n, tempErr{"broker busy"}
			}
			return len(recs), nil
		}
		store := newCheckingStore(t, rec)
		cfg := baseConfig(t, src, sink, store)
		cfg.Writers = 6
		cfg.BatchSize = 50
		cfg.CheckpointInterval = time.Millisecond
		p, err := runPipeline(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rec.checkOrder(t)
		assertAllOnce(t, rec, total, nil)
		if store.saves.Load() < 10 {
			t.Errorf("only %d checkpoint saves; the test wants many", store.saves.Load())
		}
		if got := store.position(t, "test"); got != total {
			t.Errorf("final checkpoint %d, want %d", got, total)
		}
		if p.Stats().Retries == 0 {
			t.Error("no retries: the test sink should fail some writes")
		}
	})
}

// TestThrottledBySlowSink runs in a synctest bubble: its waits pass in fake time, and a
// wait returns only once every goroutine of the pipeline is blocked, so "reads stopped"
// and "nothing more was read" are exact rather than guesses from real sleeps.
func TestThrottledBySlowSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource(0, 50, 1000)
		src.payload = func(i uint64) string { return strings.Repeat("x", 1000) }
		rec := newRecorder()
		sink := newFakeSink(rec)
		gate := make(chan struct{})
		sink.behave = func(ctx context.Context, _ int64, recs []sdk.Record) (int, error) {
			select {
			case <-gate:
				return len(recs), nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		store := newCheckingStore(t, rec)
		cfg := baseConfig(t, src, sink, store)
		cfg.MaxInFlightBytes = 256 << 10
		cfg.DrainTimeout = 50 * time.Millisecond
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		batchBytes := int64(0)
		for _, c := range func() []*change.Change {
			b, _ := newFakeSource(50, 50, 1000).Read(context.Background())
			return b.Changes
		}() {
			batchBytes += int64(c.ApproxSize())
		}
		batchBytes += 50 * 1000 // payloads of the probe source are empty; the real ones are not

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		// Wait until the reader is stuck: every goroutine of the pipeline blocks while the
		// sink is stalled.
		synctest.Wait()
		last := src.reads.Load()
		st := p.Stats()
		readBytes := int64(st.BatchesRead) * batchBytes
		// Nothing is acknowledged, so all that was read is in flight, except at most the one
		// batch the reader holds while it waits for the budget.
		if limit := cfg.MaxInFlightBytes + 2*batchBytes; readBytes > limit {
			t.Errorf("read %d bytes while the sink was stalled, more than budget + 2 batches (%d)", readBytes, limit)
		}
		if st.PeakInFlightBytes > cfg.MaxInFlightBytes+batchBytes {
			t.Errorf("peak in flight %d > budget %d + one batch %d", st.PeakInFlightBytes, cfg.MaxInFlightBytes, batchBytes)
		}
		if st.InFlightBytes < cfg.MaxInFlightBytes/2 {
			t.Errorf("only %d bytes in flight: the budget should be nearly full", st.InFlightBytes)
		}
		time.Sleep(50 * time.Millisecond) // fake time: the pipeline's timers fire, the sink stays stalled
		synctest.Wait()
		if n := src.reads.Load(); n != last {
			t.Errorf("source read %d more batches while the sink was stalled", n-last)
		}
		// Unblock the sink: reading resumes.
		close(gate)
		rec.waitTotal(t, int(last*50)+2000)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.PeakInFlightBytes > cfg.MaxInFlightBytes+batchBytes {
			t.Errorf("peak in flight %d > budget %d + one batch %d", st.PeakInFlightBytes, cfg.MaxInFlightBytes, batchBytes)
		}
		rec.checkOrder(t)
	})
}

func TestBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 200 MB")
	}
	const payloadSize = 8 << 10
	const total = 200 << 20 / payloadSize // 200 MB of payloads
	src := newFakeSource(total, 32, 1000)
	src.payload = func(i uint64) string { return strings.Repeat(string(rune('a'+i%26)), payloadSize) }
	rec := newRecorder()
	sink := newFakeSink(rec)
	const maxInFlight = 4 << 20
	// The first writes wait until the reader holds batches of 3/4 of the budget in flight
	// (when it reads the next one, all before it are in flight: nothing is acknowledged yet).
	filled := make(chan struct{})
	var fill sync.Once
	var readBytes atomic.Int64
	src.readHook = func(context.Context) error {
		if readBytes.Add(32*payloadSize) > maxInFlight*3/4+32*payloadSize {
			fill.Do(func() { close(filled) })
		}
		return nil
	}
	var stalled sync.Once
	sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
		stalled.Do(func() {
			select {
			case <-filled:
			case <-time.After(30 * time.Second): // the peak check below reports it
			}
		})
		// Then the sink stays far slower than the source (real time: the heap is sampled
		// in real time), which the budget must hold back.
		time.Sleep(2 * time.Millisecond)
		return len(recs), nil
	}
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	cfg.MaxInFlightBytes = maxInFlight
	cfg.BatchSize = 32
	cfg.Writers = 2

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	})
	p, err := runPipeline(t, context.Background(), cfg)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.deliveredTotal(); got != total {
		t.Fatalf("delivered %d of %d", got, total)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("pushed %d MB through a %d MiB budget; heap grew by at most %.1f MB; peak in flight %d bytes",
		total*payloadSize>>20, cfg.MaxInFlightBytes>>20, float64(growth)/1e6, p.Stats().PeakInFlightBytes)
	// Live data is ~4 MiB; the GC lets the heap reach about twice the live data plus
	// garbage. 64 MB is generous and far below the 400 MB an unbounded pipeline would hold.
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MB pushing 200 MB through a 4 MiB budget", growth>>20)
	}
	if pk, lim := p.Stats().PeakInFlightBytes, cfg.MaxInFlightBytes+32*(payloadSize+400); pk > lim {
		t.Errorf("peak in flight %d > budget + one batch %d", pk, lim)
	}
	if pk := p.Stats().PeakInFlightBytes; pk < cfg.MaxInFlightBytes*3/4 {
		t.Errorf("peak in flight %d: the budget was never nearly full, so the sink did not hold the source back", pk)
	}
}

func TestBatchLargerThanBudget(t *testing.T) {
	src := newFakeSource(2000, 500, 10)
	src.payload = func(uint64) string { return strings.Repeat("y", 100) }
	rec := newRecorder()
	cfg := baseConfig(t, src, newFakeSink(rec), newCheckingStore(t, rec))
	cfg.MaxInFlightBytes = 1 << 10 // a batch is ~150 KB
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	assertAllOnce(t, rec, 2000, nil)
}

func TestRetryFromFirstUndelivered(t *testing.T) {
	const total = 5000
	src := newFakeSource(total, 100, 50)
	rec := newRecorder()
	sink := newFakeSink(rec)
	var failures atomic.Int64
	sink.behave = func(_ context.Context, call int64, recs []sdk.Record) (int, error) {
		switch call % 3 {
		case 0: // deliver half, then fail
			failures.Add(1)
			return len(recs) / 2, tempErr{"timeout after partial send"}
		case 1:
			if call%7 == 1 { // fail without delivering anything
				failures.Add(1)
				return 0, tempErr{"connection reset"}
			}
		}
		return len(recs), nil
	}
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	p, err := runPipeline(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec.checkOrder(t)
	assertAllOnce(t, rec, total, nil)
	if got, want := p.Stats().Retries, uint64(failures.Load()); got != want || want == 0 {
		t.Errorf("retries = %d, want %d (the failed writes)", got, want)
	}
	if got := store.position(t, "test"); got != total {
		t.Errorf("final checkpoint %d, want %d", got, total)
	}
}

func TestShortWriteWithoutErrorIsRetried(t *testing.T) {
	const total = 1000
	src := newFakeSource(total, 100, 10)
	rec := newRecorder()
	sink := newFakeSink(rec)
	sink.behave = func(_ context.Context, call int64, recs []sdk.Record) (int, error) {
		if call%2 == 0 {
			return len(recs) / 3, nil
		}
		return len(recs), nil
	}
	cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rec.checkOrder(t)
	assertAllOnce(t, rec, total, nil)
}

func TestRetryGivesUp(t *testing.T) {
	src := newFakeSource(1000, 100, 10)
	rec := newRecorder()
	sink := newFakeSink(rec)
	sink.behave = func(context.Context, int64, []sdk.Record) (int, error) {
		return 0, tempErr{"broker unavailable"}
	}
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	cfg.Writers = 1
	cfg.Retry.MaxAttempts = 3
	p, err := runPipeline(t, context.Background(), cfg)
	if err == nil {
		t.Fatal("Run succeeded with a sink that always fails")
	}
	want := `sink "fake": write: broker unavailable (gave up after 3 attempts)`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := p.Stats().Retries; got != 2 {
		t.Errorf("retries = %d, want 2", got)
	}
	if sink.calls.Load() != 3 {
		t.Errorf("%d writes, want 3", sink.calls.Load())
	}
	if store.position(t, "test") != 0 {
		t.Error("a checkpoint was saved though nothing was delivered")
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	r := RetryPolicy{Jitter: -1}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for i, w := range want {
		if got := r.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := r.Delay(30); got != 10*time.Second {
		t.Errorf("Delay(30) = %v, want the 10s cap", got)
	}
	j := RetryPolicy{}
	for i := 0; i < 100; i++ {
		if d := j.Delay(1); d < 80*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("Delay(1) with default jitter = %v, want 100ms ± 20%%", d)
		}
	}
}

func TestGracefulStopAndResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource(0, 100, 300) // endless
		rec := newRecorder()
		sink := newFakeSink(rec)
		sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
			time.Sleep(100 * time.Microsecond) // fake time (a bubble): the sink is slower than the source
			return len(recs), nil
		}
		store := newCheckingStore(t, rec)
		cfg := baseConfig(t, src, sink, store)
		cfg.MaxInFlightBytes = 512 << 10
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer cancel()
			rec.waitTotal(t, 5000)
		}()
		p1, err := runPipeline(t, ctx, cfg)
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		rec.checkOrder(t)
		cp := store.position(t, "test")
		if cp < 5000 {
			t.Fatalf("final checkpoint %d, want at least 5000", cp)
		}
		// Every batch read was drained: the checkpoint is the last fully acknowledged batch and
		// exactly the changes up to it were delivered.
		assertAllOnce(t, rec, cp, nil)
		if st := p1.Stats(); decodePos(st.Committed) != cp || st.InFlightBytes != 0 {
			t.Errorf("stats after stop: committed %d, in flight %d", decodePos(st.Committed), st.InFlightBytes)
		}
		if src.closed.Load() != 1 || sink.closed.Load() != 1 {
			t.Errorf("closed: source %d, sink %d", src.closed.Load(), sink.closed.Load())
		}

		// Restart with the same store: the source resumes at the checkpoint.
		final := cp + 3000
		src2 := newFakeSource(final, 100, 300)
		rec.newRun()
		cfg2 := baseConfig(t, src2, newFakeSink(rec), store)
		if _, err := runPipeline(t, context.Background(), cfg2); err != nil {
			t.Fatal(err)
		}
		if got := decodePos(*src2.opened.Load()); got != cp {
			t.Fatalf("second run opened the source at %d, want %d", got, cp)
		}
		rec.checkOrder(t)
		assertAllOnce(t, rec, final, nil) // a drained stop leaves no duplicates at all
		c, err := store.Load(context.Background(), "test")
		if err != nil {
			t.Fatal(err)
		}
		if decodePos(c.Position) != final || c.Changes != final || c.Sequence != final/100 {
			t.Errorf("checkpoint after the second run %+v", c)
		}
	})
}

func TestDrainTimeout(t *testing.T) {
	const writers = 4
	src := newFakeSource(0, 100, 300)
	rec := newRecorder()
	sink := newFakeSink(rec)
	var hang atomic.Bool
	sink.behave = func(ctx context.Context, _ int64, recs []sdk.Record) (int, error) {
		// After a while, lane 0 hangs until its context is cancelled; the others go on
		// until the budget is full.
		if recs[0].Hash%writers == 0 && hang.Load() {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return len(recs), nil
	}
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	cfg.Writers = writers
	cfg.MaxInFlightBytes = 256 << 10
	cfg.DrainTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		if !rec.waitTotal(t, 3000) {
			return
		}
		hang.Store(true)
		n := rec.deliveredTotal()
		rec.waitTotal(t, n+300) // the other lanes deliver past the stuck one
	}()
	start := time.Now()
	_, err := runPipeline(t, ctx, cfg)
	if err != nil {
		t.Fatalf("Run = %v, want nil after a drain timeout", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Run took %v", el)
	}
	cp := store.position(t, "test")
	rec.mu.Lock()
	var beyond int
	for n := range rec.count {
		if n > cp {
			beyond++
		}
	}
	rec.mu.Unlock()
	if beyond == 0 {
		t.Fatal("nothing delivered past the checkpoint: the test does not exercise the drain timeout")
	}

	// Restart: every change arrives; duplicates are only after the checkpoint.
	final := uint64(rec.deliveredTotal()) + 5000
	src2 := newFakeSource(final, 100, 300)
	rec.newRun()
	cfg2 := baseConfig(t, src2, newFakeSink(rec), store)
	if _, err := runPipeline(t, context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	if got := decodePos(*src2.opened.Load()); got != cp {
		t.Fatalf("resumed at %d, want %d", got, cp)
	}
	rec.checkOrder(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	dups := 0
	for i := uint64(1); i <= final; i++ {
		c := rec.count[i]
		if c == 0 {
			t.Fatalf("change %d lost", i)
		}
		if c > 1 {
			dups++
			if i <= cp {
				t.Fatalf("change %d (before the checkpoint %d) delivered %d times", i, cp, c)
			}
		}
	}
	t.Logf("checkpoint %d, %d duplicates after it", cp, dups)
}

func TestFatalSinkError(t *testing.T) {
	src := newFakeSource(0, 100, 100)
	rec := newRecorder()
	sink := newFakeSink(rec)
	var failed atomic.Bool
	store := newCheckingStore(t, rec)
	sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
		// fail once a checkpoint covers delivered records (under load a lane may still hold
		// the first batch's part when 3000 records are out, and then no prefix is complete)
		if rec.deliveredTotal() >= 3000 && store.position(t, "test") > 0 {
			failed.Store(true)
			return len(recs) / 2, permErr{"message too large"}
		}
		return len(recs), nil
	}
	cfg := baseConfig(t, src, sink, store)
	p, err := runPipeline(t, context.Background(), cfg)
	if err == nil {
		t.Fatal("Run returned nil after a permanent sink error")
	}
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "sink" || se.Plugin != "fake" || se.Op != "write" {
		t.Fatalf("error %v (%T), want a sink write StageError", err, err)
	}
	if want := `sink "fake": write: message too large`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var pe permErr
	if !errors.As(err, &pe) {
		t.Error("the sink's error is not wrapped")
	}
	if p.Stats().Retries != 0 {
		t.Errorf("a permanent error was retried %d times", p.Stats().Retries)
	}
	cp := store.position(t, "test")
	if cp == 0 {
		t.Fatal("no checkpoint saved over the delivered records")
	}
	for i := uint64(1); i <= cp; i++ {
		if rec.delivered(i) != 1 {
			t.Fatalf("checkpoint %d claims change %d, delivered %d times", cp, i, rec.delivered(i))
		}
	}
	if src.closed.Load() != 1 || sink.closed.Load() != 1 {
		t.Errorf("closed: source %d, sink %d", src.closed.Load(), sink.closed.Load())
	}
}

func TestFiltersAndHeartbeatsAdvanceCheckpoint(t *testing.T) {
	const total = 3000
	src := newFakeSource(total, 50, 40)
	// Changes 2001..3000 are all heartbeats: the end of the stream has no records at all.
	src.heartbeat = func(i uint64) bool { return i%7 == 0 || i > 2000 }
	rec := newRecorder()
	store := newCheckingStore(t, rec)
	drop := func(i uint64) bool { return i%3 == 0 || (i > 1000 && i <= 1500) }
	store.expected = func(i uint64) bool { return !src.heartbeat(i) && !drop(i) }
	cfg := baseConfig(t, src, newFakeSink(rec), store)
	cfg.Filters = []sdk.Filter{&dropFilter{fakePlugin: fakePlugin{"drop"}, drop: func(c *change.Change) bool {
		return c.Op != change.OpHeartbeat && drop(decodePos(c.Position))
	}}}
	p, err := runPipeline(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertAllOnce(t, rec, total, store.expected)
	c, err := store.Load(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if decodePos(c.Position) != total || c.Changes != total || c.Sequence != total/50 {
		t.Errorf("checkpoint %+v, want position %d", c, total)
	}
	if src.lastAck() != total {
		t.Errorf("source acked up to %d, want %d", src.lastAck(), total)
	}
	if st := p.Stats(); st.ChangesRead != total {
		t.Errorf("changes read %d", st.ChangesRead)
	}
}

func TestOnlyHeartbeats(t *testing.T) {
	src := newFakeSource(500, 10, 1)
	src.heartbeat = func(uint64) bool { return true }
	rec := newRecorder()
	store := newCheckingStore(t, rec)
	store.expected = func(uint64) bool { return false }
	cfg := baseConfig(t, src, newFakeSink(rec), store)
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := store.position(t, "test"); got != 500 {
		t.Errorf("checkpoint %d, want 500", got)
	}
	if rec.deliveredTotal() != 0 {
		t.Errorf("%d records for heartbeats", rec.deliveredTotal())
	}
}

func TestPanicsBecomeStageErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(cfg *Config, src *fakeSource, sink *fakeSink)
		want  string
	}{
		{"serializer", func(cfg *Config, _ *fakeSource, _ *fakeSink) {
			cfg.Serializer = &fakeSerializer{fakePlugin: fakePlugin{"json"}, hook: func([]*change.Change) error {
				panic("index out of range")
			}}
		}, `serializer "json": serialize: panic: index out of range`},
		{"filter", func(cfg *Config, _ *fakeSource, _ *fakeSink) {
			cfg.Filters = []sdk.Filter{&dropFilter{fakePlugin: fakePlugin{"expr"}, drop: func(*change.Change) bool {
				panic("nil map")
			}}}
		}, `filter "expr": filter: panic: nil map`},
		{"sink", func(_ *Config, _ *fakeSource, sink *fakeSink) {
			sink.name = "rocketmq"
			sink.behave = func(context.Context, int64, []sdk.Record) (int, error) { panic("closed channel") }
		}, `sink "rocketmq": write: panic: closed channel`},
		{"source", func(_ *Config, src *fakeSource, _ *fakeSink) {
			src.name = "oceanbase"
			src.readHook = func(context.Context) error { panic("bad packet") }
		}, `source "oceanbase": read: panic: bad packet`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource(1000, 100, 10)
			rec := newRecorder()
			sink := newFakeSink(rec)
			cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
			tc.setup(&cfg, src, sink)
			_, err := runPipeline(t, context.Background(), cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var pe *PanicError
			if !errors.As(err, &pe) || len(pe.Stack) == 0 {
				t.Errorf("no *PanicError with a stack in %v", err)
			}
			if src.closed.Load() != 1 || sink.closed.Load() != 1 {
				t.Errorf("closed: source %d, sink %d", src.closed.Load(), sink.closed.Load())
			}
		})
	}
}

func TestStageErrors(t *testing.T) {
	t.Run("serializer error", func(t *testing.T) {
		src := newFakeSource(1000, 100, 10)
		rec := newRecorder()
		cfg := baseConfig(t, src, newFakeSink(rec), newCheckingStore(t, rec))
		cfg.Serializer = &fakeSerializer{fakePlugin: fakePlugin{"avro"}, hook: func(cs []*change.Change) error {
			if decodePos(cs[0].Position) > 500 {
				return errors.New("schema registry unavailable")
			}
			return nil
		}}
		_, err := runPipeline(t, context.Background(), cfg)
		if want := `serializer "avro": serialize: schema registry unavailable`; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
	t.Run("source read error", func(t *testing.T) {
		src := newFakeSource(0, 100, 10)
		src.readHook = func(context.Context) error {
			if src.reads.Load() == 5 {
				return errors.New("connection lost")
			}
			return nil
		}
		rec := newRecorder()
		store := newCheckingStore(t, rec)
		cfg := baseConfig(t, src, newFakeSink(rec), store)
		_, err := runPipeline(t, context.Background(), cfg)
		if want := `source "fake": read: connection lost`; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
		// What was read before the error was still delivered and checkpointed? At least the
		// checkpoint never claims more than the sink delivered (the store checks).
		if got := store.position(t, "test"); got > 500 {
			t.Errorf("checkpoint %d past what was read", got)
		}
	})
	t.Run("source open error closes both", func(t *testing.T) {
		src := &openFailSource{fakeSource: newFakeSource(10, 10, 1)}
		rec := newRecorder()
		sink := newFakeSink(rec)
		cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
		_, err := runPipeline(t, context.Background(), cfg)
		if want := `source "fake": open: access denied`; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
		if src.closed.Load() != 1 || sink.closed.Load() != 1 {
			t.Errorf("closed: source %d, sink %d", src.closed.Load(), sink.closed.Load())
		}
	})
	t.Run("corrupt checkpoint", func(t *testing.T) {
		src := newFakeSource(10, 10, 1)
		rec := newRecorder()
		sink := newFakeSink(rec)
		store := &corruptStore{Store: checkpoint.NewMemoryStore()}
		cfg := baseConfig(t, src, sink, store)
		_, err := runPipeline(t, context.Background(), cfg)
		if err == nil || !errors.Is(err, checkpoint.ErrCorrupt) || !strings.HasPrefix(err.Error(), "checkpoint: load: ") {
			t.Fatalf("error %v", err)
		}
		if src.openCalls.Load() != 0 || sink.opened.Load() != 0 {
			t.Error("plugins opened despite an unreadable checkpoint")
		}
	})
	t.Run("final checkpoint save fails", func(t *testing.T) {
		src := newFakeSource(1000, 100, 10)
		rec := newRecorder()
		store := newCheckingStore(t, rec)
		store.failSave = func(*checkpoint.Checkpoint) error { return errors.New("no space left on device") }
		cfg := baseConfig(t, src, newFakeSink(rec), store)
		_, err := runPipeline(t, context.Background(), cfg)
		if want := `checkpoint: save: no space left on device`; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

type openFailSource struct{ *fakeSource }

func (s *openFailSource) Open(context.Context, sdk.OpenRequest) error {
	return errors.New("access denied")
}

type corruptStore struct{ checkpoint.Store }

func (corruptStore) Load(context.Context, string) (*checkpoint.Checkpoint, error) {
	return nil, errors.Join(checkpoint.ErrCorrupt, errors.New("/var/lib/ferry/test.json: checksum mismatch"))
}

func TestHostFillsRecordFields(t *testing.T) {
	src := newFakeSource(100, 10, 7)
	rec := newRecorder()
	sink := newFakeSink(rec)
	var mu sync.Mutex
	var got []sdk.Record
	sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
		mu.Lock()
		got = append(got, recs...)
		mu.Unlock()
		return len(recs), nil
	}
	cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
	cfg.Writers = 3
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("%d records", len(got))
	}
	for _, r := range got {
		i := decodePos(r.Position)
		c := src.makeChange(i)
		wantKey := ""
		wantKey += string(change.NewInt(int64(i%7)).AppendText(nil, -1)) + "\x01" + "r" + string(rune('0'+i%7%3))
		switch {
		case r.Key != wantKey:
			t.Fatalf("change %d: key %q, want %q", i, r.Key, wantKey)
		case r.Hash != c.KeyHash(nil):
			t.Fatalf("change %d: hash %x, want %x", i, r.Hash, c.KeyHash(nil))
		case r.ChangeID != c.ID || r.Op != change.OpInsert || r.Database != "shop" || r.Table != "orders" ||
			!r.CommitTime.Equal(c.CommitTime):
			t.Fatalf("change %d: record %+v", i, r)
		}
	}
}

func TestSerializerKeyAndTopicKept(t *testing.T) {
	src := newFakeSource(20, 10, 3)
	rec := newRecorder()
	sink := newFakeSink(rec)
	var bad atomic.Int32
	sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
		for _, r := range recs {
			if r.Key != "custom" || r.Topic != "t1" || r.Hash != 42 {
				bad.Add(1)
			}
		}
		return len(recs), nil
	}
	cfg := baseConfig(t, src, sink, checkpoint.NewMemoryStore())
	cfg.Serializer = &keySerializer{fakePlugin: fakePlugin{"k"}}
	cfg.Shard = func(*change.Change) uint64 { return 42 }
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 {
		t.Errorf("%d records lost the serializer's key or the change's topic", bad.Load())
	}
}

type keySerializer struct {
	fakePlugin
}

func (keySerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	for i, c := range changes {
		c.Topic = "t1" // as a routing filter would
		out = append(out, sdk.Record{Change: i, Key: "custom", Value: []byte(c.ID)})
	}
	return out, nil
}

func TestBadRecordIndex(t *testing.T) {
	src := newFakeSource(20, 10, 3)
	rec := newRecorder()
	cfg := baseConfig(t, src, newFakeSink(rec), checkpoint.NewMemoryStore())
	cfg.Serializer = &badIndexSerializer{fakePlugin: fakePlugin{"bad"}}
	_, err := runPipeline(t, context.Background(), cfg)
	if want := `serializer "bad": serialize: record 0 refers to change 10 of 10`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

type badIndexSerializer struct {
	fakePlugin
}

func (badIndexSerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	return append(out, sdk.Record{Change: len(changes)}), nil
}

func TestNewValidates(t *testing.T) {
	src := newFakeSource(1, 1, 1)
	rec := newRecorder()
	good := baseConfig(t, src, newFakeSink(rec), checkpoint.NewMemoryStore())
	for name, mut := range map[string]func(*Config){
		"bad name":   func(c *Config) { c.Name = "a/b" },
		"no source":  func(c *Config) { c.Source = nil },
		"no sink":    func(c *Config) { c.Sink = nil },
		"no store":   func(c *Config) { c.Store = nil },
		"no ser":     func(c *Config) { c.Serializer = nil },
		"nil filter": func(c *Config) { c.Filters = []sdk.Filter{nil} },
		"writers":    func(c *Config) { c.Writers = -1 },
	} {
		c := good
		mut(&c)
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
	p, err := New(Config{Name: "x", Source: src, Serializer: good.Serializer, Sink: good.Sink, Store: good.Store})
	if err != nil {
		t.Fatal(err)
	}
	c := p.cfg
	if c.BatchSize != 512 || c.BatchTimeout != 50*time.Millisecond || c.Writers != 4 || c.MaxInFlightBytes != 64<<20 ||
		c.CheckpointInterval != time.Second || c.DrainTimeout != 30*time.Second || c.Retry.Initial != 100*time.Millisecond ||
		c.Retry.Max != 10*time.Second || c.Retry.Factor != 2 || c.Retry.MaxAttempts != 0 {
		t.Errorf("defaults %+v", c)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); !errors.Is(err, ErrAlreadyRun) {
		t.Errorf("second Run = %v", err)
	}
}

func TestCancelBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := newFakeSource(0, 10, 1)
	rec := newRecorder()
	cfg := baseConfig(t, src, newFakeSink(rec), checkpoint.NewMemoryStore())
	if _, err := runPipeline(t, ctx, cfg); err != nil {
		t.Fatalf("Run with a cancelled context = %v, want nil", err)
	}
}
