//go:build integration

package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// A table of the DDL restart test: its schema and, per cycle, the DDL run while ferry is
// stopped (or before a kill). Every string column holds "<tag>:<id>:<ver>[:padding]", where
// the tag is the column's name without trailing digits: a value in the wrong column shows.
type ddlTable struct {
	name   string
	create string
	// ddl returns cycle i's statements; a "ROUND" entry updates every row in between.
	ddl func(i int) []string
	// recreate: the statements drop the rows (DROP + CREATE, TRUNCATE): the rows are inserted
	// again with the next version after them.
	recreate bool
}

const ddlRows = 20

func ddlTables() []ddlTable {
	std := "(id INT PRIMARY KEY, a VARCHAR(20), b VARCHAR(20), e ENUM('x','y') NOT NULL DEFAULT 'x', n SMALLINT, ver INT NOT NULL)"
	return []ddlTable{
		{name: "add_default", create: std, ddl: func(i int) []string {
			return []string{fmt.Sprintf("ALTER TABLE add_default ADD COLUMN c%d INT NOT NULL DEFAULT 5", i)}
		}},
		{name: "add_first", create: std, ddl: func(i int) []string {
			return []string{fmt.Sprintf("ALTER TABLE add_first ADD COLUMN f%d VARCHAR(20) FIRST", i)}
		}},
		{name: "add_after", create: std, ddl: func(i int) []string {
			return []string{fmt.Sprintf("ALTER TABLE add_after ADD COLUMN m%d VARCHAR(20) AFTER id", i)}
		}},
		{name: "drop_col", create: std, ddl: func(i int) []string {
			if i%2 == 1 {
				return []string{"ALTER TABLE drop_col DROP COLUMN b"}
			}
			return []string{"ALTER TABLE drop_col ADD COLUMN b VARCHAR(20) AFTER a"}
		}},
		{name: "reorder", create: std, ddl: func(i int) []string { // equal types: only the order differs
			if i%2 == 1 {
				return []string{"ALTER TABLE reorder MODIFY COLUMN b VARCHAR(20) NOT NULL AFTER id"}
			}
			return []string{"ALTER TABLE reorder MODIFY COLUMN b VARCHAR(20) NOT NULL AFTER a"}
		}},
		{name: "renamecol", create: std, ddl: func(i int) []string {
			prevA, prevB := "a", "b"
			if i > 1 {
				prevA, prevB = fmt.Sprintf("a%d", i-1), fmt.Sprintf("b%d", i-1)
			}
			return []string{
				fmt.Sprintf("ALTER TABLE renamecol CHANGE COLUMN %s a%d VARCHAR(20)", prevA, i),
				fmt.Sprintf("ALTER TABLE renamecol RENAME COLUMN %s TO b%d", prevB, i),
			}
		}},
		{name: "widen_int", create: std, ddl: func(i int) []string {
			return [][]string{{"ALTER TABLE widen_int MODIFY COLUMN ver BIGINT NOT NULL"},
				{"ALTER TABLE widen_int MODIFY COLUMN n INT"}, {"ALTER TABLE widen_int MODIFY COLUMN n BIGINT"}}[(i-1)%3]
		}},
		{name: "widen_varchar", create: "(id INT PRIMARY KEY, a VARCHAR(10), b VARCHAR(10), e ENUM('x','y') NOT NULL DEFAULT 'x', n SMALLINT, ver INT NOT NULL)",
			ddl: func(i int) []string {
				return []string{fmt.Sprintf("ALTER TABLE widen_varchar MODIFY COLUMN a VARCHAR(%d)", 10+30*i)}
			}},
		{name: "enum_member", create: std, ddl: func(i int) []string {
			members := []string{"'x'", "'y'"}
			for j := 1; j <= i; j++ {
				members = append(members, fmt.Sprintf("'z%d'", j))
			}
			return []string{"ALTER TABLE enum_member MODIFY COLUMN e ENUM(" + strings.Join(members, ",") + ") NOT NULL DEFAULT 'x'"}
		}},
		{name: "recreate", create: std, recreate: true, ddl: func(i int) []string {
			return []string{"DROP TABLE recreate", fmt.Sprintf("CREATE TABLE recreate (ver INT NOT NULL, g%d VARCHAR(20), id INT PRIMARY KEY, a VARCHAR(20))", i)}
		}},
		{name: "truncate", create: std, recreate: true, ddl: func(int) []string { return []string{"TRUNCATE TABLE truncate"} }},
		{name: "several", create: std, ddl: func(i int) []string {
			return []string{
				fmt.Sprintf("ALTER TABLE several ADD COLUMN k%d VARCHAR(20) FIRST", i), "ROUND",
				"ALTER TABLE several MODIFY COLUMN a VARCHAR(20) AFTER ver", "ROUND",
				fmt.Sprintf("ALTER TABLE several DROP COLUMN k%d, ADD COLUMN c%d INT NOT NULL DEFAULT 5 AFTER id", i, i), "ROUND",
				"ALTER TABLE several MODIFY COLUMN a VARCHAR(20) AFTER id",
			}
		}},
	}
}

var trailingDigits = regexp.MustCompile(`[0-9]+$`)

type colInfo struct{ name, dataType, columnType string }

func tableColumns(t *testing.T, db *sql.DB, schema, table string) []colInfo {
	t.Helper()
	rows, err := db.Query(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []colInfo
	for rows.Next() {
		var c colInfo
		if err := rows.Scan(&c.name, &c.dataType, &c.columnType); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// ddlAssignments sets every column but id from the row's version (after ver = ver + 1 in the
// same SET list, MySQL evaluates left to right): strings "<tag>:<id>:<ver>", n = ver*100+id,
// e the newest ENUM member.
func ddlAssignments(cols []colInfo, verExpr string) []string {
	var set []string
	for _, c := range cols {
		tag := trailingDigits.ReplaceAllString(c.name, "")
		switch {
		case c.name == "id", c.name == "ver":
		case c.dataType == "varchar":
			w, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(c.columnType, "varchar("), ")"))
			val := fmt.Sprintf("CONCAT('%s:', id, ':', %s)", tag, verExpr)
			if w > 20 { // widened: fill it, so a value too long for the old width shows up whole
				val = fmt.Sprintf("RPAD(CONCAT('%s:', id, ':', %s, ':'), %d, 'w')", tag, verExpr, w)
			}
			set = append(set, fmt.Sprintf("`%s` = %s", c.name, val))
		case c.name == "n":
			set = append(set, fmt.Sprintf("n = %s*100+id", verExpr))
		case c.dataType == "enum":
			members := regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(c.columnType, -1)
			set = append(set, fmt.Sprintf("e = '%s'", members[len(members)-1][1]))
		}
	}
	return set
}

// ddlRound updates every row of the table once.
func ddlRound(t *testing.T, db *sql.DB, schema, table string) {
	t.Helper()
	set := append([]string{"ver = ver + 1"}, ddlAssignments(tableColumns(t, db, schema, table), "ver")...)
	q := fmt.Sprintf("UPDATE `%s` SET %s WHERE id = ?", table, strings.Join(set, ", "))
	for id := 1; id <= ddlRows; id++ {
		if _, err := db.Exec(q, id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// ddlInsert inserts rows 1..ddlRows at version ver(id), every column set in the one INSERT
// (an expression may use the columns set before it).
func ddlInsert(t *testing.T, db *sql.DB, schema, table string, ver func(id int) int) {
	t.Helper()
	set := append([]string{"id = ?", "ver = ?"}, ddlAssignments(tableColumns(t, db, schema, table), "ver")...)
	q := fmt.Sprintf("INSERT INTO `%s` SET %s", table, strings.Join(set, ", "))
	for id := 1; id <= ddlRows; id++ {
		if _, err := db.Exec(q, id, ver(id)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// checkDDLRow says what is wrong with one message's row: a string value of another column, or
// of another id or version, an n that is not ver*100+id, an ENUM value that is no member.
func checkDDLRow(row map[string]string) string {
	id, ver := row["id"], row["ver"]
	for col, v := range row {
		if v == "" {
			continue
		}
		tag := trailingDigits.ReplaceAllString(col, "")
		switch {
		case col == "id" || col == "ver":
			if _, err := strconv.Atoi(v); err != nil {
				return fmt.Sprintf("%s = %q is not a number", col, v)
			}
		case col == "n":
			i, _ := strconv.Atoi(id)
			r, _ := strconv.Atoi(ver)
			if v != strconv.Itoa(r*100+i) {
				return fmt.Sprintf("n = %s, want %d (ver %s, id %s)", v, r*100+i, ver, id)
			}
		case col == "e":
			if v != "x" && v != "y" && !strings.HasPrefix(v, "z") {
				return fmt.Sprintf("e = %q is not a member", v)
			}
		case strings.HasPrefix(col, "c") && tag == "c":
			if v != "5" {
				return fmt.Sprintf("%s = %q, want the default 5", col, v)
			}
		default:
			parts := strings.SplitN(v, ":", 4)
			if len(parts) < 3 || parts[0] != tag || parts[1] != id || parts[2] != ver {
				return fmt.Sprintf("%s = %q, want %s:%s:%s", col, v, tag, id, ver)
			}
		}
	}
	return ""
}

// TestDDLRestart: ferry restarts across every kind of DDL that changes how rows decode, once
// after a graceful stop, once after kill -9 with the DDL run while it was down, and once after
// kill -9 with the DDL already read but the checkpoint behind it (the schema history holds an
// entry no checkpoint reached). Every message's values must sit in their columns, and the
// verifier finds nothing lost, reordered or ghostly.
func TestDDLRestart(t *testing.T) {
	env := harness.Env()
	broker := env.RMQ5()
	bin := ferryBinary(t)
	schema := "ferry_ddlrestart"
	db := openDB(t, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, schema)
	t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE IF EXISTS `" + schema + "`") })
	tables := ddlTables()
	vers := map[string]map[int]int{} // the version of each row, as the test wrote it
	for _, tb := range tables {
		if _, err := db.Exec("CREATE TABLE `" + tb.name + "` " + tb.create); err != nil {
			t.Fatal(err)
		}
		ddlInsert(t, db, schema, tb.name, func(int) int { return 1 })
		vers[tb.name] = map[int]int{}
		for id := 1; id <= ddlRows; id++ {
			vers[tb.name][id] = 1
		}
	}
	topic := harness.UniqueName("ferry_ddlrestart")
	harness.CreateTopic(t, broker, topic, 4)
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp")
	var names []string
	for _, tb := range tables {
		names = append(names, strconv.Quote(schema+"."+tb.name))
	}
	writeCfg := func(interval string) string {
		cfg := fmt.Sprintf(`pipeline "ddlrestart" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("DDL_DB_PASSWORD")
    tables    = [%s]
    server_id = %d
    heartbeat_interval = "500ms"
  }
  serializer "canal" { enum_set = "text" }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir      = %q
    interval = %q
  }
}
`, env.MariaDBAddr, env.MariaDBUser, strings.Join(names, ", "), 7400+time.Now().Nanosecond()%500, broker.NameServer, topic, cp, interval)
		path := filepath.Join(dir, "ddlrestart.hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pw := []string{"DDL_DB_PASSWORD=" + env.MariaDBPassword}
	written := uint64(0)
	roundAll := func() {
		for _, tb := range tables {
			ddlRound(t, db, schema, tb.name)
			for id := 1; id <= ddlRows; id++ {
				vers[tb.name][id]++
			}
		}
		written += uint64(len(tables) * ddlRows)
	}
	runDDL := func(i int) {
		for _, tb := range tables {
			for _, q := range tb.ddl(i) {
				if q == "ROUND" {
					ddlRound(t, db, schema, tb.name)
					for id := 1; id <= ddlRows; id++ {
						vers[tb.name][id]++
					}
					written += ddlRows
					continue
				}
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("cycle %d: %s: %v", i, q, err)
				}
			}
			if tb.recreate {
				v := vers[tb.name]
				ddlInsert(t, db, schema, tb.name, func(id int) int { v[id]++; return v[id] })
				written += ddlRows
			}
		}
	}
	// waitQuiet waits until the run wrote at least n records and then nothing for 2s.
	waitQuiet := func(f *ferryProc, n uint64) {
		f.waitWritten(n, 2*time.Minute)
		last, since := uint64(0), time.Now()
		for time.Since(since) < 2*time.Second {
			time.Sleep(200 * time.Millisecond)
			st, err := f.status()
			if err != nil {
				t.Fatalf("status: %v\n%s", err, f.logs.String())
			}
			if st.RecordsWritten != last {
				last, since = st.RecordsWritten, time.Now()
			}
		}
	}
	cfg := writeCfg("200ms")
	f := startFerry(t, bin, cfg, pw)
	written = uint64(len(tables) * ddlRows) // the snapshot
	waitQuiet(f, written)

	// 1: graceful stop, updates, DDL, updates while stopped
	roundAll()
	waitQuiet(f, written)
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, f.logs.String())
	}
	mark := written
	roundAll()
	runDDL(1)
	roundAll()
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	waitQuiet(f, written-mark) // at least what changed while it was stopped

	// 2: kill -9, then updates, DDL, updates while down (the checkpoint is behind the DDL)
	roundAll()
	f.kill()
	mark = written
	roundAll()
	runDDL(2)
	roundAll()
	cfg = writeCfg("1h") // no periodic checkpoint in the next run
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	waitQuiet(f, written-mark)

	// 3: the DDL is read (its history entry written), the checkpoint is not: kill -9
	before, _ := f.status()
	mark = written
	roundAll()
	runDDL(3)
	roundAll()
	waitQuiet(f, before.RecordsWritten+written-mark)
	f.kill()
	entries, _ := filepath.Glob(filepath.Join(cp, "ddlrestart.state", "schema-history", "entry-*.json"))
	if len(entries) == 0 {
		t.Fatalf("no schema history entry beyond the checkpoint before the kill")
	}
	cfg = writeCfg("200ms")
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	roundAll()

	// verify: the values of every message, then loss, order and ghosts
	c, err := verify.NewConsumer(broker.NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var vt []verify.Table
	for _, tb := range tables {
		vt = append(vt, verify.Table{DB: schema, Name: tb.name, Key: []string{"id"}, Version: "ver", Check: checkDDLRow,
			Initial: func() map[string]int64 {
				m := map[string]int64{}
				for id := 1; id <= ddlRows; id++ {
					m[strconv.Itoa(id)] = 1
				}
				return m
			}()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := verify.Until(ctx, c, db, "canal", vt, 3*time.Second)
	t.Logf("ddl restart: %s", s)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\nferry log:\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 4000))
	}
	if s.Delivered < int(written) {
		t.Errorf("delivered %d distinct changes, wrote %d", s.Delivered, written)
	}
	// the history is compact: folded up to the last checkpoint
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, f.logs.String())
	}
	var size int64
	files, _ := filepath.Glob(filepath.Join(cp, "ddlrestart.state", "schema-history", "*.json"))
	sort.Strings(files)
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	t.Logf("schema history after the run: %d files, %d bytes (%d tables)", len(files), size, len(tables))
	if len(files) > 3 {
		t.Errorf("schema history not compacted: %v", files)
	}
}
