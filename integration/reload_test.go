//go:build integration

package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestObjectsReload changes the objects block of a running pipeline (MariaDB → ferry →
// RocketMQ 5.x) while writers keep changing both tables:
//   - SIGHUP after adding table b (with a row filter) to the file: b's existing rows arrive
//     as its snapshot, then its changes; the final state of b's topic equals
//     SELECT ... WHERE filter;
//   - table a keeps streaming through the reload: it is not snapshotted again, every version of
//     every key arrives exactly once and in order, and the ferry process is the same;
//   - a second SIGHUP moves a to another topic: every version lands on exactly one of the two
//     topics, the versions on the new topic all follow those on the old one;
//   - a reload with a column that does not exist is refused, and the pipeline goes on.
func TestObjectsReload(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)

	const dbName = "ferry_reload_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db,
		"CREATE TABLE a (id INT PRIMARY KEY, ver INT NOT NULL)",
		"CREATE TABLE b (id INT PRIMARY KEY, ver INT NOT NULL, note VARCHAR(16))",
	)
	const keysA, keysB = 50, 2000
	insertRows(t, db, "INSERT INTO a VALUES ", keysA, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	insertRows(t, db, "INSERT INTO b VALUES ", keysB, func(i int) string { return fmt.Sprintf("(%d, 0, 'n')", i) })

	prefix := harness.UniqueName("reload")
	topicA, topicA2, topicB := prefix+"_a", prefix+"_a2", prefix+"_b"
	for _, tp := range []string{topicA, topicA2, topicB} {
		harness.CreateTopic(t, broker, tp, 4)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	write := func(objects string) {
		cfg := fmt.Sprintf(`pipeline "reload_it" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    server_id = 4712
    heartbeat_interval = "1s"
    chunk_size = 300
  }
  objects {
%s
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, objects, broker.NameServer, topicA)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objA := fmt.Sprintf(`    table "%s.a" { topic = %q }`, dbName, topicA)
	write(objA)

	cmd := exec.Command(bin, "--log-level", "info", "--log-format", "json", "run", "--watch", "0", "--status-addr", "", path)
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
	harness.Collect(t, broker, topicA, keysA, 60*time.Second) // a's snapshot

	// Writers: each statement bumps one key's version; the expected versions are known.
	wctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writesA, writesB atomic.Int64
	writer := func(table string, keys int, n *atomic.Int64, extra string) {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			id := i*7%keys + 1
			if _, err := db.Exec(fmt.Sprintf("UPDATE %s SET ver = ver + 1%s WHERE id = ?", table, extra), id); err != nil {
				t.Errorf("write %s: %v", table, err)
				return
			}
			n.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}
	wg.Add(2)
	go writer("a", keysA, &writesA, "")
	go writer("b", keysB, &writesB, "")
	time.Sleep(2 * time.Second)

	// Reload 1: add b with a row filter.
	where := "id % 2 = 0"
	write(objA + fmt.Sprintf("\n    table \"%s.b\" {\n      topic = %q\n      where = %q\n    }", dbName, topicB, where))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, `"source tables changed"`, 30*time.Second)
	time.Sleep(3 * time.Second)

	// A reload with a mistake is refused; the pipeline keeps going.
	write(objA + fmt.Sprintf("\n    table \"%s.b\" {\n      topic = %q\n      columns = [\"id\", \"nope\"]\n    }", dbName, topicB))
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, &logs, `reload refused`, 30*time.Second)

	// Reload 2: move a to another topic (b as in reload 1).
	write(fmt.Sprintf("    table \"%s.a\" { topic = %q }\n    table \"%s.b\" {\n      topic = %q\n      where = %q\n    }",
		dbName, topicA2, dbName, topicB, where))
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitCount(t, &logs, `"objects reloaded"`, 2, 30*time.Second)
	time.Sleep(2 * time.Second)
	stopWriters()
	wg.Wait()
	execAll(t, db, "UPDATE a SET ver = ver + 1 WHERE id = 1", "UPDATE b SET ver = ver + 1 WHERE id = 2")

	// Expected: a's versions 0..final per key over both topics; b's state = SELECT WHERE.
	finalA := selectMap(t, db, "SELECT id, ver FROM a")
	finalB := selectMap(t, db, "SELECT id, ver FROM b WHERE "+where)
	wantA := len(finalA) // snapshot rows
	for _, v := range finalA {
		var n int
		fmt.Sscan(v, &n)
		wantA += n
	}
	var oldA, newA []harness.Received
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && len(oldA)+len(newA) < wantA {
		oldA = collectSorted(broker, topicA, 3*time.Second)
		newA = collectSorted(broker, topicA2, 3*time.Second)
	}
	// b: the snapshot gives each even key once; changes after it are on top. Read until the
	// final versions arrived.
	stateB := map[string]string{}
	snapB := 0
	var bMsgs []harness.Received
	for time.Now().Before(deadline) && fmt.Sprint(stateB) != fmt.Sprint(finalB) {
		bMsgs = collectSorted(broker, topicB, 3*time.Second)
		stateB, snapB = applyCanal(t, bMsgs)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry did not stop cleanly: %v\n%s", err, logs.String())
	}
	if fmt.Sprint(stateB) != fmt.Sprint(finalB) {
		t.Errorf("b's state from its topic (%d keys) differs from SELECT ... WHERE %s (%d keys)", len(stateB), where, len(finalB))
	}
	// Every even key is in the final state (checked above); most come from b's snapshot (a
	// key changed while its chunk was read comes from the change instead: DBLog hand-over).
	if snapB < keysB/4 || snapB > keysB/2 {
		t.Errorf("b: %d snapshot messages, want most of its %d even rows and never an odd one", snapB, keysB/2)
	}

	// a: every version of every key exactly once, in order, over the two topics; the old
	// topic's versions of a key all come before the new topic's.
	seen := map[string][]int{}
	onNew := map[string]bool{} // keys with versions on the new topic
	snapA := 0
	for i, m := range append(append([]harness.Received{}, oldA...), newA...) {
		e, err := verify.Decode("canal", m.Body)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if e.Skip {
			continue
		}
		if e.Op == "snapshot" || m.Properties[verify.PropOp] == "snapshot" {
			snapA++
		}
		var v int
		fmt.Sscan(e.Row["ver"], &v)
		k := e.Row["id"]
		seen[k] = append(seen[k], v)
		if i >= len(oldA) {
			onNew[k] = true
		}
	}
	if len(oldA)+len(newA) != wantA {
		t.Errorf("a: %d messages on the two topics, want %d", len(oldA)+len(newA), wantA)
	}
	if snapA != keysA {
		t.Errorf("a: %d snapshot messages, want %d (a reload must not snapshot a again)", snapA, keysA)
	}
	for k, fv := range finalA {
		var final int
		fmt.Sscan(fv, &final)
		vs := seen[k]
		if len(vs) != final+1 {
			t.Errorf("a key %s: %d messages for versions 0..%d: %v", k, len(vs), final, vs)
			continue
		}
		// Old topic first, then the new one: in order over both means the move kept the
		// key's order.
		for i, v := range vs {
			if v != i {
				t.Errorf("a key %s: versions out of order or missing over the two topics: %v", k, vs)
				break
			}
		}
	}
	if len(onNew) == 0 {
		t.Error("no message of a reached the new topic after the second reload")
	}
	if n := strings.Count(logs.String(), `"pipeline started"`); n != 1 {
		t.Errorf("the pipeline started %d times; a reload must not restart it", n)
	}
	t.Logf("a: %d writes, %d messages on the old topic, %d on the new one (%d keys); b: %d writes, %d messages (%d snapshot)",
		writesA.Load(), len(oldA), len(newA), len(onNew), writesB.Load(), len(bMsgs), snapB)
}

func insertRows(t *testing.T, db *sql.DB, prefix string, n int, row func(int) string) {
	t.Helper()
	for lo := 1; lo <= n; lo += 500 {
		var vals []string
		for i := lo; i < lo+500 && i <= n; i++ {
			vals = append(vals, row(i))
		}
		execAll(t, db, prefix+strings.Join(vals, ","))
	}
}

func selectMap(t *testing.T, db *sql.DB, q string) map[string]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// applyCanal replays canal messages into id -> ver and counts the snapshot messages.
func applyCanal(t *testing.T, msgs []harness.Received) (map[string]string, int) {
	state := map[string]string{}
	snaps := 0
	for _, m := range msgs {
		e, err := verify.Decode("canal", m.Body)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if e.Skip {
			continue
		}
		if e.Op == "snapshot" || m.Properties[verify.PropOp] == "snapshot" {
			snaps++
		}
		if e.Op == "delete" {
			delete(state, e.Row["id"])
		} else {
			state[e.Row["id"]] = e.Row["ver"]
		}
	}
	return state, snaps
}

// collectSorted reads everything topic holds (what arrives within d) in queue order: by
// queue, then offset.
func collectSorted(b harness.Broker, topic string, d time.Duration) []harness.Received {
	got := collectQuietly(b, topic, 1<<30, d)
	sort.Slice(got, func(i, j int) bool {
		if got[i].QueueID != got[j].QueueID {
			return got[i].QueueID < got[j].QueueID
		}
		return got[i].QueueOffset < got[j].QueueOffset
	})
	return got
}

func waitLog(t *testing.T, logs *syncBuffer, s string, d time.Duration) {
	t.Helper()
	waitCount(t, logs, s, 1, d)
}

func waitCount(t *testing.T, logs *syncBuffer, s string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Count(logs.String(), s) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%q did not appear %d times in ferry's log within %s:\n%s", s, n, d, logs.String())
}
