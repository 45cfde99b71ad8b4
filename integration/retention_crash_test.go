//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
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
	bin := ferryBinary(t)

	const dbName = "ferry_h17_kill_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	const keys = 50
	insertRows(t, db, "INSERT INTO t VALUES ", keys, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	topic := harness.UniqueName("h17_kill")
	harness.CreateTopic(t, broker, topic, 4)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	cfg := fmt.Sprintf(`pipeline "h17_kill_it" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    server_id = 4718
    tables    = ["%s.t"]
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
  retention {
    dir      = "ret"
    min_free = "16MiB"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, dbName, broker.NameServer, topic)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	envv := append(os.Environ(), "E2E_DB_PASSWORD="+env.MariaDBPassword)
	var logs syncBuffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--log-level", "info", "run", "--watch", "0", "--status-addr", "", "--no-precheck", path)
		cmd.Env = envv
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ferry logs:\n%s", logs.String())
		}
	}()
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
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cmd = start()
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
