//go:build integration

package integration

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestRetentionRewind: a pipeline with a retention block delivers two bursts of updates
// with a gap between them; `ferry rewind --to` a time in the gap, on the running pipeline,
// sends the second burst again from the local store (same ids, same order per queue,
// ferry_replayed=true), a time outside the window is refused with the window shown, and
// the stream then continues live (unmarked).
func TestRetentionRewind(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	const dbName = "ferry_h17_rewind_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	rewindScenario(t, rewindDB{db: db, name: dbName, addr: env.MariaDBAddr, user: env.MariaDBUser, password: env.MariaDBPassword,
		serverID: 4717, statusAddr: "127.0.0.1:31517"}, nil)
}

// TestRetentionRewindAfterPurge: the same on a private MariaDB whose binary logs holding the
// rewound window are purged (FLUSH and PURGE BINARY LOGS) before the rewind: the replay
// comes from the local store alone, every change of the window again with its ids and in
// order per key, and the stream then continues live from the current binlog file.
func TestRetentionRewindAfterPurge(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	const dbName = "ferry_rewind_purge"
	root, db, addr, user, pw := privateRewindDB(t, dbName)
	purge := func(t *testing.T) { purgeBinlogs(t, root) }
	rewindScenario(t, rewindDB{db: db, name: dbName, addr: addr, user: user, password: pw, serverID: 4718, statusAddr: "127.0.0.1:31518"}, purge)
}

// purgeBinlogs flushes the binary logs and purges every file before the new one (retrying
// while the source still reads an old one).
func purgeBinlogs(t *testing.T, root *sql.DB) {
	t.Helper()
	var first string
	if err := root.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, root, "FLUSH BINARY LOGS")
	var file string
	if err := root.QueryRow("SHOW MASTER STATUS").Scan(&file, new(any), new(any), new(any)); err != nil {
		t.Fatal(err)
	}
	// The server does not purge a file a binlog dump (ferry's source) still reads; the
	// source moves to the new file at its Rotate event, so retry for a while.
	var left string
	for deadline := time.Now().Add(20 * time.Second); ; {
		mustExec(t, root, "PURGE BINARY LOGS TO '"+file+"'")
		if err := root.QueryRow("SHOW BINARY LOGS").Scan(&left, new(any)); err != nil {
			t.Fatal(err)
		}
		if left == file {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary logs from %s on are still there 20s after PURGE BINARY LOGS TO %s", left, file)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("purged the binary logs %s up to %s: the rewound window is in none of them", first, file)
}

type rewindDB struct {
	db                   *sql.DB
	name                 string
	addr, user, password string
	serverID             int
	statusAddr           string
}

// rewindScenario: two bursts of updates with a gap, a refused rewind outside the window, a
// rewind into the gap (after beforeRewind, when set), the replay checked per queue, then a
// live burst.
func rewindScenario(t *testing.T, d rewindDB, beforeRewind func(t *testing.T)) {
	env := harness.Env()
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	db, dbName := d.db, d.name
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	const keys = 20
	insertRows(t, db, "INSERT INTO t VALUES ", keys, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	topic := harness.UniqueName("h17_rewind")
	harness.CreateTopic(t, broker, topic, 4)

	path := filepath.Join(t.TempDir(), "p.hcl")
	retentionPipeline{Name: "h17_rewind_it", Addr: d.addr, User: d.user, Table: dbName + ".t", ServerID: d.serverID,
		NameServer: broker.NameServer, Topic: topic, Source: `heartbeat_interval = "1s"`,
		Retention: "duration  = \"1h\"\nmax_bytes = \"64MiB\"\ndir       = \"ret\"\nmin_free  = \"16MiB\""}.write(t, path)
	f := startRetentionFerry(t, path, d.password, "info", "--status-addr", d.statusAddr)
	envv := f.env
	harness.Collect(t, broker, topic, keys, 60*time.Second) // the snapshot

	burst := func(add int) {
		for id := 1; id <= keys; id++ {
			if _, err := db.Exec("UPDATE t SET v = v + ? WHERE id = ?", add, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	burst(1)
	harness.Collect(t, broker, topic, 2*keys, 60*time.Second)
	time.Sleep(1500 * time.Millisecond)
	to := time.Now().UTC().Truncate(time.Second).Add(time.Second) // binlog commit times are whole seconds
	time.Sleep(time.Until(to) + 300*time.Millisecond)
	burst(1000)
	first := harness.Collect(t, broker, topic, 3*keys, 60*time.Second)

	// Outside the window: refused, with the window.
	out, err := runFerry(bin, envv, "rewind", path, "--to", "-3h")
	if err == nil || !strings.Contains(out, "outside the retention window") || !strings.Contains(out, "the retention window is") {
		t.Fatalf("rewind outside the window: err %v, output:\n%s", err, out)
	}
	if beforeRewind != nil {
		beforeRewind(t)
	}
	out, err = runFerry(bin, envv, "rewind", path, "--to", to.Format(time.RFC3339))
	if err != nil {
		t.Fatalf("rewind: %v\n%s", err, out)
	}
	all := harness.Collect(t, broker, topic, 4*keys, 60*time.Second)
	if len(all) != 4*keys {
		t.Fatalf("%d messages after the rewind, want %d (the second burst once more)", len(all), 4*keys)
	}
	// Per queue: the second burst's messages, then the same ids again in the same order,
	// marked replayed; nothing before them is marked.
	type qk struct {
		broker string
		q      int
	}
	orig, again := map[qk][]string{}, map[qk][]string{}
	for _, m := range first {
		if m.Properties["ferry_replayed"] != "" {
			t.Fatalf("a first delivery is marked replayed: %v", m.Properties)
		}
	}
	seen := map[string]int{}
	for _, m := range all {
		id := m.Properties["ferry_id"]
		k := qk{m.BrokerName, m.QueueID}
		seen[id]++
		if m.Properties["ferry_replayed"] == "true" {
			again[k] = append(again[k], id)
		} else if seen[id] == 1 && m.Properties["ferry_op"] == "update" && len(orig[k]) < 1<<20 {
			orig[k] = append(orig[k], id)
		}
	}
	replayed := 0
	for k, ids := range again {
		replayed += len(ids)
		o := orig[k]
		tail := o[len(o)-len(ids):]
		if fmt.Sprint(tail) != fmt.Sprint(ids) {
			t.Fatalf("queue %v: replayed %v, want the last first deliveries %v in the same order", k, ids, tail)
		}
	}
	if replayed != keys {
		t.Fatalf("%d replayed messages, want %d (the second burst)", replayed, keys)
	}
	// Live again, unmarked.
	burst(5)
	live := harness.Collect(t, broker, topic, 5*keys, 60*time.Second)
	marked := 0
	for _, m := range live {
		if m.Properties["ferry_replayed"] == "true" {
			marked++
		}
	}
	if marked != keys {
		t.Fatalf("%d marked messages after the live burst, want %d", marked, keys)
	}
}

// TestRetentionRewindOneHour: a rewind by an hour (`--to -1h`) on a private MariaDB whose binary
// logs were purged after the changes were delivered. The binlog carries commit times of its
// own (SET TIMESTAMP), in order as a server's are: a burst 90 minutes ago, one 50 minutes ago,
// one now, read by an incremental pipeline started before them (heartbeats, stamped now, are
// kept out of the window by a long heartbeat_interval). The rewind replays the last two bursts, every change with its id and in order per key,
// from the local store alone (the binlog is gone), none of the burst before the hour;
// `--to -2h`, before the oldest retained change, is refused with the window; then the stream
// continues live.
func TestRetentionRewindOneHour(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	broker := harness.Env().RMQ4()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	const dbName = "ferry_rewind_hour"
	root, db, addr, user, pw := privateRewindDB(t, dbName)
	const keys = 30
	// Statements committed at a given time: one connection, SET TIMESTAMP for them.
	at := func(when time.Time, stmts ...string) {
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range append(append([]string{fmt.Sprintf("SET TIMESTAMP = %d", when.Unix())}, stmts...), "SET TIMESTAMP = DEFAULT") {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	burst := func(when time.Time, v int) {
		var stmts []string
		for id := 1; id <= keys; id++ {
			stmts = append(stmts, fmt.Sprintf("UPDATE t SET v = %d WHERE id = %d", v, id))
		}
		at(when, stmts...)
	}
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
	insertRows(t, db, "INSERT INTO t VALUES ", keys, func(i int) string { return fmt.Sprintf("(%d, 0)", i) })
	topic := harness.UniqueName("h17_rewind_hour")
	harness.CreateTopic(t, broker, topic, 4)
	path := filepath.Join(t.TempDir(), "p.hcl")
	retentionPipeline{Name: "h17_rewind_hour", Addr: addr, User: user, Table: dbName + ".t", ServerID: 4720,
		NameServer: broker.NameServer, Topic: topic, Source: "heartbeat_interval = \"1h\"\nmode               = \"incremental\"",
		Retention: "duration = \"3h\"\ndir      = \"ret\"\nmin_free = \"16MiB\""}.write(t, path)
	envv := startRetentionFerry(t, path, pw, "info", "--status-addr", "127.0.0.1:31519").env
	for deadline := time.Now().Add(60 * time.Second); ; {
		if st, err := (&ferryProc{statusAddr: "127.0.0.1:31519"}).status(); err == nil && st.Phase == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ferry is not running after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // the binlog stream is up
	now := time.Now()
	burst(now.Add(-90*time.Minute), 1)
	burst(now.Add(-50*time.Minute), 2)
	burst(now, 3)
	first := harness.Collect(t, broker, topic, 3*keys, 60*time.Second)
	vOf := map[string]int{}
	for _, m := range first {
		if m.Properties["ferry_op"] == "update" {
			_, vOf[m.Properties["ferry_id"]] = canalRow(t, m)
		}
	}
	if len(vOf) != 3*keys {
		t.Fatalf("%d updates delivered, want %d", len(vOf), 3*keys)
	}
	purgeBinlogs(t, root)

	out, err := runFerry(bin, envv, "rewind", path, "--to", "-2h")
	if err == nil || !strings.Contains(out, "outside the retention window") {
		t.Fatalf("rewind by 2 hours, before the oldest retained change: err %v, output:\n%s", err, out)
	}
	if out, err := runFerry(bin, envv, "rewind", path, "--to", "-1h"); err != nil {
		t.Fatalf("rewind by an hour: %v\n%s", err, out)
	}
	all := harness.Collect(t, broker, topic, 5*keys, 60*time.Second)
	replayed := map[string]int{}
	lastV := map[string]int{}
	for _, m := range all {
		if m.Properties["ferry_replayed"] != "true" {
			continue
		}
		id := m.Properties["ferry_id"]
		key, v := canalRow(t, m)
		if want, ok := vOf[id]; !ok || v != want {
			t.Errorf("replayed %s with v=%d, first delivered with v=%d (%v)", id, v, want, ok)
		}
		if v == 1 {
			t.Errorf("replayed %s of the burst 90 minutes ago, before the hour", id)
		}
		if v < lastV[key] {
			t.Errorf("key %s: v=%d replayed after v=%d", key, v, lastV[key])
		}
		lastV[key] = v
		replayed[id]++
	}
	if len(replayed) != 2*keys {
		t.Fatalf("%d changes replayed, want %d (the bursts of the last hour)", len(replayed), 2*keys)
	}
	burst(time.Now(), 4)
	live := harness.Collect(t, broker, topic, 6*keys, 60*time.Second)
	fresh := 0
	for _, m := range live {
		if _, v := canalRow(t, m); v == 4 && m.Properties["ferry_replayed"] == "" {
			fresh++
		}
	}
	if fresh != keys {
		t.Errorf("%d live changes after the rewind, want %d", fresh, keys)
	}
}
