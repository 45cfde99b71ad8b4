//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestRetentionKill9DuringRewind (issue 17): ferry is killed with SIGKILL again and again
// while it replays a rewound window from its local store, and restarted each time. The replay
// goes on from the writer's last checkpoint: in the end every change of the window was sent
// again (same id, marked ferry_replayed), per key the replayed changes came in commit order
// (a copy of one already replayed may come again after a restart, never a newer one before an
// older one), every message parses and carries the values of its first delivery, and the
// stream then continues live, unmarked.
//
// The first pass runs unthrottled; the rewind is asked of the stopped pipeline, and the replay
// runs under limits { incremental { rows_per_second } } so that it lasts long enough for the
// kills. 10 kills in make test, 30 with FERRY_CHAOS=full.
func TestRetentionKill9DuringRewind(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	const dbName = "ferry_h17_rewind_kill"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	const keys = 50
	rounds := pick(500, 1500)
	kills := pick(10, 30)
	rate := pick(1000, 1500)
	insertRows(t, db, "INSERT INTO t VALUES ", keys, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	topic := harness.UniqueName("h17_rewind_kill")
	harness.CreateTopic(t, broker, topic, 4)

	path := filepath.Join(t.TempDir(), "p.hcl")
	pl := retentionPipeline{Name: "h17_rewind_kill", Addr: env.MariaDBAddr, User: env.MariaDBUser, Table: dbName + ".t", ServerID: 4719,
		NameServer: broker.NameServer, Topic: topic, Source: `heartbeat_interval = "1s"`,
		Retention: "duration  = \"1h\"\nmax_bytes = \"256MiB\"\ndir       = \"ret\"\nmin_free  = \"16MiB\""}
	pl.write(t, path)
	f := startRetentionFerry(t, path, env.MariaDBPassword, "warn", "--status-addr", "", "--no-precheck")
	envv := f.env
	harness.Collect(t, broker, topic, keys, 60*time.Second) // the snapshot

	time.Sleep(1500 * time.Millisecond)
	to := time.Now().UTC().Truncate(time.Second).Add(time.Second) // binlog commit times are whole seconds
	time.Sleep(time.Until(to) + 300*time.Millisecond)
	for r := 1; r <= rounds; r++ {
		if _, err := db.Exec("UPDATE t SET v = ? WHERE id BETWEEN 1 AND ?", r, keys); err != nil {
			t.Fatal(err)
		}
	}
	window := rounds * keys
	first := harness.Collect(t, broker, topic, keys+window, 2*time.Minute)
	// The values each id was first delivered with.
	firstV := map[string]int{}
	for _, m := range first {
		if m.Properties["ferry_op"] != "update" {
			continue
		}
		_, firstV[m.Properties["ferry_id"]] = canalRow(t, m)
	}
	if len(firstV) != window {
		t.Fatalf("%d distinct updates delivered, want %d", len(firstV), window)
	}

	// Stopped pipeline: rewind it, then run it throttled and kill it during the replay.
	_ = f.cmd.Process.Signal(os.Interrupt)
	_ = f.cmd.Wait()
	if out, err := runFerry(bin, envv, "rewind", path, "--to", to.Format(time.RFC3339)); err != nil {
		t.Fatalf("rewind of the stopped pipeline: %v\n%s", err, out)
	}
	pl.Extra = fmt.Sprintf("  limits {\n    incremental { rows_per_second = %d }\n  }\n", rate)
	pl.write(t, path)
	f.start()
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(1200+rand.Intn(1200)) * time.Millisecond)
		f.restart()
	}
	killedAt := time.Now()

	// Every change of the window again, marked.
	replayedIDs := func(all []harness.Received) int {
		n := map[string]bool{}
		for _, m := range all {
			if m.Properties["ferry_replayed"] == "true" {
				n[m.Properties["ferry_id"]] = true
			}
		}
		return len(n)
	}
	var all []harness.Received
	for n, deadline := keys+2*window, time.Now().Add(3*time.Minute); ; {
		all = harness.Collect(t, broker, topic, n, time.Until(deadline))
		got := replayedIDs(all)
		if got >= window || time.Now().After(deadline) {
			break
		}
		n = len(all) + window - got
	}
	replayed := 0
	copies := 0
	seen := map[string]bool{}
	lastV := map[string]int{} // key → value of its newest replayed change so far
	wrongKey := map[string]string{}
	for _, m := range all {
		if m.Properties["ferry_replayed"] != "true" {
			continue
		}
		id := m.Properties["ferry_id"]
		key, v := canalRow(t, m)
		if want, ok := firstV[id]; !ok {
			t.Errorf("replayed %s is no change of the window", id)
			continue
		} else if v != want {
			t.Errorf("replayed %s carries v=%d, first delivered with v=%d", id, v, want)
		}
		if seen[id] {
			copies++
			continue
		}
		seen[id] = true
		replayed++
		if prev, ok := lastV[key]; ok && v < prev {
			if len(wrongKey) < 5 {
				wrongKey[key] = fmt.Sprintf("v=%d replayed after v=%d", v, prev)
			}
		}
		lastV[key] = max(lastV[key], v)
	}
	if replayed != window {
		t.Errorf("%d changes of the window replayed, want %d (lost: %d)", replayed, window, window-replayed)
	}
	if len(wrongKey) > 0 {
		t.Errorf("replayed out of commit order per key: %v", wrongKey)
	}
	t.Logf("%d kills during the replay (%.0f changes/s): %d changes replayed, %d copies after the restarts; the replay ended %s after the last kill",
		kills, float64(rate), replayed, copies, time.Since(killedAt).Round(time.Second))

	// Live again, unmarked.
	if _, err := db.Exec("UPDATE t SET v = v + 1000000"); err != nil {
		t.Fatal(err)
	}
	live := harness.Collect(t, broker, topic, len(all)+keys, time.Minute)
	fresh := 0
	for _, m := range live {
		if m.Properties["ferry_replayed"] == "" && m.Properties["ferry_op"] == "update" && canalValue(t, m) > 1000000 {
			fresh++
		}
	}
	if fresh < keys {
		t.Errorf("%d live updates after the replay, want %d", fresh, keys)
	}
}

func canalValue(t *testing.T, m harness.Received) int {
	t.Helper()
	_, v := canalRow(t, m)
	return v
}

// canalRow is the id and v of a canal message's (only) row.
func canalRow(t *testing.T, m harness.Received) (id string, v int) {
	t.Helper()
	var msg struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(m.Body, &msg); err != nil || len(msg.Data) != 1 {
		t.Fatalf("message %s does not parse as one canal row: %v\n%s", m.Properties["ferry_id"], err, m.Body)
	}
	s, ok := msg.Data[0]["v"].(string)
	id, okID := msg.Data[0]["id"].(string)
	if !ok || !okID {
		t.Fatalf("message %s: id %T, v %T", m.Properties["ferry_id"], msg.Data[0]["id"], msg.Data[0]["v"])
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("message %s: v %q", m.Properties["ferry_id"], s)
	}
	return id, v
}
