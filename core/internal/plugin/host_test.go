package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// bins builds, once per test run, ferry itself (to serve built-ins out of process), the example
// plugins as external executables, and the crashing test plugin.
func bins(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ferry-plugin-test")
		if buildErr != nil {
			return
		}
		targets := map[string]string{
			"ferry":                  "github.com/ferry-cdc/ferry/core/cmd/ferry",
			"ferry-source-generator": "github.com/ferry-cdc/ferry/sdk/examples/source/cmd",
			"ferry-sink-file":        "github.com/ferry-cdc/ferry/sdk/examples/sink/cmd",
			"ferry-sink-crash":       "./testdata/crashsink",
		}
		for name, pkg := range targets {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = errors.New(string(out))
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func testHost(t *testing.T, log *zap.Logger) *Host {
	t.Helper()
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	dir := bins(t)
	if log == nil {
		log = zap.NewNop()
	}
	h := &Host{Registry: reg, Dirs: []string{filepath.Join(dir, "none"), dir}, Executable: filepath.Join(dir, "ferry"), Logger: log}
	t.Cleanup(h.Close)
	return h
}

func TestRegistryChecksBuiltins(t *testing.T) {
	if _, err := BuiltinRegistry(); err != nil {
		t.Fatal(err)
	}
	gen := Builtins()[0]
	if _, err := NewRegistry(gen, gen); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate accepted: %v", err)
	}
	wrongName := Builtin{Kind: sdk.KindSource, Name: "other", New: gen.New}
	if _, err := NewRegistry(wrongName); err == nil || !strings.Contains(err.Error(), "reports itself") {
		t.Errorf("mismatched name accepted: %v", err)
	}
	wrongKind := Builtin{Kind: sdk.KindSink, Name: "generator", New: gen.New}
	if _, err := NewRegistry(wrongKind); err == nil {
		t.Error("mismatched kind accepted")
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"ferry-sink-good":       0o755,
		"ferry-sink-notexec":    0o644,
		"ferry-gizmo-x":         0o755,
		"ferry-serializer-a.sh": 0o755,
		"other":                 0o755,
		"ferry-filter-ok":       0o755,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	got := Discover([]string{filepath.Join(dir, "missing"), dir})
	var names []string
	for _, e := range got {
		names = append(names, string(e.Kind)+"/"+e.Name)
	}
	if strings.Join(names, ",") != "filter/ok,sink/good" {
		t.Errorf("discovered %v", names)
	}
}

func TestLoadBuiltinInProcessAndOutOfProcess(t *testing.T) {
	h := testHost(t, nil)
	ctx := context.Background()
	in, err := h.Load(ctx, Ref{Kind: sdk.KindSource, Name: "generator"})
	if err != nil {
		t.Fatal(err)
	}
	if in.OutOfProcess() || in.Location != "built-in" {
		t.Errorf("in-process load: %+v", in)
	}
	out, err := h.Load(ctx, Ref{Kind: sdk.KindSource, Name: "generator", OutOfProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	if !out.OutOfProcess() || out.Info.Name != "generator" || out.Info.Version == "" {
		t.Errorf("out-of-process load: %+v", out.Info)
	}
	// Both transports read the same batches.
	read := func(inst *Instance) []string {
		src := inst.Plugin.(sdk.Source)
		if err := src.Configure(ctx, sdk.NewConfig([]byte(`{"rows":5,"count":12,"batch_size":4,"seed":3}`))); err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, sdk.OpenRequest{Pipeline: "t"}); err != nil {
			t.Fatal(err)
		}
		defer src.Close(ctx)
		var ids []string
		for {
			b, err := src.Read(ctx)
			if err != nil {
				break
			}
			for _, c := range b.Changes {
				ids = append(ids, c.ID+"/"+c.Op.String())
			}
		}
		return ids
	}
	a, b := read(in), read(out)
	if len(a) != 12 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("in-process read %v\nout-of-process read %v", a, b)
	}
}

func TestLoadExternalFromPluginDir(t *testing.T) {
	h := testHost(t, nil)
	inst, err := h.Load(context.Background(), Ref{Kind: sdk.KindSink, Name: "file"})
	if err != nil {
		t.Fatal(err)
	}
	// The built-in wins over the directory for the same name.
	if inst.Location != "built-in" {
		t.Errorf("location %q", inst.Location)
	}
	inst, err = h.Load(context.Background(), Ref{Kind: sdk.KindSink, Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(inst.Location, "ferry-sink-crash") || !inst.OutOfProcess() {
		t.Errorf("location %q", inst.Location)
	}
}

func TestLoadNotFoundSuggests(t *testing.T) {
	h := testHost(t, nil)
	_, err := h.Load(context.Background(), Ref{Kind: sdk.KindSink, Name: "fiel"})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`sink plugin "fiel" not found`, "ferry-sink-fiel", binDir, `did you mean "file"?`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
}

func TestLoadVersionMismatch(t *testing.T) {
	dir := bins(t)
	v99 := filepath.Join(dir, "ferry-serializer-v99")
	if out, err := exec.Command("go", "build", "-o", v99, "github.com/ferry-cdc/ferry/sdk/protocol/testdata/v99").CombinedOutput(); err != nil {
		t.Fatalf("build: %s", out)
	}
	h := testHost(t, nil)
	_, err := h.Load(context.Background(), Ref{Kind: sdk.KindSerializer, Name: "v99", Path: v99})
	var ve *VersionError
	if !errors.As(err, &ve) || !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{`serializer plugin "v99"`, v99, "ferry speaks [1]", "99"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestCrashReportsNameAndLastOutput(t *testing.T) {
	h := testHost(t, nil)
	ctx := context.Background()
	inst, err := h.Load(ctx, Ref{Kind: sdk.KindSink, Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	sink := inst.Plugin.(sdk.Sink)
	if err := sink.Configure(ctx, sdk.NewConfig(nil)); err != nil {
		t.Fatal(err)
	}
	if err := sink.Open(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = sink.Write(wctx, []sdk.Record{{Value: []byte("x")}, {Value: []byte("y")}})
	var ce *CrashError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCrashed) {
		t.Fatalf("got %v (exited %v)", err, inst.Exited())
	}
	for _, want := range []string{`sink plugin "crash"`, "ferry-sink-crash", "crashed", "panic: out of disk (simulated) on a batch of 2 records", "crashsink/main.go"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// notifyCore is a zap core that signals notify after each entry it writes, so that a test
// waits for a plugin's log line on a channel.
type notifyCore struct {
	zapcore.Core
	notify chan struct{}
}

// observeLogs is observer.New whose entries also signal the returned channel.
func observeLogs(level zapcore.LevelEnabler) (zapcore.Core, *observer.ObservedLogs, <-chan struct{}) {
	core, logs := observer.New(level)
	n := &notifyCore{Core: core, notify: make(chan struct{}, 1)}
	return n, logs, n.notify
}

func (c *notifyCore) With(fields []zapcore.Field) zapcore.Core {
	return &notifyCore{Core: c.Core.With(fields), notify: c.notify}
}

func (c *notifyCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *notifyCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	err := c.Core.Write(e, fields)
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return err
}

// waitLog returns the first entry of logs that match accepts, waiting on notify for newer
// ones; nil when none came within 5 s.
func waitLog(logs *observer.ObservedLogs, notify <-chan struct{}, match func(observer.LoggedEntry) bool) *observer.LoggedEntry {
	deadline := time.After(5 * time.Second)
	for {
		for _, e := range logs.All() {
			if match(e) {
				return &e
			}
		}
		select {
		case <-notify:
		case <-deadline:
			return nil
		}
	}
}

func TestPluginLogsForwardedWithName(t *testing.T) {
	core, logs, notify := observeLogs(zap.DebugLevel)
	h := testHost(t, zap.New(core))
	ctx := context.Background()
	inst, err := h.Load(ctx, Ref{Kind: sdk.KindSink, Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	sink := inst.Plugin.(sdk.Sink)
	_ = sink.Configure(ctx, sdk.NewConfig(nil))
	e := waitLog(logs, notify, func(e observer.LoggedEntry) bool { return strings.Contains(e.Message, "crashsink: configured") })
	if e == nil {
		t.Errorf("plugin stderr not forwarded; got %d entries", logs.Len())
		return
	}
	if e.ContextMap()["plugin"] != "crash" || e.ContextMap()["kind"] != "sink" {
		t.Errorf("forwarded line without the plugin's name: %v", e.ContextMap())
	}
}

func TestCheckCrashLeavesLiveErrorsAlone(t *testing.T) {
	inst := &Instance{Ref: Ref{Kind: sdk.KindSink, Name: "x"}}
	err := errors.New("broker busy")
	if got := inst.checkCrash(err); got != err {
		t.Errorf("in-process error rewritten: %v", got)
	}
	var _ = change.Position(nil)
}

// A plugin's sdk.Config.Logger reaches the host's zap logger with the pipeline's and the
// plugin's fields and its level, whether the plugin runs in process, served out of process by
// ferry itself, or as an external executable; debug lines pass only when the host logs debug.
func TestPluginLoggerBothWays(t *testing.T) {
	for _, level := range []zapcore.Level{zap.DebugLevel, zap.InfoLevel} {
		for _, ref := range []Ref{
			{Kind: sdk.KindSource, Name: "generator"},
			{Kind: sdk.KindSource, Name: "generator", OutOfProcess: true},
			{Kind: sdk.KindSource, Name: "generator", Path: filepath.Join(bins(t), "ferry-source-generator")},
		} {
			t.Run(level.String()+"/"+location(ref), func(t *testing.T) {
				core, logs, notify := observeLogs(level)
				h := testHost(t, zap.New(core))
				h.Pipeline = "p1"
				ctx := context.Background()
				inst, err := h.Load(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				src := inst.Plugin.(sdk.Source)
				cfg := sdk.NewConfig([]byte(`{"rows":1,"count":2,"rate":5}`)).WithLogger(inst.Logger)
				if err := src.Configure(ctx, cfg); err != nil {
					t.Fatal(err)
				}
				if err := src.Open(ctx, sdk.OpenRequest{Pipeline: "p1"}); err != nil {
					t.Fatal(err)
				}
				defer src.Close(ctx)
				find := func(msg string) *observer.LoggedEntry {
					for _, e := range logs.All() {
						if e.Message == msg {
							return &e
						}
					}
					return nil
				}
				info := waitLog(logs, notify, func(e observer.LoggedEntry) bool { return e.Message == "generating changes" })
				if info == nil {
					t.Fatalf("plugin log line not received; got %d entries", logs.Len())
				}
				m := info.ContextMap()
				if info.Level != zap.InfoLevel || m["pipeline"] != "p1" || m["plugin"] != "generator" || m["kind"] != "source" {
					t.Errorf("entry %v %v", info.Level, m)
				}
				if r, ok := m["rate"].(float64); !ok || r != 5 || fmt.Sprint(m["count"]) != "2" {
					t.Errorf("fields %v", m)
				}
				for _, k := range []string{"@module", "timestamp"} {
					if _, ok := m[k]; ok {
						t.Errorf("hclog key %s kept: %v", k, m)
					}
				}
				debug := find("generator state ready") // logged before the info line
				if level == zap.DebugLevel && (debug == nil || debug.Level != zap.DebugLevel) {
					t.Errorf("debug line %v with the host at debug", debug)
				}
				if level == zap.InfoLevel && debug != nil {
					t.Errorf("debug line logged with the host at info")
				}
			})
		}
	}
}

func location(r Ref) string {
	switch {
	case r.Path != "":
		return "external"
	case r.OutOfProcess:
		return "out-of-process"
	}
	return "in-process"
}
