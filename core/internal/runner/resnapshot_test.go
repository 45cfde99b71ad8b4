package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
	serex "github.com/ferry-cdc/ferry/sdk/examples/serializer"
	sinkex "github.com/ferry-cdc/ferry/sdk/examples/sink"
	srcex "github.com/ferry-cdc/ferry/sdk/examples/source"
)

func TestSnapshotRequestFile(t *testing.T) {
	dir := t.TempDir()
	path := SnapshotRequestPath(dir, "p")
	if r, err := ReadSnapshotRequest(path); r != nil || err != nil {
		t.Fatalf("missing file: %v %v", r, err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	want := &SnapshotRequest{Pipeline: "p", Tables: []string{"db.a", "db.b"}, RequestedAt: at}
	if err := WriteSnapshotRequest(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSnapshotRequest(path)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if u := UnionTables(got.Tables, []string{"DB.A", "db.c", "db.c"}); !reflect.DeepEqual(u, []string{"db.a", "db.b", "db.c"}) {
		t.Errorf("union = %q", u)
	}
	if err := WriteSnapshotRequest(path, &SnapshotRequest{Pipeline: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a request without tables must remove the file: %v", err)
	}
	for _, bad := range []string{`{"tables":`, `{"tables":[]}`, `{"tables":["x"]}`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSnapshotRequest(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete") {
			t.Errorf("damaged %s: %v, want an error naming the file and the way out", bad, err)
		}
	}
}

// resnapGenerator is the example generator with the Resnapshotter ability.
type resnapGenerator struct {
	*srcex.Generator
	mu     sync.Mutex
	calls  [][]string
	opened bool
	refuse string
}

func (g *resnapGenerator) Open(ctx context.Context, req sdk.OpenRequest) error {
	err := g.Generator.Open(ctx, req)
	g.mu.Lock()
	g.opened = true
	g.mu.Unlock()
	return err
}

func (g *resnapGenerator) Resnapshot(_ context.Context, tables []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened {
		return errors.New("Resnapshot before Open")
	}
	for _, t := range tables {
		if t == g.refuse {
			return sdk.Permanent(fmt.Errorf("cannot re-snapshot %s: not selected", t))
		}
	}
	g.calls = append(g.calls, tables)
	return nil
}

// gatedStore saves only while open is set.
type gatedStore struct {
	checkpoint.Store
	mu   sync.Mutex
	open bool
}

func (s *gatedStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.mu.Lock()
	open := s.open
	s.mu.Unlock()
	if !open {
		return errors.New("saves held by the test")
	}
	return s.Store.Save(ctx, cp)
}

func (s *gatedStore) setOpen(v bool) { s.mu.Lock(); s.open = v; s.mu.Unlock() }

func newResnapPipeline(t *testing.T, src sdk.Source, store checkpoint.Store) *pipeline.Pipeline {
	t.Helper()
	ctx := context.Background()
	if err := src.Configure(ctx, sdk.NewConfig([]byte(`{"rows":10,"count":0,"rate":2000,"batch_size":10}`))); err != nil {
		t.Fatal(err)
	}
	ser, sink := serex.New(), sinkex.New()
	if err := ser.Configure(ctx, sdk.NewConfig([]byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if err := sink.Configure(ctx, sdk.NewConfig([]byte(fmt.Sprintf(`{"path":%q}`, filepath.Join(t.TempDir(), "out.jsonl"))))); err != nil {
		t.Fatal(err)
	}
	pl, err := pipeline.New(pipeline.Config{Name: "p", Source: src, Serializer: ser, Sink: sink, Store: store,
		CheckpointInterval: 20 * time.Millisecond, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// The request recorded while the pipeline was stopped is applied once the source is open,
// and leaves the file only after a checkpoint that holds it was saved; a request over the
// status endpoint goes the same way.
func TestResnapshotsAppliedAtStartAndSettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := SnapshotRequestPath(dir, "p")
		if err := WriteSnapshotRequest(path, &SnapshotRequest{Pipeline: "p", Tables: []string{"demo.orders"}}); err != nil {
			t.Fatal(err)
		}
		src := &resnapGenerator{Generator: srcex.New()}
		store := &gatedStore{Store: checkpoint.NewMemoryStore()}
		pl := newResnapPipeline(t, src, store)
		rs := newResnapshots(dir, "p", src, pl, zap.NewNop())
		start, err := rs.recorded()
		if err != nil || start == nil {
			t.Fatalf("recorded: %v %v", start, err)
		}
		tracker := status.NewTracker("p", pl.Stats)
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		go serveResnapshots(ctx, cancel, rs, start, tracker, zap.NewNop())
		runErr := make(chan error, 1)
		go func() { runErr <- pl.Run(ctx) }()

		waitFor(t, "the recorded request applied", func() bool {
			src.mu.Lock()
			defer src.mu.Unlock()
			return len(src.calls) == 1
		})
		time.Sleep(300 * time.Millisecond) // fake time: 15 checkpoint intervals pass, all saves held: the file must stay
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("request file gone before a checkpoint recorded it: %v", err)
		}
		store.setOpen(true)
		waitFor(t, "the request file removed after a checkpoint", func() bool {
			_, err := os.Stat(path)
			return errors.Is(err, os.ErrNotExist)
		})

		// a running request: written to the file first, settled after the next checkpoint
		store.setOpen(false)
		if err := rs.request(ctx, []string{"demo.orders"}); err != nil {
			t.Fatal(err)
		}
		if r, err := ReadSnapshotRequest(path); err != nil || r == nil || r.Tables[0] != "demo.orders" {
			t.Fatalf("running request not recorded: %v %v", r, err)
		}
		// a refused one leaves the file as it was
		src.mu.Lock()
		src.refuse = "demo.nope"
		src.mu.Unlock()
		if err := rs.request(ctx, []string{"demo.nope"}); err == nil || !strings.Contains(err.Error(), "demo.nope") {
			t.Fatalf("refused request: %v", err)
		}
		if r, _ := ReadSnapshotRequest(path); r == nil || !reflect.DeepEqual(r.Tables, []string{"demo.orders"}) {
			t.Fatalf("after a refused request the file has %+v", r)
		}
		store.setOpen(true)
		waitFor(t, "the running request settled", func() bool {
			_, err := os.Stat(path)
			return errors.Is(err, os.ErrNotExist)
		})
		cancel(nil)
		if err := <-runErr; err != nil {
			t.Fatal(err)
		}
	})
}

// A recorded request the source refuses stops the run with the reason; the file stays.
func TestResnapshotsRefusedAtStartStopsTheRun(t *testing.T) {
	dir := t.TempDir()
	path := SnapshotRequestPath(dir, "p")
	if err := WriteSnapshotRequest(path, &SnapshotRequest{Pipeline: "p", Tables: []string{"demo.gone"}}); err != nil {
		t.Fatal(err)
	}
	src := &resnapGenerator{Generator: srcex.New(), refuse: "demo.gone"}
	store := &gatedStore{Store: checkpoint.NewMemoryStore(), open: true}
	pl := newResnapPipeline(t, src, store)
	rs := newResnapshots(dir, "p", src, pl, zap.NewNop())
	start, _ := rs.recorded()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go serveResnapshots(ctx, cancel, rs, start, status.NewTracker("p", pl.Stats), zap.NewNop())
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop")
	}
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrResnapshotStart) || !strings.Contains(cause.Error(), "demo.gone") || !strings.Contains(cause.Error(), path) {
		t.Errorf("cause = %v, want the refusal naming the table and the file", cause)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the request file must stay: %v", err)
	}
}

// waitFor polls cond in a synctest bubble's fake time, failing after 10 s of it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // fake time: the pipeline runs until all of it waits
	}
}
