package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/ferry-cdc/ferry/sdk/sdktest"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFilterRoundTripsEveryValue(t *testing.T) {
	sdktest.CheckGoroutines(t)
	f := sdktest.GRPCPair[sdk.Filter](t, newFilter(func(cs []*change.Change) []*change.Change { return cs }))
	for i := 0; i < 3; i++ { // later calls refer to tables defined by the first
		got, err := f.Filter(ctxT(t), sdktest.SampleChanges())
		if err != nil {
			t.Fatal(err)
		}
		if d := sdktest.DiffChanges(sdktest.SampleChanges(), got); d != "" {
			t.Fatalf("call %d:\n%s", i, d)
		}
		if got[0].Table != got[1].Table || got[0].Table == got[4].Table {
			t.Errorf("call %d: changes of one schema should share one *Table, and another version another", i)
		}
	}
}

func TestFilterModifiesDropsAndAdds(t *testing.T) {
	sdktest.CheckGoroutines(t)
	apply := func(cs []*change.Change) []*change.Change {
		out := cs[:0]
		for i, c := range cs {
			switch i {
			case 1: // dropped
				continue
			case 2:
				c.Topic = "routed"
				c.Meta = map[string]string{"k": "v"}
			case 3:
				c.After = append([]change.Value(nil), c.Before...)
				c.After[0] = change.NewInt(42)
			}
			out = append(out, c)
			if i == 5 {
				out = append(out, &change.Change{ID: "made", Op: change.OpHeartbeat, Database: "x"})
			}
		}
		return out
	}
	want := apply(sdktest.SampleChanges())
	in := sdktest.SampleChanges()
	f := sdktest.GRPCPair[sdk.Filter](t, newFilter(apply))
	got, err := f.Filter(ctxT(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if d := sdktest.DiffChanges(want, got); d != "" {
		t.Fatal(d)
	}
	if got[0] != in[0] {
		t.Error("an unmodified kept change should be the host's own *Change")
	}
}

func TestSerializerRecordsRoundTrip(t *testing.T) {
	sdktest.CheckGoroutines(t)
	ser := func(_ context.Context, cs []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
		for i, c := range cs {
			if c.Op == change.OpHeartbeat {
				continue
			}
			for j := 0; j < 2; j++ {
				out = append(out, sdk.Record{Change: i, Topic: c.Topic, Key: c.ID + "\x01\xff",
					Value: []byte(fmt.Sprintf("%s/%d\x00", c.ID, j)), Properties: []sdk.Property{{Key: "j", Value: fmt.Sprint(j)}}})
			}
		}
		return out, nil
	}
	want, _ := ser(nil, sdktest.SampleChanges(), nil)
	s := sdktest.GRPCPair[sdk.Serializer](t, newSerializer(ser))
	got, err := s.Serialize(ctxT(t), sdktest.SampleChanges(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := sdktest.DiffRecords(want, got); d != "" {
		t.Fatal(d)
	}
}

func TestSerializerError(t *testing.T) {
	s := sdktest.GRPCPair[sdk.Serializer](t, newSerializer(func(context.Context, []*change.Change, []sdk.Record) ([]sdk.Record, error) {
		return nil, fmt.Errorf("cannot: %w", context.DeadlineExceeded)
	}))
	_, err := s.Serialize(ctxT(t), sdktest.SampleChanges(), nil)
	if err == nil || err.Error() != "cannot: context deadline exceeded" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestSinkWriteRoundTripAndCounts(t *testing.T) {
	sdktest.CheckGoroutines(t)
	sink := newSink()
	s := sdktest.GRPCPair[sdk.Sink](t, sink)
	if err := s.Open(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	want := sdktest.SampleRecords()
	n, err := s.Write(ctxT(t), sdktest.SampleRecords())
	if n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if d := sdktest.DiffRecords(want, sink.got[0]); d != "" {
		t.Fatal(d)
	}
	sink.write = func(_ context.Context, rs []sdk.Record) (int, error) {
		return len(rs) - 2, errors.New("broker said no")
	}
	n, err = s.Write(ctxT(t), want)
	if n != len(want)-2 || err == nil || err.Error() != "broker said no" {
		t.Fatalf("Write = %d, %v; want %d, broker said no", n, err, len(want)-2)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if sink.closed.Load() != 1 {
		t.Error("the plugin's Close was not called")
	}
	if _, err := s.Write(ctxT(t), want); err == nil {
		t.Error("Write after Close should fail")
	}
}

func TestSinkConcurrentLanes(t *testing.T) {
	sdktest.CheckGoroutines(t)
	sink := newSink()
	var inFlight, peak int32
	var mu sync.Mutex
	// Each Write waits until two were in flight at once (once seen, none waits): a server
	// that serves lanes one at a time lets the first wait out its 5 s, and peak stays 1.
	overlapped := make(chan struct{})
	var overlap sync.Once
	sink.write = func(_ context.Context, rs []sdk.Record) (int, error) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		n := inFlight
		mu.Unlock()
		if n >= 2 {
			overlap.Do(func() { close(overlapped) })
		}
		select {
		case <-overlapped:
		case <-time.After(5 * time.Second):
			overlap.Do(func() { close(overlapped) })
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return len(rs), nil
	}
	s := sdktest.GRPCPair[sdk.Sink](t, sink)
	if err := s.Open(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for lane := 0; lane < 8; lane++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				recs := sdktest.SampleRecords()[:lane%4+1]
				if n, err := s.Write(ctxT(t), recs); n != len(recs) || err != nil {
					t.Errorf("lane %d: Write = %d, %v", lane, n, err)
				}
			}
		}()
	}
	wg.Wait()
	if peak < 2 {
		t.Errorf("at most %d writes ran at once: the plugin should serve lanes concurrently", peak)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCancelUnblocksAndReachesPlugin(t *testing.T) {
	sdktest.CheckGoroutines(t)
	sink := newSink()
	cancelled := make(chan struct{})
	sink.write = func(ctx context.Context, _ []sdk.Record) (int, error) {
		<-ctx.Done()
		close(cancelled)
		return 0, ctx.Err()
	}
	s := sdktest.GRPCPair[sdk.Sink](t, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Write(ctx, sdktest.SampleRecords())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Write returned %s after its deadline", d)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's Write was not cancelled")
	}
}

// TestWriteDeadlineReachesPlugin: the host's deadline travels with the write, so the
// plugin's Write context has a deadline no later than the host's and ends by it on its own,
// without the host's cancel (a host frozen by SIGSTOP or dead cannot send one; the plugin
// side's arithmetic is TestWithWireDeadline).
func TestWriteDeadlineReachesPlugin(t *testing.T) {
	sdktest.CheckGoroutines(t)
	sink := newSink()
	type seen struct {
		deadline time.Time
		ok       bool
		err      error
	}
	got := make(chan seen, 1)
	sink.write = func(ctx context.Context, _ []sdk.Record) (int, error) {
		d, ok := ctx.Deadline()
		<-ctx.Done()
		got <- seen{d, ok, ctx.Err()}
		return 0, ctx.Err()
	}
	s := sdktest.GRPCPair[sdk.Sink](t, sink)
	deadline := time.Now().Add(300 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, _ = s.Write(ctx, sdktest.SampleRecords())
	r := <-got
	if !r.ok {
		t.Fatal("the plugin's Write context has no deadline")
	}
	if r.deadline.After(deadline.Add(time.Millisecond)) { // the relative timeout is re-based: allow the round trip of time.Until
		t.Errorf("the plugin's deadline %v is after the host's %v", r.deadline, deadline)
	}
	// It ended by its own deadline or by the host's cancel, whichever came first (they
	// are the same instant here); what matters is the deadline above.
	if !errors.Is(r.err, context.DeadlineExceeded) && !errors.Is(r.err, context.Canceled) {
		t.Errorf("the plugin's Write ended with %v", r.err)
	}

	// Without a deadline the plugin's context has none.
	sink.write = func(ctx context.Context, rs []sdk.Record) (int, error) {
		_, ok := ctx.Deadline()
		got <- seen{ok: ok}
		return len(rs), nil
	}
	if _, err := s.Write(context.Background(), sdktest.SampleRecords()); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.ok {
		t.Error("the plugin's Write has a deadline the host did not set")
	}
}

func TestBrokenConnectionFailsWaiters(t *testing.T) {
	sdktest.CheckGoroutines(t)
	sink := newSink()
	started := make(chan struct{}, 8)
	sink.write = func(ctx context.Context, _ []sdk.Record) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	cfg, err := protocol.ServeConfig(sink)
	if err != nil {
		t.Fatal(err)
	}
	client, server := plugin.TestPluginGRPCConn(t, false, cfg.VersionedPlugins[protocol.ProtocolVersion])
	defer client.Close()
	raw, err := client.Dispense("sink")
	if err != nil {
		t.Fatal(err)
	}
	s := raw.(sdk.Sink)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := s.Write(ctxT(t), sdktest.SampleRecords())
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		<-started
	}
	server.Stop() // the plugin dies
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, protocol.ErrConnectionLost) || !strings.Contains(err.Error(), "plugin connection lost") {
				t.Errorf("err = %v, want a lost connection", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting Write was not failed")
		}
	}
	if _, err := s.Write(ctxT(t), nil); !errors.Is(err, protocol.ErrConnectionLost) {
		t.Errorf("a later Write: err = %v, want a lost connection", err)
	}
}

func batch(pos string, cs ...*change.Change) readResult {
	return readResult{batch: &change.Batch{Changes: cs, Position: change.Position(pos)}}
}

func TestSourceStreamsBatchesThenError(t *testing.T) {
	sdktest.CheckGoroutines(t)
	cs := sdktest.SampleChanges()
	src := newSource(
		batch("p1", cs[0], cs[1]),
		batch("p2", cs[2:6]...),
		batch("p3"),
		readResult{err: errors.New("replication broke")},
		batch("p4", cs[6:]...),
		readResult{err: io.EOF},
	)
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{Pipeline: "p", Position: change.Position("start")}); err != nil {
		t.Fatal(err)
	}
	if string(src.opened) != "start" {
		t.Errorf("Open got position %q", src.opened)
	}
	var got []*change.Change
	var positions []string
	for i := 0; i < 3; i++ {
		b, err := s.Read(ctxT(t))
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		got = append(got, b.Changes...)
		positions = append(positions, string(b.Position))
	}
	if _, err := s.Read(ctxT(t)); err == nil || err.Error() != "replication broke" {
		t.Fatalf("after the batches: err = %v, want the source's error", err)
	}
	b, err := s.Read(ctxT(t)) // a Read after an error calls the source again
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, b.Changes...)
	positions = append(positions, string(b.Position))
	if _, err := s.Read(ctxT(t)); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	if d := sdktest.DiffChanges(cs, got); d != "" {
		t.Error(d)
	}
	if !reflect.DeepEqual(positions, []string{"p1", "p2", "p3", "p4"}) {
		t.Errorf("positions %q", positions)
	}
	if got[0].Table != got[2].Table {
		t.Error("changes of one schema should share one *Table across batches")
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if src.closed.Load() != 1 {
		t.Error("the plugin's Close was not called")
	}
}

// TestSourceFlowControl: the plugin reads ahead of the host within the stream's window (8
// batches) and no further. Every plugin Read checks the bound against the batches the host has
// asked for so far (counted before each ask, so the check is never ahead of the real credit);
// that the plugin does read ahead (at least half a window: credits go back in groups of half
// the window) is waited for as an event.
func TestSourceFlowControl(t *testing.T) {
	sdktest.CheckGoroutines(t)
	const window = 8
	var script []readResult
	for i := 0; i < 100; i++ {
		script = append(script, batch(fmt.Sprint(i), &change.Change{ID: fmt.Sprint(i), Op: change.OpHeartbeat}))
	}
	src := newSource(script...)
	var asked atomic.Int32
	var over atomic.Int32 // the first Read past the window (0: none)
	read := make(chan struct{}, 1)
	src.onRead = func(n int32) {
		if n > asked.Load()+window {
			over.CompareAndSwap(0, n)
		}
		select {
		case read <- struct{}{}:
		default:
		}
	}
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	readAhead := func(took int32) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("the plugin reads %d batches ahead", window/2), read, func() bool { return src.reads.Load() >= took+window/2 })
		if n := over.Load(); n != 0 {
			t.Fatalf("the plugin read batch %d while the host had asked for %d: no backpressure", n, asked.Load())
		}
	}
	for i := 0; i < 50; i++ {
		asked.Add(1)
		b, err := s.Read(ctxT(t))
		if err != nil || b.Changes[0].ID != fmt.Sprint(i) {
			t.Fatalf("Read %d = %v, %v", i, b, err)
		}
		if i == 0 || i == 49 {
			readAhead(int32(i + 1))
		}
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := over.Load(); n != 0 {
		t.Fatalf("the plugin read batch %d while the host had asked for %d: no backpressure", n, asked.Load())
	}
}

// waitUntil waits until cond holds, checking it again whenever changed signals; it fails
// the test after 10 s.
func waitUntil(t *testing.T, what string, changed <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestSourceCloseStopsBlockedRead(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := newSource() // Read blocks until cancelled
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read: err = %v, want the context's error", err)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctxT(t)); err == nil {
		t.Error("Read after Close should fail")
	}
}

func TestSourceAck(t *testing.T) {
	sdktest.CheckGoroutines(t)
	plain := newSource()
	s := sdktest.GRPCPair[sdk.Source](t, plain)
	if err := s.(sdk.SourceAcker).Ack(ctxT(t), change.Position("x")); err != nil {
		t.Fatalf("Ack on a source without SourceAcker: %v", err)
	}
	acking := ackingSource{newSource()}
	a := sdktest.GRPCPair[sdk.Source](t, acking).(sdk.SourceAcker)
	if err := a.Ack(ctxT(t), change.Position("p1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Ack(ctxT(t), change.Position("bad")); err == nil || err.Error() != "cannot ack bad" {
		t.Fatalf("err = %v", err)
	}
	acking.mu.Lock()
	defer acking.mu.Unlock()
	if !reflect.DeepEqual(acking.acked, []change.Position{change.Position("p1"), change.Position("bad")}) {
		t.Errorf("acked %q", acking.acked)
	}
}

func TestConfigureDiagnostics(t *testing.T) {
	f := newFilter(nil)
	f.cfg = func(sdk.Config) error {
		return errors.Join(
			sdk.AttrError("ops", "unknown operation %q", "upsert"),
			fmt.Errorf("tables: %w", &sdk.AttributeError{Attribute: "tables", Summary: "bad pattern", Detail: "use db.table"}),
			errors.New("something else"),
		)
	}
	g := sdktest.GRPCPair[sdk.Filter](t, f)
	err := g.Configure(ctxT(t), sdk.NewConfig([]byte(`{}`)))
	aes := sdk.AttributeErrors(err)
	if len(aes) != 2 || *aes[0] != (sdk.AttributeError{Attribute: "ops", Summary: `unknown operation "upsert"`}) ||
		*aes[1] != (sdk.AttributeError{Attribute: "tables", Summary: "bad pattern", Detail: "use db.table"}) {
		t.Errorf("attribute errors %+v", aes)
	}
	if err == nil || !strings.Contains(err.Error(), "something else") {
		t.Errorf("err = %v, want the plain error too", err)
	}
	f.cfg = func(sdk.Config) error { return sdk.AttrError("x", "bad") }
	var ae *sdk.AttributeError
	if err := g.Configure(ctxT(t), sdk.Config{}); !errors.As(err, &ae) || ae.Attribute != "x" {
		t.Errorf("err = %v", err)
	}
	f.cfg = nil
	if err := g.Configure(ctxT(t), sdk.Config{}); err != nil {
		t.Errorf("err = %v", err)
	}
}

func TestSpecAndInfoRoundTrip(t *testing.T) {
	spec := sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "s", Type: sdk.TypeString, Doc: "a string", Default: "x\"y", Enum: []string{"x\"y", "z"}},
		{Name: "r", Type: sdk.TypeString, Doc: "required", Required: true, Secret: true},
		{Name: "i", Type: sdk.TypeInt, Doc: "an int", Default: int64(-7), Min: sdk.Bound(-10), Max: sdk.Bound(1e9)},
		{Name: "f", Type: sdk.TypeFloat, Doc: "a float", Default: 1.0},
		{Name: "b", Type: sdk.TypeBool, Doc: "a bool", Default: true},
		{Name: "d", Type: sdk.TypeDuration, Doc: "a duration", Default: "1m30s"},
		{Name: "z1", Type: sdk.TypeSize, Doc: "a size", Default: int64(1 << 40)},
		{Name: "z2", Type: sdk.TypeSize, Doc: "a size", Default: "64KiB"},
		{Name: "l", Type: sdk.TypeStringList, Doc: "a list", Default: []string{"a", ""}},
		{Name: "m", Type: sdk.TypeStringMap, Doc: "a map", Default: map[string]string{"k": "v"}},
		{Name: "n", Type: sdk.TypeInt, Doc: "no default"},
		{Name: "tl", Type: sdk.TypeStringList, Doc: "host-filled", Host: sdk.HostTables},
	}}
	f := newFilter(nil)
	f.spec = spec
	g := sdktest.GRPCPair[sdk.Filter](t, f)
	if !reflect.DeepEqual(g.Spec(), spec) {
		t.Errorf("Spec() =\n%#v\nwant\n%#v", g.Spec(), spec)
	}
	if g.Info() != f.Info() {
		t.Errorf("Info() = %+v, want %+v", g.Info(), f.Info())
	}
}

func TestDispenseWrongKind(t *testing.T) {
	cfg, err := protocol.ServeConfig(newSink())
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.VersionedPlugins[protocol.ProtocolVersion]
	set["source"] = hostOnly{protocol.VersionedPlugins()[protocol.ProtocolVersion]["source"].(plugin.GRPCPlugin)}
	client, server := plugin.TestPluginGRPCConn(t, false, set)
	defer client.Close()
	defer server.Stop()
	_, err = client.Dispense("source")
	if err == nil || !strings.Contains(err.Error(), "does not serve the source protocol") {
		t.Fatalf("err = %v", err)
	}
}

// hostOnly is a plugin kind the in-process server does not serve.
type hostOnly struct{ plugin.GRPCPlugin }

func (hostOnly) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error  { return nil }
func (hostOnly) Server(*plugin.MuxBroker) (any, error)              { return nil, errors.New("no") }
func (hostOnly) Client(*plugin.MuxBroker, *rpc.Client) (any, error) { return nil, errors.New("no") }

type notAFilter struct{ base }

func TestServeConfigChecksKind(t *testing.T) {
	if _, err := protocol.ServeConfig(notAFilter{base{kind: sdk.KindFilter}}); err == nil || !strings.Contains(err.Error(), "does not implement") {
		t.Errorf("err = %v", err)
	}
	if _, err := protocol.ServeConfig(notAFilter{base{kind: "gizmo"}}); err == nil {
		t.Error("an unknown kind should be refused")
	}
	bad := newFilter(nil)
	bad.spec = sdk.Spec{Attributes: []sdk.Attribute{{Name: "Bad Name", Type: sdk.TypeString}}}
	if _, err := protocol.ServeConfig(bad); err == nil {
		t.Error("an invalid spec should be refused")
	}
}

func TestVersionedPlugins(t *testing.T) {
	vp := protocol.VersionedPlugins()
	set, ok := vp[protocol.ProtocolVersion]
	if len(vp) != 1 || !ok {
		t.Fatalf("versions %v", vp)
	}
	for _, k := range sdk.Kinds {
		if _, ok := set[string(k)].(plugin.GRPCPlugin); !ok {
			t.Errorf("no gRPC plugin for %s", k)
		}
	}
}
