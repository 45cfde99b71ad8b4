package source_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/source"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfg(s string) sdk.Config { return sdk.NewConfig([]byte(s)) }

func configured(t testing.TB, s sdk.Source, c string) sdk.Source {
	t.Helper()
	if err := s.Configure(context.Background(), cfg(c)); err != nil {
		t.Fatal(err)
	}
	return s
}

// readAll reads to io.EOF (at most limit changes).
func readAll(t testing.TB, s sdk.Source, pos change.Position, limit int) []*change.Change {
	t.Helper()
	ctx := context.Background()
	if err := s.Open(ctx, sdk.OpenRequest{Position: pos}); err != nil {
		t.Fatal(err)
	}
	var out []*change.Change
	for len(out) < limit {
		b, err := s.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if last := b.Changes[len(b.Changes)-1]; string(b.Position) != string(last.Position) {
			t.Fatalf("batch position %x, last change's %x", b.Position, last.Position)
		}
		out = append(out, b.Changes...)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

func ignoreTime(cs []*change.Change) []*change.Change {
	for _, c := range cs {
		c.CommitTime = time.Time{}
	}
	return cs
}

const small = `{"rows":20,"count":300,"seed":7,"batch_size":16}`

func TestSnapshotThenMixAndEOF(t *testing.T) {
	cs := readAll(t, configured(t, source.New(), small), nil, 1000)
	if len(cs) != 300 {
		t.Fatalf("%d changes, want 300", len(cs))
	}
	rows := map[int64][]change.Value{}
	ops := map[change.Op]int{}
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.ID != fmt.Sprint("gen-", i+1) {
			t.Fatalf("change %d has id %s", i, c.ID)
		}
		if seq, _ := source.ParsePosition(c.Position); seq != uint64(i+1) {
			t.Fatalf("change %d has position %d", i, seq)
		}
		if (i < 20) != (c.Op == change.OpSnapshot) {
			t.Fatalf("change %d is a %s", i, c.Op)
		}
		ops[c.Op]++
		id := c.Row()[0].Int()
		prev, exists := rows[id]
		switch c.Op {
		case change.OpSnapshot, change.OpInsert:
			if exists {
				t.Fatalf("change %d inserts existing key %d", i, id)
			}
			rows[id] = c.After
		case change.OpUpdate, change.OpDelete:
			if !exists {
				t.Fatalf("change %d: %s of missing key %d", i, c.Op, id)
			}
			if sdktest.DiffChanges([]*change.Change{{Before: prev}}, []*change.Change{{Before: c.Before}}) != "" {
				t.Fatalf("change %d: before image differs from the row's last image", i)
			}
			if c.Op == change.OpDelete {
				delete(rows, id)
			} else {
				rows[id] = c.After
			}
		}
	}
	if ops[change.OpInsert] == 0 || ops[change.OpUpdate] == 0 || ops[change.OpDelete] == 0 {
		t.Errorf("op mix %v", ops)
	}
}

func TestDeterministicAndResumesAfterEveryPosition(t *testing.T) {
	all := ignoreTime(readAll(t, configured(t, source.New(), small), nil, 1000))
	again := ignoreTime(readAll(t, configured(t, source.New(), small), nil, 1000))
	if d := sdktest.DiffChanges(all, again); d != "" {
		t.Fatalf("same seed, different changes:\n%s", d)
	}
	for _, k := range []int{1, 19, 20, 21, 150, 299, 300} {
		rest := ignoreTime(readAll(t, configured(t, source.New(), small), source.Position(uint64(k)), 1000))
		if d := sdktest.DiffChanges(all[k:], rest); d != "" {
			t.Fatalf("resumed after %d:\n%s", k, d)
		}
	}
	other := ignoreTime(readAll(t, configured(t, source.New(), `{"rows":20,"count":300,"seed":8}`), nil, 1000))
	if sdktest.DiffChanges(all, other) == "" {
		t.Error("another seed gave the same changes")
	}
}

func TestEndless(t *testing.T) {
	cs := readAll(t, configured(t, source.New(), `{"rows":0,"count":0,"batch_size":1000}`), nil, 20000)
	if len(cs) != 20000 {
		t.Fatalf("%d changes", len(cs))
	}
}

func TestRate(t *testing.T) {
	start := time.Now()
	cs := readAll(t, configured(t, source.New(), `{"rows":0,"count":60,"rate":200}`), nil, 1000)
	// Batches of rate/10 changes, each released when its first change is due: 0, 100, 200ms.
	if d := time.Since(start); d < 190*time.Millisecond || len(cs) != 60 {
		t.Errorf("60 changes at 200/s took %s", d)
	}
}

func TestOpenRejectsBadPositions(t *testing.T) {
	s := configured(t, source.New(), small)
	ctx := context.Background()
	if err := s.Open(ctx, sdk.OpenRequest{Position: change.Position("short")}); err == nil {
		t.Error("a malformed position was accepted")
	}
	if err := s.Open(ctx, sdk.OpenRequest{Position: source.Position(301)}); err == nil {
		t.Error("a position past count was accepted")
	}
}

func TestConfigureErrors(t *testing.T) {
	err := source.New().Configure(context.Background(), cfg(`{"rows":-1,"batch_size":0,"rate":-2}`))
	var got []string
	for _, ae := range sdk.AttributeErrors(err) {
		got = append(got, ae.Attribute)
	}
	if fmt.Sprint(got) != "[rows rate batch_size]" {
		t.Errorf("attribute errors for %v (%v)", got, err)
	}
	if err := source.New().Configure(context.Background(), cfg(`{"bogus":1}`)); err == nil {
		t.Error("an unknown attribute was accepted")
	}
}

func TestConformance(t *testing.T) {
	sdktest.Source(t, func(t testing.TB) (sdk.Source, sdk.Config) {
		return source.New(), cfg(`{"rows":10,"count":100,"seed":3,"batch_size":7}`)
	})
}

func TestThroughGRPC(t *testing.T) {
	sdktest.CheckGoroutines(t)
	want := ignoreTime(readAll(t, configured(t, source.New(), small), nil, 1000))
	g := sdktest.GRPCPair[sdk.Source](t, source.New())
	got := ignoreTime(readAll(t, configured(t, g, small), nil, 1000))
	if d := sdktest.DiffChanges(want, got); d != "" {
		t.Fatal(d)
	}
	g = sdktest.GRPCPair[sdk.Source](t, source.New()) // Close ends an adapter: use a new one
	got = ignoreTime(readAll(t, configured(t, g, small), source.Position(100), 1000))
	if d := sdktest.DiffChanges(want[100:], got); d != "" {
		t.Fatalf("resumed through gRPC:\n%s", d)
	}
}

func BenchmarkRead(b *testing.B) {
	s := configured(b, source.New(), `{"rows":1000,"count":0,"batch_size":256}`)
	if err := s.Open(context.Background(), sdk.OpenRequest{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "events/s")
}
