//go:build integration

package integration

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// ordPipeline writes a pipeline file for the ferry_ord_* tests and starts ferry on it.
type ordPipeline struct {
	t    *testing.T
	bin  string
	dir  string
	path string
	env  harness.Environment
	cmd  *exec.Cmd
	logs *syncBuffer
}

func newOrdPipeline(t *testing.T, env harness.Environment, name, source, sink, runtime string) *ordPipeline {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    heartbeat_interval = "1s"
    %s
  }
  serializer "canal" {}
  sink "rocketmq" {
    %s
  }
  runtime {
    %s
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, name, env.MariaDBAddr, env.MariaDBUser, source, sink, runtime)
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &ordPipeline{t: t, bin: ferryBinary(t), dir: dir, path: path, env: env}
}

func (p *ordPipeline) start(args ...string) {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, append(append([]string{"--log-level", "warn", "run"}, args...), p.path)...)
	p.cmd.Env = append(os.Environ(), "E2E_DB_PASSWORD="+p.env.MariaDBPassword)
	p.logs = &syncBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	cmd := p.cmd
	p.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// stop stops ferry with SIGINT and expects a clean exit.
func (p *ordPipeline) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("ferry did not stop cleanly: %v\n%s", err, p.logs.String())
	}
}

// waitExit waits for ferry to exit by itself and returns its error.
func (p *ordPipeline) waitExit(timeout time.Duration) error {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		p.t.Fatalf("ferry did not exit within %s\n%s", timeout, p.logs.String())
		return nil
	}
}

// ordTx is one committed transaction of the order workload: its statements' row changes.
type ordWriter struct {
	db      *sql.DB
	tables  []string
	workers int
	txs     int // per worker

	mu         sync.Mutex
	committed  int // transactions
	rowChanges int
}

// run has workers goroutines each commit txs transactions of 2 to 5 statements (an INSERT
// of a new row, or an UPDATE of one of the worker's rows) over random tables, at once.
func (w *ordWriter) run(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, w.workers)
	for k := range w.workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(k), 42))
			var mine [][2]any // (table, id) of the rows this worker inserted
			next := 0
			for n := range w.txs {
				tx, err := w.db.Begin()
				if err != nil {
					errs <- err
					return
				}
				stmts := 2 + rng.IntN(4)
				var added [][2]any
				for s := range stmts {
					if len(mine) > 0 && rng.IntN(3) == 0 {
						r := mine[rng.IntN(len(mine))]
						_, err = tx.Exec(fmt.Sprintf("UPDATE %s SET n = n + 1, note = ? WHERE id = ?", r[0]), fmt.Sprintf("u%d.%d", n, s), r[1])
					} else {
						table := w.tables[rng.IntN(len(w.tables))]
						next++
						id := k*1_000_000 + next
						_, err = tx.Exec(fmt.Sprintf("INSERT INTO %s (id, w, n, note) VALUES (?, ?, 0, ?)", table), id, k, fmt.Sprintf("i%d.%d", n, s))
						added = append(added, [2]any{table, id})
					}
					if err != nil {
						_ = tx.Rollback()
						errs <- err
						return
					}
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
				mine = append(mine, added...)
				w.mu.Lock()
				w.committed++
				w.rowChanges += stmts
				w.mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("workload: %v", err)
	}
}

// TestRocketMQCommitOrder runs MariaDB → ferry → RocketMQ 5.x with partitioning "one" and
// "table" while 6 writers commit multi-statement transactions over three tables at once, and
// checks with the independent verifier that the queue holds the changes in binlog commit
// order (per table for "table"), each transaction's changes contiguous. "oop_one" runs the
// sink out of process.
func TestRocketMQCommitOrder(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	for i, c := range []struct {
		name, partitioning string
		queues             int
		sink               string
		perTable           bool
	}{
		{"one", "one", 4, `partitioning = "one"
    queue = 2`, false},
		{"table", "table", 8, `partitioning = "table"`, true},
		// The sink in its own process: its order scope crosses the plugin protocol.
		{"oop_one", "one", 4, `partitioning = "one"
    queue = 2
    out_of_process = true`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dbName := "ferry_ord_" + c.name
			harness.DropDatabase(t, dbName)
			db := harness.OpenMariaDB(t, dbName)
			tables := []string{"a", "b", "c", "d"}
			for _, tb := range tables {
				execAll(t, db, "CREATE TABLE "+tb+" (id INT PRIMARY KEY, w INT NOT NULL, n INT NOT NULL, note VARCHAR(32))")
			}
			topic := harness.UniqueName("ferry_ord_" + c.name)
			harness.CreateTopic(t, broker, topic, c.queues)
			p := newOrdPipeline(t, env, "ord_"+c.name,
				fmt.Sprintf(`tables = ["%[1]s.a", "%[1]s.b", "%[1]s.c", "%[1]s.d"]
    server_id = %d`, dbName, 4801+i),
				fmt.Sprintf(`name_servers = [%q]
    topic = %q
    %s`, broker.NameServer, topic, c.sink),
				`writers = 4
    batch_size = 64`)
			p.start()
			// A marker row shows the pipeline runs before the workload starts.
			execAll(t, db, "INSERT INTO a (id, w, n, note) VALUES (0, -1, 0, 'marker')")
			harness.Collect(t, broker, topic, 1, 60*time.Second)

			w := &ordWriter{db: db, tables: tables, workers: 6, txs: 60}
			start := time.Now()
			w.run(t)
			want := 1 + w.rowChanges
			msgs := harness.Collect(t, broker, topic, want, 90*time.Second)
			elapsed := time.Since(start)
			p.stop()
			if len(msgs) != want {
				t.Fatalf("%d messages, want %d", len(msgs), want)
			}
			queueOf := map[string]int{}
			for _, m := range msgs {
				table := m.Properties[verify.PropTable]
				switch {
				case c.partitioning == "one" && m.QueueID != 2:
					t.Fatalf("message of %s on queue %d, want 2", table, m.QueueID)
				case c.partitioning == "table":
					if q, ok := queueOf[table]; ok && q != m.QueueID {
						t.Fatalf("table %s on queues %d and %d", table, q, m.QueueID)
					}
					queueOf[table] = m.QueueID
				}
			}
			co := verify.CheckCommitOrder(msgs, c.perTable)
			t.Logf("partitioning %s: %d transactions (%d row changes) by %d writers delivered in %s; %s; tables on queues %v",
				c.partitioning, w.committed, w.rowChanges, w.workers, elapsed.Round(time.Millisecond), co, queueOf)
			if !co.OK() {
				t.Fatalf("commit order broken: %s", co)
			}
			// Every binlog change was checked once (the marker may be a snapshot row).
			if co.Checked < w.rowChanges || co.Duplicates != 0 || co.Transactions < w.committed {
				t.Errorf("checked %d messages of %d transactions, want %d of %d", co.Checked, co.Transactions, w.rowChanges, w.committed)
			}
		})
	}
}

// TestRocketMQOversize: a row over the sink's max_message_bytes stops the pipeline naming the
// table and key and is never delivered, again after a restart (oversize = "fail", the default); with
// oversize = "skip" later rows arrive, the skipped row is in the dead-letter file, the counter
// is in /status and /metrics, and a restart does not meet the row again (the skip case runs
// the sink out of process).
func TestRocketMQOversize(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	setup := func(t *testing.T, policy string, serverID int, sinkExtra string) (*sql.DB, string, *ordPipeline, string) {
		dbName := "ferry_ord_big_" + policy
		harness.DropDatabase(t, dbName)
		db := harness.OpenMariaDB(t, dbName)
		execAll(t, db, "CREATE TABLE big (id INT PRIMARY KEY, body TEXT)")
		topic := harness.UniqueName("ferry_ord_big_" + policy)
		harness.CreateTopic(t, broker, topic, 4)
		p := newOrdPipeline(t, env, "ord_big_"+policy,
			fmt.Sprintf(`tables = ["%s.big"]
    server_id = %d`, dbName, serverID),
			fmt.Sprintf(`name_servers = [%q]
    topic = %q
    max_message_bytes = "1KiB"
    %s`, broker.NameServer, topic, sinkExtra),
			fmt.Sprintf(`oversize = %q`, policy))
		return db, dbName, p, topic
	}
	bigRow := strings.Repeat("x", 3000)

	t.Run("fail", func(t *testing.T) {
		db, dbName, p, topic := setup(t, "fail", 4811, "")
		p.start()
		execAll(t, db, "INSERT INTO big VALUES (1, 'small')")
		harness.Collect(t, broker, topic, 1, 60*time.Second)
		execAll(t, db, "INSERT INTO big VALUES (2, '"+bigRow+"')", "INSERT INTO big VALUES (3, 'small')")
		for run := 1; run <= 2; run++ {
			err := p.waitExit(60 * time.Second)
			logs := p.logs.String()
			if err == nil || !strings.Contains(logs, dbName+`.big key "2"`) || !strings.Contains(logs, "max_message_bytes") {
				t.Fatalf("run %d: exit %v; want a failure naming %s.big key \"2\":\n%s", run, err, dbName, logs)
			}
			if strings.Contains(logs, bigRow[:100]) {
				t.Errorf("run %d: the row's value is in the output", run)
			}
			t.Logf("run %d: %v: %s", run, err, firstLine(logs, "max_message_bytes"))
			if run == 1 {
				p.start() // the same row stops it again
			}
		}
		// Only row 1 is on the topic: read everything until 3s pass without a new message.
		c, err := verify.NewConsumer(broker.NameServer, topic)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for deadline := time.Now().Add(60 * time.Second); (c.Count() < 1 || c.Quiet() < 3*time.Second) && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
		}
		// Row 2 never arrives; row 3 (another key, so possibly another write lane) may have
		// been written before the pipeline stopped.
		if ids := fmt.Sprint(messageIDs(t, c.Messages())); ids != "[1]" && ids != "[1 3]" {
			t.Errorf("rows %v on the topic, want [1] (and perhaps 3), never 2", ids)
		}
		if _, err := os.Stat(filepath.Join(p.dir, "cp", "ord_big_fail.deadletter.jsonl")); !os.IsNotExist(err) {
			t.Errorf("a dead-letter file with oversize = fail: %v", err)
		}
	})

	// The sink out of process: the too-large mark crosses the plugin protocol.
	t.Run("skip", func(t *testing.T) {
		db, dbName, p, topic := setup(t, "skip", 4812, "out_of_process = true")
		const addr = "127.0.0.1:25321"
		p.start("--status-addr", addr)
		execAll(t, db, "INSERT INTO big VALUES (1, 'small')")
		harness.Collect(t, broker, topic, 1, 60*time.Second)
		execAll(t, db, "INSERT INTO big VALUES (2, '"+bigRow+"')", "INSERT INTO big VALUES (3, 'small')")
		execAll(t, db, "INSERT INTO big VALUES (4, 'small')")
		msgs := harness.Collect(t, broker, topic, 3, 60*time.Second)
		ids := messageIDs(t, msgs)
		if fmt.Sprint(ids) != "[1 3 4]" {
			t.Errorf("rows %v arrived, want [1 3 4]", ids)
		}
		var st struct {
			RecordsSkipped uint64 `json:"records_skipped"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := json.Unmarshal([]byte(httpGet(t, "http://"+addr+"/status")), &st); err != nil {
				t.Fatal(err)
			}
			if st.RecordsSkipped == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if st.RecordsSkipped != 1 {
			t.Errorf("/status records_skipped = %d, want 1", st.RecordsSkipped)
		}
		if m := httpGet(t, "http://"+addr+"/metrics"); !strings.Contains(m, `ferry_records_skipped_total{pipeline="ord_big_skip"} 1`) {
			t.Errorf("/metrics lacks the skip counter:\n%s", firstLine(m, "skipped"))
		}
		p.stop()
		logs := p.logs.String()
		if !strings.Contains(logs, "record too large") || !strings.Contains(logs, dbName+".big") || strings.Contains(logs, bigRow[:100]) {
			t.Errorf("want a warning naming the table and no value:\n%s", logs)
		}
		dl := filepath.Join(p.dir, "cp", "ord_big_skip.deadletter.jsonl")
		lines := readLines(t, dl)
		if len(lines) != 1 {
			t.Fatalf("%d dead-letter lines, want 1", len(lines))
		}
		var l struct {
			Database, Table, Key, Op string
			ChangeID                 string `json:"change_id"`
			Position                 []byte
			Size, Limit              int64
			Value                    []byte
		}
		if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
			t.Fatal(err)
		}
		if l.Database != dbName || l.Table != "big" || l.Key != "2" || l.Op != "insert" || l.ChangeID == "" ||
			len(l.Position) == 0 || l.Limit != 1024 || l.Size <= 3000 || !strings.Contains(string(l.Value), bigRow) {
			t.Errorf("dead-letter line: %.300s", lines[0])
		}
		t.Logf("dead letter: table %s.%s key %s id %s size %d limit %d", l.Database, l.Table, l.Key, l.ChangeID, l.Size, l.Limit)

		// A restart continues after the skipped row: no second dead letter, row 5 arrives.
		p.start()
		execAll(t, db, "INSERT INTO big VALUES (5, 'small')")
		msgs = harness.Collect(t, broker, topic, 4, 60*time.Second)
		p.stop()
		if ids := messageIDs(t, msgs); fmt.Sprint(ids) != "[1 3 4 5]" {
			t.Errorf("after the restart rows %v, want [1 3 4 5]", ids)
		}
		if n := len(readLines(t, dl)); n != 1 {
			t.Errorf("%d dead-letter lines after the restart, want 1", n)
		}
	})
}

func messageIDs(t *testing.T, msgs []harness.Received) []string {
	t.Helper()
	var ids []string
	for _, m := range msgs {
		e, err := decodeEvent("canal", m.Body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.id)
	}
	// Sorted per queue: order them by id for the comparison.
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
