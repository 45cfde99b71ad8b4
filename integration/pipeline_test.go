//go:build integration

package integration

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

var (
	ferryOnce sync.Once
	ferryPath string
	ferryErr  error
)

// ferryBinary is $FERRY_BIN (set by `make integration`) or a fresh build.
func ferryBinary(t *testing.T) string {
	t.Helper()
	ferryOnce.Do(func() {
		if p := os.Getenv("FERRY_BIN"); p != "" {
			ferryPath = p
			return
		}
		dir, err := os.MkdirTemp("", "ferry-it")
		if err != nil {
			ferryErr = err
			return
		}
		ferryPath = filepath.Join(dir, "ferry")
		if out, err := exec.Command("go", "build", "-o", ferryPath, "github.com/ferry-cdc/ferry/core/cmd/ferry").CombinedOutput(); err != nil {
			ferryErr = errors.New(string(out))
		}
	})
	if ferryErr != nil {
		t.Fatalf("build ferry: %v", ferryErr)
	}
	return ferryPath
}

// event is one row change as a consumer of a format sees it.
type event struct {
	op   string // snapshot|insert|update|delete (snapshot rows and inserts may both read insert)
	id   string
	name string // after image (before image for deletes)
	skip bool   // a message that carries no row state of its own (DataWorks UPDATE_BEFOR)
}

// decodeEvent reads a message the way a consumer of that format would, with the verifier's
// decoder (integration/verify): only the documented fields of the format (docs/formats.md),
// nothing of ferry's internals.
func decodeEvent(format string, body []byte) (event, error) {
	e, err := verify.Decode(format, body)
	if err != nil {
		return event{}, err
	}
	if e.Skip {
		return event{skip: true}, nil
	}
	if e.Row["id"] == "" {
		return event{}, fmt.Errorf("cannot read id from %s message %s", format, body)
	}
	return event{op: e.Op, id: e.Row["id"], name: e.Row["name"]}, nil
}

func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestPipelineEachFormat runs the real pipeline — MariaDB (snapshot, then binlog) → ferry →
// RocketMQ — once per message format, alternating the 4.x and 5.x brokers, and checks the
// consumed messages against the source table: the final state per key equals SELECT, and each
// key's versions arrive in commit order on one queue.
func TestPipelineEachFormat(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	bin := ferryBinary(t)
	formats := []string{"default", "default_extend_column_type", "canal", "dataworks", "shareplex",
		"debezium", "debezium_flatten", "debezium_smt"}
	for i, format := range formats {
		broker := env.Brokers()[i%2]
		t.Run(format+"/"+broker.Version, func(t *testing.T) {
			harness.RequireTestbed(t, broker.Component())
			runFormat(t, env, broker, bin, format, 100+i)
		})
	}
}

func runFormat(t *testing.T, env harness.Environment, broker harness.Broker, bin, format string, serverID int) {
	dbName := "ferry_e2e_" + strings.ReplaceAll(format, "_", "")
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL, amount DECIMAL(10,2))")
	const snapshotRows = 20
	for i := 1; i <= snapshotRows; i++ {
		execAll(t, db, fmt.Sprintf("INSERT INTO orders VALUES (%d, 'v0', %d.25)", i, i))
	}
	topic := harness.UniqueName("e2e_" + strings.ReplaceAll(format, "_", ""))
	harness.CreateTopic(t, broker, topic, 4)

	dir := t.TempDir()
	extra := ""
	if format == "dataworks" {
		extra = `business_name = "ferry-e2e"`
	}
	cfg := fmt.Sprintf(`pipeline "e2e" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    tables    = [%q]
    server_id = %d
    heartbeat_interval = "1s"
  }
  serializer %q {
    %s
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  runtime {
    writers = 4
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, dbName+".orders", serverID, format, extra, broker.NameServer, topic)
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--log-level", "warn", "run", path)
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

	// The snapshot first, then changes in the binlog.
	perMsg := 1
	harness.Collect(t, broker, topic, snapshotRows, 60*time.Second)
	execAll(t, db,
		"UPDATE orders SET name = 'v1' WHERE id BETWEEN 1 AND 5",
		"DELETE FROM orders WHERE id BETWEEN 6 AND 8",
		"INSERT INTO orders VALUES (21, 'v0', 1), (22, 'v0', 2), (23, 'v0', 3)",
		"UPDATE orders SET name = 'v2' WHERE id IN (1, 2, 21)",
	)
	updates := 5 + 3
	want := snapshotRows + 5 + 3 + 3 + 3
	if format == "dataworks" {
		want += updates * perMsg // an update is a BEFOR/AFTER pair
	}
	msgs := harness.Collect(t, broker, topic, want, 60*time.Second)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry did not stop cleanly: %v\n%s", err, logs.String())
	}
	if len(msgs) != want {
		t.Fatalf("%d messages, want %d", len(msgs), want)
	}

	// Apply the messages per queue in broker order; keys must stay on one queue.
	state := map[string]string{}
	lastVersion := map[string]int{}
	queueOf := map[string]int{}
	ops := map[string]int{}
	for _, m := range msgs {
		e, err := decodeEvent(format, m.Body)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, m.Body)
		}
		if e.skip {
			continue
		}
		ops[e.op]++
		if q, ok := queueOf[e.id]; ok && q != m.QueueID {
			t.Errorf("key %s on queues %d and %d", e.id, q, m.QueueID)
		}
		queueOf[e.id] = m.QueueID
		v, _ := strconv.Atoi(strings.TrimPrefix(e.name, "v"))
		if e.op == "delete" {
			delete(state, e.id)
			continue
		}
		if v < lastVersion[e.id] {
			t.Errorf("key %s: version %d after %d", e.id, v, lastVersion[e.id])
		}
		lastVersion[e.id] = v
		state[e.id] = e.name
	}
	rows, err := db.Query("SELECT id, name FROM orders")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	table := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		table[id] = name
	}
	if fmt.Sprint(state) != fmt.Sprint(table) {
		t.Errorf("state from messages %v\ntable %v", state, table)
	}
	if ops["delete"] != 3 || ops["update"] != updates {
		t.Errorf("operations %v", ops)
	}
	t.Logf("%s on %s: %d messages, ops %v", format, broker, len(msgs), ops)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
