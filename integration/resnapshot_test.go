//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// rsStatus is the part of /status the re-snapshot test reads.
type rsStatus struct {
	Phase    string `json:"phase"`
	Snapshot *struct {
		Done   bool `json:"done"`
		Tables []struct {
			Table    string `json:"table"`
			RowsRead int64  `json:"rows_read"`
			Done     bool   `json:"done"`
			State    string `json:"state"`
		} `json:"tables"`
	} `json:"snapshot"`
}

func rsGetStatus(addr string) (rsStatus, error) {
	var s rsStatus
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// rsTable returns a table's progress entry (nil: none) from a status.
func (s rsStatus) table(name string) (rows int64, done, ok bool, state string) {
	if s.Snapshot == nil {
		return 0, false, false, ""
	}
	for _, t := range s.Snapshot.Tables {
		if t.Table == name {
			return t.RowsRead, t.Done, true, t.State
		}
	}
	return 0, false, false, ""
}

// TestResnapshot: `ferry snapshot FILE --table db.a` on a running pipeline with two tables
// under concurrent writers reads a's rows again as snapshot records, while a's and b's changes
// keep flowing; then on a stopped pipeline the request is recorded and applied at the next
// start. The independent verifier checks every key's final state and per-key order over all
// messages, re-snapshot rows included.
func TestResnapshot(t *testing.T) { runResnapshot(t, "ferry_rs_it", false) }

// TestResnapshotOutOfProcess: the running case with the source out of process (the request
// crosses the plugin protocol).
func TestResnapshotOutOfProcess(t *testing.T) { runResnapshot(t, "ferry_rs_oop", true) }

func runResnapshot(t *testing.T, dbName string, outOfProcess bool) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	oop := ""
	if outOfProcess {
		oop = "out_of_process = true"
	}

	db := openDB(t, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName)
	t.Cleanup(func() { harness.DropDatabase(t, dbName) })
	const rowsA, rowsB = 9000, 1500
	wa := &verify.Workload{DB: db, Table: "a", Keys: rowsA + 500, Rate: 120, Workers: 2}
	wb := &verify.Workload{DB: db, Table: "b", Keys: rowsB + 200, Rate: 120, Workers: 2}
	ctx := context.Background()
	for _, w := range []*verify.Workload{wa, wb} {
		if err := w.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := wa.Prefill(ctx, rowsA); err != nil {
		t.Fatal(err)
	}
	if err := wb.Prefill(ctx, rowsB); err != nil {
		t.Fatal(err)
	}
	initA, initB := wa.Versions(), wb.Versions()

	topic := harness.UniqueName("ferry_rs_")
	harness.CreateTopic(t, broker, topic, 8)
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "cp")
	cfg := filepath.Join(dir, "rs.hcl")
	pipeName := strings.TrimPrefix(dbName, "ferry_")
	// The full-phase rate limit makes each snapshot of a last about 4.5 s, so the status shows
	// it under way and the other table's changes visibly interleave with it.
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    %s
    address   = %q
    user      = %q
    password  = env("RS_DB_PASSWORD")
    server_id = %d
    heartbeat_interval = "1s"
    chunk_size = 500
    snapshot_concurrency = 2
  }
  objects {
    table "%s.a" { topic = %q }
    table "%s.b" { topic = %q }
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
    send_timeout = "3s"
  }
  limits {
    full { rows_per_second = 2000 }
  }
  checkpoint {
    dir      = %q
    interval = "200ms"
  }
}
`, pipeName, oop, env.MariaDBAddr, env.MariaDBUser, 6100+time.Now().Nanosecond()%800, dbName, topic, dbName, topic,
		broker.NameServer, topic, cpDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ferryEnv := []string{"RS_DB_PASSWORD=" + env.MariaDBPassword}
	nameA, nameB := dbName+".a", dbName+".b"
	reqFile := filepath.Join(cpDir, pipeName+".snapshot-request.json")

	c, err := verify.NewConsumer(broker.NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cli := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), ferryEnv...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	startWrites := func() func() {
		wctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		go func() { errs <- wa.Run(wctx, 0) }()
		go func() { errs <- wb.Run(wctx, 0) }()
		return func() {
			cancel()
			for i := 0; i < 2; i++ {
				if err := <-errs; err != nil {
					t.Fatalf("workload: %v", err)
				}
			}
		}
	}
	// watchResnapshot polls /status until table a's snapshot is done again after being
	// seen not done; it returns whether it was seen under way and the largest rows seen.
	watchResnapshot := func(f *ferryProc, what string) {
		t.Helper()
		sawUnderWay := false
		deadline := time.Now().Add(90 * time.Second)
		for {
			s, err := rsGetStatus(f.statusAddr)
			if err == nil {
				rows, done, ok, state := s.table(nameA)
				if ok && !done {
					if !sawUnderWay {
						t.Logf("%s: status shows %s %s (%d rows)", what, nameA, state, rows)
						// the same under way state in `ferry status` and the metrics
						_, out := cli("status", "--addr", f.statusAddr)
						if !strings.Contains(out, nameA) {
							t.Errorf("ferry status during the re-snapshot does not show %s:\n%s", nameA, out)
						}
						m := metrics(t, f.statusAddr)
						if !strings.Contains(m, `ferry_snapshot_table_done{pipeline="`+pipeName+`",table="`+nameA+`"} 0`) {
							t.Errorf("metrics during the re-snapshot do not show %s not done:\n%s", nameA, grepLines(m, "ferry_snapshot"))
						}
					}
					sawUnderWay = true
				}
				if ok && done && sawUnderWay {
					t.Logf("%s: re-snapshot of %s done, %d rows", what, nameA, rows)
					if rows < rowsA/2 {
						t.Errorf("%s: re-snapshot of %s done with %d rows, table has about %d", what, nameA, rows, rowsA)
					}
					return
				}
			}
			if f.exited() {
				t.Fatalf("%s: ferry exited: %v\n%s", what, f.err, tail(f.logs.String(), 3000))
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the re-snapshot of %s was not seen under way and then done (status %+v, err %v)\n%s",
					what, nameA, s, err, tail(f.logs.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// ---- first run: initial snapshot, then writes ----
	f := startFerry(t, bin, cfg, ferryEnv)
	waitCond(t, 90*time.Second, "initial snapshot done", func() bool {
		s, err := rsGetStatus(f.statusAddr)
		return err == nil && s.Snapshot != nil && s.Snapshot.Done
	}, f)
	stopWrites := startWrites()
	time.Sleep(2 * time.Second)

	// refusals: an unselected table, by name; nothing recorded
	if code, out := cli("snapshot", "--addr", f.statusAddr, cfg, "--table", dbName+".nope"); code != 1 || !strings.Contains(out, dbName+".nope") {
		t.Errorf("unselected table: exit %d, output %q; want 1 naming the table", code, out)
	}
	if code, out := cli("snapshot", cfg); code != 2 {
		t.Errorf("no --table: exit %d (%s), want 2", code, out)
	}

	// ---- re-snapshot while running ----
	t1 := snapshotIDs(t, c)
	// no --addr: the command finds the running pipeline's status server in its lease file
	code, out := cli("snapshot", cfg, "--table", nameA)
	if code != 0 || !strings.Contains(out, "re-snapshots") {
		t.Fatalf("ferry snapshot (running): exit %d: %s", code, out)
	}
	t.Logf("running: %s", strings.TrimSpace(out))
	watchResnapshot(f, "running")
	waitCond(t, 30*time.Second, "request file settled after a checkpoint", func() bool {
		_, err := os.Stat(reqFile)
		return os.IsNotExist(err)
	}, f)
	time.Sleep(2 * time.Second)
	stopWrites()
	s1 := verifyRS(t, c, dbName, wa, wb, initA, initB, f)
	checkResnapshotMessages(t, c.Messages(), t1, nameA, nameB, rowsA, "running")
	t.Logf("after the running re-snapshot: %s", s1)
	if outOfProcess {
		if err := f.stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
		return
	}

	// ---- stopped: record, then start ----
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, tail(f.logs.String(), 3000))
	}
	code, out = cli("snapshot", cfg, "--table", nameA)
	if code != 0 || !strings.Contains(out, "not running") {
		t.Fatalf("ferry snapshot (stopped): exit %d: %s", code, out)
	}
	t.Logf("stopped: %s", strings.TrimSpace(out))
	if data, err := os.ReadFile(reqFile); err != nil || !strings.Contains(string(data), nameA) {
		t.Fatalf("request file %s: %v %s", reqFile, err, data)
	}
	// an unselected table is refused while stopped too, and the file keeps what it had
	if code, out := cli("snapshot", cfg, "--table", dbName+".nope"); code != 1 || !strings.Contains(out, dbName+".nope") {
		t.Errorf("stopped, unselected table: exit %d, output %q", code, out)
	}
	if data, _ := os.ReadFile(reqFile); strings.Contains(string(data), "nope") {
		t.Errorf("a refused table was recorded: %s", data)
	}
	t2 := snapshotIDs(t, c)
	stopWrites = startWrites()
	f = startFerry(t, bin, cfg, ferryEnv, "--no-precheck")
	watchResnapshot(f, "at start")
	waitCond(t, 30*time.Second, "request file removed after the start's checkpoint", func() bool {
		_, err := os.Stat(reqFile)
		return os.IsNotExist(err)
	}, f)
	time.Sleep(2 * time.Second)
	stopWrites()
	s2 := verifyRS(t, c, dbName, wa, wb, initA, initB, f)
	checkResnapshotMessages(t, c.Messages(), t2, nameA, nameB, rowsA, "at start")
	t.Logf("after the re-snapshot at start: %s", s2)

	// ---- kill -9 during a re-snapshot, once a checkpoint recorded it (the request file is
	// gone): the restart continues it from the position alone ----
	t3 := snapshotIDs(t, c)
	stopWrites = startWrites()
	if code, out := cli("snapshot", "--addr", f.statusAddr, cfg, "--table", nameA); code != 0 {
		t.Fatalf("ferry snapshot (before the kill): exit %d: %s", code, out)
	}
	var rowsAtKill int64
	waitCond(t, 30*time.Second, "re-snapshot under way and recorded in a checkpoint", func() bool {
		if _, err := os.Stat(reqFile); !os.IsNotExist(err) {
			return false
		}
		st, err := rsGetStatus(f.statusAddr)
		rows, done, ok, _ := st.table(nameA)
		rowsAtKill = rows
		return err == nil && ok && !done && rows > 0
	}, f)
	f.kill()
	t.Logf("killed ferry (-9) with %d rows of the re-snapshot of %s read", rowsAtKill, nameA)
	if _, err := os.Stat(reqFile); !os.IsNotExist(err) {
		t.Fatalf("request file present after the kill (%v): the restart would not depend on the position", err)
	}
	f = startFerry(t, bin, cfg, ferryEnv, "--no-precheck")
	watchResnapshot(f, "after kill -9")
	time.Sleep(2 * time.Second)
	stopWrites()
	s3 := verifyRS(t, c, dbName, wa, wb, initA, initB, f)
	checkResnapshotMessages(t, c.Messages(), t3, nameA, nameB, rowsA, "across kill -9")
	t.Logf("after the re-snapshot across kill -9: %s", s3)
	if err := f.stop(30 * time.Second); err != nil {
		t.Logf("stop: %v", err)
	}
}

// verifyRS waits until the verifier passes over both tables.
func verifyRS(t *testing.T, c *verify.Consumer, dbName string, wa, wb *verify.Workload, initA, initB map[string]int64, f *ferryProc) verify.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tables := []verify.Table{
		{DB: dbName, Name: "a", Key: []string{"id"}, Version: "ver", Initial: initA},
		{DB: dbName, Name: "b", Key: []string{"id"}, Version: "ver", Initial: initB},
	}
	s, err := verify.Until(ctx, c, wa.DB, "canal", tables, 3*time.Second)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n%s\nproblems:\n  %s\nferry log:\n%s", err, s, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	return s
}

// checkResnapshotMessages checks the snapshot messages that are not in before (the ids of
// every snapshot message delivered before the request): a's rows arrive again as snapshot
// records (most of its keys: keys changed inside a chunk's window are left to their changes),
// none of b's, and changes of both tables arrive while a's snapshot rows do.
func checkResnapshotMessages(t *testing.T, msgs []harness.Received, before map[string]bool, nameA, nameB string, rowsA int, what string) {
	t.Helper()
	keys := map[string]bool{}
	var first, last time.Time
	var snapB int
	for _, m := range msgs {
		if before[m.Properties[verify.PropID]] || m.Properties[verify.PropOp] != "snapshot" {
			continue
		}
		name := m.Properties[verify.PropDB] + "." + m.Properties[verify.PropTable]
		switch name {
		case nameA:
			ev, err := verify.Decode("canal", m.Body)
			if err != nil {
				t.Fatal(err)
			}
			keys[ev.Row["id"]] = true
			if first.IsZero() || m.StoredAt.Before(first) {
				first = m.StoredAt
			}
			if m.StoredAt.After(last) {
				last = m.StoredAt
			}
		case nameB:
			snapB++
		}
	}
	changes := map[string]int{}
	for _, m := range msgs {
		if m.StoredAt.Before(first) || m.StoredAt.After(last) {
			continue
		}
		if op := m.Properties[verify.PropOp]; op == "insert" || op == "update" || op == "delete" {
			changes[m.Properties[verify.PropDB]+"."+m.Properties[verify.PropTable]]++
		}
	}
	t.Logf("%s: %d keys of %s re-snapshotted over %v; changes meanwhile: %s %d, %s %d; snapshot rows of %s: %d",
		what, len(keys), nameA, last.Sub(first).Round(time.Millisecond), nameA, changes[nameA], nameB, changes[nameB], nameB, snapB)
	if len(keys) < rowsA*8/10 {
		t.Errorf("%s: only %d keys of %s arrived again as snapshot rows (table has about %d)", what, len(keys), nameA, rowsA)
	}
	if snapB != 0 {
		t.Errorf("%s: %d snapshot rows of %s, which was not re-snapshotted", what, snapB, nameB)
	}
	if changes[nameB] == 0 || changes[nameA] == 0 {
		t.Errorf("%s: changes did not flow during the re-snapshot: %v", what, changes)
	}
}

// snapshotIDs waits until no new snapshot message arrived for a while (every snapshot row
// read so far is delivered: the full-phase rate limit delays them after the source read them)
// and returns the ids of the snapshot messages received.
func snapshotIDs(t *testing.T, c *verify.Consumer) map[string]bool {
	t.Helper()
	count := func() map[string]bool {
		ids := map[string]bool{}
		for _, m := range c.Messages() {
			if m.Properties[verify.PropOp] == "snapshot" {
				ids[m.Properties[verify.PropID]] = true
			}
		}
		return ids
	}
	prev, since := -1, time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids := count()
		if len(ids) != prev {
			prev, since = len(ids), time.Now()
		} else if time.Since(since) >= 2*time.Second {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot messages kept arriving for a minute (%d)", len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitCond(t *testing.T, d time.Duration, what string, cond func() bool, f *ferryProc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if f.exited() {
			t.Fatalf("waiting for %s: ferry exited: %v\n%s", what, f.err, tail(f.logs.String(), 3000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, tail(f.logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
