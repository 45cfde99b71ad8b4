//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/upstream"
)

// upstreamTypesColumns is a table with every column type MariaDB 10.11 has (after id).
var upstreamTypesColumns = []string{
	"c_tinyint TINYINT", "c_tinyint_u TINYINT UNSIGNED", "c_bool BOOLEAN",
	"c_smallint SMALLINT", "c_smallint_u SMALLINT UNSIGNED",
	"c_mediumint MEDIUMINT", "c_mediumint_u MEDIUMINT UNSIGNED",
	"c_int INT", "c_int_u INT UNSIGNED", "c_bigint BIGINT", "c_bigint_u BIGINT UNSIGNED",
	"c_float FLOAT", "c_double DOUBLE", "c_decimal DECIMAL(20,6)", "c_decimal0 DECIMAL(10,0)",
	"c_bit1 BIT(1)", "c_bit12 BIT(12)",
	"c_date DATE", "c_datetime DATETIME", "c_datetime3 DATETIME(3)", "c_datetime6 DATETIME(6)",
	"c_timestamp TIMESTAMP NULL", "c_timestamp6 TIMESTAMP(6) NULL",
	"c_time TIME", "c_time6 TIME(6)", "c_year YEAR",
	"c_char CHAR(10)", "c_varchar VARCHAR(64)", "c_tinytext TINYTEXT", "c_text TEXT",
	"c_mediumtext MEDIUMTEXT", "c_longtext LONGTEXT",
	"c_binary BINARY(4)", "c_varbinary VARBINARY(16)", "c_tinyblob TINYBLOB", "c_blob BLOB",
	"c_mediumblob MEDIUMBLOB", "c_longblob LONGBLOB",
	"c_enum ENUM('a','b','c')", "c_set SET('x','y','z')", "c_json JSON", "c_geometry GEOMETRY",
}

// upstreamTypesRows are the snapshot rows of `types` (values in column order after id).
var upstreamTypesRows = map[int]string{
	// maxima
	1: `127, 255, 1, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
	    9223372036854775807, 18446744073709551615,
	    3.40282e38, 1.7976931348623157e308, 99999999999999.999999, 9999999999,
	    b'1', b'111111111111',
	    '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
	    '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999',
	    '838:59:59', '838:59:59.000000', 2155,
	    'ten chars!', REPEAT('v', 64), 'tiny', 'text', 'medium', 'long',
	    0xFFFFFFFF, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF,
	    'c', 'x,y,z', '{"max": 1.7976931348623157e308, "s": "\\u00ff"}', ST_GeomFromText('POINT(180 90)')`,
	// minima
	2: `-128, 0, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
	    -3.40282e38, -2.2250738585072014e-308, -99999999999999.999999, -9999999999,
	    b'0', b'000000000000',
	    '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000',
	    '1970-01-01 00:00:01', '1970-01-01 00:00:01.000000',
	    '-838:59:59', '-838:59:59.000000', 1901,
	    '', '', '', '', '', '',
	    0x00000000, 0x00, 0x00, 0x00, 0x00, 0x00,
	    'a', '', '[]', ST_GeomFromText('POINT(-180 -90)')`,
	// NULLs
	3: strings.TrimSuffix(strings.Repeat("NULL, ", 42), ", "),
	// zero fractions, emoji, 0x00 bytes, trailing zero bytes, scale, ENUM/SET, JSON
	4: `0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1,
	    1.0, 1e-7, 1.000000, 0,
	    b'1', b'000000000101',
	    '2024-02-29', '2024-02-29 00:00:00', '2024-02-29 12:00:00.000', '2024-02-29 12:00:00.000000',
	    '2024-02-29 12:00:00', '2024-02-29 12:00:00.000000',
	    '00:00:00', '12:00:00.000000', 2024,
	    'a', '😀 emoji ✓', CONCAT('nul', CHAR(0), 'byte'), 'é', '日本語', '',
	    0x61000000, 0x0000, 0x00FF00, CONCAT('a', CHAR(0)), X'', 0x00,
	    'b', 'x,z', '{"a": [1, 2.50, "😀"], "b": null, "c": true}', ST_GeomFromText('LINESTRING(0 0, 1 1)')`,
	// zero dates (sql_mode without NO_ZERO_DATE / NO_ZERO_IN_DATE)
	5: `1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10,
	    -0.5, 123456.789, 0.000001, 1,
	    b'0', b'100000000000',
	    '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', '2024-00-00 00:00:00.000000',
	    '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
	    '-00:00:01', '-00:00:00.500000', 2000,
	    'z', 'zero dates', 'x', 'y', 'z', 'w',
	    0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	    'c', 'y', '"string"', ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))')`,
}

// TestUpstreamFormats runs ferry (debezium, debezium_flatten, debezium_smt and canal
// serializers, the real binary, RocketMQ 5) and the real engines (Debezium's MariaDB connector,
// Canal's parser: integration/upstream) on the same MariaDB tables, then diffs their messages
// field by field (upstream_diff_test.go). Every difference must be in the allow-list
// (upstream_allowlist_test.go); the report of all differences is logged and written to
// $FERRY_UPSTREAM_REPORT (default: a file in the test's temp dir).
func TestUpstreamFormats(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	broker := env.RMQ5()
	bin := ferryBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()

	t0 := time.Now()
	dirs, err := upstream.Build(ctx, upstream.Debezium, upstream.Canal)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upstream engines ready in %v: %v", time.Since(t0).Round(time.Millisecond), dirs)

	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	dbName := "ferry_up_" + hex.EncodeToString(rnd[:])
	harness.DropDatabase(t, dbName)
	t.Cleanup(func() { harness.DropDatabase(t, dbName) })
	db := harness.OpenMariaDB(t, dbName)
	db.SetMaxOpenConns(1) // the session settings below stay on the one connection
	db.SetConnMaxLifetime(0)
	execAll(t, db, "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'", "SET SESSION time_zone = '+00:00'")

	execAll(t, db,
		"CREATE TABLE types (id INT NOT NULL PRIMARY KEY, "+strings.Join(upstreamTypesColumns, ", ")+")",
		"CREATE TABLE zero (id INT NOT NULL PRIMARY KEY, d DATE NOT NULL, dt DATETIME NOT NULL, "+
			"ts TIMESTAMP NOT NULL DEFAULT '2000-01-01 00:00:00', dn DATE NULL, dtn DATETIME(3) NULL)",
		"SET SESSION sql_mode = ''",
	)
	// Canal reads the binlog from here: it sees the snapshot rows' INSERTs, which ferry and
	// Debezium read in their snapshots.
	var file string
	var pos uint64
	var ignore1, ignore2 sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &ignore1, &ignore2); err != nil {
		t.Fatalf("SHOW MASTER STATUS: %v", err)
	}
	for id := 1; id <= 5; id++ {
		execAll(t, db, fmt.Sprintf("INSERT INTO types VALUES (%d, %s)", id, upstreamTypesRows[id]))
	}
	execAll(t, db,
		"INSERT INTO zero VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00', '0000-00-00 00:00:00.000')",
		"INSERT INTO zero VALUES (2, '2024-02-29', '2024-02-29 01:02:03', '2024-02-29 01:02:03', NULL, NULL)",
	)
	const snapshotRows = 7
	tables := []string{dbName + ".types", dbName + ".zero"}

	// ferry, once per serializer, each to its own single-queue topic (one queue: the broker's
	// order is ferry's send order).
	dir := t.TempDir()
	ferries := map[string]*ferryProc{}
	topics := map[string]string{}
	for i, format := range upstreamFerryFormats {
		topic := harness.UniqueName("up_" + strings.ReplaceAll(format, "_", ""))
		harness.CreateTopic(t, broker, topic, 1)
		topics[format] = topic
		cfg := upstreamFerryConfig(env, broker, format, topic, tables, 13601+i)
		path := filepath.Join(dir, format+".hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		f := startFerry(t, bin, path, []string{"UP_DB_PASSWORD=" + env.MariaDBPassword})
		ferries[format] = f
	}
	dbz, err := upstream.Start(ctx, upstream.Config{Engine: upstream.Debezium, Dir: dirs[upstream.Debezium],
		Addr: env.MariaDBAddr, User: env.MariaDBUser, Password: env.MariaDBPassword, ServerID: 13611,
		Tables: tables, TopicPrefix: "ferry", HeartbeatMS: 1000, LogPath: filepath.Join(dir, "debezium.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer dbz.Stop(30 * time.Second)
	cnl, err := upstream.Start(ctx, upstream.Config{Engine: upstream.Canal, Dir: dirs[upstream.Canal],
		Addr: env.MariaDBAddr, User: env.MariaDBUser, Password: env.MariaDBPassword, ServerID: 13612,
		Tables: tables, Journal: file, Position: pos, LogPath: filepath.Join(dir, "canal.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer cnl.Stop(30 * time.Second)

	// The snapshot must be over everywhere before the first change.
	for _, f := range ferries {
		f.waitWritten(snapshotRows, 3*time.Minute)
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	if err := dbz.WaitFor(wctx, func(ms []upstream.Message) bool {
		return countDebezium(ms, dbName, "r") >= snapshotRows
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot done everywhere after %v", time.Since(t0).Round(time.Millisecond))

	cols := make([]string, len(upstreamTypesColumns))
	for i, c := range upstreamTypesColumns {
		cols[i], _, _ = strings.Cut(c, " ")
	}
	execAll(t, db,
		// a multi-row statement: one rows event of 5 rows
		"INSERT INTO types SELECT id + 100, "+strings.Join(cols, ", ")+" FROM types WHERE id <= 5 ORDER BY id",
		"UPDATE types SET c_varchar = 'updated ✓' WHERE id = 101",
		"UPDATE types SET c_int = 42, c_text = NULL, c_enum = 'a', c_set = 'y,z' WHERE id IN (102, 103)",
		// YEAR 0 only in the binlog: Debezium 3.5.0's snapshot of a YEAR 0000 value fails
		// (mariadb-java-client's YearColumn calls java.sql.Date.valueOf("0000-01-01")).
		"UPDATE types SET c_year = 0 WHERE id = 105",
		"DELETE FROM types WHERE id = 105",
		"UPDATE types SET id = 204 WHERE id = 104", // a primary-key change
		"INSERT INTO zero VALUES (3, '0000-00-00', '2024-02-29 00:00:00', '0000-00-00 00:00:00', '0000-00-00', NULL)",
		"UPDATE zero SET d = '2024-02-29', dn = NULL WHERE id = 3",
		"DELETE FROM zero WHERE id = 2",
	)
	// Wait for everyone to see the changes before the DDL, so that Canal (no table-meta store)
	// reads each event with the columns it had.
	const streamRows = 5 + 1 + 2 + 1 + 1 + 2 + 3 // the key change counts as delete + insert
	// (Canal sends the key change as one UPDATE row.)
	waitUpstreamRows(t, ctx, dbz, cnl, dbName, snapshotRows+streamRows, snapshotRows+streamRows-1)
	execAll(t, db,
		"ALTER TABLE types ADD COLUMN c_added VARCHAR(8) DEFAULT 'new'",
		"INSERT INTO types (id, c_varchar) VALUES (301, 'after ddl')",
		"UPDATE types SET c_added = 'x' WHERE id = 301",
		"DELETE FROM types WHERE id = 301",
	)
	waitUpstreamRows(t, ctx, dbz, cnl, dbName, snapshotRows+streamRows+3, snapshotRows+streamRows-1+3)
	time.Sleep(2 * time.Second) // a few more heartbeats

	ferryMsgs := map[string][]harness.Received{}
	for format, topic := range topics {
		want := snapshotRows + streamRows + 3
		if format == "canal" {
			want++ // the DDL record
		}
		// Fewer than expected is not fatal here: the diff names what is missing.
		cctx, ccancel := context.WithTimeout(ctx, 45*time.Second)
		msgs, err := harness.CollectMessages(cctx, broker, topic, want)
		ccancel()
		if err != nil {
			t.Logf("ferry %s: %v (%d of %d messages)", format, err, len(msgs), want)
		}
		ferryMsgs[format] = msgs
	}
	for format, f := range ferries {
		if err := f.stop(30 * time.Second); err != nil {
			t.Errorf("ferry %s: %v\n%s", format, err, f.logs.String())
		}
	}
	dbzMsgs, err := dbz.Stop(60 * time.Second)
	if err != nil {
		t.Errorf("debezium: %v", err)
	}
	cnlMsgs, err := cnl.Stop(60 * time.Second)
	if err != nil {
		t.Errorf("canal: %v", err)
	}
	t.Logf("collected after %v: ferry %v, debezium %d lines, canal %d lines", time.Since(t0).Round(time.Millisecond),
		countsOf(ferryMsgs), len(dbzMsgs), len(cnlMsgs))

	d := newUpstreamDiff(dbName)
	for _, format := range upstreamFerryFormats {
		d.addFerry(t, format, ferryMsgs[format])
	}
	d.addUpstream(t, append(dbzMsgs, cnlMsgs...))
	d.compare()

	d.check(t, "FERRY_UPSTREAM_REPORT", "upstream-report.txt", upstreamAllowList)
}

// check writes the report (to $envVar, default name in the test's temp dir), logs it and
// fails the test for each difference the allow-lists do not allow (see report).
func (d *upstreamDiff) check(t *testing.T, envVar, name string, own []upAllow, shared ...upAllow) {
	t.Helper()
	report := d.report(own, shared...)
	path := os.Getenv(envVar)
	if path == "" {
		path = filepath.Join(t.TempDir(), name)
	}
	if err := os.WriteFile(path, []byte(report.text), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("difference report (%s):\n%s", path, report.text)
	for _, line := range report.failures {
		t.Error(line)
	}
}

// upstreamFerryFormats are the serializers compared with a real engine.
var upstreamFerryFormats = []string{"debezium", "debezium_flatten", "debezium_smt", "canal"}

func upstreamFerryConfig(env harness.Environment, broker harness.Broker, format, topic string, tables []string, serverID int) string {
	return upstreamFerryConfigAt(upstreamSource{addr: env.MariaDBAddr, user: env.MariaDBUser}, broker, format, topic, tables, serverID)
}

// upstreamSource is where ferry's source reads: address (SQL) and binlog_address (the
// binlog; "" = address), with the user.
type upstreamSource struct{ addr, binlogAddr, user string }

func upstreamFerryConfigAt(src upstreamSource, broker harness.Broker, format, topic string, tables []string, serverID int) string {
	quoted := make([]string, len(tables))
	for i, tb := range tables {
		quoted[i] = fmt.Sprintf("%q", tb)
	}
	ser := ""
	if strings.HasPrefix(format, "debezium") {
		// Debezium's default decimal.handling.mode is precise; ferry's default is string
		// (an allow-listed, documented choice), so compare the values in the same mode.
		ser = `decimal_handling = "precise"`
	}
	binlog := ""
	if src.binlogAddr != "" {
		binlog = fmt.Sprintf("binlog_address = %q", src.binlogAddr)
	}
	return fmt.Sprintf(`pipeline "up-%s" {
  source "oceanbase" {
    address   = %q
    %s
    user      = %q
    password  = env("UP_DB_PASSWORD")
    tables    = [%s]
    server_id = %d
    heartbeat_interval = "1s"
    emit_ddl  = true
  }
  serializer %q {
    %s
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir      = "cp-%s"
    interval = "200ms"
  }
}
`, format, src.addr, binlog, src.user, strings.Join(quoted, ", "), serverID, format, ser, broker.NameServer, topic, format)
}

// waitUpstreamRows waits until Debezium sent dbzN data records (snapshot rows included, not
// tombstones) and Canal canalN rows of the test's database.
func waitUpstreamRows(t *testing.T, ctx context.Context, dbz, cnl *upstream.Run, dbName string, dbzN, canalN int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := dbz.WaitFor(ctx, func(ms []upstream.Message) bool {
		return countDebezium(ms, dbName, "") >= dbzN
	}); err != nil {
		t.Fatal(err)
	}
	if err := cnl.WaitFor(ctx, func(ms []upstream.Message) bool {
		return countCanalRows(ms, dbName) >= canalN
	}); err != nil {
		t.Fatal(err)
	}
}

func countsOf(m map[string][]harness.Received) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}
