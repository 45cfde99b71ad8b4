package protocol_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/filter"
	"github.com/ferry-cdc/ferry/sdk/examples/serializer"
	"github.com/ferry-cdc/ferry/sdk/examples/source"
	"github.com/ferry-cdc/ferry/sdk/protocol"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// The example plugins and testdata/v99, built once per test binary run.
var binaries = map[string]string{
	"ferry-source-generator": "github.com/ferry-cdc/ferry/sdk/examples/source/cmd",
	"ferry-filter-drop":      "github.com/ferry-cdc/ferry/sdk/examples/filter/cmd",
	"ferry-serializer-jsonl": "github.com/ferry-cdc/ferry/sdk/examples/serializer/cmd",
	"ferry-sink-file":        "github.com/ferry-cdc/ferry/sdk/examples/sink/cmd",
	"ferry-serializer-v99":   "./testdata/v99",
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goTool is the go command running the tests: go test puts its own GOROOT/bin first in the
// test binary's PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// pluginBin builds the plugin binaries (once) and returns the path of one.
func pluginBin(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs plugin binaries")
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "ferry-plugins-"); buildErr != nil {
			return
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for bin, pkg := range binaries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := exec.Command(goTool(), "build", "-o", filepath.Join(binDir, bin), pkg).CombinedOutput()
				if err != nil {
					mu.Lock()
					buildErr = errors.Join(buildErr, fmt.Errorf("go build %s: %v\n%s", pkg, err, out))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// launch starts a plugin binary as ferry does and dispenses its kind.
func launch[T any](t testing.TB, name string, kind sdk.Kind) (T, *plugin.Client) {
	t.Helper()
	var zero T
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.VersionedPlugins(),
		Cmd:              exec.Command(pluginBin(t, name)),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: name, Output: io.Discard}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		t.Fatalf("dispense %s from %s: %v", kind, name, err)
	}
	v, ok := raw.(T)
	if !ok {
		t.Fatalf("%s: %T is not a %T", name, raw, zero)
	}
	return v, client
}

func configure(t testing.TB, p sdk.Plugin, cfg string) {
	t.Helper()
	if err := p.Configure(context.Background(), sdk.NewConfig([]byte(cfg))); err != nil {
		t.Fatalf("configure %s: %v", p.Info().Name, err)
	}
}

const (
	genConfig  = `{"rows":50,"count":3000,"seed":5,"batch_size":64}`
	dropConfig = `{"ops":["delete"]}`
)

// hostRecords fills the record fields the host is responsible for.
func hostRecords(recs []sdk.Record, cs []*change.Change) {
	for i := range recs {
		r := &recs[i]
		c := cs[r.Change]
		r.Hash, r.ChangeID, r.Op, r.Database, r.Table = c.KeyHash(nil), c.ID, c.Op, c.Database, c.TableName
		r.CommitTime, r.Position = c.CommitTime, c.Position
	}
}

// TestOutOfProcessPipeline runs generator → drop → jsonl → file, each plugin in its own
// process, over real gRPC streams, and checks the file line by line.
func TestOutOfProcessPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, _ := launch[sdk.Source](t, "ferry-source-generator", sdk.KindSource)
	flt, _ := launch[sdk.Filter](t, "ferry-filter-drop", sdk.KindFilter)
	ser, _ := launch[sdk.Serializer](t, "ferry-serializer-jsonl", sdk.KindSerializer)
	snk, _ := launch[sdk.Sink](t, "ferry-sink-file", sdk.KindSink)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	configure(t, src, genConfig)
	configure(t, flt, dropConfig)
	configure(t, ser, `{}`)
	configure(t, snk, fmt.Sprintf(`{"path":%q}`, path))
	if err := src.Open(ctx, sdk.OpenRequest{Pipeline: "oop"}); err != nil {
		t.Fatal(err)
	}
	if err := snk.Open(ctx); err != nil {
		t.Fatal(err)
	}

	var sent []sdk.Record
	var kept []*change.Change
	batches := 0
	for {
		b, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches++
		cs, err := flt.Filter(ctx, b.Changes)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := ser.Serialize(ctx, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		hostRecords(recs, cs)
		n, err := snk.Write(ctx, recs)
		if err != nil || n != len(recs) {
			t.Fatalf("Write = %d, %v; want %d", n, err, len(recs))
		}
		kept = append(kept, cs...)
		sent = append(sent, recs...)
	}
	for _, p := range []interface{ Close(context.Context) error }{src, snk} {
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if batches < 3000/64 {
		t.Errorf("%d batches", batches)
	}

	// The same pipeline in process gives the same changes and the same messages (but for
	// commit times: the generator stamps changes with the time they are read).
	want := inProcess(t)
	if len(kept) != len(want) {
		t.Fatalf("%d changes went through, want %d", len(kept), len(want))
	}
	lines := readFile(t, path)
	if len(lines) != len(want) {
		t.Fatalf("%d lines in the file, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		w := want[i]
		if l.ID != w.ChangeID || l.Op != w.Op.String() || l.Key != w.Key || l.Hash != w.Hash ||
			l.Value != string(sent[i].Value) || withoutCommitTime(t, l.Value) != withoutCommitTime(t, string(w.Value)) {
			t.Fatalf("line %d = %+v\nwant id %s op %s key %q hash %d value %s", i, l, w.ChangeID, w.Op, w.Key, w.Hash, w.Value)
		}
	}
}

func inProcess(t *testing.T) []sdk.Record {
	ctx := context.Background()
	src, flt, ser := source.New(), filter.New(), serializer.New()
	configure(t, src, genConfig)
	configure(t, flt, dropConfig)
	configure(t, ser, `{}`)
	if err := src.Open(ctx, sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	var out []sdk.Record
	for {
		b, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := flt.Filter(ctx, b.Changes)
		recs, _ := ser.Serialize(ctx, cs, nil)
		hostRecords(recs, cs)
		out = append(out, recs...)
	}
}

type fileLine struct {
	Topic, Key, ID, Op, Value string
	Hash                      uint64
}

func readFile(t *testing.T, path string) []fileLine {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fileLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l fileLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d: %v", len(out), err)
		}
		out = append(out, l)
	}
	return out
}

func withoutCommitTime(t *testing.T, v string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	delete(m, "commit_ms")
	b, _ := json.Marshal(m)
	return string(b)
}

// TestOutOfProcessResume reads part of the stream from one generator process, then resumes
// at a batch position in another and gets exactly the changes that followed.
func TestOutOfProcessResume(t *testing.T) {
	ctx := context.Background()
	read := func(pos change.Position, batches int) []*change.Batch {
		src, _ := launch[sdk.Source](t, "ferry-source-generator", sdk.KindSource)
		configure(t, src, genConfig)
		if err := src.Open(ctx, sdk.OpenRequest{Position: pos}); err != nil {
			t.Fatal(err)
		}
		var out []*change.Batch
		for len(out) < batches {
			b, err := src.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := read(nil, 10)
	rest := read(first[4].Position, 5)
	for i, b := range rest {
		for j, c := range b.Changes {
			if w := first[5+i].Changes[j]; c.ID != w.ID || c.Op != w.Op || !c.Row()[0].Equal(w.Row()[0]) {
				t.Fatalf("resumed batch %d change %d is %s, want %s", i, j, c.ID, w.ID)
			}
		}
	}
}

// TestOutOfProcessCrash checks that a plugin survives SIGINT, then kills it: calls fail
// with a lost connection.
func TestOutOfProcessCrash(t *testing.T) {
	snk, client := launch[sdk.Sink](t, "ferry-sink-file", sdk.KindSink)
	configure(t, snk, fmt.Sprintf(`{"path":%q}`, filepath.Join(t.TempDir(), "out.jsonl")))
	if err := snk.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := snk.Write(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	pid := client.ReattachConfig().Pid
	// An interrupt (a Ctrl-C in ferry's terminal reaches the plugins too) is ignored: the
	// host drives shutdown.
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a real plugin process: nothing to wait on shows that it ignored the signal
	if _, err := snk.Write(context.Background(), nil); err != nil || client.Exited() {
		t.Fatalf("after SIGINT: %v (exited %v)", err, client.Exited())
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err = snk.Write(context.Background(), nil); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // a real process: poll until the host sees the connection gone
	}
	if !errors.Is(err, protocol.ErrConnectionLost) {
		t.Fatalf("Write to a dead plugin: err = %v, want a lost connection", err)
	}
	t.Logf("after the crash: %v", err)
}

// TestProtocolVersionMismatch launches a plugin that speaks protocol 99.
func TestProtocolVersionMismatch(t *testing.T) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.VersionedPlugins(),
		Cmd:              exec.Command(pluginBin(t, "ferry-serializer-v99")),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	defer client.Kill()
	_, err := client.Client()
	if err == nil {
		t.Fatal("a plugin speaking protocol 99 was accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "Plugin version: 99") || !strings.Contains(msg, fmt.Sprintf("[%d]", protocol.ProtocolVersion)) {
		t.Fatalf("the error should name both versions: %v", err)
	}
	t.Logf("refused: %v", err)
}
