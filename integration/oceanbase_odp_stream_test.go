//go:build integration

package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/obstandin"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestOceanBaseODPStartTimestampDDL runs the ferry binary through the stand-in's ODP role
// (address = binlog_address) in mode incremental from a start_timestamp: the Binlog Service's
// MySQL-flavor GTIDs give no set for such a start, so the source seeds it from the start
// file's PREVIOUS_GTIDS. A graceful restart must then resume from a full saved set (a set with
// a gap makes the Binlog Service stream again from its oldest file: the changes from before
// the start would come back). Then DDL in the Binlog Service's shape (no optional metadata,
// so columns are matched by position against the replayed schema) across a kill -9 and a
// restart: every value must arrive in its column, and the verifier checks order, gaps and the
// final state.
func TestOceanBaseODPStartTimestampDDL(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5, harness.OBStandin)
	bin := ferryBinary(t)
	dbName := "ferry_ob_odpts"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, ver INT NOT NULL, v VARCHAR(20))",
		"CREATE TABLE p (id INT NOT NULL, ver INT NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id) "+
			"(PARTITION p1 VALUES LESS THAN (100), PARTITION p2 VALUES LESS THAN (200))")
	var vals []string
	for id := 1; id <= 20; id++ {
		vals = append(vals, fmt.Sprintf("(%d, 1, 'v%d')", id, id))
	}
	execAll(t, db, "INSERT INTO t VALUES "+strings.Join(vals, ", "), "UPDATE t SET ver = 2")
	// the start: the next whole second (binlog times have whole seconds)
	start := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start) + 50*time.Millisecond)
	execAll(t, db, "UPDATE t SET ver = 3")
	vals = nil
	for id := 21; id <= 25; id++ {
		vals = append(vals, fmt.Sprintf("(%d, 1, 'v%d')", id, id))
	}
	execAll(t, db, "INSERT INTO t VALUES "+strings.Join(vals, ", "))
	initial := map[string]int64{}
	for id := 1; id <= 20; id++ {
		initial[strconv.Itoa(id)] = 2 // the versions at start_timestamp
	}

	topic := harness.UniqueName("ferry_ob_odpts")
	harness.CreateTopic(t, env.RMQ5(), topic, 4)
	cfg := obPipeline(t, env, t.TempDir(), "obodpts", env.OBAddr, []string{dbName + ".t", dbName + ".p"}, topic,
		fmt.Sprintf("mode = \"incremental\"\n    start_timestamp = %q", start.UTC().Format(time.RFC3339)))
	pw := []string{"OB_PASSWORD=" + env.OBPassword}
	f := startFerry(t, bin, cfg, pw)
	f.waitWritten(25, 90*time.Second)
	time.Sleep(time.Second) // a checkpoint after the last change
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, f.logs.String())
	}
	c, err := verify.NewConsumer(env.RMQ5().NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(30 * time.Second); (c.Count() < 25 || c.Quiet() < 2*time.Second) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if got := c.Count(); got != 25 {
		t.Fatalf("from start_timestamp %d messages, want 25 (20 updates and 5 inserts after it)", got)
	}

	// graceful restart from the saved GTID set: exactly the new changes
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	execAll(t, db, "UPDATE t SET ver = ver + 1")
	for deadline := time.Now().Add(60 * time.Second); c.Count() < 50 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if got := c.Count(); got != 50 {
		t.Fatalf("after a graceful restart %d new messages, want exactly 25: the saved GTID set made the Binlog Service send again what came before it\n%s",
			got-25, tail(f.logs.String(), 3000))
	}

	// DDL across a kill -9 and a restart; each UPDATE sets extra = 'e<ver>'
	execAll(t, db, "ALTER TABLE t ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'x' AFTER id",
		"UPDATE t SET ver = ver + 1, extra = CONCAT('e', ver)")
	f.kill()
	execAll(t, db, "ALTER TABLE t DROP COLUMN v", "UPDATE t SET ver = ver + 1, extra = CONCAT('e', ver)")
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	execAll(t, db, "ALTER TABLE t MODIFY COLUMN extra VARCHAR(30) NOT NULL",
		"INSERT INTO t (id, extra, ver) VALUES (26, 'e1', 1), (27, 'e1', 1)", "DELETE FROM t WHERE id = 5",
		"UPDATE t SET ver = ver + 1, extra = CONCAT('e', ver) WHERE id <= 10",
		// partition maintenance keeps the schema: the stream goes on
		"INSERT INTO p VALUES (1, 1), (150, 1)", "ALTER TABLE p ADD PARTITION (PARTITION p3 VALUES LESS THAN (300))",
		// (an empty partition: rows a TRUNCATE PARTITION removes get no delete events, as with
		// TRUNCATE TABLE, and the verifier would find them as ghosts)
		"ALTER TABLE p TRUNCATE PARTITION p3", "INSERT INTO p VALUES (250, 1)", "ALTER TABLE p REORGANIZE PARTITION p1 INTO "+
			"(PARTITION p1a VALUES LESS THAN (50), PARTITION p1b VALUES LESS THAN (100))", "INSERT INTO p VALUES (260, 1)",
		"UPDATE p SET ver = ver + 1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vt := []verify.Table{{DB: dbName, Name: "t", Key: []string{"id"}, Version: "ver", Columns: []string{"id", "ver", "extra"},
		Initial: initial, Check: func(r map[string]string) string {
			if v, ok := r["v"]; ok && v != "v"+r["id"] {
				return fmt.Sprintf("v = %q, want v%s", v, r["id"])
			}
			if e, ok := r["extra"]; ok && e != "e"+r["ver"] {
				return fmt.Sprintf("extra = %q at ver %s, want e%s", e, r["ver"], r["ver"])
			}
			return ""
		}}, {DB: dbName, Name: "p", Key: []string{"id"}, Version: "ver", Initial: map[string]int64{}}}
	s, err := verify.Until(ctx, c, db, "canal", vt, 3*time.Second)
	t.Logf("start_timestamp and DDL through ODP: %s", s)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestOceanBaseODPKeylessTimeout: a table without a usable key is read by one statement
// (documented: keyset chunks need a key, and OFFSET pages can skip rows under writes). On
// OceanBase that statement meets ob_query_timeout (10 s by default, error 4012). A private
// stand-in with a 70 ms default shows the table is larger than one statement may read in a
// default session; ferry's sessions set ob_query_timeout from query_timeout, so its snapshot
// reads the whole table, and the stream follows.
func TestOceanBaseODPKeylessTimeout(t *testing.T) {
	o := startObStandin(t, func(c *obstandin.Config) { c.QueryTimeout = 70 * time.Millisecond })
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	bin := ferryBinary(t)
	h := harness.OpenMariaDB(t, o.db)
	const n = 150000
	execAll(t, h, "CREATE TABLE k (a INT NOT NULL, b VARCHAR(40), c INT)",
		fmt.Sprintf("INSERT INTO k SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 20)), seq %% 7 FROM seq_1_to_%d", n))
	o.waitExecuted(t, 2)
	// a default session cannot read the table in one statement
	began := time.Now()
	cnt := 0
	rows, err := o.odp(t).Query("SELECT a, b, c FROM `" + o.db + "`.`k`")
	if err == nil {
		for rows.Next() {
			cnt++
		}
		err = rows.Err()
		rows.Close()
	}
	if obErrCode(err) != 4012 {
		t.Fatalf("a default session read the keyless table in %v (%v, %d rows): the table is too small to show the timeout", time.Since(began), err, cnt)
	}
	t.Logf("default session: %v after %v", err, time.Since(began))

	topic := harness.UniqueName("ferry_ob_keyless")
	harness.CreateTopic(t, env.RMQ5(), topic, 4)
	cfg := obPipelineAt(t, env, o.srv.ODPAddr(), t.TempDir(), "obkeyless", o.srv.ODPAddr(), []string{o.db + ".k"}, topic, "")
	f := startFerry(t, bin, cfg, []string{"OB_PASSWORD=" + env.OBPassword}, "--no-precheck")
	f.waitWritten(n, 3*time.Minute)
	execAll(t, h, "INSERT INTO k VALUES (0, 'after', 0)", "UPDATE k SET c = 100 WHERE a = 1", "DELETE FROM k WHERE a = 2")
	f.waitWritten(n+3, 60*time.Second)
	st, err := f.status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("keyless through ODP: %d records written", st.RecordsWritten)
	if strings.Contains(f.logs.String(), "4012") {
		t.Errorf("ferry met error 4012:\n%s", tail(f.logs.String(), 2000))
	}
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
