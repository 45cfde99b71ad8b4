package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/rpc"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/protocol"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// tableSource is a source with every optional table ability. Its Read returns one change per
// batch, numbered from 1, of the first table its selection includes (so the host can see a
// new selection take effect), about every millisecond.
type tableSource struct {
	base
	sdk.UnimplementedSource

	listed  []sdk.ListedTable
	listErr error
	setErr  error
	progErr error

	mu       sync.Mutex
	opened   bool
	include  []string // what ListTables got
	listedAt string   // "opened" or "configured": when ListTables was called
	sel      sdk.TableSelection
	sets     int
	progress []sdk.SnapshotProgress
	seq      int
	reading  atomic.Bool // a Read is running
	overlaps atomic.Int32
}

func newTableSource() *tableSource { return &tableSource{base: base{kind: sdk.KindSource}} }

func (s *tableSource) Open(context.Context, sdk.OpenRequest) error {
	s.mu.Lock()
	s.opened = true
	s.mu.Unlock()
	return nil
}

func (s *tableSource) Read(ctx context.Context) (*change.Batch, error) {
	s.reading.Store(true)
	defer s.reading.Store(false)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Millisecond):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	name := "none"
	if len(s.sel.Include) > 0 {
		name = s.sel.Include[0]
	}
	id := fmt.Sprint(s.seq)
	return &change.Batch{
		Changes:  []*change.Change{{ID: id, Op: change.OpHeartbeat, Database: "db", TableName: name}},
		Position: change.Position(id),
	}, nil
}

func (s *tableSource) ListTables(_ context.Context, include []string) ([]sdk.ListedTable, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.include = include
	s.listedAt = "configured"
	if s.opened {
		s.listedAt = "opened"
	}
	return s.listed, s.listErr
}

func (s *tableSource) SetTables(_ context.Context, sel sdk.TableSelection) error {
	if s.reading.Load() {
		s.overlaps.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setErr != nil {
		return s.setErr
	}
	s.sel = sel
	s.sets++
	return nil
}

func (s *tableSource) SnapshotProgress(context.Context) ([]sdk.SnapshotProgress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress, s.progErr
}

func TestSourceAdapterHasEveryTableAbility(t *testing.T) {
	s := sdktest.GRPCPair[sdk.Source](t, newSource())
	if _, ok := s.(sdk.TableLister); !ok {
		t.Error("the source adapter is not an sdk.TableLister")
	}
	if _, ok := s.(sdk.TableSelector); !ok {
		t.Error("the source adapter is not an sdk.TableSelector")
	}
	if _, ok := s.(sdk.ProgressReporter); !ok {
		t.Error("the source adapter is not an sdk.ProgressReporter")
	}
}

func TestListTablesRoundTrip(t *testing.T) {
	sdktest.CheckGoroutines(t)
	orders := &change.Table{
		Database: "shop", Name: "orders",
		Columns: []change.Column{
			{Name: "id", Type: "BIGINT", ColumnType: "bigint(20) unsigned", Unsigned: true},
			{Name: "ref", Type: "CHAR", ColumnType: "char(12)", Length: 12, Charset: "ascii"},
			{Name: "total", Type: "DECIMAL", ColumnType: "decimal(12,2)", Precision: 12, Scale: 2, Nullable: true},
			{Name: "placed", Type: "DATETIME", ColumnType: "datetime(3)", Fsp: 3},
			{Name: "state", Type: "ENUM", ColumnType: "enum('new','paid')", Elems: []string{"new", "paid"}},
			{Name: "total_x2", Type: "DECIMAL", ColumnType: "decimal(13,2)", Precision: 13, Scale: 2, Nullable: true, Generated: change.GeneratedStored},
		},
		PrimaryKey: []int{0},
		UniqueKeys: [][]int{{1}},
		Version:    3,
	}
	want := []sdk.ListedTable{
		{Database: "fixture", Name: "all_types", Type: "BASE TABLE", Schema: sdktest.SampleTable()},
		{Database: "shop", Name: "orders", Type: "BASE TABLE", Schema: orders},
		{Database: "shop", Name: "order_totals", Type: "VIEW"},
		{Database: "shop", Name: "locked", Type: "BASE TABLE", Problem: "cannot read the schema: SELECT command denied"},
		{Database: "shop", Name: "no_key", Type: "BASE TABLE", Schema: &change.Table{Database: "shop", Name: "no_key", Columns: []change.Column{{Name: "v", Type: "JSON", ColumnType: "json", Nullable: true}}}},
	}
	src := newTableSource()
	src.listed = want
	s := sdktest.GRPCPair[sdk.Source](t, src)
	configure(t, s, `{}`)
	include := []string{"shop.*", "fixture.all_types", "Shop.Ünïcode*"}
	got, err := s.(sdk.TableLister).ListTables(ctxT(t), include)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListTables =\n%#v\nwant\n%#v", got, want)
	}
	src.mu.Lock()
	if !reflect.DeepEqual(src.include, include) || src.listedAt != "configured" {
		t.Errorf("the plugin got include %q (%s)", src.include, src.listedAt)
	}
	src.mu.Unlock()

	src.listed = nil
	if got, err := s.(sdk.TableLister).ListTables(ctxT(t), nil); got != nil || err != nil {
		t.Errorf("no tables: ListTables = %v, %v", got, err)
	}
}

func TestSetTablesConcurrentWithRead(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := newTableSource()
	src.progress = []sdk.SnapshotProgress{{Table: "db.t", RowsRead: 5}}
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	sel := s.(sdk.TableSelector)

	// The host reads without pause while the selection changes; the stream must go on
	// without a gap until the last selection's table shows up.
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	// The reader signals each batch to the selection loop and to the progress poller, which
	// go on at the stream's pace.
	readOne, pollOne := make(chan struct{}, 1), make(chan struct{}, 1)
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		next := 1
		for {
			b, err := s.Read(ctxT(t))
			if err != nil {
				readErr <- err
				return
			}
			c := b.Changes[0]
			if c.ID != fmt.Sprint(next) || string(b.Position) != c.ID {
				readErr <- fmt.Errorf("batch %s (position %s), want %d", c.ID, b.Position, next)
				return
			}
			next++
			signal(readOne)
			signal(pollOne)
			mu.Lock()
			seen[c.TableName]++
			final := seen["db.final"] >= 3
			mu.Unlock()
			if final {
				readErr <- nil
				return
			}
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
		}
	}()
	// Progress is polled meanwhile too.
	var pollers sync.WaitGroup
	pollers.Add(1)
	go func() {
		defer pollers.Done()
		for {
			select {
			case <-stop:
				return
			case <-pollOne:
			}
			ps, err := s.(sdk.ProgressReporter).SnapshotProgress(ctxT(t))
			if err != nil || len(ps) != 1 || ps[0].Table != "db.t" {
				t.Errorf("SnapshotProgress = %v, %v", ps, err)
				return
			}
		}
	}()

	for i := 0; i < 30; i++ {
		want := sdk.TableSelection{
			Include: []string{fmt.Sprintf("db.t%d", i), "db.*", "other.`x y`"},
			Exclude: []string{"db.tmp_*", fmt.Sprintf("db.old%d", i)},
		}
		if i%3 == 1 {
			want.Exclude = nil
		}
		if err := sel.SetTables(ctxT(t), want); err != nil {
			t.Fatalf("SetTables %d: %v", i, err)
		}
		// SetTables returned: the plugin has the selection in force.
		src.mu.Lock()
		got := src.sel
		src.mu.Unlock()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("SetTables %d: the plugin got %#v, want %#v", i, got, want)
		}
		// the next selection once the host read another batch (a stalled stream is reported
		// at the end, when the last selection's table never shows up)
		select {
		case <-readOne:
		case <-time.After(time.Second):
		}
	}
	if err := sel.SetTables(ctxT(t), sdk.TableSelection{Include: []string{"db.final"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the last selection's table never showed up in the stream")
	}
	close(stop)
	pollers.Wait()
	mu.Lock()
	if seen["db.final"] < 3 || len(seen) < 3 {
		t.Errorf("tables seen: %v", seen)
	}
	mu.Unlock()
	if src.overlaps.Load() == 0 {
		t.Log("no SetTables call overlapped a running Read")
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotProgressRoundTrip(t *testing.T) {
	sdktest.CheckGoroutines(t)
	want := []sdk.SnapshotProgress{
		{Table: "shop.orders", RowsRead: 1_234_567, RowsEstimated: 2_000_000},
		{Table: "shop.items", RowsRead: 2_100_000, RowsEstimated: 2_000_000, Done: true},
		{Table: "big.events", RowsRead: math.MaxInt64, RowsEstimated: math.MaxInt64 - 1},
		{Table: "shop.new", RowsRead: 0, RowsEstimated: 0},
	}
	src := newTableSource()
	src.progress = want
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	pr := s.(sdk.ProgressReporter)
	got, err := pr.SnapshotProgress(ctxT(t))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SnapshotProgress = %+v, %v\nwant %+v", got, err, want)
	}
	src.mu.Lock()
	src.progress = nil // no snapshot
	src.mu.Unlock()
	if got, err := pr.SnapshotProgress(ctxT(t)); got != nil || err != nil {
		t.Errorf("no snapshot: SnapshotProgress = %v, %v", got, err)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestSourceWithoutTableAbilities: a plugin source without the abilities does not advertise
// them; the host's adapter answers itself, without calling it.
func TestSourceWithoutTableAbilities(t *testing.T) {
	sdktest.CheckGoroutines(t)
	s := sdktest.GRPCPair[sdk.Source](t, newSource())
	_, err := s.(sdk.TableLister).ListTables(ctxT(t), []string{"db.*"})
	if !errors.Is(err, sdk.ErrNotSupported) || !strings.Contains(err.Error(), "sdk.TableLister") {
		t.Errorf("ListTables: err = %v, want sdk.ErrNotSupported", err)
	}
	err = s.(sdk.TableSelector).SetTables(ctxT(t), sdk.TableSelection{Include: []string{"db.*"}})
	if !errors.Is(err, sdk.ErrNotSupported) || !strings.Contains(err.Error(), "sdk.TableSelector") {
		t.Errorf("SetTables: err = %v, want sdk.ErrNotSupported", err)
	}
	if ps, err := s.(sdk.ProgressReporter).SnapshotProgress(ctxT(t)); ps != nil || err != nil {
		t.Errorf("SnapshotProgress = %v, %v; want nil, nil", ps, err)
	}
}

// TestServerWithoutTableAbilities calls the plugin side directly, as a host that ignores the
// capabilities would: the calls fail with sdk.ErrNotSupported's code, or report no progress.
func TestServerWithoutTableAbilities(t *testing.T) {
	sdktest.CheckGoroutines(t)
	cfg, err := protocol.ServeConfig(newSource())
	if err != nil {
		t.Fatal(err)
	}
	client, server := plugin.TestPluginGRPCConn(t, false, cfg.VersionedPlugins[protocol.ProtocolVersion])
	defer client.Close()
	defer server.Stop()
	rpc := pb.NewSourceClient(client.Conn)
	info, err := rpc.Info(ctxT(t), &pb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Info.Capabilities) != 0 {
		t.Errorf("capabilities %q, want none", info.Info.Capabilities)
	}
	lr, err := rpc.ListTables(ctxT(t), &pb.ListTablesRequest{})
	if err != nil || lr.Error.GetCode() != pb.Error_CODE_NOT_SUPPORTED {
		t.Errorf("ListTables = %v, %v", lr, err)
	}
	sr, err := rpc.SetTables(ctxT(t), &pb.SetTablesRequest{})
	if err != nil || sr.Error.GetCode() != pb.Error_CODE_NOT_SUPPORTED || !strings.Contains(sr.Error.GetMessage(), "sdk.TableSelector") {
		t.Errorf("SetTables = %v, %v", sr, err)
	}
	pr, err := rpc.SnapshotProgress(ctxT(t), &pb.SnapshotProgressRequest{})
	if err != nil || len(pr.Tables) != 0 || pr.Error != nil {
		t.Errorf("SnapshotProgress = %v, %v", pr, err)
	}

	full, err := protocol.ServeConfig(newTableSource())
	if err != nil {
		t.Fatal(err)
	}
	client2, server2 := plugin.TestPluginGRPCConn(t, false, full.VersionedPlugins[protocol.ProtocolVersion])
	defer client2.Close()
	defer server2.Stop()
	info, err = pb.NewSourceClient(client2.Conn).Info(ctxT(t), &pb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"source.list_tables", "source.set_tables", "source.snapshot_progress"}
	if !reflect.DeepEqual(info.Info.Capabilities, want) {
		t.Errorf("capabilities %q, want %q", info.Info.Capabilities, want)
	}
}

// oldSourceServer is a plugin built before the table calls existed (its server has none of
// them) that nevertheless advertises them.
type oldSourceServer struct {
	pb.UnimplementedSourceServer
}

func (oldSourceServer) Info(context.Context, *pb.InfoRequest) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{Info: &pb.Info{Name: "old", Kind: "source", Version: "0.1",
		Capabilities: []string{"source.list_tables", "source.set_tables", "source.snapshot_progress", "source.future"}}}, nil
}

func (oldSourceServer) Spec(context.Context, *pb.SpecRequest) (*pb.SpecResponse, error) {
	return &pb.SpecResponse{Spec: &pb.Spec{}}, nil
}

type oldSourcePlugin struct{ plugin.GRPCPlugin }

func (oldSourcePlugin) Server(*plugin.MuxBroker) (any, error) { return nil, errors.New("no") }
func (oldSourcePlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) {
	return nil, errors.New("no")
}

func (oldSourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterSourceServer(s, oldSourceServer{})
	return nil
}

func TestPluginWithoutTableCalls(t *testing.T) {
	host := protocol.VersionedPlugins()[protocol.ProtocolVersion]["source"].(plugin.GRPCPlugin)
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{"source": oldSourcePlugin{host}})
	defer client.Close()
	defer server.Stop()
	raw, err := client.Dispense("source")
	if err != nil {
		t.Fatal(err)
	}
	s := raw.(sdk.Source)
	if _, err := s.(sdk.TableLister).ListTables(ctxT(t), nil); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("ListTables: err = %v, want sdk.ErrNotSupported", err)
	}
	if err := s.(sdk.TableSelector).SetTables(ctxT(t), sdk.TableSelection{}); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("SetTables: err = %v, want sdk.ErrNotSupported", err)
	}
	if ps, err := s.(sdk.ProgressReporter).SnapshotProgress(ctxT(t)); ps != nil || err != nil {
		t.Errorf("SnapshotProgress = %v, %v; want nil, nil", ps, err)
	}
}

func TestTableCallErrors(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := newTableSource()
	src.listed = []sdk.ListedTable{{Database: "db", Name: "partial", Type: "BASE TABLE"}}
	src.listErr = sdk.Permanent(fmt.Errorf("list tables: %w", errors.New("Access denied for user 'ferry'@'%' to database 'shop'")))
	src.setErr = fmt.Errorf("pattern %q: unbalanced quote", "db.`x")
	src.progErr = errors.New("progress: state not loaded")
	s := sdktest.GRPCPair[sdk.Source](t, src)

	got, err := s.(sdk.TableLister).ListTables(ctxT(t), []string{"shop.*"})
	if err == nil || err.Error() != "list tables: Access denied for user 'ferry'@'%' to database 'shop'" || !sdk.IsPermanent(err) {
		t.Errorf("ListTables: err = %v (permanent %v)", err, sdk.IsPermanent(err))
	}
	if len(got) != 1 || got[0].Name != "partial" {
		t.Errorf("ListTables returned %v with its error, want what the plugin returned", got)
	}

	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	sel := s.(sdk.TableSelector)
	err = sel.SetTables(ctxT(t), sdk.TableSelection{Include: []string{"db.`x"}})
	if err == nil || err.Error() != "pattern \"db.`x\": unbalanced quote" || sdk.IsPermanent(err) || errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("SetTables: err = %v", err)
	}
	// A source that implements TableSelector may still refuse, e.g. in one of its modes.
	src.mu.Lock()
	src.setErr = fmt.Errorf("mode %q cannot change tables while running: %w", "full", sdk.ErrNotSupported)
	src.mu.Unlock()
	err = sel.SetTables(ctxT(t), sdk.TableSelection{Include: []string{"db.a"}})
	if !errors.Is(err, sdk.ErrNotSupported) || err.Error() != `mode "full" cannot change tables while running: not supported by this plugin` {
		t.Errorf("SetTables: err = %v, want the plugin's, wrapping sdk.ErrNotSupported", err)
	}
	src.mu.Lock()
	src.setErr = sdk.Permanent(errors.New("the snapshot state is corrupt"))
	src.mu.Unlock()
	if err := sel.SetTables(ctxT(t), sdk.TableSelection{}); err == nil || err.Error() != "the snapshot state is corrupt" || !sdk.IsPermanent(err) {
		t.Errorf("SetTables: err = %v (permanent %v)", err, sdk.IsPermanent(err))
	}

	ps, err := s.(sdk.ProgressReporter).SnapshotProgress(ctxT(t))
	if ps != nil || err == nil || err.Error() != "progress: state not loaded" || sdk.IsPermanent(err) {
		t.Errorf("SnapshotProgress = %v, %v", ps, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sel.SetTables(ctx, sdk.TableSelection{}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetTables with a cancelled context: err = %v", err)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// permanentSource fails Open with a permanent error.
type permanentSource struct{ *scriptSource }

func (permanentSource) Open(context.Context, sdk.OpenRequest) error {
	return sdk.Permanent(fmt.Errorf("position %q: %w", "xyz", errors.New("cannot parse")))
}

func TestPermanentErrorsCrossTheBoundary(t *testing.T) {
	sdktest.CheckGoroutines(t)
	s := sdktest.GRPCPair[sdk.Source](t, permanentSource{newSource()})
	err := s.Open(ctxT(t), sdk.OpenRequest{Position: change.Position("xyz")})
	if err == nil || err.Error() != `position "xyz": cannot parse` || !sdk.IsPermanent(err) {
		t.Errorf("Open: err = %v (permanent %v)", err, sdk.IsPermanent(err))
	}

	sink := newSink()
	sink.write = func(_ context.Context, rs []sdk.Record) (int, error) {
		if len(rs) == 1 {
			return 0, errors.New("broker busy")
		}
		return 1, sdk.Permanent(fmt.Errorf("message too large: %w", context.DeadlineExceeded))
	}
	w := sdktest.GRPCPair[sdk.Sink](t, sink)
	n, err := w.Write(ctxT(t), sdktest.SampleRecords()[:2])
	if n != 1 || err == nil || err.Error() != "message too large: context deadline exceeded" ||
		!sdk.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write = %d, %v", n, err)
	}
	if _, err := w.Write(ctxT(t), sdktest.SampleRecords()[:1]); err == nil || sdk.IsPermanent(err) {
		t.Errorf("Write: err = %v, want a transient error", err)
	}
}

// gatedSource's Read blocks until SetTables gives it a selection, then returns a change of
// the selection's first table.
type gatedSource struct {
	base
	sdk.UnimplementedSource
	sels    chan sdk.TableSelection
	reading chan struct{} // when set, gets a value as each Read starts blocking
}

func (s *gatedSource) Open(context.Context, sdk.OpenRequest) error { return nil }

func (s *gatedSource) Read(ctx context.Context) (*change.Batch, error) {
	select {
	case s.reading <- struct{}{}: // nil or full: nobody waits for this Read
	default:
	}
	select {
	case sel := <-s.sels:
		return &change.Batch{Changes: []*change.Change{{ID: "1", Op: change.OpHeartbeat, TableName: sel.Include[0]}}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *gatedSource) SetTables(ctx context.Context, sel sdk.TableSelection) error {
	select {
	case s.sels <- sel:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSetTablesWhileReadBlocks: SetTables reaches the plugin while its Read is blocked (were
// the calls serialized, this would deadlock).
func TestSetTablesWhileReadBlocks(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := &gatedSource{base: base{kind: sdk.KindSource}, sels: make(chan sdk.TableSelection), reading: make(chan struct{}, 1)}
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		b   *change.Batch
		err error
	}
	read := make(chan result, 1)
	go func() {
		b, err := s.Read(ctxT(t))
		read <- result{b, err}
	}()
	<-src.reading // the plugin's Read is under way (it blocks until SetTables)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.(sdk.TableSelector).SetTables(ctx, sdk.TableSelection{Include: []string{"db.added"}}); err != nil {
		t.Fatalf("SetTables while Read blocks: %v", err)
	}
	r := <-read
	if r.err != nil || r.b.Changes[0].TableName != "db.added" {
		t.Fatalf("Read = %v, %v", r.b, r.err)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
