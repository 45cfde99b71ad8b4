//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/upstream"
)

// upstreamOBColumns are the columns (after id) whose binlog the Binlog Service shape changes:
// JSON re-encoded to MySQL binary JSON, FLOAT(30,10) logged as DOUBLE, UNSIGNED integers with
// no optional metadata in TABLE_MAP (the signedness comes only from the table's meta), column
// bytes in gbk/latin1/utf16, ENUM/SET as STRING with the real type in the metadata, TIMESTAMP(6),
// DECIMAL, BINARY.
var upstreamOBColumns = []string{
	"c_json JSON", "c_float30 FLOAT(30,10)", "c_float FLOAT", "c_double DOUBLE",
	"c_tinyint_u TINYINT UNSIGNED", "c_smallint_u SMALLINT UNSIGNED", "c_mediumint_u MEDIUMINT UNSIGNED",
	"c_int_u INT UNSIGNED", "c_bigint_u BIGINT UNSIGNED", "c_bigint BIGINT",
	"c_gbk VARCHAR(20) CHARACTER SET gbk", "c_latin1 VARCHAR(20) CHARACTER SET latin1",
	"c_utf16 VARCHAR(20) CHARACTER SET utf16", "c_latin1_text TEXT CHARACTER SET latin1",
	"c_enum ENUM('a','b','c')", "c_set SET('x','y','z')",
	"c_timestamp6 TIMESTAMP(6) NULL", "c_decimal DECIMAL(20,6)", "c_binary BINARY(4)",
}

// upstreamOBRows are the rows of `obtypes` (values in column order after id): 1 and 2 are
// snapshot rows, the others are inserted while ferry and Canal stream.
var upstreamOBRows = map[int]string{
	1: `'{"a": 1, "b": [true, null, "x"]}', 1.5, 1.5, 1.5, 1, 2, 3, 4, 5, -6,
	    '中文', 'é', 'ü✓', 'ß', 'b', 'x,y', '2024-02-29 12:00:00.123456', 1.5, 0x61620000`,
	2: strings.TrimSuffix(strings.Repeat("NULL, ", len(upstreamOBColumns)), ", "),
	// maxima; JSON integers at the edges of int64/uint64, doubles
	10: `'{"big": 18446744073709551615, "i64": 9223372036854775807, "neg": -9223372036854775808, "f": 1.5, "e": 1e300, "tiny": 1e-300, "zero": 0, "m1": -1}',
	    12345678.1234567891, 3.40282e38, 1.7976931348623157e308,
	    255, 65535, 16777215, 4294967295, 18446744073709551615, 9223372036854775807,
	    '中文字符串', 'àéîõü', '😀 ✓ utf16', REPEAT('é', 30), 'c', 'x,y,z',
	    '2038-01-19 03:14:07.999999', 99999999999999.999999, 0xFFFFFFFF`,
	// minima, zeros, empty values
	11: `'{}', 0, 0, -2.2250738585072014e-308,
	    0, 0, 0, 0, 0, -9223372036854775808,
	    '', '', '', '', 'a', '',
	    '1970-01-01 00:00:01.000000', -99999999999999.999999, 0x00000000`,
	// values past the signed range (only the table meta says UNSIGNED); nested JSON with
	// unicode keys and escapes
	12: `'{"日本": {"キー": [1, {"x": null}], "esc": "tab\\there \\"q\\" \\\\ \\u0001 \\u00e9 😀 \\n"}, "arr": [true, false, null, 1.25, -0.5, 100], "": "empty key"}',
	    -0.5, -0.5, 0.1,
	    128, 32768, 8388608, 2147483648, 9223372036854775808, -1,
	    '汉字 gbk', 'Latin-1 ÿ', 'Ωmega', 'café', 'b', 'z',
	    '2024-02-29 00:00:00.000001', 0.000001, 0x00FF0000`,
	// JSON scalars; trailing zero fraction
	13: `'"a string \\u00e9"', 0.0000000001, 1e-7, 1e-7,
	    127, 32767, 8388607, 2147483647, 9223372036854775807, 0,
	    'a', 'b', 'c', 'd', 'a', 'x',
	    '2000-01-01 00:00:00.500000', 1.000000, 0x01000000`,
	14: `'3.14', 1, 1, 1, 1, 1, 1, 1, 1, 1, 'x', 'y', 'z', 'w', 'c', 'y,z', '2000-01-01 00:00:00.000000', 10, 0x00`,
	15: `'[1, "two", [3], {"four": 4}]', 2, 2, 2, 2, 2, 2, 2, 2, 2, 'x', 'y', 'z', 'w', 'c', 'x', NULL, 20, NULL`,
	16: `'true', 3, 3, 3, 3, 3, 3, 3, 3, 3, 'x', 'y', 'z', 'w', 'c', 'x', NULL, 30, NULL`,
	17: `'null', 4, 4, 4, 4, 4, 4, 4, 4, 4, 'x', 'y', 'z', 'w', 'c', 'x', NULL, 40, NULL`,
}

// TestUpstreamFormatsOceanBase is TestUpstreamFormats over the OceanBase stand-in: ferry (the
// real binary, canal serializer, address = binlog_address = the ODP role) and real Canal's
// parser (through the same ODP role, as Canal connects to OceanBase) read a private stand-in's
// Binlog Service shape, and their messages are diffed with the same machinery and allow-list
// (upstream_diff_test.go, upstream_allowlist_test.go, plus upstreamAllowListOceanBase).
func TestUpstreamFormatsOceanBase(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	o := startObStandin(t, nil)
	env := o.env
	broker := env.RMQ5()
	bin := ferryBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	dirs, err := upstream.Build(ctx, upstream.Canal)
	if err != nil {
		t.Fatal(err)
	}

	db := o.odp(t) // writes go through ODP too
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	execAll(t, db,
		"CREATE DATABASE `"+o.db+"`", "USE `"+o.db+"`",
		"SET SESSION sql_mode = 'STRICT_TRANS_TABLES'", "SET SESSION time_zone = '+00:00'",
		"CREATE TABLE obtypes (id INT NOT NULL PRIMARY KEY, "+strings.Join(upstreamOBColumns, ", ")+")",
	)
	// Canal reads the Binlog Service from here (through ODP, as ferry does): it sees the
	// snapshot rows' INSERTs, which ferry reads in its snapshot. The stand-in converts
	// MariaDB's binlog behind the writes: wait for the two DDL transactions.
	for deadline := time.Now().Add(20 * time.Second); !strings.HasSuffix(o.srv.Executed().String(), ":1-2"); {
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in did not convert the CREATE statements: executed %s", o.srv.Executed())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var file, pos, x1, x2, x3 string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2, &x3); err != nil {
		t.Fatalf("SHOW MASTER STATUS through ODP: %v", err)
	}
	for _, id := range []int{1, 2} {
		execAll(t, db, fmt.Sprintf("INSERT INTO obtypes VALUES (%d, %s)", id, upstreamOBRows[id]))
	}
	const snapshotRows = 2
	tables := []string{o.db + ".obtypes"}
	src := upstreamSource{addr: o.srv.ODPAddr(), binlogAddr: o.srv.ODPAddr(), user: obUser}

	topic := harness.UniqueName("upob_canal")
	harness.CreateTopic(t, broker, topic, 1)
	cfgPath := filepath.Join(t.TempDir(), "canal.hcl")
	if err := os.WriteFile(cfgPath, []byte(upstreamFerryConfigAt(src, broker, "canal", topic, tables, 14021)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFerry(t, bin, cfgPath, []string{"UP_DB_PASSWORD=" + env.MariaDBPassword})
	var journalPos uint64
	fmt.Sscan(pos, &journalPos)
	cnl, err := upstream.Start(ctx, upstream.Config{Engine: upstream.Canal, Dir: dirs[upstream.Canal],
		Addr: o.srv.ODPAddr(), User: obUser, Password: env.MariaDBPassword, ServerID: 14022,
		Tables: tables, Journal: file, Position: journalPos, LogPath: filepath.Join(t.TempDir(), "canal.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer cnl.Stop(30 * time.Second)
	f.waitWritten(snapshotRows, time.Minute)

	cols := make([]string, len(upstreamOBColumns))
	for i, c := range upstreamOBColumns {
		cols[i], _, _ = strings.Cut(c, " ")
	}
	stmts := []string{}
	for _, id := range []int{10, 11, 12, 13} {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO obtypes VALUES (%d, %s)", id, upstreamOBRows[id]))
	}
	stmts = append(stmts,
		// a multi-row statement: the Binlog Service writes one rows event per row
		fmt.Sprintf("INSERT INTO obtypes VALUES (14, %s), (15, %s), (16, %s), (17, %s)",
			upstreamOBRows[14], upstreamOBRows[15], upstreamOBRows[16], upstreamOBRows[17]),
		`UPDATE obtypes SET c_json = '{"updated": [1.5, "ü"]}', c_gbk = '更新', c_int_u = 4000000000, c_enum = 'a', c_set = 'x,z' WHERE id = 12`,
		"UPDATE obtypes SET c_latin1 = 'ÿ', c_float30 = 1.25, c_timestamp6 = NULL WHERE id IN (13, 14)",
		"DELETE FROM obtypes WHERE id = 11",
		"UPDATE obtypes SET id = 110 WHERE id = 10", // a primary-key change
	)
	execAll(t, db, stmts...)
	const streamRows = 4 + 4 + 1 + 2 + 1 + 2 // the key change counts as delete + insert
	// (Canal sends the key change as one UPDATE row.)
	waitCanalRows := func(n int) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		if err := cnl.WaitFor(wctx, func(ms []upstream.Message) bool { return countCanalRows(ms, o.db) >= n }); err != nil {
			t.Fatal(err)
		}
	}
	// Canal (no table-meta store) must read each event with the columns it had: wait before the DDL.
	waitCanalRows(snapshotRows + streamRows - 1)
	execAll(t, db,
		"ALTER TABLE obtypes ADD COLUMN c_added VARCHAR(8) CHARACTER SET gbk DEFAULT '新'",
		"INSERT INTO obtypes (id, c_json, c_added) VALUES (301, '{\"after\": \"ddl\"}', '后')",
	)
	waitCanalRows(snapshotRows + streamRows - 1 + 1)

	want := snapshotRows + streamRows + 1 + 1 // and the DDL record
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	msgs, err := harness.CollectMessages(cctx, broker, topic, want)
	ccancel()
	if err != nil {
		t.Logf("ferry canal: %v (%d of %d messages)", err, len(msgs), want) // the diff names what is missing
	}
	if err := f.stop(30 * time.Second); err != nil {
		t.Errorf("ferry: %v\n%s", err, f.logs.String())
	}
	cnlMsgs, err := cnl.Stop(30 * time.Second)
	if err != nil {
		t.Errorf("canal: %v", err)
	}
	t.Logf("collected after %v: ferry %d messages, canal %d lines", time.Since(t0).Round(time.Millisecond), len(msgs), len(cnlMsgs))

	d := newUpstreamDiff(o.db)
	d.addFerry(t, "canal", msgs)
	d.addUpstream(t, cnlMsgs)
	d.compare()
	d.check(t, "FERRY_UPSTREAM_REPORT_OB", "upstream-report-oceanbase.txt", upstreamAllowListOceanBase, upstreamAllowList...)
}
