package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
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

// tablesSource is a fakeSource whose change i belongs to table "t<key % tables>" (a key
// stays in one table).
type tablesSource struct {
	*fakeSource
	tables uint64
}

func (s *tablesSource) Read(ctx context.Context) (*change.Batch, error) {
	b, err := s.fakeSource.Read(ctx)
	if b != nil {
		for _, c := range b.Changes {
			c.TableName = fmt.Sprintf("t%d", (decodePos(c.Position)%s.keys)%s.tables)
		}
	}
	return b, err
}

// scopedSink is a fakeSink with an order scope that logs, in the order Writes complete (the
// order a single queue would store them), every record's change number per table and
// overall, and counts concurrent Writes.
type scopedSink struct {
	*fakeSink
	scope sdk.OrderScope

	mu       sync.Mutex
	all      []uint64
	perTable map[string][]uint64
	inFlight atomic.Int32
	maxConc  atomic.Int32
}

func (s *scopedSink) OrderScope() sdk.OrderScope { return s.scope }

func (s *scopedSink) Write(ctx context.Context, recs []sdk.Record) (int, error) {
	c := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxConc.Load(); c > m && !s.maxConc.CompareAndSwap(m, c); m = s.maxConc.Load() {
	}
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) // fake time (the tests run in a bubble): Writes complete out of order
	n, err := s.fakeSink.Write(ctx, recs)
	s.mu.Lock()
	for i := range recs[:n] {
		p := decodePos(recs[i].Position)
		s.all = append(s.all, p)
		s.perTable[recs[i].Table] = append(s.perTable[recs[i].Table], p)
	}
	s.mu.Unlock()
	return n, err
}

// inversions counts the places where a change comes after a later one.
func inversions(seq []uint64) int {
	n := 0
	for i := 1; i < len(seq); i++ {
		if seq[i] < seq[i-1] {
			n++
		}
	}
	return n
}

func runScoped(t *testing.T, scope sdk.OrderScope, tables uint64) *scopedSink {
	t.Helper()
	const total = 20_000
	src := &tablesSource{fakeSource: newFakeSource(total, 100, 1000), tables: tables}
	rec := newRecorder()
	sink := &scopedSink{fakeSink: newFakeSink(rec), scope: scope, perTable: map[string][]uint64{}}
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	cfg.Writers = 8
	cfg.BatchSize = 32
	p, err := runPipeline(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.OrderScope() != scope {
		t.Errorf("pipeline scope %q, want %q", p.OrderScope(), scope)
	}
	assertAllOnce(t, rec, total, nil)
	rec.checkOrder(t) // per key, always
	return sink
}

func TestOrderScopeAllIsTotalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := runScoped(t, sdk.OrderAll, 5)
		if n := inversions(sink.all); n != 0 {
			t.Errorf("scope all: %d inversions of the commit order", n)
		}
		if c := sink.maxConc.Load(); c != 1 {
			t.Errorf("scope all: %d Writes at once, want 1 (one lane)", c)
		}
	})
}

func TestOrderScopeTablePerTableOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const tables = 6
		// The tables must spread over several of the 8 lanes, or the test shows nothing.
		lanes := map[uint64]bool{}
		for i := range tables {
			lanes[tableHash("shop", fmt.Sprintf("t%d", i))%8] = true
		}
		if len(lanes) < 2 {
			t.Fatalf("the test tables share one lane")
		}
		sink := runScoped(t, sdk.OrderTable, tables)
		if len(sink.perTable) != tables {
			t.Fatalf("%d tables delivered, want %d", len(sink.perTable), tables)
		}
		for tb, seq := range sink.perTable {
			if n := inversions(seq); n != 0 {
				t.Errorf("scope table: table %s has %d inversions of the commit order", tb, n)
			}
		}
		if c := sink.maxConc.Load(); c < 2 {
			t.Errorf("scope table: at most %d Write at once; tables on different lanes should be written in parallel", c)
		}
	})
}

// TestOrderScopeKeyInterleavesTables shows what the scopes fix: by key, records of one table
// are written by several lanes at once and leave commit order.
func TestOrderScopeKeyInterleavesTables(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := runScoped(t, sdk.OrderKey, 1)
		if n := inversions(sink.all); n == 0 {
			t.Error("scope key: no inversion of the commit order across 8 lanes (the scope tests would show nothing)")
		}
		if c := sink.maxConc.Load(); c < 2 {
			t.Errorf("scope key: at most %d Write at once, want parallel lanes", c)
		}
	})
}

func TestTableHashIsFNV1a(t *testing.T) {
	for _, c := range [][2]string{{"shop", "orders"}, {"", ""}, {"db", "t1"}, {"ferry_ord_x", "ÄÖ"}} {
		h := fnv.New64a()
		h.Write([]byte(c[0] + "." + c[1]))
		if got, want := tableHash(c[0], c[1]), h.Sum64(); got != want {
			t.Errorf("tableHash(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}

type badScopeSink struct{ *fakeSink }

func (badScopeSink) OrderScope() sdk.OrderScope { return "queue" }

func TestUnknownOrderScopeRefused(t *testing.T) {
	rec := newRecorder()
	cfg := baseConfig(t, newFakeSource(1, 1, 1), badScopeSink{newFakeSink(rec)}, newCheckingStore(t, rec))
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), `unknown order scope "queue"`) {
		t.Fatalf("New = %v", err)
	}
}

// oversizeSink refuses records whose value starts with "BIG" with sdk.TooLarge.
func oversizeBehave(ctx context.Context, _ int64, recs []sdk.Record) (int, error) {
	for i := range recs {
		if strings.HasPrefix(string(recs[i].Value), "BIG") {
			return i, sdk.TooLarge(i, int64(len(recs[i].Value)), 8, fmt.Errorf("the message for %s.%s key %q is too large", recs[i].Database, recs[i].Table, recs[i].Key))
		}
	}
	return len(recs), nil
}

func TestOversizeFailStops(t *testing.T) {
	const total = 1000
	src := newFakeSource(total, 50, 100)
	src.payload = func(i uint64) string {
		if i == 321 {
			return "BIG body"
		}
		return ""
	}
	rec := newRecorder()
	sink := newFakeSink(rec)
	sink.behave = oversizeBehave
	store := newCheckingStore(t, rec)
	_, err := runPipeline(t, context.Background(), baseConfig(t, src, sink, store))
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "sink" || !strings.Contains(err.Error(), `shop.orders key "21`) {
		t.Fatalf("Run = %v; want a sink error naming shop.orders and the key", err)
	}
	if _, ok := sdk.AsTooLarge(err); !ok {
		t.Errorf("the error lost its TooLargeError: %v", err)
	}
	if p := store.position(t, "test"); p >= 321 {
		t.Errorf("checkpoint %d passed the refused change 321", p)
	}
}

func TestOversizeSkipGoesOn(t *testing.T) {
	const total = 5000
	big := func(i uint64) bool { return i%397 == 0 }
	src := newFakeSource(total, 50, 100)
	src.payload = func(i uint64) string {
		if big(i) {
			return "BIG body " + fmt.Sprint(i)
		}
		return ""
	}
	rec := newRecorder()
	sink := newFakeSink(rec)
	sink.behave = oversizeBehave
	store := newCheckingStore(t, rec)
	store.expected = func(i uint64) bool { return !big(i) }
	cfg := baseConfig(t, src, sink, store)
	var mu sync.Mutex
	var skipped []uint64
	cfg.OnOversize = func(r *sdk.Record, tl *sdk.TooLargeError) error {
		mu.Lock()
		defer mu.Unlock()
		if tl.Limit != 8 || tl.Size != int64(len(r.Value)) || r.Table != "orders" || r.ChangeID == "" {
			t.Errorf("OnOversize(%+v, %+v)", r, tl)
		}
		skipped = append(skipped, decodePos(r.Position))
		return nil
	}
	p, err := runPipeline(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertAllOnce(t, rec, total, func(i uint64) bool { return !big(i) })
	want := 0
	for i := uint64(1); i <= total; i++ {
		if big(i) {
			want++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(skipped) != want {
		t.Errorf("%d records skipped, want %d: %v", len(skipped), want, skipped)
	}
	for _, n := range skipped {
		if !big(n) {
			t.Errorf("change %d skipped but not too large", n)
		}
	}
	if s := p.Stats(); s.RecordsSkipped != uint64(want) || s.RecordsWritten != uint64(total-want) {
		t.Errorf("stats: %d skipped, %d written; want %d and %d", s.RecordsSkipped, s.RecordsWritten, want, total-want)
	}
	if pos := store.position(t, "test"); pos != total {
		t.Errorf("checkpoint at %d, want %d (past the skipped records)", pos, total)
	}
}

func TestOversizeSkipDeadLetterFailureStops(t *testing.T) {
	src := newFakeSource(200, 50, 100)
	src.payload = func(i uint64) string {
		if i == 77 {
			return "BIG"
		}
		return ""
	}
	rec := newRecorder()
	sink := newFakeSink(rec)
	sink.behave = oversizeBehave
	store := newCheckingStore(t, rec)
	cfg := baseConfig(t, src, sink, store)
	cfg.OnOversize = func(*sdk.Record, *sdk.TooLargeError) error { return errors.New("disk full") }
	_, err := runPipeline(t, context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v; want the dead-letter error", err)
	}
	if p := store.position(t, "test"); p >= 77 {
		t.Errorf("checkpoint %d passed the record that was not dead-lettered", p)
	}
}

// BenchmarkOrderScope shows the throughput cost of the wider scopes: 8 tables, 8 lanes of
// 64-record Writes, each Write taking 1ms (a broker round trip).
func BenchmarkOrderScope(b *testing.B) {
	for _, scope := range []sdk.OrderScope{sdk.OrderKey, sdk.OrderTable, sdk.OrderAll} {
		b.Run(string(scope), func(b *testing.B) {
			const total = 20_000
			start := time.Now()
			for range b.N {
				src := &tablesSource{fakeSource: newFakeSource(total, 256, 1000), tables: 8}
				rec := newRecorder()
				sink := newFakeSink(rec)
				sink.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
					time.Sleep(time.Millisecond) // real time: the benchmark measures parallel lanes against a 1ms broker round trip
					return len(recs), nil
				}
				cfg := Config{Name: "bench", Source: src, Serializer: &fakeSerializer{fakePlugin: fakePlugin{"fake"}},
					Sink: &scopedBench{fakeSink: sink, scope: scope}, Store: checkpoint.NewMemoryStore(),
					BatchSize: 64, BatchTimeout: time.Millisecond, Writers: 8}
				p, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total*b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

type scopedBench struct {
	*fakeSink
	scope sdk.OrderScope
}

func (s *scopedBench) OrderScope() sdk.OrderScope { return s.scope }
