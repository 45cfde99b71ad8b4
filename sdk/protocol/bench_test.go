package protocol_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/serializer"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

const benchBatch = 256

// benchChanges returns a batch of inserts of a 10-column row.
func benchChanges() []*change.Change {
	t := &change.Table{Database: "shop", Name: "orders", PrimaryKey: []int{0}, Version: 1, Columns: []change.Column{
		{Name: "id", Type: "BIGINT"}, {Name: "customer_id", Type: "INT"},
		{Name: "status", Type: "ENUM", Elems: []string{"new", "paid", "shipped"}},
		{Name: "amount", Type: "DECIMAL", Precision: 12, Scale: 2}, {Name: "note", Type: "VARCHAR", Nullable: true},
		{Name: "created_at", Type: "DATETIME", Fsp: 6}, {Name: "qty", Type: "INT"}, {Name: "price", Type: "DOUBLE"},
		{Name: "sku", Type: "VARCHAR"}, {Name: "flags", Type: "BIT"},
	}}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	out := make([]*change.Change, benchBatch)
	for i := range out {
		dt, _ := change.NewDateTime(change.Temporal{Year: 2024, Month: 5, Day: 17, Hour: 10, Minute: 11, Second: 12, Microsecond: uint32(i)}, false)
		out[i] = &change.Change{
			ID: fmt.Sprint("bench-", i), Op: change.OpInsert, Table: t, Database: "shop", TableName: "orders",
			CommitTime: at, TxID: "gtid:1", TxSeq: uint32(i + 1), TxSize: benchBatch, Position: change.Position(fmt.Sprint(i)),
			After: []change.Value{
				change.NewInt(int64(i)), change.NewInt(4242), change.NewEnum("paid", 2), change.MustDecimal("1234.50"),
				change.NewString("a short note about the order"), dt, change.NewInt(3), change.NewFloat64(19.99),
				change.NewString(fmt.Sprint("SKU-", 100000+i)), change.NewBit(5),
			},
		}
	}
	return out
}

func benchSerialize(b *testing.B, s sdk.Serializer, lanes int) {
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(`{}`))); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	batches := make([][]*change.Change, lanes)
	for i := range batches {
		batches[i] = benchChanges()
	}
	b.ReportAllocs()
	b.ResetTimer()
	if lanes == 1 {
		var out []sdk.Record
		for b.Loop() {
			var err error
			if out, err = s.Serialize(ctx, batches[0], out[:0]); err != nil || len(out) != benchBatch {
				b.Fatal(len(out), err)
			}
		}
	} else {
		var wg sync.WaitGroup
		per := b.N / lanes
		for l := 0; l < lanes; l++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []sdk.Record
				for i := 0; i < per; i++ {
					var err error
					if out, err = s.Serialize(ctx, batches[l], out[:0]); err != nil || len(out) != benchBatch {
						b.Error(len(out), err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(0, "ns/op") // per batch; events/s is the figure
}

// BenchmarkSerializerBoundary serializes batches of 256 changes of a 10-column row with the
// jsonl serializer called directly (in-process), and in its own process over the plugin
// protocol (out-of-process: one call at a time, and from 4 lanes at once). grpc-pair runs
// the protocol without a process boundary (both sides in one profile).
func BenchmarkSerializerBoundary(b *testing.B) {
	b.Run("in-process", func(b *testing.B) { benchSerialize(b, serializer.New(), 1) })
	b.Run("grpc-pair", func(b *testing.B) {
		benchSerialize(b, sdktest.GRPCPair[sdk.Serializer](b, serializer.New()), 1)
	})
	b.Run("out-of-process", func(b *testing.B) {
		s, _ := launch[sdk.Serializer](b, "ferry-serializer-jsonl", sdk.KindSerializer)
		benchSerialize(b, s, 1)
	})
	b.Run("out-of-process-4-lanes", func(b *testing.B) {
		s, _ := launch[sdk.Serializer](b, "ferry-serializer-jsonl", sdk.KindSerializer)
		benchSerialize(b, s, 4)
	})
}
