//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestStatusDuringRun reads ferry's /status JSON, its Prometheus /metrics and `ferry status`
// while a real pipeline (MariaDB → ferry → RocketMQ 5.x) snapshots a table (capped at 10,000
// rows/s so the snapshot lasts) and then streams changes: the stage, per-table snapshot
// progress, position, commit time, rates, latency and limits are there during the run.
func TestStatusDuringRun(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)

	const dbName = "ferry_status_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	const rows = 40000
	insertRows(t, db, "INSERT INTO t VALUES ", rows, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	execAll(t, db, "ANALYZE TABLE t") // a row estimate for the percentage
	topic := harness.UniqueName("status")
	harness.CreateTopic(t, broker, topic, 4)

	const addr = "127.0.0.1:25309"
	dir := t.TempDir()
	cfg := fmt.Sprintf(`pipeline "status_it" {
  tags = ["it"]
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    tables    = ["%s.t"]
    server_id = 4713
    heartbeat_interval = "1s"
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  limits {
    full { rows_per_second = 10000 }
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, dbName, broker.NameServer, topic)
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--log-level", "warn", "run", "--status-addr", addr, path)
	cmd.Env = append(os.Environ(), "E2E_DB_PASSWORD="+env.MariaDBPassword)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	type status struct {
		Phase, Stage, Position string
		LastCommitTime         time.Time `json:"last_commit_time"`
		RowsPerSecond          float64   `json:"rows_per_second"`
		BytesPerSecond         float64   `json:"bytes_per_second"`
		Latency                struct {
			Samples        int
			P50Ms          float64 `json:"p50_ms"`
			P99Ms          float64 `json:"p99_ms"`
			ResolutionNote string  `json:"resolution_note"`
		}
		Limits struct {
			FullRowsPerSecond int64 `json:"full_rows_per_second"`
		}
		Snapshot *struct {
			Tables []struct {
				Table         string
				RowsRead      int64    `json:"rows_read"`
				RowsEstimated int64    `json:"rows_estimated"`
				Percent       *float64 `json:"percent"`
				Done          bool
				State         string
			}
			Done bool
		}
	}
	get := func(p string) (string, bool) {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			return "", false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode == 200
	}
	read := func() (status, bool) {
		var s status
		body, ok := get("/status")
		if !ok {
			return s, false
		}
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("/status: %v\n%s", err, body)
		}
		return s, true
	}
	waitFor := func(what string, cond func(status) bool) status {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if s, ok := read(); ok && cond(s) {
				return s
			}
			time.Sleep(100 * time.Millisecond)
		}
		s, _ := read()
		t.Fatalf("%s: not seen within 60s; last status %+v\n%s", what, s, logs.String())
		return s
	}

	// During the snapshot.
	s := waitFor("snapshot progress", func(s status) bool {
		return s.Stage == "snapshot" && s.Snapshot != nil && len(s.Snapshot.Tables) == 1 && s.Snapshot.Tables[0].RowsRead > 0
	})
	tb := s.Snapshot.Tables[0]
	if tb.Table != dbName+".t" || tb.RowsEstimated <= 0 || tb.Percent == nil || *tb.Percent <= 0 || *tb.Percent >= 100 || tb.Done {
		t.Errorf("snapshot table progress %+v (percent %v)", tb, tb.Percent)
	}
	if s.Phase != "running" || s.Position == "" || s.Limits.FullRowsPerSecond != 10000 {
		t.Errorf("status during the snapshot: %+v", s)
	}
	metrics, ok := get("/metrics")
	for _, want := range []string{`ferry_snapshot_rows_read{pipeline="status_it",table="` + dbName + `.t"}`,
		`ferry_snapshot_rows_estimated{pipeline="status_it",table="` + dbName + `.t"}`, `ferry_records_written_total`,
		`ferry_up`, `ferry_in_flight_bytes`} {
		if !ok || !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	out, err := exec.Command(bin, "status", "--addr", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), dbName+".t") || !strings.Contains(string(out), "reading") {
		t.Errorf("ferry status during the snapshot: %v\n%s", err, out)
	}

	// Then the stream: changes while it runs.
	waitFor("the end of the snapshot", func(s status) bool { return s.Stage == "incremental" && s.Snapshot != nil && s.Snapshot.Done })
	for i := 1; i <= 30; i++ {
		execAll(t, db, fmt.Sprintf("UPDATE t SET v = v + 1 WHERE id = %d", i*997%rows+1))
		time.Sleep(50 * time.Millisecond)
	}
	s = waitFor("latency of changes", func(s status) bool { return s.Latency.Samples >= 30 })
	if s.Latency.P50Ms <= 0 || s.Latency.P99Ms < s.Latency.P50Ms || s.Latency.ResolutionNote == "" {
		t.Errorf("latency %+v (MariaDB commit times have whole seconds: the note must say so)", s.Latency)
	}
	if time.Since(s.LastCommitTime) > time.Minute || s.RowsPerSecond <= 0 || s.BytesPerSecond <= 0 {
		t.Errorf("status while streaming: %+v", s)
	}
	metrics, _ = get("/metrics")
	if !strings.Contains(metrics, "ferry_latency_seconds_bucket") || !strings.Contains(metrics, "ferry_last_commit_timestamp_seconds") {
		t.Errorf("/metrics lacks the latency histogram or the commit time")
	}
	out, err = exec.Command(bin, "status", "--addr", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "p50") || !strings.Contains(string(out), "whole seconds") {
		t.Errorf("ferry status while streaming: %v\n%s", err, out)
	}
	t.Logf("ferry status while streaming:\n%s", out)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry: %v\n%s", err, logs.String())
	}
}
