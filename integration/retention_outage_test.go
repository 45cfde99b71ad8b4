//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A private RocketMQ 4.9.7 cluster of its own for the outage (not the chaos tests' one, so
// the two never share a broker). Its ports are below the ephemeral range (32768-60999 here),
// where a client connection could hold one when the broker starts again.
const retentionMQDir = "/tmp/ferry-tb-retention-mq"

var retentionMQPorts = []string{"FERRY_RMQ4_NAMESRV_PORT=30876", "FERRY_RMQ4_BROKER_PORT=30911"}

// TestRetentionBrokerOutage (issue 17): with a retention block, a broker that is down does not
// stop the log reader. Under a steady workload the broker is stopped; while it is down ferry's
// source keeps reading into the local store (its position moves on, /status shows the reader's
// lead growing by what the workload commits), and once the broker is back everything is
// delivered: the verifier finds every change, none lost, none out of order per key.
// Short in make test (45 s down at 1,000 changes/s); FERRY_CHAOS=full (make test-chaos): 10
// minutes down at 2,000 changes/s.
func TestRetentionBrokerOutage(t *testing.T) {
	broker := privateRMQ4(t, retentionMQDir, retentionMQPorts)
	rate := pick(1000.0, 2000.0)
	outage := pick(45*time.Second, 10*time.Minute)
	r := newChaosRun(t, chaosOpts{Name: "retention-outage", Broker: broker, Rows: 2000, Keys: pick(20000, 100000), Rate: rate,
		Retention: `dir      = "` + t.TempDir() + `"
duration = "2h"
max_bytes = "4GiB"
min_free = "64MiB"`})
	r.wl.TxnSize = pick(1, 2) // one-row transactions top out near 2,200 changes/s here
	f := r.start()
	f.waitWritten(2000, 90*time.Second) // the snapshot is through
	r.startWorkload()
	time.Sleep(5 * time.Second)

	before, err := f.status()
	if err != nil || before.Retention == nil {
		t.Fatalf("status before the outage: %+v, %v", before, err)
	}
	committedAtStop := r.wl.Committed()
	if !stopBroker(t, retentionMQDir, syscall.SIGTERM, 30*time.Second) {
		t.Fatal("the broker did not stop")
	}
	stopped := time.Now()
	t.Logf("broker stopped; ferry had written %d records, store lead %d changes", before.RecordsWritten, before.Retention.LeadChanges)

	// While the broker is down: the reader reads on. Sample the store's lead and the reader's
	// position every few seconds.
	var last ferryStatus
	positions := map[string]bool{}
	for time.Since(stopped) < outage {
		time.Sleep(pick(3*time.Second, 30*time.Second))
		if f.exited() {
			t.Fatalf("ferry exited during the outage: %v\n%s", f.err, tail(f.logs.String(), 3000))
		}
		st, err := f.status()
		if err != nil || st.Retention == nil {
			t.Fatalf("status during the outage: %+v, %v", st, err)
		}
		positions[st.Retention.SourcePosition] = true
		last = st
		t.Logf("outage %3.0fs: workload %d changes, store lead %d changes (%d MiB), reader waits: %q, last error %q",
			time.Since(stopped).Seconds(), r.wl.Committed()-committedAtStop, st.Retention.LeadChanges, st.Retention.LeadBytes>>20,
			st.Retention.Waiting, short(st.LastError))
	}
	during := r.wl.Committed() - committedAtStop
	t.Logf("workload while the broker was down: %d changes in %v, %.0f changes/s", during,
		time.Since(stopped).Round(time.Second), float64(during)/time.Since(stopped).Seconds())
	grew := last.Retention.LeadChanges - before.Retention.LeadChanges
	// The reader trails the workload by at most a few seconds of changes (the last sample, the
	// reader's batch and heartbeat intervals).
	if float64(grew) < 0.8*float64(during) {
		t.Errorf("the store's lead grew by %d changes while the workload committed %d with the broker down: the reader does not keep reading", grew, during)
	}
	if len(positions) < 3 {
		t.Errorf("the reader's position took %d values during the outage, want it to move on", len(positions))
	}
	if last.RecordsWritten > before.RecordsWritten+uint64(rate)*10 {
		t.Errorf("%d records written while the broker was down", last.RecordsWritten-before.RecordsWritten)
	}
	chaosBed(t, retentionMQDir, retentionMQPorts, "up.sh", "rmq4")
	t.Logf("broker back after %s: %d changes committed meanwhile, store lead %d changes",
		time.Since(stopped).Round(time.Second), during, last.Retention.LeadChanges)
	time.Sleep(3 * time.Second)
	s := r.finish(pick(3*time.Minute, 15*time.Minute))
	if s.Lost != 0 || s.OrderViolations != 0 {
		t.Errorf("after the outage: %d lost, %d out of order", s.Lost, s.OrderViolations)
	}
}

// short is the first line of s, at most 200 bytes.
func short(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// TestRetentionFullDisk (issue 17): the store sits on a small tmpfs while the broker is down,
// so the undelivered changes fill the file system down to min_free: the reader then waits
// (/status says why; backpressure, not an error), the workload goes on into the binlog, and
// when the broker is back the writer drains the store, the reader continues, and every change
// is delivered: none lost, none out of order. Needs root (mount); skipped otherwise.
func TestRetentionFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "64m")
	// Leave 40 MiB: with min_free 16 MiB, and about 12 MiB for pebble's own files (its
	// write-ahead log is preallocated), the store may take about 12 MiB of changes.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(mnt, &fs); err != nil {
		t.Fatal(err)
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, free-40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := privateRMQ4(t, retentionMQDir, retentionMQPorts)
	r := newChaosRun(t, chaosOpts{Name: "retention-full-disk", Broker: broker, Rows: 2000, Keys: 20000, Rate: 2000,
		Retention: `dir      = "` + filepath.Join(mnt, "ret") + `"
duration = "2h"
min_free = "16MiB"`})
	f := r.start()
	f.waitWritten(2000, 90*time.Second)
	r.startWorkload()
	time.Sleep(3 * time.Second)
	stopBroker(t, retentionMQDir, syscall.SIGTERM, 30*time.Second)
	stopped := time.Now()
	var waiting ferryStatus
	var lead []uint64
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		time.Sleep(2 * time.Second)
		if f.exited() {
			t.Fatalf("ferry exited with the disk full: %v\n%s", f.err, tail(f.logs.String(), 3000))
		}
		st, err := f.status()
		if err != nil || st.Retention == nil {
			t.Fatalf("status: %+v %v", st, err)
		}
		lead = append(lead, st.Retention.LeadChanges)
		if strings.HasPrefix(st.Retention.Waiting, "disk:") {
			if waiting.Retention == nil {
				waiting = st
				t.Logf("after %s the reader waits: %s (lead %d changes, %d MiB)", time.Since(stopped).Round(time.Second),
					st.Retention.Waiting, st.Retention.LeadChanges, st.Retention.LeadBytes>>20)
			} else if len(lead) > 8 {
				break
			}
		}
	}
	if waiting.Retention == nil {
		t.Fatalf("the reader never waited for disk space (lead samples %v)", lead)
	}
	t.Logf("store lead while the broker was down (changes, every 2 s): %v", lead)
	chaosBed(t, retentionMQDir, retentionMQPorts, "up.sh", "rmq4")
	back := time.Now()
	t.Logf("broker back after %s", back.Sub(stopped).Round(time.Second))
	for {
		st, err := f.status()
		if err == nil && st.Retention != nil && st.Retention.Waiting == "" {
			t.Logf("the reader continues %s after the broker came back (lead %d changes)", time.Since(back).Round(time.Second), st.Retention.LeadChanges)
			break
		}
		if time.Since(back) > 2*time.Minute {
			t.Fatalf("the reader still waits 2 minutes after the broker came back: %+v %v", st.Retention, err)
		}
		time.Sleep(time.Second)
	}
	s := r.finish(3 * time.Minute)
	if s.Lost != 0 || s.OrderViolations != 0 {
		t.Errorf("after the full disk: %d lost, %d out of order", s.Lost, s.OrderViolations)
	}
}
