//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestObjects runs the real pipeline (MariaDB → ferry → RocketMQ) with an objects block:
//   - a row filter gives the same rows in the snapshot and in the stream, UPDATEs crossing
//     the filter arriving as INSERT (appears) and DELETE (disappears);
//   - column selection: messages carry only the selected columns;
//   - sharding columns: all rows of one customer share one queue;
//   - a topic template routes tables of a rule to their own topics, an exclude keeps one out;
//   - a table created while the pipeline runs that a rule matches joins it;
//   - `ferry objects` lists the objects against the live schema (a view is dropped with its
//     reason), and a CSV with errors is refused with every bad line listed.
func TestObjects(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)

	const dbName = "ferry_objects_it"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db,
		"CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(16) NOT NULL, amount INT NOT NULL, note VARCHAR(32))",
		"CREATE TABLE item_a (id INT PRIMARY KEY, v VARCHAR(16))",
		"CREATE TABLE item_b (id INT PRIMARY KEY, v VARCHAR(16))",
		"CREATE TABLE item_x_bak (id INT PRIMARY KEY, v VARCHAR(16))",
		"CREATE VIEW item_view AS SELECT * FROM item_a",
		"INSERT INTO item_a VALUES (1, 'a1'), (2, 'a2')",
		"INSERT INTO item_b VALUES (1, 'b1')",
		"INSERT INTO item_x_bak VALUES (1, 'bak')",
	)
	// 12 orders of 2 customers; draft or zero-amount ones are filtered out.
	for i := 1; i <= 12; i++ {
		status := "paid"
		if i%3 == 0 {
			status = "draft"
		}
		execAll(t, db, fmt.Sprintf("INSERT INTO orders VALUES (%d, %d, '%s', %d, 'secret')", i, i%2, status, i%4))
	}

	prefix := harness.UniqueName("obj")
	ordersTopic, defTopic := prefix+"_orders", prefix+"_default"
	itemTopic := func(table string) string { return prefix + "_" + table }
	harness.CreateTopic(t, broker, ordersTopic, 4)
	harness.CreateTopic(t, broker, defTopic, 4)
	for _, tb := range []string{"item_a", "item_b", "item_c", "item_x_bak"} {
		harness.CreateTopic(t, broker, itemTopic(tb), 2)
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf(`pipeline "objects_it" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    server_id = 4711
    heartbeat_interval = "1s"
  }
  objects {
    table "%[4]s.orders" {
      topic            = %[5]q
      where            = "`+"`status` <> 'draft' AND `amount` > 0"+`"
      columns          = ["id", "status", "amount"]
      sharding_columns = ["customer_id"]
    }
    rule "%[4]s.item_*" { topic = "%[6]s_${table}" }
    exclude = ["%[4]s.*_bak"]
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%[7]q]
    topic        = %[8]q
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, "", dbName, ordersTopic, prefix, broker.NameServer, defTopic)
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ferryEnv := append(os.Environ(), "E2E_DB_PASSWORD="+env.MariaDBPassword)

	// ferry objects: the live resolution.
	out, err := runFerry(bin, ferryEnv, "objects", path)
	if err != nil {
		t.Fatalf("ferry objects: %v\n%s", err, out)
	}
	for _, want := range []string{dbName + ".orders", itemTopic("item_a"), itemTopic("item_b"), "status` <> 'draft'",
		"id,status,amount", "customer_id", dbName + ".item_view", "not a base table", dbName + ".item_x_bak", "excluded"} {
		if !strings.Contains(out, want) {
			t.Errorf("ferry objects output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("ferry objects:\n%s", out)
	// The same with the source out of process: the listing crosses the plugin protocol.
	oop := filepath.Join(dir, "p_oop.hcl")
	if err := os.WriteFile(oop, []byte(strings.Replace(cfg, `source "oceanbase" {`, `source "oceanbase" {
    out_of_process = true`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	outOOP, err := runFerry(bin, ferryEnv, "objects", oop)
	if err != nil || outOOP != out {
		t.Errorf("ferry objects with the source out of process (err %v) differs:\n%s", err, outOOP)
	}

	// A CSV with errors is refused, every bad line listed, nothing written.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("database,table,topic,row_filter,columns,sharding_columns\n"+
		dbName+",orders,t,amount > 0,\"id,amount\",\n"+
		dbName+",no.dots,t,,,\n"+
		dbName+",orders2,${tabel},,,\n"+
		dbName+",orders3,t,amount >,,\n"+
		dbName+",orders,t,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	out, err = runFerry(bin, ferryEnv, "objects", path, "--import", bad, "--write")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("import of a bad CSV: %v, want exit 3\n%s", err, out)
	}
	for _, line := range []int{3, 4, 5, 6} {
		if !strings.Contains(out, fmt.Sprintf("bad.csv:%d:", line)) {
			t.Errorf("line %d not reported:\n%s", line, out)
		}
	}
	if strings.Contains(out, "bad.csv:2:") {
		t.Errorf("good line 2 reported:\n%s", out)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the pipeline file changed after a refused import")
	}

	// Run the pipeline.
	cmd := exec.Command(bin, "--log-level", "warn", "run", path)
	cmd.Env = ferryEnv
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

	// Snapshot: orders that pass the filter; item_a and item_b on their own topics.
	passing := 0
	for i := 1; i <= 12; i++ {
		if i%3 != 0 && i%4 != 0 {
			passing++
		}
	}
	snap := harness.Collect(t, broker, ordersTopic, passing, 60*time.Second)
	harness.Collect(t, broker, itemTopic("item_a"), 2, 60*time.Second)
	harness.Collect(t, broker, itemTopic("item_b"), 1, 60*time.Second)

	// Stream: crossing updates, plain changes, and a new table matching the rule.
	execAll(t, db,
		"UPDATE orders SET status = 'paid' WHERE id = 3",     // draft -> paid: appears (insert)
		"UPDATE orders SET status = 'draft' WHERE id = 1",    // paid -> draft: disappears (delete)
		"UPDATE orders SET amount = 0 WHERE id = 2",          // leaves by amount (delete)
		"UPDATE orders SET amount = 7 WHERE id = 5",          // stays: update
		"UPDATE orders SET note = 'x' WHERE id = 6",          // draft stays draft: nothing
		"INSERT INTO orders VALUES (20, 0, 'paid', 5, 'n')",  // insert
		"INSERT INTO orders VALUES (21, 1, 'draft', 5, 'n')", // filtered
		"DELETE FROM orders WHERE id = 7",                    // delete
		"INSERT INTO item_x_bak VALUES (2, 'bak2')",          // excluded
		"CREATE TABLE item_c (id INT PRIMARY KEY, v VARCHAR(16))",
		"INSERT INTO item_c VALUES (1, 'c1'), (2, 'c2')",
		"UPDATE item_c SET v = 'c2b' WHERE id = 2",
	)
	// orders: 3 insert, 1 delete, 2 delete, 5 update, 20 insert, 7 delete = 6 messages
	all := harness.Collect(t, broker, ordersTopic, passing+6, 60*time.Second)
	// item_c: its changes from creation on, plus its snapshot (a table that appears under a
	// rule is snapshotted; rows its changes already gave may come again as snapshot rows,
	// never older than a change before them). Read until the state is final.
	var items []harness.Received
	cState := map[string]string{}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && fmt.Sprint(cState) != "map[1:c1 2:c2b]"; {
		items = collectSorted(broker, itemTopic("item_c"), 3*time.Second)
		cState = map[string]string{}
		for _, m := range items {
			if e, err := verify.Decode("canal", m.Body); err == nil && !e.Skip {
				cState[e.Row["id"]] = e.Row["v"]
			}
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry did not stop cleanly: %v\n%s", err, logs.String())
	}
	if len(snap) != passing {
		t.Errorf("snapshot: %d messages, want %d", len(snap), passing)
	}

	// Apply the orders messages: the state must be SELECT ... WHERE filter.
	state := map[string]string{}
	queues := map[string]int{} // customer -> queue
	var streamOps []string
	for _, m := range all {
		e, err := verify.Decode("canal", m.Body)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, m.Body)
		}
		if e.Skip {
			continue
		}
		keys := make([]string, 0, len(e.Row))
		for k := range e.Row {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "amount,id,status" {
			t.Errorf("message with columns %v, want amount,id,status:\n%s", keys, m.Body)
		}
		op := e.Op
		if op == "snapshot" {
			op = "insert"
		}
		streamOps = append(streamOps, op+":"+e.Row["id"])
		switch e.Op {
		case "delete":
			delete(state, e.Row["id"])
		default:
			state[e.Row["id"]] = e.Row["status"] + "/" + e.Row["amount"]
		}
		var id int
		fmt.Sscan(e.Row["id"], &id)
		c := fmt.Sprint(id % 2) // customer_id, which the messages do not carry
		if q, ok := queues[c]; ok && q != m.QueueID {
			t.Errorf("customer %s on queues %d and %d", c, q, m.QueueID)
		}
		queues[c] = m.QueueID
	}
	rows, err := db.Query("SELECT id, status, amount FROM orders WHERE `status` <> 'draft' AND `amount` > 0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for rows.Next() {
		var id, st, am string
		if err := rows.Scan(&id, &st, &am); err != nil {
			t.Fatal(err)
		}
		want[id] = st + "/" + am
	}
	rows.Close()
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("state from messages %v\nSELECT ... WHERE   %v", state, want)
	}
	// snapshot rows (read as inserts), then: 3 appears, 1 and 2 disappear, 5 updated inside
	// the filter, 20 inserted, 7 deleted; 6 (draft to draft) and 21 (draft) never show.
	wantOps := []string{"insert:1", "insert:2", "insert:5", "insert:7", "insert:10", "insert:11",
		"insert:3", "delete:1", "delete:2", "update:5", "insert:20", "delete:7"}
	sort.Strings(wantOps)
	sort.Strings(streamOps)
	if fmt.Sprint(streamOps) != fmt.Sprint(wantOps) {
		t.Errorf("stream operations %v, want %v", streamOps, wantOps)
	}
	// item_c joined: in queue order each key's messages are values it had, ending with its
	// final one.
	var cOps []string
	for _, m := range items {
		e, err := verify.Decode("canal", m.Body)
		if err != nil || e.Skip {
			continue
		}
		cOps = append(cOps, e.Op+":"+e.Row["id"]+"="+e.Row["v"])
		if v := e.Row["id"] + "=" + e.Row["v"]; v != "1=c1" && v != "2=c2" && v != "2=c2b" {
			t.Errorf("item_c message with a value the row never had: %s", v)
		}
	}
	if fmt.Sprint(cState) != "map[1:c1 2:c2b]" {
		t.Errorf("item_c state %v from messages %v, want map[1:c1 2:c2b]", cState, cOps)
	}
	// Nothing of the excluded table anywhere.
	for _, topic := range []string{itemTopic("item_x_bak"), defTopic} {
		if got := collectQuietly(broker, topic, 1, 5*time.Second); len(got) > 0 {
			t.Errorf("topic %s got %d message(s): %s", topic, len(got), got[0].Body)
		}
	}
	t.Logf("orders: %d messages, stream ops %v, customer queues %v; item_c %v", len(all), streamOps, queues, cOps)
}

func runFerry(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// collectQuietly returns what arrives on topic within d (none is fine).
func collectQuietly(b harness.Broker, topic string, n int, d time.Duration) []harness.Received {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got, _ := harness.CollectMessages(ctx, b, topic, n)
	return got
}
