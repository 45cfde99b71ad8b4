package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

// checkingPlugin is a plugin whose prechecks answer checks(call) (call 1 first).
type checkingPlugin struct {
	sdk.UnimplementedSink
	calls  atomic.Int32
	checks func(call int) []sdk.Check
}

func (p *checkingPlugin) Info() sdk.Info                              { return sdk.Info{Name: "fake"} }
func (p *checkingPlugin) Spec() sdk.Spec                              { return sdk.Spec{} }
func (p *checkingPlugin) Configure(context.Context, sdk.Config) error { return nil }
func (p *checkingPlugin) Precheck(context.Context) ([]sdk.Check, error) {
	return p.checks(int(p.calls.Add(1))), nil
}

func fakeLoaded(sink sdk.Plugin) *loaded {
	inst := func(k sdk.Kind, p sdk.Plugin) *plugin.Instance {
		return &plugin.Instance{Ref: plugin.Ref{Kind: k, Name: "fake"}, Plugin: p}
	}
	return &loaded{File: &config.File{Pipeline: &config.Pipeline{Name: "p"}},
		Source:     inst(sdk.KindSource, &checkingPlugin{checks: func(int) []sdk.Check { return nil }}),
		Serializer: inst(sdk.KindSerializer, &checkingPlugin{checks: func(int) []sdk.Check { return nil }}),
		Sink:       inst(sdk.KindSink, sink)}
}

func fastStartupRetry(t *testing.T) {
	old := startupRetry
	startupRetry = pipeline.RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	t.Cleanup(func() { startupRetry = old })
}

var refusedCheck = sdk.Check{Name: "rocketmq_connectivity", Status: sdk.CheckFail,
	Detail: "127.0.0.1:14191: dial tcp 127.0.0.1:14191: connect: connection refused"}

func TestPrecheckWaitsForConnectivity(t *testing.T) {
	fastStartupRetry(t)
	sink := &checkingPlugin{checks: func(call int) []sdk.Check {
		if call <= 3 {
			return []sdk.Check{refusedCheck, {Name: "rocketmq_topic", Status: sdk.CheckFail, Detail: "unknown"}}
		}
		return []sdk.Check{{Name: "rocketmq_connectivity", Status: sdk.CheckPass}, {Name: "rocketmq_topic", Status: sdk.CheckPass}}
	}}
	core, logs := observer.New(zapcore.InfoLevel)
	tr := status.NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	var seen atomic.Pointer[status.Snapshot]
	var out strings.Builder
	g := &globals{}
	// The second attempt samples the status the first one's wait set.
	inner := sink.checks
	sink.checks = func(call int) []sdk.Check {
		if call == 2 {
			s := tr.Snapshot()
			seen.Store(&s)
		}
		return inner(call)
	}
	err := precheckWaiting(context.Background(), g, fakeLoaded(sink), nil, &out, time.Now().Add(time.Minute), tr, zap.New(core))
	if err != nil {
		t.Fatalf("precheckWaiting = %v\n%s", err, out.String())
	}
	if n := sink.calls.Load(); n != 4 {
		t.Errorf("%d precheck attempts, want 4", n)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warns) != 3 {
		t.Fatalf("%d warnings, want 3: %v", len(warns), logs.All())
	}
	f := warns[0].ContextMap()
	if !strings.Contains(warns[0].Message, "sink fake") || f["kind"] != "sink" || f["plugin"] != "fake" || f["address"] != "127.0.0.1:14191" || f["attempt"] != int64(1) ||
		f["check"] != "rocketmq_connectivity" || f["next_retry_in"] == nil {
		t.Errorf("warning %q %v", warns[0].Message, f)
	}
	s := seen.Load()
	if s == nil || s.Phase != status.PhaseWaiting || s.Waiting == nil || s.Waiting.For != `sink "fake"` ||
		s.Waiting.Address != "127.0.0.1:14191" || s.Waiting.What != "precheck" || s.Waiting.Attempt != 1 {
		t.Errorf("status while waiting: %+v", s)
	}
	if got := tr.Snapshot(); got.Phase != status.PhaseStarting || got.Waiting != nil {
		t.Errorf("status after waiting: phase %q, waiting %+v", got.Phase, got.Waiting)
	}
	if !strings.Contains(out.String(), "precheck: passed") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestPrecheckDoesNotWaitForOtherFailures(t *testing.T) {
	fastStartupRetry(t)
	for name, checks := range map[string][]sdk.Check{
		"topic missing": {{Name: "rocketmq_connectivity", Status: sdk.CheckPass}, {Name: "rocketmq_topic", Status: sdk.CheckFail, Detail: "no topic t"}},
		"configuration": {{Name: "configuration", Status: sdk.CheckFail, Detail: "host: bad"}},
	} {
		t.Run(name, func(t *testing.T) {
			sink := &checkingPlugin{checks: func(int) []sdk.Check { return checks }}
			tr := status.NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
			err := precheckWaiting(context.Background(), &globals{}, fakeLoaded(sink), nil, io.Discard, time.Now().Add(time.Hour), tr, zap.NewNop())
			if codeOf(err) != ExitPrecheck {
				t.Fatalf("error %v (exit %d), want exit %d", err, codeOf(err), ExitPrecheck)
			}
			if n := sink.calls.Load(); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
	t.Run("connectivity skipped", func(t *testing.T) {
		sink := &checkingPlugin{checks: func(int) []sdk.Check { return []sdk.Check{refusedCheck} }}
		tr := status.NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
		err := precheckWaiting(context.Background(), &globals{}, fakeLoaded(sink), []string{"rocketmq_connectivity"}, io.Discard,
			time.Now().Add(time.Hour), tr, zap.NewNop())
		if err != nil || sink.calls.Load() != 1 {
			t.Errorf("error %v after %d attempts", err, sink.calls.Load())
		}
	})
}

func TestPrecheckWaitGivesUp(t *testing.T) {
	fastStartupRetry(t)
	sink := &checkingPlugin{checks: func(int) []sdk.Check { return []sdk.Check{refusedCheck} }}
	tr := status.NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	var out strings.Builder
	start := time.Now()
	err := precheckWaiting(context.Background(), &globals{}, fakeLoaded(sink), nil, &out, start.Add(80*time.Millisecond), tr, zap.NewNop())
	if codeOf(err) != ExitPrecheck {
		t.Fatalf("error %v, want exit %d", err, ExitPrecheck)
	}
	if time.Since(start) < 80*time.Millisecond || sink.calls.Load() < 3 {
		t.Errorf("gave up after %s and %d attempts", time.Since(start), sink.calls.Load())
	}
	if !strings.Contains(out.String(), "connection refused") {
		t.Errorf("the last attempt's table is not printed:\n%s", out.String())
	}
	if tr.Snapshot().Phase == status.PhaseWaiting {
		t.Error("still waiting in status")
	}
}

func TestPrecheckWaitEndsOnCancel(t *testing.T) {
	old := startupRetry
	startupRetry = pipeline.RetryPolicy{Initial: time.Hour}
	t.Cleanup(func() { startupRetry = old })
	ctx, cancel := context.WithCancel(context.Background())
	sink := &checkingPlugin{checks: func(call int) []sdk.Check {
		if call == 1 {
			time.AfterFunc(20*time.Millisecond, cancel)
		}
		return []sdk.Check{refusedCheck}
	}}
	tr := status.NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	done := make(chan error, 1)
	go func() {
		done <- precheckWaiting(ctx, &globals{}, fakeLoaded(sink), nil, io.Discard, time.Now().Add(time.Hour), tr, zap.NewNop())
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want the cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end on cancel")
	}
}

// waitPipeline is a pipeline whose file sink appends to dir/out.jsonl, which it makes a
// directory: the sink's Open fails ("is a directory") until the test removes it.
func waitPipeline(t *testing.T, bins, dir, wait string) string {
	if err := os.Mkdir(filepath.Join(dir, "out.jsonl"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return strconv.Quote(filepath.Join(bins, "plugins", n)) }
	return `pipeline "waits" {
  source "generator" {
    plugin_path = ` + p("ferry-source-generator") + `
    rows  = 10
    count = 200
    rate  = 1000
  }
  serializer "jsonl" { plugin_path = ` + p("ferry-serializer-jsonl") + ` }
  sink "file" {
    plugin_path = ` + p("ferry-sink-file") + `
    path = ` + strconv.Quote(filepath.Join(dir, "out.jsonl")) + `
  }
  runtime { startup_wait = "` + wait + `" }
  checkpoint { dir = "cp" }
}
`
}

func getStatus(addr string) (status.Snapshot, error) {
	var s status.Snapshot
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// A sink that cannot open at start is waited for (runtime startup_wait), shown in the log and
// in /status, and the run goes on once it opens.
func TestE2EStartupWaitForSink(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "p.hcl", waitPipeline(t, bins, dir, "2m"))
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--status-addr", addr, cfg)
	cmd.Dir = dir
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var s status.Snapshot
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		s, err = getStatus(addr)
		if err == nil && s.Phase == status.PhaseWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no waiting phase in /status (%+v, %v):\n%s", s, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // a real ferry process: poll its status server
	}
	if w := s.Waiting; w == nil || w.For != `sink "file"` || w.What != "open" || w.Attempt < 1 ||
		!strings.Contains(w.Error, "is a directory") || !w.GiveUpAt.After(w.NextAttemptAt) {
		t.Errorf("waiting %+v", s.Waiting)
	}
	text, err := exec.Command(filepath.Join(bins, "ferry"), "status", "--addr", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(text), `waiting for      sink "file" (open, attempt`) {
		t.Errorf("ferry status (%v):\n%s", err, text)
	}
	// A SIGHUP while waiting neither kills ferry nor reloads yet: the reload is applied once
	// the plugins are open.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a real process: nothing to wait on shows the SIGHUP was held back
	if strings.Contains(logs.String(), "SIGHUP: reloading") {
		t.Errorf("reloaded during the start-up wait:\n%s", logs.String())
	}
	if err := os.Remove(filepath.Join(dir, "out.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 60*time.Second); err != nil {
		t.Fatalf("run exited with %v:\n%s", err, logs.String())
	}
	if n := len(readLines(t, filepath.Join(dir, "out.jsonl"))); n == 0 {
		t.Errorf("nothing written after the sink opened:\n%s", logs.String())
	}
	for _, want := range []string{"waiting for the sink to open", `"attempt"`, "next_retry_in", "opened after waiting"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if o, h := strings.Index(logs.String(), "opened after waiting"), strings.Index(logs.String(), "SIGHUP: reloading"); h < o {
		t.Errorf("the SIGHUP of the wait was not applied after the open (at %d, open at %d):\n%s", h, o, logs.String())
	}
}

// Without a start-up wait (--wait 0 overrides the file's), the sink's Open error fails the
// run at once, exit code 1 as before.
func TestE2EStartupWaitOverriddenByFlag(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "p.hcl", waitPipeline(t, bins, dir, "10m"))
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--wait", "0", "--status-addr", "", cfg)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != ExitFailure {
		t.Fatalf("exit %v, want %d:\n%s", err, ExitFailure, out)
	}
	if d := time.Since(start); d > 30*time.Second || strings.Contains(string(out), "waiting for") {
		t.Errorf("waited (%s):\n%s", d, out)
	}
	if !strings.Contains(string(out), "is a directory") {
		t.Errorf("the error is not reported:\n%s", out)
	}
}

// SIGINT ends a start-up wait at once, as a clean stop.
func TestE2EStartupWaitEndsOnSignal(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "p.hcl", waitPipeline(t, bins, dir, "0s"))
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--wait", "10m", "--status-addr", "", cfg)
	cmd.Dir = dir
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "waiting for the sink to open") {
		if time.Now().After(deadline) {
			t.Fatalf("no wait:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond) // a real ferry process: poll its log
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := waitExit(cmd, 10*time.Second); err != nil {
		t.Fatalf("exit %v after SIGINT, want 0:\n%s", err, logs.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped %s after SIGINT", d)
	}
}

func TestRunWaitFlagNegative(t *testing.T) {
	var out strings.Builder
	code := Main([]string{"run", "--wait=-1s", "x.hcl"}, &out, &out)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d:\n%s", code, ExitUsage, out.String())
	}
}

// codeOf is the exit code an error of a command maps to.
func codeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return ExitFailure
	}
	return ExitOK
}

// waitExit waits for cmd to exit, killing it after d.
func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("did not exit within " + d.String())
	}
}
