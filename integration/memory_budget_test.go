//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// Memory with default settings (issue 19): ferry's peak resident size (VmHWM) stays within
// what its settings name (the in-flight budget, 64MiB, and the log reader's reader_memory,
// 64MiB) plus a stated fixed overhead, in the snapshot and in the stream at saturation, with
// the heaviest format (debezium, a schema in every message). The Go memory limit ferry sets
// from those settings keeps the heap near them (runner.memoryLimit: settings + 28MiB,
// runner.MemoryOverhead); the memory beside the heap is allowed another 48MiB
// (runner.MemoryOutsideHeap): mostly the binary's own pages (RssFile, ~43 MiB here, clean
// and file-backed, which VmHWM counts). Before the limit applied to default settings and the
// reader counted parsed rows events by what they hold, the same run peaked at ~700 MiB in the
// stream.
func TestMemoryWithinBudget(t *testing.T) {
	env := harness.Env()
	harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	rows, changes := pick(100000, 400000), pick(150000, 500000)
	db := openDB(t, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, "ferry_mem")
	if err := verify.CreateWide(db, "w", rows); err != nil {
		t.Fatal(err)
	}
	broker := env.RMQ5()
	topic := harness.UniqueName("ferry_mem")
	harness.CreateTopic(t, broker, topic, 8)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "mem.hcl", fmt.Sprintf(`pipeline "mem" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("MEM_DB_PASSWORD")
    tables    = ["ferry_mem.w"]
    server_id = %d
  }
  serializer "debezium" {
    decimal_handling = "precise"
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir = %q
  }
}
`, env.MariaDBAddr, env.MariaDBUser, 7600+os.Getpid()%300, broker.NameServer, topic, filepath.Join(dir, "cp")))
	f := startFerry(t, ferryBinary(t), cfg, []string{"MEM_DB_PASSWORD=" + env.MariaDBPassword}, "--no-precheck")
	peak := func() int64 { return procStatusKiB(t, f.cmd.Process.Pid, "VmHWM:") }

	f.waitWritten(uint64(rows), 5*time.Minute)
	snapshot := peak()
	// The stream at saturation: the changes are written faster than ferry sends them (one
	// statement updates 1,000 rows).
	n, err := verify.UpdateWide(db, "w", rows, changes)
	if err != nil {
		t.Fatal(err)
	}
	f.waitWritten(uint64(rows+n), 10*time.Minute)
	stream := peak()
	file := procStatusKiB(t, f.cmd.Process.Pid, "RssFile:")
	if err := f.stop(time.Minute); err != nil {
		t.Fatalf("stop: %v\n%s", err, tail(f.logs.String(), 40))
	}

	const settingsMiB, heapOverheadMiB, outsideHeapMiB = 64 + 64, 28, 48 // runner.MemoryOverhead; the file pages + 6 MiB
	limit := int64(settingsMiB+heapOverheadMiB+outsideHeapMiB) << 10
	t.Logf("peak RSS: snapshot of %d rows %d MiB, then a stream of %d changes %d MiB (%d MiB of it the binary's file pages); settings %d MiB, allowed %d MiB (settings + %d MiB heap + %d MiB outside it)",
		rows, snapshot>>10, n, stream>>10, file>>10, settingsMiB, limit>>10, heapOverheadMiB, outsideHeapMiB)
	if snapshot > limit {
		t.Errorf("snapshot: peak RSS %d MiB over %d MiB", snapshot>>10, limit>>10)
	}
	if stream > limit {
		t.Errorf("stream: peak RSS %d MiB over %d MiB", stream>>10, limit>>10)
	}
}

// procStatusKiB reads a "Vm...:" line of /proc/PID/status in KiB (0 when the process is gone).
func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
