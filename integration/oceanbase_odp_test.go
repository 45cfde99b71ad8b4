//go:build integration

package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// obPipeline writes a pipeline file whose source reaches the OceanBase stand-in: SQL through
// its ODP role (address) and the binlog through binlog (the ODP role too, the normal setup,
// or the direct Binlog Service role).
func obPipeline(t *testing.T, env harness.Environment, dir, name, binlog string, tables []string, topic, extraSource string) string {
	t.Helper()
	return obPipelineAt(t, env, env.OBAddr, dir, name, binlog, tables, topic, extraSource)
}

// obPipelineAt is obPipeline with the ODP address given (a private stand-in's).
func obPipelineAt(t *testing.T, env harness.Environment, odp, dir, name, binlog string, tables []string, topic, extraSource string) string {
	t.Helper()
	qs := make([]string, len(tables))
	for i, tb := range tables {
		qs[i] = strconv.Quote(tb)
	}
	cfg := fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    address        = %q
    binlog_address = %q
    user           = %q
    password       = env("OB_PASSWORD")
    tables         = [%s]
    server_id      = %d
    heartbeat_interval = "500ms"
    %s
  }
  serializer "canal" { enum_set = "text" }  # the tests compare ENUM/SET with the database text
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir      = %q
    interval = "200ms"
  }
}
`, name, odp, binlog, env.OBUser, strings.Join(qs, ", "), 7700+time.Now().Nanosecond()%200, extraSource,
		env.RMQ5().NameServer, topic, filepath.Join(dir, "cp"))
	path := filepath.Join(dir, name+".hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// obRows reads a table's rows as a consumer should see them (key id), through MariaDB with
// every character column converted to utf8mb4.
func obRows(t *testing.T, db *sql.DB, table string, cols []string) map[string]map[string]string {
	t.Helper()
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "`" + c + "`"
	}
	rows, err := db.Query("SELECT " + strings.Join(sel, ", ") + " FROM `" + table + "`")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dst := make([]any, len(cols))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out[m["id"]] = m
	}
	return out
}

// TestOceanBaseThroughODP runs the real ferry binary against the OceanBase stand-in with
// address = binlog_address = the ODP role (how Canal and Flink CDC connect to OceanBase): the
// snapshot, then the stream in the Binlog Service's shape (MySQL GTIDs, one TABLE_MAP per
// row, no optional metadata, FLOAT(30,10) logged as DOUBLE, binary JSON, column bytes in their
// charset). Snapshot values must equal stream values for the same row and the database's
// own; a graceful restart re-sends nothing, and a kill -9 resumes from the saved GTID set with
// the verifier's guarantees; then the same through the direct Binlog Service role.
func TestOceanBaseThroughODP(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5, harness.OBStandin)
	bin := ferryBinary(t)
	dbName := "ferry_ob_odp"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE types (id INT PRIMARY KEY, ver INT NOT NULL, f FLOAT(30,10), d DOUBLE, "+
		"g VARCHAR(20) CHARACTER SET gbk, l VARCHAR(20) CHARACTER SET latin1, u VARCHAR(20) CHARACTER SET utf16, "+
		"j JSON, e ENUM('one','two','three'), s SET('x','y','z'), ts TIMESTAMP(3) NULL, dec2 DECIMAL(12,4))")
	cols := []string{"id", "ver", "f", "d", "g", "l", "u", "j", "e", "s", "ts", "dec2"}
	row := func(id, ver int) string {
		return fmt.Sprintf("(%d, %d, %d.0625, %d.5e-3, '汉字%d', 'café%d', 'ü€%d', '{\"k\": [%d, \"v\", true, null], \"n\": 1.25}', '%s', 'x,%s', '2026-12-02 08:%02d:%02d.125', %d.1234)",
			id, ver, id*1000+ver, id, id, id, id, id, []string{"one", "two", "three"}[id%3], []string{"y", "z"}[id%2], ver%60, id%60, id*7)
	}
	const n = 30
	var vals []string
	for id := 1; id <= n; id++ {
		vals = append(vals, row(id, 1))
	}
	execAll(t, db, "INSERT INTO types VALUES "+strings.Join(vals, ", "))

	topic := harness.UniqueName("ferry_ob_odp")
	harness.CreateTopic(t, env.RMQ5(), topic, 4)
	dir := t.TempDir()
	cfg := obPipeline(t, env, dir, "obodp", env.OBAddr, []string{dbName + ".types"}, topic, "")
	pw := []string{"OB_PASSWORD=" + env.OBPassword}
	f := startFerry(t, bin, cfg, pw)
	f.waitWritten(n, 90*time.Second)

	// the stream: every row updated to the same values at the next version, so the snapshot
	// image and the stream image of each row can be compared column by column
	execAll(t, db, "UPDATE types SET ver = 2") // full row images: every column in the stream
	f.waitWritten(2*n, 90*time.Second)
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, f.logs.String())
	}
	c, err := verify.NewConsumer(env.RMQ5().NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(60 * time.Second); (c.Count() < 2*n || c.Quiet() < 2*time.Second) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	want := obRows(t, db, "types", cols)
	snap, stream := map[string]map[string]string{}, map[string]map[string]string{}
	for _, m := range c.Messages() {
		ev, err := verify.Decode("canal", m.Body)
		if err != nil {
			t.Fatal(err)
		}
		id := ev.Row["id"]
		switch {
		case m.Properties[verify.PropOp] == "snapshot":
			snap[id] = ev.Row
		case ev.Row["ver"] == "2":
			stream[id] = ev.Row
		}
	}
	if len(snap) != n || len(stream) != n {
		t.Fatalf("%d snapshot rows and %d stream rows, want %d each", len(snap), len(stream), n)
	}
	for id, w := range want {
		for _, col := range cols {
			if col == "ver" {
				continue
			}
			sv, tv, dv := snap[id][col], stream[id][col], w[col]
			if col == "j" || col == "f" || col == "d" || col == "ts" {
				// JSON text and number rendering are the format's; compare snapshot and stream
				if sv != tv {
					t.Errorf("row %s column %s: snapshot %q, stream %q", id, col, sv, tv)
				}
				continue
			}
			if sv != tv || sv != dv {
				t.Errorf("row %s column %s: snapshot %q, stream %q, database %q", id, col, sv, tv, dv)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// graceful restart: nothing re-sent; then kill -9 under writes, and the verifier
	before := c.Count()
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	execAll(t, db, "UPDATE types SET ver = 3")
	for deadline := time.Now().Add(60 * time.Second); c.Count() < before+n && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if got := c.Count(); got != before+n {
		t.Fatalf("after a graceful restart %d new messages, want exactly %d (nothing re-sent from before the checkpoint)", got-before, n)
	}
	for ver := 4; ver <= 8; ver++ {
		execAll(t, db, fmt.Sprintf("UPDATE types SET ver = %d", ver))
		if ver == 6 {
			f.kill()
			f = startFerry(t, bin, cfg, pw, "--no-precheck")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initial := map[string]int64{}
	for id := 1; id <= n; id++ {
		initial[strconv.Itoa(id)] = 1
	}
	vt := []verify.Table{{DB: dbName, Name: "types", Key: []string{"id"}, Version: "ver", Columns: []string{"id", "ver", "g", "l", "u", "e", "s", "dec2"}}}
	s, err := verify.Until(ctx, c, db, "canal", vt, 3*time.Second)
	t.Logf("through ODP: %s", s)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// the direct Binlog Service role: a new pipeline, binlog_address = the Binlog Service
	topic2 := harness.UniqueName("ferry_ob_direct")
	harness.CreateTopic(t, env.RMQ5(), topic2, 4)
	cfg2 := obPipeline(t, env, t.TempDir(), "obdirect", env.OBBinlogAddr, []string{dbName + ".types"}, topic2, `binlog_tls = "disabled"`)
	f2 := startFerry(t, bin, cfg2, pw)
	f2.waitWritten(n, 90*time.Second)
	execAll(t, db, "UPDATE types SET ver = 9")
	f2.waitWritten(2*n, 90*time.Second)
	_ = f2.stop(30 * time.Second)
}

// TestOceanBaseODPFaults: the stand-in's ODP answers the next statements with OceanBase's
// leader-switch error and drops every connection while ferry streams; ferry retries and
// reconnects, and the verifier finds nothing lost or reordered.
func TestOceanBaseODPFaults(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5, harness.OBStandin)
	if env.OBControlAddr == "" {
		t.Skip("no FERRY_OB_CONTROL_ADDR")
	}
	bin := ferryBinary(t)
	dbName := "ferry_ob_faults"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	w := &verify.Workload{DB: db, Table: "t", Keys: 300, Rate: 200, Workers: 4}
	ctx := context.Background()
	if err := w.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Prefill(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	initial := w.Versions()
	topic := harness.UniqueName("ferry_ob_faults")
	harness.CreateTopic(t, env.RMQ5(), topic, 4)
	cfg := obPipeline(t, env, t.TempDir(), "obfaults", env.OBAddr, []string{dbName + ".t"}, topic, `chunk_size = 200`)
	knob := func(path string) {
		resp, err := http.Post("http://"+env.OBControlAddr+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	defer knob("/reset")
	pw := []string{"OB_PASSWORD=" + env.OBPassword}
	knob("/fail?n=4&code=4038") // Open's first statements meet a leader switch
	f := startFerry(t, bin, cfg, pw, "--no-precheck")
	f.waitWritten(1, 60*time.Second)
	knob("/fail?n=3&code=4038") // the snapshot's next statements meet a leader switch
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, 0) }()
	f.waitWritten(500, 90*time.Second)
	for i := 0; i < 3; i++ {
		time.Sleep(time.Second)
		knob("/drop") // every client connection of both roles
	}
	time.Sleep(time.Second)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := verify.NewConsumer(env.RMQ5().NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := verify.Until(vctx, c, db, "canal", []verify.Table{{DB: dbName, Name: "t", Key: []string{"id"}, Version: "ver", Initial: initial}}, 3*time.Second)
	t.Logf("faults through ODP: %s", s)
	if f.exited() {
		t.Fatalf("ferry exited: %v\n%s", f.err, tail(f.logs.String(), 3000))
	}
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	_ = f.stop(30 * time.Second)
}
