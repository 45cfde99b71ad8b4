package cli

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/runner"
)

// TestE2EResourcesBoundMemory runs the real ferry binary with a sink that stops taking
// records (the file sink writing into a FIFO nobody reads, like a stalled broker), so the
// pipeline buffers all its memory settings allow, and measures the process's peak resident
// memory: once with small settings, once with large ones. The small run must stay within the
// memory it was given (full/incremental memory + log reader memory + ferry's fixed overhead:
// the Go memory limit ferry sets), and the large run must buffer clearly more.
func TestE2EResourcesBoundMemory(t *testing.T) {
	bins := e2eBins(t)
	run := func(name, mem string) (peakKiB int64) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "out.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := `pipeline "` + name + `" {
  source "generator" {
    rows       = 200000
    count      = 0
    batch_size = 500
  }
  serializer "jsonl" {}
  sink "file" {
    path = "` + fifo + `"
    sync = false
  }
  resources {
    full_write_concurrency        = 2
    incremental_write_concurrency = 2
    full_memory                   = "` + mem + `"
    incremental_memory            = "` + mem + `"
    log_reader_memory             = "8MiB"
  }
  checkpoint { dir = "cp" }
}
`
		path := filepath.Join(dir, "p.hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		// The reader end opens (so the sink's open does not block) and then reads nothing.
		rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		cmd := exec.Command(filepath.Join(bins, "ferry"), "--log-level", "warn", "run", "--status-addr", "", path)
		cmd.Dir = dir
		var logs lockedBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		// Sample until the resident size has not grown for a second (the budget is full).
		last, stableSince := int64(0), time.Now()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // a real ferry process: sample its resident size
			rss := procStatusKiB(t, cmd.Process.Pid, "VmRSS:")
			if rss > last+1024 {
				last, stableSince = rss, time.Now()
			}
			if time.Since(stableSince) > 1500*time.Millisecond && last > 0 {
				break
			}
		}
		peak := procStatusKiB(t, cmd.Process.Pid, "VmHWM:")
		if peak == 0 {
			t.Fatalf("%s: ferry is gone:\n%s", name, logs.String())
		}
		return peak
	}
	small := run("mem_small", "16MiB")
	large := run("mem_large", "256MiB")
	// ferry's memory limit: memory in flight + 8MiB log reader + runner.MemoryOverhead.
	limit := func(mib int64) int64 { return (mib+8)<<10 + runner.MemoryOverhead>>10 }
	t.Logf("peak RSS with a stalled sink: 16MiB settings %d MiB (configured %d MiB), 256MiB settings %d MiB (configured %d MiB); ratio %.2f",
		small>>10, limit(16)>>10, large>>10, limit(256)>>10, float64(large)/float64(small))
	// The Go memory limit is soft: the runtime lets the heap approach it (garbage included)
	// and keeps it there; the memory outside the Go heap comes on top. A full buffer is
	// counted by its bytes, and the heap holds those bytes in size classes (up to an eighth
	// more): with everything buffered the live heap can pass the limit by that much.
	slack := func(mib int64) int64 { return (mib + 8) << 10 / 8 }
	allowed := func(mib int64) int64 { return limit(mib) + runner.MemoryOutsideHeap>>10 + slack(mib) }
	if small > allowed(16) {
		t.Errorf("16MiB settings: peak RSS %d MiB over the configured %d MiB + %d MiB outside the heap + %d MiB of size classes", small>>10, limit(16)>>10, runner.MemoryOutsideHeap>>20, slack(16)>>10)
	}
	if large > allowed(256) {
		t.Errorf("256MiB settings: peak RSS %d MiB over the configured %d MiB + %d MiB outside the heap + %d MiB of size classes", large>>10, limit(256)>>10, runner.MemoryOutsideHeap>>20, slack(256)>>10)
	}
	if large < small+(100<<10) {
		t.Errorf("256MiB settings peaked at %d MiB, 16MiB settings at %d MiB: the settings do not decide what is buffered", large>>10, small>>10)
	}
}

// procStatusKiB reads a "Vm...:" line of /proc/PID/status in KiB (0 when the process is gone).
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
