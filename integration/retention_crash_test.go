//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestRetentionKill9: updates are written while ferry (retention on) is killed with SIGKILL
// during appends, 10 times (30 with FERRY_CHAOS=full, or FERRY_CHAOS_KILLS), and restarted:
// every change arrives (by id), and per key the first deliveries follow commit order (GTID
// sequence).
func TestRetentionKill9(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())

	const dbName = "ferry_h17_kill_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	const keys = 50
	insertRows(t, db, "INSERT INTO t VALUES ", keys, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	topic := harness.UniqueName("h17_kill")
	harness.CreateTopic(t, broker, topic, 4)
	path := filepath.Join(t.TempDir(), "p.hcl")
	retentionPipeline{Name: "h17_kill_it", Addr: env.MariaDBAddr, User: env.MariaDBUser, Table: dbName + ".t", ServerID: 4718,
		NameServer: broker.NameServer, Topic: topic, Retention: "dir      = \"ret\"\nmin_free = \"16MiB\""}.write(t, path)
	f := startRetentionFerry(t, path, env.MariaDBPassword, "info", "--status-addr", "", "--no-precheck")
	harness.Collect(t, broker, topic, keys, 60*time.Second)

	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.Exec("UPDATE t SET v = v + 1 WHERE id = ?", i%keys+1); err != nil {
				t.Errorf("update: %v", err)
				return
			}
			writes.Add(1)
		}
	}()
	kills := pick(10, 30)
	if s := os.Getenv("FERRY_CHAOS_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	for k := 0; k < kills; k++ {
		time.Sleep(1500 * time.Millisecond)
		f.restart()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	want := keys + int(writes.Load())
	// Duplicates count in Collect's n: ask again for what is missing until every id arrived.
	var all []harness.Received
	for n, deadline := want, time.Now().Add(2*time.Minute); ; {
		all = harness.Collect(t, broker, topic, n, time.Until(deadline))
		distinct := map[string]bool{}
		for _, m := range all {
			distinct[m.Properties["ferry_id"]] = true
		}
		if len(distinct) >= want || time.Now().After(deadline) {
			break
		}
		n = len(all) + want - len(distinct)
	}
	seen := map[string]bool{}
	last := map[string]int64{} // key → GTID sequence of its last first delivery
	for _, m := range all {
		id := m.Properties["ferry_id"]
		if seen[id] {
			continue
		}
		seen[id] = true
		if m.Properties["ferry_op"] != "update" {
			continue
		}
		// <domain>-<server>-<seq>#<n>
		g := strings.SplitN(strings.SplitN(id, "#", 2)[0], "-", 3)
		seq, err := strconv.ParseInt(g[len(g)-1], 10, 64)
		if err != nil {
			t.Fatalf("change id %q", id)
		}
		key := strings.Join(m.Keys, " ")
		if seq <= last[key] {
			t.Fatalf("key %s: change %s delivered first after GTID sequence %d", key, id, last[key])
		}
		last[key] = seq
	}
	if len(seen) != want {
		t.Fatalf("%d distinct changes delivered, want %d (%d snapshot rows + %d updates)", len(seen), want, keys, writes.Load())
	}
	t.Logf("%d changes, %d kills, %d messages (duplicates after kills: %d)", want, kills, len(all), len(all)-want)
}
