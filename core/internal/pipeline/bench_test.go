package pipeline

import (
	"context"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

var benchTable = func() *change.Table {
	t := &change.Table{Database: "bench", Name: "t", PrimaryKey: []int{0}}
	types := []string{"BIGINT", "VARCHAR", "INT", "DECIMAL", "DATETIME", "VARCHAR", "DOUBLE", "TINYINT", "VARCHAR", "BIGINT"}
	for i, ty := range types {
		t.Columns = append(t.Columns, change.Column{Name: "c" + strconv.Itoa(i), Type: ty})
	}
	return t
}()

func benchChange(i int) *change.Change {
	dt, _ := change.NewDateTime(change.Temporal{Year: 2025, Month: 6, Day: 1, Hour: 12, Minute: uint8(i % 60), Second: uint8(i % 60)}, false)
	after := []change.Value{
		change.NewInt(int64(i)), change.NewString("customer-" + strconv.Itoa(i%977)), change.NewInt(int64(i % 100)),
		change.MustDecimal("1234.5600"), dt, change.NewString("some longer text column value"),
		change.NewFloat64(float64(i) / 7), change.NewInt(1), change.NewString("shipped"), change.NewInt(int64(i) * 31),
	}
	// The before image has the same key (c0): an UPDATE of other columns, not a key change,
	// which the runtime would split into a DELETE and an INSERT (two records).
	before := slices.Clone(after)
	before[2] = change.NewInt(-1)
	return &change.Change{
		ID: "bench-" + strconv.Itoa(i), Op: change.OpUpdate, Table: benchTable, Database: "bench", TableName: "t",
		Before: before, After: after,
		CommitTime: commitBase,
		Position:   encodePos(uint64(i)),
	}
}

// benchSource returns a pool of pre-built 10-column changes again and again, so the
// benchmark measures the pipeline, not change construction.
type benchSource struct {
	fakePlugin
	sdk.UnimplementedSource
	pool  []*change.Change
	batch int
	total int
	read  int
}

func (s *benchSource) Open(context.Context, sdk.OpenRequest) error { return nil }

func (s *benchSource) Read(ctx context.Context) (*change.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.read >= s.total {
		return nil, io.EOF
	}
	n := min(s.batch, s.total-s.read)
	off := s.read % len(s.pool)
	if off+n > len(s.pool) {
		off = 0
	}
	s.read += n
	return &change.Batch{Changes: s.pool[off : off+n], Position: encodePos(uint64(s.read))}, nil
}

// textSerializer writes the after image as tab-separated text: cheap but real work.
type textSerializer struct {
	fakePlugin
}

func (textSerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	for i, c := range changes {
		var v []byte
		for j, x := range c.After {
			if j > 0 {
				v = append(v, '\t')
			}
			v = x.AppendText(v, -1)
		}
		out = append(out, sdk.Record{Change: i, Value: v})
	}
	return out, nil
}

type nopSink struct {
	fakePlugin
	sdk.UnimplementedSink
}

func (nopSink) Write(_ context.Context, recs []sdk.Record) (int, error) { return len(recs), nil }

func BenchmarkPipeline(b *testing.B) {
	pool := make([]*change.Change, 64<<10)
	for i := range pool {
		pool[i] = benchChange(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	src := &benchSource{fakePlugin: fakePlugin{"bench"}, pool: pool, batch: 512, total: b.N}
	p, err := New(Config{
		Name: "bench", Source: src, Serializer: textSerializer{fakePlugin: fakePlugin{"text"}},
		Sink: nopSink{fakePlugin: fakePlugin{"nop"}}, Store: checkpoint.NewMemoryStore(),
	})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if got := p.Stats().RecordsWritten; got != uint64(b.N) {
		b.Fatalf("wrote %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "changes/s")
}
