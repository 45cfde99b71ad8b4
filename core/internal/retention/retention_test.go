package retention

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

var table = &change.Table{Database: "shop", Name: "orders", Columns: []change.Column{
	{Name: "id", Type: "INT", ColumnType: "int(11)"}, {Name: "note", Type: "VARCHAR", Nullable: true, Length: 40, Charset: "utf8mb4"},
	{Name: "e", Type: "ENUM", Elems: []string{"a", "b"}},
}, PrimaryKey: []int{0}, UniqueKeys: [][]int{{1, 2}}, Version: 3}

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// genSource emits changes 1..total, batch per Read, change i committed at t0 + i seconds;
// positions are the 8-byte number of the last change.
type genSource struct {
	total, batch uint64
	mu           sync.Mutex
	next         uint64
	opened       change.Position
	acked        change.Position
	hold         chan struct{} // when set, Read waits for a value per batch
}

func (g *genSource) Info() sdk.Info                              { return sdk.Info{Name: "gen"} }
func (g *genSource) Spec() sdk.Spec                              { return sdk.Spec{} }
func (g *genSource) Configure(context.Context, sdk.Config) error { return nil }
func (g *genSource) Close(context.Context) error                 { return nil }
func (g *genSource) Open(_ context.Context, req sdk.OpenRequest) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = req.Position
	g.next = 0
	if len(req.Position) == 8 {
		g.next = binary.BigEndian.Uint64(req.Position)
	}
	return nil
}
func (g *genSource) Ack(_ context.Context, p change.Position) error {
	g.mu.Lock()
	g.acked = p
	g.mu.Unlock()
	return nil
}
func (g *genSource) Read(ctx context.Context) (*change.Batch, error) {
	if g.hold != nil {
		select {
		case <-g.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next >= g.total {
		g.mu.Unlock()
		<-ctx.Done()
		g.mu.Lock()
		return nil, ctx.Err()
	}
	b := &change.Batch{}
	for k := uint64(0); k < g.batch && g.next < g.total; k++ {
		g.next++
		i := g.next
		b.Changes = append(b.Changes, &change.Change{ID: fmt.Sprintf("c%d", i), Op: change.OpInsert, Table: table,
			After:      []change.Value{change.NewInt(int64(i % 7)), change.NewString(fmt.Sprint("n", i)), change.NewEnum("a", 1)},
			CommitTime: t0.Add(time.Duration(i) * time.Second), TxID: fmt.Sprint("tx", i), TxSeq: 1,
			Position: binary.BigEndian.AppendUint64(nil, i), Meta: map[string]string{"k": "v"}})
	}
	b.Position = binary.BigEndian.AppendUint64(nil, g.next)
	return b, nil
}

func openTestStore(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	o.Dir = dir
	if o.MinFree == 0 {
		o.MinFree = 1 << 20
	}
	s, err := OpenStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readN(t *testing.T, s *Source, n int) []*change.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*change.Batch
	got := 0
	for got < n {
		b, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d changes: %v", got, err)
		}
		out = append(out, b)
		got += len(b.Changes)
	}
	return out
}

func ids(bs []*change.Batch) []string {
	var out []string
	for _, b := range bs {
		for _, c := range b.Changes {
			out = append(out, c.ID)
		}
	}
	return out
}

func TestCodecRoundTripAndChecksum(t *testing.T) {
	g := &genSource{total: 10, batch: 10}
	b, _ := g.Read(context.Background())
	b.Changes[3].Before = []change.Value{change.Null, change.NewBytes([]byte{0, 1, 2}), change.NewSet("a,b", 3)}
	b.Changes[4].Table, b.Changes[4].Op, b.Changes[4].DDL, b.Changes[4].After = nil, change.OpDDL, "ALTER TABLE x", nil
	var e encoder
	v := encodeBatch(&e, t0, b.Position, b.Changes)
	var d decoder
	rec, err := d.decodeBatch(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.changes, b.Changes) || string(rec.src) != string(b.Position) || !rec.appended.Equal(t0) {
		t.Fatalf("round trip differs:\n%+v\n%+v", rec.changes[3], b.Changes[3])
	}
	if rec.changes[0].Table != rec.changes[1].Table {
		t.Fatal("changes of one schema do not share a *Table")
	}
	for _, i := range []int{0, 5, len(v) / 2, len(v) - 1} {
		bad := append([]byte(nil), v...)
		bad[i] ^= 0x40
		if _, err := d.decodeBatch(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := d.decodeBatch(v[:len(v)-3]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn record: %v", err)
	}
}

func TestReaderAheadRestartAndWriterCheckpoint(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, Options{})
	g := &genSource{total: 100, batch: 10}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	bs := readN(t, src, 30)
	// The reader runs ahead of the writer: all 100 are stored while the writer read 30.
	awaitStats(t, st, "the reader at the source's end", func(s Stats) bool { return s.Changes >= 100 })
	if s := st.Stats(); s.Changes != 100 || s.LeadChanges != 100 {
		t.Fatalf("stats %+v, want 100 stored, 100 ahead (nothing acknowledged)", s)
	}
	wpos := bs[len(bs)-1].Position
	if err := src.Ack(ctx, wpos); err != nil {
		t.Fatal(err)
	}
	if s := st.Stats(); s.LeadChanges != 70 {
		t.Fatalf("lead %d after the writer's ack of 30, want 70", s.LeadChanges)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openTestStore(t, dir, Options{})
	defer st.Close()
	if got := binary.BigEndian.Uint64(st.SourcePosition()); got != 100 {
		t.Fatalf("source position %d after restart, want 100", got)
	}
	g2 := &genSource{total: 120, batch: 10}
	src = NewSource(g2, st, nil)
	if err := src.Open(ctx, sdk.OpenRequest{Position: wpos}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if binary.BigEndian.Uint64(g2.opened) != 100 {
		t.Fatalf("the source was opened at %x, want the store's newest position 100", g2.opened)
	}
	got := ids(readN(t, src, 90))
	for i, id := range got {
		if want := fmt.Sprintf("c%d", 31+i); id != want {
			t.Fatalf("change %d after restart is %s, want %s", i, id, want)
		}
	}
}

func TestRewindReplaysWithSameIDsAndIsDurable(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, Options{})
	g := &genSource{total: 50, batch: 7}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	first := readN(t, src, 50)
	if _, err := src.Rewind(t0.Add(-time.Hour)); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("rewind before the window: %v", err)
	}
	if _, err := src.Rewind(t0.Add(time.Hour)); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("rewind after the window: %v", err)
	}
	rw, err := src.Rewind(t0.Add(20 * time.Second)) // change 20 is the 6th of record 3
	if err != nil {
		t.Fatal(err)
	}
	if rw.Seq != 3 || rw.Skip != 5 {
		t.Fatalf("rewind %+v, want record 3 skip 5", rw)
	}
	again := readN(t, src, 31)
	gotIDs := ids(again)
	if gotIDs[0] != "c20" || gotIDs[30] != "c50" {
		t.Fatalf("replay %v", gotIDs)
	}
	for _, b := range again {
		for _, c := range b.Changes {
			if c.Meta[MetaReplayed] != "true" {
				t.Fatalf("%s not marked replayed", c.ID)
			}
		}
	}
	// A crash with the writer's checkpoint still before the rewind (an older epoch) starts
	// the replay over.
	_ = src.Close(ctx)
	_ = st.Close()
	st = openTestStore(t, dir, Options{})
	defer st.Close()
	src = NewSource(&genSource{total: 50, batch: 7}, st, nil)
	if err := src.Open(ctx, sdk.OpenRequest{Position: first[len(first)-1].Position}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if got := ids(readN(t, src, 31)); got[0] != "c20" {
		t.Fatalf("after a crash the replay starts at %s, want c20", got[0])
	}
}

func TestMaxBytesBackpressureAndTrim(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, Options{MaxBytes: 4000})
	defer st.Close()
	g := &genSource{total: 1000, batch: 5}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	awaitStats(t, st, "the reader waiting for room", func(s Stats) bool { return s.Waiting != "" || s.Changes >= 1000 })
	s := st.Stats()
	if s.Waiting == "" || s.Bytes > 4000 || s.Changes >= 1000 {
		t.Fatalf("the reader does not wait at max_bytes: %+v", s)
	}
	// The writer delivers: records are trimmed and the reader goes on, to the end.
	var last change.Position
	n := 0
	for n < 1000 {
		b := readN(t, src, 1)[0]
		n += len(b.Changes)
		last = b.Position
		if n%50 == 0 {
			_ = src.Ack(ctx, last)
		}
	}
	if s := st.Stats(); s.Bytes > 4000 {
		t.Fatalf("store holds %d bytes over max_bytes 4000", s.Bytes)
	}
	if st.Window().First == 1 {
		t.Fatal("nothing was trimmed")
	}
}

func TestTrimByAgeKeepsUndelivered(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, Options{Duration: time.Minute})
	defer st.Close()
	g := &genSource{total: 40, batch: 10}
	src := NewSource(g, st, nil)
	now := time.Now()
	src.now = func() time.Time { return now }
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	bs := readN(t, src, 40)
	_ = src.Ack(ctx, bs[1].Position) // records 1, 2 delivered
	if n, err := st.trim(now.Add(2*time.Minute), 0); err != nil || n != 2 {
		t.Fatalf("trimmed %d (%v), want the 2 delivered records", n, err)
	}
	if w := st.Window(); w.First != 3 || !w.Oldest.Equal(t0.Add(21*time.Second)) {
		t.Fatalf("window %+v after the trim", w)
	}
}

var _ = io.EOF

// TestHandoverOnceThenFromStore: a writer that keeps up gets the source's own changes (no
// read back from the store), once; what its stages change in them never reaches a replay,
// which reads the store's copy. A writer that lags past the handover's bound reads the store.
func TestHandoverOnceThenFromStore(t *testing.T) {
	st := openTestStore(t, t.TempDir(), Options{})
	defer st.Close()
	g := &genSource{total: 50, batch: 7}
	src := NewSource(g, st, nil)
	ctx := context.Background()
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	first := readN(t, src, 50)
	for _, b := range first {
		for _, c := range b.Changes {
			c.Topic = "changed by a stage" // the objects stage and filters may do this
			c.After = nil
		}
	}
	if _, err := src.Rewind(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, b := range readN(t, src, 50) {
		for _, c := range b.Changes {
			if c.Topic != "" || c.After == nil {
				t.Fatalf("replayed %s carries a stage's change (topic %q, after %v)", c.ID, c.Topic, c.After)
			}
		}
	}

	var h handover
	for seq := uint64(1); seq <= 10; seq++ {
		h.put(seq, []*change.Change{{ID: fmt.Sprint(seq)}}, handBytes/4)
	}
	if _, ok := h.take(6); ok {
		t.Error("record 6 is held past the bound (4 records of handBytes/4)")
	}
	if c, ok := h.take(7); !ok || c[0].ID != "7" {
		t.Errorf("take(7) = %v %v", c, ok)
	}
	if _, ok := h.take(7); ok {
		t.Error("record 7 handed over twice")
	}
	if h.bytes != 3*handBytes/4 || len(h.order) != 3 {
		t.Errorf("after take(7): %d bytes, order %v", h.bytes, h.order)
	}
}

// awaitStats waits, at most 10 s, until cond holds for the store's stats, woken by each change
// of the store (appends, trims, acknowledgements, the reader starting or ending a wait). The
// store runs pebble, which cannot run in a synctest bubble: its sync.Pools keep channels,
// which a bubble would own, and a later test outside the bubble would use them.
func awaitStats(t *testing.T, st *Store, what string, cond func(Stats) bool) Stats {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		st.mu.Lock()
		ch := st.changed
		st.mu.Unlock()
		s := st.Stats()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("waited 10 s for %s: %+v", what, s)
		}
	}
}
