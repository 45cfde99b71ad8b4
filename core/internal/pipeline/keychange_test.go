package pipeline

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// kcTable is keyed by id; sharding by the default (the key).
var kcTable = &change.Table{
	Database: "shop", Name: "moves",
	Columns:    []change.Column{{Name: "id", Type: "INT"}, {Name: "grp", Type: "INT"}, {Name: "v", Type: "INT"}},
	PrimaryKey: []int{0},
}

func kcRow(id, grp, v int64) []change.Value {
	return []change.Value{change.NewInt(id), change.NewInt(grp), change.NewInt(v)}
}

// scriptSource returns the given batches, then io.EOF.
type scriptSource struct {
	fakePlugin
	batches [][]*change.Change
	next    int
}

func (s *scriptSource) Open(context.Context, sdk.OpenRequest) error { return nil }
func (s *scriptSource) Ack(context.Context, change.Position) error  { return nil }
func (s *scriptSource) Close(context.Context) error                 { return nil }
func (s *scriptSource) Read(ctx context.Context) (*change.Batch, error) {
	if s.next >= len(s.batches) {
		return nil, io.EOF
	}
	b := s.batches[s.next]
	s.next++
	return &change.Batch{Changes: b, Position: b[len(b)-1].Position}, nil
}

// idSerializer makes one record per row change, its value the change's id.
type idSerializer struct {
	fakePlugin
}

func (idSerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	for i, c := range changes {
		if c.Op.IsRow() {
			out = append(out, sdk.Record{Change: i, Value: []byte(c.ID)})
		}
	}
	return out, nil
}

// orderSink delays every Write that holds a DELETE half, and records for each INSERT half
// whether its DELETE half was already delivered when the Write carrying the INSERT began.
type orderSink struct {
	fakePlugin
	delay     time.Duration
	mu        sync.Mutex
	delivered map[string]bool
	order     []string
	early     []string
}

func (s *orderSink) Open(context.Context) error  { return nil }
func (s *orderSink) Close(context.Context) error { return nil }
func (s *orderSink) Write(ctx context.Context, recs []sdk.Record) (int, error) {
	s.mu.Lock()
	slow := false
	for _, r := range recs {
		if id, ok := strings.CutSuffix(r.ChangeID, "/insert"); ok && !s.delivered[change.KeyChangeDeleteID(id)] {
			s.early = append(s.early, r.ChangeID)
		}
		if strings.HasSuffix(r.ChangeID, "/delete") {
			slow = true
		}
	}
	s.mu.Unlock()
	if slow {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.mu.Lock()
	for _, r := range recs {
		s.delivered[r.ChangeID] = true
		s.order = append(s.order, r.ChangeID)
	}
	s.mu.Unlock()
	return len(recs), nil
}

func move(n int, from, to int64) *change.Change {
	return &change.Change{ID: "u" + strconv.Itoa(n), Op: change.OpUpdate, Table: kcTable, Database: "shop", TableName: "moves",
		Before: kcRow(from, 0, int64(n-1)), After: kcRow(to, 0, int64(n)), Position: encodePos(uint64(n)),
		Meta: map[string]string{change.MetaBinlogFile: "bin.1"}}
}

func insert(n int, id int64) *change.Change {
	return &change.Change{ID: "i" + strconv.Itoa(n), Op: change.OpInsert, Table: kcTable, Database: "shop", TableName: "moves",
		After: kcRow(id, 0, int64(n)), Position: encodePos(uint64(n))}
}

// laneKeys returns ids whose default shard falls on lane l of n.
func laneKeys(n, l uint64, count int, from int64) []int64 {
	var out []int64
	for id := from; len(out) < count; id++ {
		c := insert(1, id)
		if c.KeyHash(nil)%n == l {
			out = append(out, id)
		}
	}
	return out
}

func TestSplitKeyChange(t *testing.T) {
	r := &run{cfg: Config{}.withDefaults()}
	var buf []byte
	u := move(7, 1, 2)
	del, ins, ok := r.splitKeyChange(u, &buf)
	if !ok {
		t.Fatal("key change not split")
	}
	if del.Op != change.OpDelete || del.After != nil || !del.Before[0].Equal(change.NewInt(1)) ||
		ins.Op != change.OpInsert || ins.Before != nil || !ins.After[0].Equal(change.NewInt(2)) {
		t.Fatalf("halves %+v %+v", del, ins)
	}
	if del.ID != "u7/delete" || ins.ID != "u7/insert" {
		t.Fatalf("ids %q %q", del.ID, ins.ID)
	}
	// The same UPDATE read again (after a restart) gives the same ids.
	del2, ins2, _ := r.splitKeyChange(move(7, 1, 2), &buf)
	if del2.ID != del.ID || ins2.ID != ins.ID {
		t.Fatal("ids not stable")
	}
	for _, c := range []*change.Change{del, ins} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.Meta[change.MetaKeyChangeOf] != "u7" || c.Meta[change.MetaBinlogFile] != "bin.1" {
			t.Fatalf("meta %v", c.Meta)
		}
	}
	if del.Meta[change.MetaKeyChange] != change.KeyChangeDelete || ins.Meta[change.MetaKeyChange] != change.KeyChangeInsert {
		t.Fatalf("roles %v %v", del.Meta, ins.Meta)
	}
	other, err := change.DecodeKey(del.Meta[change.MetaKeyChangeOtherKey])
	if err != nil || len(other) != 1 || !other[0].Equal(change.NewInt(2)) {
		t.Fatalf("delete's other key %v %v", other, err)
	}
	other, err = change.DecodeKey(ins.Meta[change.MetaKeyChangeOtherKey])
	if err != nil || len(other) != 1 || !other[0].Equal(change.NewInt(1)) {
		t.Fatalf("insert's other key %v %v", other, err)
	}
	if len(u.Meta) != 1 {
		t.Fatal("original Meta modified")
	}

	// Same key, other columns: not split.
	same := move(8, 3, 3)
	if _, _, ok := r.splitKeyChange(same, &buf); ok {
		t.Fatal("update keeping its key was split")
	}
	// Same key, sharding column changed: split.
	r.cfg.Shard = func(c *change.Change) uint64 { return c.KeyHash([]int{1}) }
	sh := move(9, 3, 3)
	sh.After[1] = change.NewInt(5)
	if _, _, ok := r.splitKeyChange(sh, &buf); !ok {
		t.Fatal("update changing its sharding column was not split")
	}
	got := r.splitKeyChanges([]*change.Change{insert(1, 1), move(2, 1, 2), insert(3, 1)}, &buf)
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, ",") != "i1,u2/delete,u2/insert,i3" {
		t.Fatalf("split batch %v", ids)
	}
}

// runMoves runs batches through a pipeline with the orderSink and checks that no INSERT half
// was written before its DELETE half was delivered, and that everything was delivered.
func runMoves(t *testing.T, batches [][]*change.Change, cfg func(*Config)) *orderSink {
	t.Helper()
	sink := &orderSink{fakePlugin: fakePlugin{"order"}, delay: 30 * time.Millisecond, delivered: map[string]bool{}}
	c := baseConfig(t, &scriptSource{fakePlugin: fakePlugin{"script"}, batches: batches}, sink, checkpoint.NewMemoryStore())
	c.Serializer = idSerializer{fakePlugin: fakePlugin{"ids"}}
	c.Writers = 2
	c.BatchTimeout = 20 * time.Millisecond
	if cfg != nil {
		cfg(&c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := runPipeline(t, ctx, c); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, b := range batches {
		for _, ch := range b {
			want++
			if ch.Op == change.OpUpdate && c.KeyChange != KeyChangeUpdate {
				want++
			}
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.order) != want {
		t.Fatalf("delivered %d records, want %d: %v", len(sink.order), want, sink.order)
	}
	return sink
}

func TestKeyChangeWaitsAcrossLanes(t *testing.T) {
	a := laneKeys(2, 0, 8, 1)
	b := laneKeys(2, 1, 8, 1)
	var batches [][]*change.Change
	n := 0
	next := func() int { n++; return n }
	for i := 0; i < 4; i++ {
		// k1 (lane 0) -> k2 (lane 1), then the old key inserted again.
		batches = append(batches, []*change.Change{move(next(), a[i], b[i]), insert(next(), a[i])})
	}
	sink := runMoves(t, batches, nil)
	if len(sink.early) > 0 {
		t.Fatalf("INSERT halves written before their DELETE was delivered: %v (order %v)", sink.early, sink.order)
	}
}

// The deadlock case: k1 -> k2 then k3 -> k4 crossing the lanes both ways, in one batch and
// across batches, with the write concurrency below the lanes (a waiting lane must give up its
// write slot) and a long batch timeout (a waiting lane must first flush what it holds).
func TestKeyChangeCrossingBothWays(t *testing.T) {
	a := laneKeys(2, 0, 40, 1)
	b := laneKeys(2, 1, 40, 1)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"two lanes", nil},
		{"one write slot", func(c *Config) { c.Incremental.Writers, c.Full.Writers = 1, 1; c.Writers = 2 }},
		{"long batch timeout", func(c *Config) { c.BatchTimeout = time.Hour; c.BatchSize = 1000 }},
		{"one lane", func(c *Config) { c.Writers = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var batches [][]*change.Change
			n := 0
			next := func() int { n++; return n }
			var one []*change.Change
			for i := 0; i < 10; i++ {
				// k1 (lane 0) -> k2 (lane 1), k3 (lane 1) -> k4 (lane 0) in one batch, and
				// the reverse pair in a batch of its own.
				one = append(one, insert(next(), a[2*i]), move(next(), a[2*i+1], b[2*i+1]), move(next(), b[2*i], a[20+i]), insert(next(), b[2*i]))
				batches = append(batches, []*change.Change{move(next(), b[20+i], a[30+i]), move(next(), a[38-i], b[30+i])})
			}
			batches = append([][]*change.Change{one}, batches...)
			done := make(chan *orderSink, 1)
			go func() { done <- runMoves(t, batches, tc.cfg) }()
			select {
			case sink := <-done:
				if sink != nil && len(sink.early) > 0 {
					t.Fatalf("INSERT halves written before their DELETE was delivered: %v", sink.early)
				}
			case <-time.After(25 * time.Second):
				t.Fatal("deadlock: the pipeline did not finish")
			}
		})
	}
}

// With key_change = "update" nothing is split and nothing waits: the control showing that the
// sink's check finds an INSERT arriving first when the runtime does not order them.
func TestKeyChangeUpdateModeNotSplit(t *testing.T) {
	a := laneKeys(2, 0, 4, 1)
	b := laneKeys(2, 1, 4, 1)
	var batches [][]*change.Change
	for i := 0; i < 4; i++ {
		batches = append(batches, []*change.Change{move(2*i+1, a[i], b[i]), insert(2*i+2, a[i])})
	}
	sink := runMoves(t, batches, func(c *Config) { c.KeyChange = KeyChangeUpdate })
	for _, id := range sink.order {
		if strings.Contains(id, "/") {
			t.Fatalf("update mode split a change: %v", sink.order)
		}
	}
}

func TestKeyChangeDeps(t *testing.T) {
	r := &run{cfg: Config{}.withDefaults()}
	var buf []byte
	changes := r.splitKeyChanges([]*change.Change{move(1, 1, 2), move(2, 5, 5), insert(3, 9)}, &buf)
	recs := make([]sdk.Record, 0)
	for i, c := range changes {
		recs = append(recs, sdk.Record{Change: i, Hash: r.cfg.Shard(c)})
		if i == 0 {
			recs = append(recs, sdk.Record{Change: i, Hash: r.cfg.Shard(c)}) // two records for the DELETE
		}
	}
	deps := keyChangeDeps(recs, changes, nil)
	if fmt.Sprint(deps) != "[{2 1}]" {
		t.Fatalf("deps %v", deps)
	}
}
