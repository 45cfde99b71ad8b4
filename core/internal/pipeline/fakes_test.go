package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Positions of the fake source are the 8-byte big-endian number of the last change read;
// change numbers start at 1, so position 0 (nil) is the start.

func encodePos(i uint64) change.Position { return binary.BigEndian.AppendUint64(nil, i) }

func decodePos(p change.Position) uint64 {
	if len(p) == 0 {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

type fakePlugin struct{ name string }

func (f fakePlugin) Info() sdk.Info                            { return sdk.Info{Name: f.name} }
func (fakePlugin) Spec() sdk.Spec                              { return sdk.Spec{} }
func (fakePlugin) Configure(context.Context, sdk.Config) error { return nil }

var testTable = &change.Table{
	Database: "shop", Name: "orders",
	Columns: []change.Column{
		{Name: "id", Type: "INT"}, {Name: "region", Type: "VARCHAR"},
		{Name: "seq", Type: "BIGINT", Unsigned: true}, {Name: "payload", Type: "VARCHAR"},
	},
	PrimaryKey: []int{0, 1},
}

var commitBase = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeSource produces changes 1..total (forever when total is 0) in batches of batch.
// Change i has key i % keys, so the changes of a key come in increasing order of i.
type fakeSource struct {
	fakePlugin
	total uint64
	batch int
	keys  uint64
	// heartbeat, when set, makes change i a heartbeat.
	heartbeat func(i uint64) bool
	// payload, when set, gives the payload of change i.
	payload func(i uint64) string
	// readHook, when set, runs before each Read.
	readHook func(ctx context.Context) error

	next      uint64 // number of the last change read
	opened    atomic.Pointer[change.Position]
	openCalls atomic.Int32
	closed    atomic.Int32
	reads     atomic.Int64

	mu   sync.Mutex
	acks []uint64
}

func newFakeSource(total uint64, batch int, keys uint64) *fakeSource {
	return &fakeSource{fakePlugin: fakePlugin{"fake"}, total: total, batch: batch, keys: keys}
}

func (s *fakeSource) Open(_ context.Context, req sdk.OpenRequest) error {
	s.openCalls.Add(1)
	p := req.Position
	s.opened.Store(&p)
	s.next = decodePos(req.Position)
	return nil
}

func (s *fakeSource) makeChange(i uint64) *change.Change {
	if s.heartbeat != nil && s.heartbeat(i) {
		return &change.Change{ID: "hb" + strconv.FormatUint(i, 10), Op: change.OpHeartbeat,
			CommitTime: commitBase, Position: encodePos(i)}
	}
	var payload string
	if s.payload != nil {
		payload = s.payload(i)
	}
	k := i % s.keys
	return &change.Change{
		ID: "c" + strconv.FormatUint(i, 10), Op: change.OpInsert, Table: testTable,
		Database: testTable.Database, TableName: testTable.Name,
		After: []change.Value{change.NewInt(int64(k)), change.NewString("r" + strconv.FormatUint(k%3, 10)),
			change.NewUint(i), change.NewString(payload)},
		CommitTime: commitBase.Add(time.Duration(i) * time.Millisecond),
		Position:   encodePos(i),
	}
}

func (s *fakeSource) Read(ctx context.Context) (*change.Batch, error) {
	if s.readHook != nil {
		if err := s.readHook(ctx); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.total > 0 && s.next >= s.total {
		return nil, io.EOF
	}
	n := uint64(s.batch)
	if s.total > 0 {
		n = min(n, s.total-s.next)
	}
	b := &change.Batch{Changes: make([]*change.Change, 0, n)}
	for j := uint64(0); j < n; j++ {
		s.next++
		b.Changes = append(b.Changes, s.makeChange(s.next))
	}
	b.Position = encodePos(s.next)
	s.reads.Add(1)
	return b, nil
}

func (s *fakeSource) Ack(_ context.Context, pos change.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks = append(s.acks, decodePos(pos))
	return nil
}

func (s *fakeSource) lastAck() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.acks) == 0 {
		return 0
	}
	return s.acks[len(s.acks)-1]
}

func (s *fakeSource) Close(context.Context) error {
	s.closed.Add(1)
	return nil
}

// fakeSerializer makes one record per row change (value: the payload, or the change id when
// there is none) and none for heartbeats.
type fakeSerializer struct {
	fakePlugin
	hook func(changes []*change.Change) error
}

func (f *fakeSerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	if f.hook != nil {
		if err := f.hook(changes); err != nil {
			return out, err
		}
	}
	for i, c := range changes {
		if c.Op == change.OpHeartbeat {
			continue
		}
		v := c.After[3].Str()
		if v == "" {
			v = c.ID
		}
		out = append(out, sdk.Record{Change: i, Value: []byte(v)})
	}
	return out, nil
}

// dropFilter drops the changes for which drop is true.
type dropFilter struct {
	fakePlugin
	drop func(c *change.Change) bool
}

func (f *dropFilter) Filter(_ context.Context, changes []*change.Change) ([]*change.Change, error) {
	out := changes[:0]
	for _, c := range changes {
		if !f.drop(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// recorder keeps what a fake sink delivered.
type recorder struct {
	mu        sync.Mutex
	count     map[uint64]int    // change number -> deliveries, over all runs
	lastKey   map[string]uint64 // key -> last change number delivered in this run
	orderErrs []string
	total     int
	notify    chan struct{}
}

func newRecorder() *recorder {
	return &recorder{count: make(map[uint64]int), lastKey: make(map[string]uint64), notify: make(chan struct{}, 1)}
}

func (r *recorder) deliver(recs []sdk.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range recs {
		n := decodePos(recs[i].Position)
		k := recs[i].Key
		if last, ok := r.lastKey[k]; ok && n <= last && len(r.orderErrs) < 10 {
			r.orderErrs = append(r.orderErrs, fmt.Sprintf("key %q: change %d after change %d", k, n, last))
		}
		r.lastKey[k] = n
		r.count[n]++
		r.total++
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// newRun forgets the per-key order of the previous run (a restart may deliver again).
func (r *recorder) newRun() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.lastKey)
}

func (r *recorder) delivered(n uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[n]
}

func (r *recorder) deliveredTotal() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func (r *recorder) checkOrder(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.orderErrs {
		t.Error("order violated: " + e)
	}
}

// waitTotal waits until at least n records were delivered. It may be called from any
// goroutine: on timeout it reports an error and returns false.
func (r *recorder) waitTotal(t *testing.T, n int) bool {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for r.deliveredTotal() < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Errorf("only %d of %d records delivered in time", r.deliveredTotal(), n)
			return false
		}
	}
	return true
}

// fakeSink records what it delivers. behave, when set, decides for each Write how many of
// the records to deliver and what error to return; by default all are delivered.
type fakeSink struct {
	fakePlugin
	rec    *recorder
	behave func(ctx context.Context, call int64, recs []sdk.Record) (int, error)

	calls    atomic.Int64
	inWrite  atomic.Int32 // concurrent Writes, to check one per lane
	maxBatch atomic.Int32
	opened   atomic.Int32
	closed   atomic.Int32
}

func newFakeSink(rec *recorder) *fakeSink { return &fakeSink{fakePlugin: fakePlugin{"fake"}, rec: rec} }

func (s *fakeSink) Open(context.Context) error {
	s.opened.Add(1)
	return nil
}

func (s *fakeSink) Close(context.Context) error {
	s.closed.Add(1)
	return nil
}

func (s *fakeSink) Write(ctx context.Context, recs []sdk.Record) (int, error) {
	call := s.calls.Add(1)
	s.inWrite.Add(1)
	defer s.inWrite.Add(-1)
	for {
		m := s.maxBatch.Load()
		if int32(len(recs)) <= m || s.maxBatch.CompareAndSwap(m, int32(len(recs))) {
			break
		}
	}
	n, err := len(recs), error(nil)
	if s.behave != nil {
		n, err = s.behave(ctx, call, recs)
	}
	s.rec.deliver(recs[:n])
	return n, err
}

// tempErr is a retryable sink error; permErr is not.
type tempErr struct{ msg string }

func (e tempErr) Error() string { return e.msg }

type permErr struct{ msg string }

func (e permErr) Error() string   { return e.msg }
func (e permErr) Permanent() bool { return true }

// checkingStore is a MemoryStore that, on every Save, checks that every change up to the
// saved position that should reach the sink has been delivered.
type checkingStore struct {
	*checkpoint.MemoryStore
	t        *testing.T
	rec      *recorder
	expected func(i uint64) bool // nil: every change
	mu       sync.Mutex
	checked  uint64
	saves    atomic.Int64
	failSave func(cp *checkpoint.Checkpoint) error
}

func newCheckingStore(t *testing.T, rec *recorder) *checkingStore {
	return &checkingStore{MemoryStore: checkpoint.NewMemoryStore(), t: t, rec: rec}
}

func (s *checkingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	if s.failSave != nil {
		if err := s.failSave(cp); err != nil {
			return err
		}
	}
	s.mu.Lock()
	p := decodePos(cp.Position)
	if p < s.checked {
		s.t.Errorf("checkpoint moved back from %d to %d", s.checked, p)
	}
	for i := s.checked + 1; i <= p; i++ {
		if (s.expected == nil || s.expected(i)) && s.rec.delivered(i) == 0 {
			s.t.Errorf("checkpoint at %d claims change %d, which the sink has not delivered", p, i)
			break
		}
	}
	s.checked = max(s.checked, p)
	s.mu.Unlock()
	s.saves.Add(1)
	return s.MemoryStore.Save(ctx, cp)
}

func (s *checkingStore) position(t *testing.T, name string) uint64 {
	t.Helper()
	cp, err := s.Load(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if cp == nil {
		return 0
	}
	return decodePos(cp.Position)
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// fastRetry retries quickly and without jitter, for tests.
var fastRetry = RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Jitter: -1}

func runPipeline(t *testing.T, ctx context.Context, cfg Config) (*Pipeline, error) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		return p, err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil, nil
	}
}
