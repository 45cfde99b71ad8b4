package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	exsource "github.com/ferry-cdc/ferry/sdk/examples/source"
)

// These tests drive the real ferry binary with the SDK example plugins built as external
// executables, so every batch crosses a process boundary over the plugin protocol.

var (
	e2eOnce sync.Once
	e2eDir  string
	e2eErr  error
)

func e2eBins(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries")
	}
	e2eOnce.Do(func() {
		e2eDir, e2eErr = os.MkdirTemp("", "ferry-e2e")
		if e2eErr != nil {
			return
		}
		targets := map[string]string{
			"ferry":                          "github.com/ferry-cdc/ferry/core/cmd/ferry",
			"plugins/ferry-source-generator": "github.com/ferry-cdc/ferry/sdk/examples/source/cmd",
			"plugins/ferry-filter-drop":      "github.com/ferry-cdc/ferry/sdk/examples/filter/cmd",
			"plugins/ferry-serializer-jsonl": "github.com/ferry-cdc/ferry/sdk/examples/serializer/cmd",
			"plugins/ferry-sink-file":        "github.com/ferry-cdc/ferry/sdk/examples/sink/cmd",
		}
		for name, pkg := range targets {
			// Built as make build does: static, without cgo.
			build := exec.Command("go", "build", "-o", filepath.Join(e2eDir, name), pkg)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				e2eErr = errors.New(string(out))
				return
			}
		}
	})
	if e2eErr != nil {
		t.Fatalf("build: %v", e2eErr)
	}
	return e2eDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eDir != "" {
		os.RemoveAll(e2eDir)
	}
	os.Exit(code)
}

// outOfProcess names every plugin by path, so none of them is the built-in.
func outOfProcessPipeline(bins, out string, count int) string {
	p := func(n string) string { return strconv.Quote(filepath.Join(bins, "plugins", n)) }
	return `pipeline "e2e" {
  source "generator" {
    plugin_path = ` + p("ferry-source-generator") + `
    rows = 100
    count = ` + strconv.Itoa(count) + `
    batch_size = 50
    rate = 20000
  }
  filter "drop" {
    plugin_path = ` + p("ferry-filter-drop") + `
    ops = ["delete"]
  }
  serializer "jsonl" { plugin_path = ` + p("ferry-serializer-jsonl") + ` }
  sink "file" {
    plugin_path = ` + p("ferry-sink-file") + `
    path = ` + strconv.Quote(out) + `
  }
  runtime {
    writers    = 4
    batch_size = 64
  }
  checkpoint {
    dir = "cp"
    interval = "100ms"
  }
}
`
}

// expectedNonDeletes regenerates the generator's deterministic stream in-process and returns
// the sequence numbers of its changes that are not deletes.
func expectedNonDeletes(t *testing.T, count int) map[int]bool {
	t.Helper()
	ctx := context.Background()
	g := exsource.New()
	cfg := `{"rows":100,"count":` + strconv.Itoa(count) + `,"batch_size":50}`
	if err := g.Configure(ctx, sdk.NewConfig([]byte(cfg))); err != nil {
		t.Fatal(err)
	}
	if err := g.Open(ctx, sdk.OpenRequest{Pipeline: "expect"}); err != nil {
		t.Fatal(err)
	}
	defer g.Close(ctx)
	want := map[int]bool{}
	for {
		b, err := g.Read(ctx)
		if errors.Is(err, io.EOF) {
			return want
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b.Changes {
			if c.Op != change.OpDelete {
				want[seqOf(t, c.ID)] = true
			}
		}
	}
}

type fileLine struct {
	Key string `json:"key"`
	ID  string `json:"id"`
	Op  string `json:"op"`
}

func readLines(t *testing.T, path string) []fileLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fileLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l fileLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func seqOf(t *testing.T, id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "gen-"))
	if err != nil {
		t.Fatalf("id %q", id)
	}
	return n
}

func TestE2EOutOfProcessPipeline(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	cfg := writeFile(t, dir, "p.hcl", outOfProcessPipeline(bins, out, 3000))
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", cfg)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ferry run: %v\n%s", err, b)
	}
	got := readLines(t, out)
	if want := expectedNonDeletes(t, 3000); len(got) != len(want) {
		t.Fatalf("%d lines for %d non-delete changes", len(got), len(want))
	}
	// Per key, changes arrive in source order, and every non-delete change arrives once.
	lastPerKey := map[string]int{}
	seen := map[string]bool{}
	for _, l := range got {
		if l.Op == "delete" {
			t.Fatalf("delete passed the filter: %+v", l)
		}
		if seen[l.ID] {
			t.Fatalf("duplicate %s", l.ID)
		}
		seen[l.ID] = true
		s := seqOf(t, l.ID)
		if s <= lastPerKey[l.Key] {
			t.Fatalf("key %s: change %d after %d", l.Key, s, lastPerKey[l.Key])
		}
		lastPerKey[l.Key] = s
	}
	var cp struct {
		Checkpoint struct {
			Position []byte `json:"position"`
		} `json:"checkpoint"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cp", "e2e.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cp); err != nil || len(cp.Checkpoint.Position) != 8 || binary.BigEndian.Uint64(cp.Checkpoint.Position) != 3000 {
		t.Errorf("checkpoint position %x (%v), want sequence 3000", cp.Checkpoint.Position, err)
	}
}

// SIGINT stops gracefully with a final checkpoint; the next run resumes after it. Together the
// runs deliver every change, with duplicates only after the checkpoint of the first run.
func TestE2EGracefulStopAndResume(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	cfg := writeFile(t, dir, "p.hcl", outOfProcessPipeline(bins, out, 0)) // endless at 20,000/s
	statusAddr := freeAddr(t)
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--status-addr", statusAddr, cfg)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 200_000 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no output in time:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond) // a real ferry process: poll its output file
	}
	checkLiveStatus(t, bins, statusAddr)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := waitTimeout(t, cmd, 30*time.Second, &logs); err != nil {
		t.Fatalf("graceful stop exited with %v:\n%s", err, logs.String())
	}
	first := readLines(t, out)
	raw, err := os.ReadFile(filepath.Join(dir, "cp", "e2e.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Checkpoint struct {
			Position []byte `json:"position"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &cp); err != nil {
		t.Fatal(err)
	}
	stopAt := int(binary.BigEndian.Uint64(cp.Checkpoint.Position))
	maxFirst := 0
	for _, l := range first {
		maxFirst = max(maxFirst, seqOf(t, l.ID))
	}
	// A graceful stop drains everything read, so the checkpoint covers all that was written.
	if stopAt < maxFirst {
		t.Fatalf("checkpoint %d behind delivered change %d after a graceful stop", stopAt, maxFirst)
	}

	// Resume with a finite count past the stop point.
	total := stopAt + 2000
	writeFile(t, dir, "p.hcl", outOfProcessPipeline(bins, out, total))
	if b, err := exec.Command(filepath.Join(bins, "ferry"), "run", cfg).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	all := readLines(t, out)
	seen := map[int]int{}
	for _, l := range all {
		seen[seqOf(t, l.ID)]++
	}
	dups := 0
	for s, n := range seen {
		if n > 1 {
			dups++
			if s <= stopAt {
				t.Errorf("change %d, covered by the checkpoint, delivered %d times", s, n)
			}
		}
	}
	// Exactly the non-delete changes of the deterministic stream arrived: none lost.
	want := expectedNonDeletes(t, total)
	for s := range want {
		if seen[s] == 0 {
			t.Errorf("change %d lost", s)
		}
	}
	for s := range seen {
		if !want[s] {
			t.Errorf("change %d delivered but not expected", s)
		}
	}
	t.Logf("first run stopped at %d; %d lines in all; %d duplicates", stopAt, len(all), dups)
}

// A sink plugin killed with SIGKILL mid-run: ferry stops with exit code 1 and an error that
// names the plugin; the next run resumes from the checkpoint and nothing is lost.
func TestE2EPluginKilledMidRunResumesWithoutLoss(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	const total = 40000
	cfg := writeFile(t, dir, "p.hcl", outOfProcessPipeline(bins, out, total))
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", cfg)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 100_000 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no output in time:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond) // a real ferry process: poll its output file
	}
	pid := childPID(t, cmd.Process.Pid, "ferry-sink-file")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := waitTimeout(t, cmd, 30*time.Second, &logs)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitFailure {
		t.Fatalf("exit %v, want %d:\n%s", err, ExitFailure, logs.String())
	}
	for _, want := range []string{`sink plugin "file"`, "ferry-sink-file", "crashed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, logs.String())
		}
	}
	if n := len(readLines(t, out)); n >= len(expectedNonDeletes(t, total)) {
		t.Fatalf("the kill came too late to test anything (%d lines)", n)
	}

	if b, err := exec.Command(filepath.Join(bins, "ferry"), "run", cfg).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	seen := map[int]bool{}
	for _, l := range readLines(t, out) {
		seen[seqOf(t, l.ID)] = true
	}
	lost := 0
	for s := range expectedNonDeletes(t, total) {
		if !seen[s] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d changes lost after a plugin crash and resume", lost)
	}
}

// childPID finds the child process of parent whose command line contains name.
func childPID(t *testing.T, parent int, name string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), name) {
			return pid
		}
	}
	t.Fatalf("no child %s of %d", name, parent)
	return 0
}

// waitTimeout waits for cmd, killing it and failing the test when it outlives d.
func waitTimeout(t *testing.T, cmd *exec.Cmd, d time.Duration, logs *strings.Builder) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump in the logs
		time.Sleep(500 * time.Millisecond)      // a real process: give it time to write the goroutine dump
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("ferry did not exit within %v:\n%s", d, logs.String())
		return nil
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// checkLiveStatus reads a running pipeline's status with `ferry status` and its metrics.
func checkLiveStatus(t *testing.T, bins, addr string) {
	t.Helper()
	var out []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		out, err = exec.Command(filepath.Join(bins, "ferry"), "status", "--addr", addr).CombinedOutput()
		if err == nil && strings.Contains(string(out), "p50") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry status: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond) // a real ferry process: poll its status server
	}
	for _, want := range []string{"pipeline         e2e", "phase            running", "rows/s", "latency          last"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ferry status lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`ferry_records_written_total{pipeline="e2e"}`, `ferry_latency_seconds_count{pipeline="e2e"}`, `ferry_up{pipeline="e2e"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A rows-per-second ceiling holds within 10% over a 10-second window, measured on what the
// sink wrote (the real binary, a generator faster than the ceiling, the file sink).
func TestE2ERateLimitHoldsOverTenSeconds(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	const ceiling = 1500
	cfg := writeFile(t, dir, "p.hcl", `pipeline "rl" {
  source "generator" {
    rows       = 10
    count      = 0
    batch_size = 100
  }
  serializer "jsonl" {}
  sink "file" {
    path = `+strconv.Quote(out)+`
    sync = false
  }
  limits {
    full {
      rows_per_second = `+strconv.Itoa(ceiling)+`
    }
    incremental {
      rows_per_second = `+strconv.Itoa(ceiling)+`
    }
  }
  checkpoint {
    dir = "cp"
  }
}
`)
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--status-addr", "", cfg)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	count := func() int {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n")
	}
	time.Sleep(2 * time.Second) // a real process: past start-up and the limiter's first burst
	n0, t0 := count(), time.Now()
	time.Sleep(10 * time.Second) // a real process's rate, measured over 10 s of real time
	n1, t1 := count(), time.Now()
	got := float64(n1-n0) / t1.Sub(t0).Seconds()
	if got > ceiling*1.1 || got < ceiling*0.9 {
		t.Errorf("%.0f rows/s over 10 s with a ceiling of %d\n%s", got, ceiling, logs.String())
	}
	t.Logf("%.0f rows/s over %.1f s (ceiling %d)", got, t1.Sub(t0).Seconds(), ceiling)
}
