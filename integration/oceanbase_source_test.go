//go:build integration

package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func obDB(t *testing.T, suffix string) (string, *sql.DB) {
	t.Helper()
	name := fmt.Sprintf("ferry_ob_%s_%d", suffix, rand.Intn(1_000_000))
	h := harness.OpenMariaDB(t, name)
	t.Cleanup(func() { harness.DropDatabase(t, name) })
	if _, err := h.Exec("SET SESSION time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	h.SetMaxOpenConns(1) // keep the session time zone
	return name, h
}

func obConfig(t testing.TB, attrs map[string]any) sdk.Config {
	env := harness.RequireTestbed(t, harness.MariaDB)
	m := map[string]any{"address": env.MariaDBAddr, "user": env.MariaDBUser, "password": env.MariaDBPassword,
		"server_id": int64(100000 + rand.Intn(1_000_000)), "heartbeat_interval": "300ms"}
	for k, v := range attrs {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return sdk.NewConfig(b)
}

func openOB(t testing.TB, cfg sdk.Config, pos change.Position) *oceanbase.Source {
	t.Helper()
	src := oceanbase.New()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Configure(ctx, cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := src.Open(ctx, sdk.OpenRequest{Pipeline: "it-" + t.Name(), Position: pos}); err != nil {
		src.Close(ctx)
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	return src
}

// readUntil reads batches until stop says so (or the deadline), returning them.
func readUntil(t testing.TB, src *oceanbase.Source, d time.Duration, stop func(all []*change.Batch) bool) []*change.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*change.Batch
	for !stop(out) {
		b, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d batches: %v", len(out), err)
		}
		for _, c := range b.Changes {
			if err := c.Validate(); err != nil {
				t.Fatalf("invalid change: %v", err)
			}
		}
		out = append(out, b)
	}
	return out
}

func rowChanges(bs []*change.Batch) []*change.Change {
	var out []*change.Change
	for _, b := range bs {
		for _, c := range b.Changes {
			if c.Op.IsRow() {
				out = append(out, c)
			}
		}
	}
	return out
}

func countRows(n int) func([]*change.Batch) bool {
	return func(bs []*change.Batch) bool { return len(rowChanges(bs)) >= n }
}

const typesTable = `CREATE TABLE t (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(10,4), dec2 DECIMAL(30,10) UNSIGNED, dec0 DECIMAL(5,0),
  c CHAR(5), vc VARCHAR(100), bin BINARY(4), vb VARBINARY(10), tx TEXT, bl BLOB, mt MEDIUMTEXT CHARACTER SET utf8mb4,
  dt DATE, dtm0 DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6), ts0 TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL, ts6 TIMESTAMP(6) NULL,
  tm0 TIME, tm3 TIME(3), tm6 TIME(6), yr YEAR,
  b1 BIT(1), b10 BIT(10), b64 BIT(64), e ENUM('a','b''q','c d'), st SET('x','y','z'), j JSON,
  g BIGINT AS (i + 1) STORED
)`

var typesRows = []string{
	`(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
	  1.5, -2.2250738585072014e-308, -123456.7891, 12345678901234567890.0123456789, -99999,
	  'ab', 'héllo wörld 🚀', 0x00AB0000, 0x0001FF00, 'tëxt', 0x00FF0001, '中文',
	  '2024-02-29', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123', '9999-12-31 23:59:59.999999',
	  '1970-01-01 00:00:01', '2038-01-19 03:14:07.999', '2024-06-30 12:00:00.000001',
	  '-838:59:59', '12:34:56.789', '-00:00:01.000001', 2155,
	  b'1', b'1010101010', 0xFFFFFFFFFFFFFFFF, 'b''q', 'x,z', '{"a": [1, 2.5, "s"], "b": null}', DEFAULT)`,
	`(2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
	  -0.25, 1.7976931348623157e308, -0.0001, 0.0000000001, 0,
	  '', '', 0x00000000, '', '', '', '',
	  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000',
	  '2038-01-19 03:14:07', '1970-01-01 00:00:01.001', '1999-12-31 23:59:59.999999',
	  '838:59:59', '-838:59:59.000', '00:00:00', 1901,
	  b'0', b'0', 0, 'c d', '', '[]', DEFAULT)`,
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT)`,
}

// selectText returns the rows of t as the server prints them, by id.
func selectText(t *testing.T, h *sql.DB, db string) (cols []string, rows map[string][]sql.NullString) {
	t.Helper()
	mc, err := mysqldrv.ParseDSN(harness.Env().MariaDBDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	mc.ParseTime = false
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysqldrv.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	text := sql.OpenDB(conn)
	defer text.Close()
	r, err := text.Query("SELECT * FROM `" + db + "`.t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ = r.Columns()
	rows = map[string][]sql.NullString{}
	for r.Next() {
		vals := make([]sql.NullString, len(cols))
		dst := make([]any, len(cols))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := r.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		rows[vals[0].String] = vals
	}
	return cols, rows
}

// sameAsSelect compares a change's values with the server's text of the same row.
func sameAsSelect(t *testing.T, what string, tb *change.Table, vals []change.Value, want []sql.NullString) {
	t.Helper()
	for i, col := range tb.Columns {
		v, w := vals[i], want[i]
		if !w.Valid {
			if !v.IsNull() {
				t.Errorf("%s %s: got %v, want NULL", what, col.Name, v)
			}
			continue
		}
		var got string
		switch v.Kind() {
		case change.KindBit:
			var n uint64
			for _, b := range []byte(w.String) {
				n = n<<8 | uint64(b)
			}
			if v.Uint() != n {
				t.Errorf("%s %s: got %v, want %d", what, col.Name, v, n)
			}
			continue
		case change.KindFloat32:
			f, _ := strconv.ParseFloat(w.String, 32)
			if float32(f) != v.Float32() {
				t.Errorf("%s %s: got %v, want %s", what, col.Name, v, w.String)
			}
			continue
		case change.KindFloat64:
			f, _ := strconv.ParseFloat(w.String, 64)
			if f != v.Float() {
				t.Errorf("%s %s: got %v, want %s", what, col.Name, v, w.String)
			}
			continue
		default:
			got = string(v.AppendText(nil, col.Fsp))
		}
		if got != w.String {
			t.Errorf("%s %s (%s, %s): got %q, want %q", what, col.Name, col.ColumnType, v.Kind(), got, w.String)
		}
	}
}

func TestOceanBaseSourceTypes(t *testing.T) {
	db, h := obDB(t, "types")
	mustExec(t, h, "USE `"+db+"`", typesTable, "INSERT INTO t VALUES "+strings.Join(typesRows, ","))
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "both", "chunk_size": 2}), nil)
	snap := readUntil(t, src, 30*time.Second, countRows(3))
	// binlog path: the same values under ids +100
	mustExec(t, h, "INSERT INTO t (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, f, d, dec1, dec2, dec0, c, vc, bin, vb, tx, bl, mt, dt, dtm0, dtm3, dtm6, ts0, ts3, ts6, tm0, tm3, tm6, yr, b1, b10, b64, e, st, j) "+
		"SELECT id+100, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, f, d, dec1, dec2, dec0, c, vc, bin, vb, tx, bl, mt, dt, dtm0, dtm3, dtm6, ts0, ts3, ts6, tm0, tm3, tm6, yr, b1, b10, b64, e, st, j FROM t")
	inc := readUntil(t, src, 30*time.Second, countRows(3))
	_, want := selectText(t, h, db)
	n := 0
	for _, c := range append(rowChanges(snap), rowChanges(inc)...) {
		id := strconv.FormatInt(c.After[0].Int(), 10)
		w, ok := want[id]
		if !ok {
			t.Fatalf("unexpected row id %s", id)
		}
		if c.Table.Columns[c.Table.ColumnIndex("j")].Type != "JSON" {
			t.Errorf("j: type %s, want JSON", c.Table.Columns[c.Table.ColumnIndex("j")].Type)
		}
		sameAsSelect(t, fmt.Sprintf("%s row %s", c.Op, id), c.Table, c.After, w)
		n++
	}
	if n != 6 {
		t.Fatalf("compared %d rows, want 6 (3 snapshot + 3 binlog)", n)
	}
}

func mustExec(t testing.TB, h *sql.DB, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := h.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func ids(cs []*change.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestOceanBaseSourceResume(t *testing.T) {
	db, h := obDB(t, "resume")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "CREATE TABLE other (id INT PRIMARY KEY)")
	cfg := obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "batch_size": 3})
	src := openOB(t, cfg, nil)
	// 1 single-row tx, a 7-row tx (split over batches), updates, deletes, an unrelated table
	mustExec(t, h, "INSERT INTO t VALUES (1,'a')",
		"INSERT INTO t VALUES (2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g'),(8,'h')",
		"INSERT INTO other VALUES (1)",
		"UPDATE t SET v = CONCAT(v, '!') WHERE id <= 4",
		"DELETE FROM t WHERE id IN (2, 5)",
		"BEGIN", "INSERT INTO t VALUES (9,'i')", "INSERT INTO other VALUES (2)", "UPDATE t SET v='z' WHERE id=9", "COMMIT")
	const total = 1 + 7 + 4 + 2 + 2
	all := readUntil(t, src, 30*time.Second, countRows(total))
	got := rowChanges(all)
	if len(got) != total {
		t.Fatalf("got %d changes, want %d", len(got), total)
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
	}
	if got[1].TxID != got[7].TxID || got[7].TxSeq != 7 || got[7].TxSize != 7 {
		t.Errorf("7-row transaction: %s/%d/%d vs %s", got[7].TxID, got[7].TxSeq, got[7].TxSize, got[1].TxID)
	}
	if got[8].Op != change.OpUpdate || got[8].Before[1].Str() != "a" || got[8].After[1].Str() != "a!" {
		t.Errorf("update: %v -> %v", got[8].Before, got[8].After)
	}
	src.Close(context.Background())
	// resume at every batch boundary: exactly the changes after it
	offset := 0
	for bi, b := range all {
		offset += len(rowChanges([]*change.Batch{b}))
		if offset >= total {
			break
		}
		want := ids(got[offset:])
		r := openOB(t, cfg, b.Position)
		rest := rowChanges(readUntil(t, r, 30*time.Second, countRows(len(want))))
		r.Close(context.Background())
		if strings.Join(ids(rest), " ") != strings.Join(want, " ") {
			t.Fatalf("resume after batch %d (offset %d):\n got %v\nwant %v", bi, offset, ids(rest), want)
		}
	}
}

func TestOceanBaseSourceDDL(t *testing.T) {
	db, h := obDB(t, "ddl")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))")
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "emit_ddl": true}), nil)
	// The schema is reloaded from the catalog when the DDL is read, so each step is read
	// before the next DDL runs (see docs/sources/oceanbase.md, "DDL while lagging").
	var got []*change.Change
	step := func(qs ...string) {
		mustExec(t, h, qs...)
		got = append(got, rowChanges(readUntil(t, src, 30*time.Second, countRows(1)))...)
	}
	step("INSERT INTO t VALUES (1, 'x')")
	step("ALTER TABLE t ADD COLUMN b INT UNSIGNED DEFAULT 7", "INSERT INTO t VALUES (2, 'y', 4294967295)")
	step("ALTER TABLE t MODIFY COLUMN a VARBINARY(10), DROP COLUMN b", "INSERT INTO t VALUES (3, 'z')")
	step("DROP TABLE t", "CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, d DECIMAL(6,2))",
		"INSERT INTO t VALUES (18446744073709551615, -12.50)")
	if len(got) != 4 {
		t.Fatalf("got %d changes", len(got))
	}
	if got[0].Table.Version != 1 || len(got[0].After) != 2 {
		t.Errorf("row 1: version %d, %v", got[0].Table.Version, got[0].After)
	}
	if got[1].Table.Version != 2 || got[1].After[2].Uint() != 4294967295 {
		t.Errorf("row 2: version %d, %v", got[1].Table.Version, got[1].After)
	}
	if got[2].Table.Version != 3 || got[2].After[1].Kind() != change.KindBytes || len(got[2].After) != 2 {
		t.Errorf("row 3: version %d, %v", got[2].Table.Version, got[2].After)
	}
	if got[3].Table.Version != 4 || got[3].After[0].Uint() != 18446744073709551615 || got[3].After[1].Str() != "-12.50" {
		t.Errorf("row 4: version %d, %v", got[3].Table.Version, got[3].After)
	}
	// RENAME stops with an error that names the statement
	mustExec(t, h, "RENAME TABLE t TO t2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := src.Read(ctx)
		if err == nil {
			continue
		}
		if !errors.Is(err, oceanbase.ErrRename) || !strings.Contains(err.Error(), "RENAME TABLE t TO t2") {
			t.Fatalf("want a rename error naming the statement, got %v", err)
		}
		t.Logf("rename: %v", err)
		break
	}
}

func TestOceanBaseSourceKilledConnection(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	db, h := obDB(t, "kill")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY)")
	sid := int64(200000 + rand.Intn(1_000_000))
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "server_id": sid}), nil)
	mustExec(t, h, "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)")
	first := rowChanges(readUntil(t, src, 20*time.Second, countRows(2)))
	root, err := sql.Open("mysql", "root@unix("+env.MariaDBSocket+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var id int64
	if err := root.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ? ORDER BY TIME LIMIT 1", env.MariaDBUser).Scan(&id); err != nil {
		t.Fatalf("find the dump thread: %v", err)
	}
	mustExec(t, root, fmt.Sprintf("KILL %d", id))
	mustExec(t, h, "INSERT INTO t VALUES (3)", "BEGIN", "INSERT INTO t VALUES (4)", "INSERT INTO t VALUES (5)", "COMMIT")
	rest := rowChanges(readUntil(t, src, 30*time.Second, countRows(3)))
	all := append(first, rest...)
	for i, c := range all {
		if c.After[0].Int() != int64(i+1) {
			t.Fatalf("change %d is id %v, want %d (lost or duplicated across the reconnect)", i, c.After[0], i+1)
		}
	}
	if src.Reconnects() < 1 {
		t.Errorf("no reconnect happened")
	}
}

// TestOceanBaseSourceHandover: a parallel snapshot of a large table under concurrent
// INSERT/UPDATE/DELETE load yields the table's final state per key, and each key's binlog
// changes in commit order.
func TestOceanBaseSourceHandover(t *testing.T) {
	rowsN := 200000
	if testing.Short() {
		rowsN = 20000
	}
	db, h := obDB(t, "handover")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))")
	start := time.Now()
	for i := 0; i < rowsN; i += 5000 {
		var b strings.Builder
		for j := i; j < i+5000 && j < rowsN; j++ {
			if j > i {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,%d,'row %d')", j*2, 0, j)
		}
		mustExec(t, h, "INSERT INTO t VALUES "+b.String())
	}
	t.Logf("loaded %d rows in %v", rowsN, time.Since(start))
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "both",
		"snapshot_concurrency": 4, "chunk_size": 2000, "batch_size": 2048}), nil)

	// concurrent writers
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	env := harness.Env()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := sql.Open("mysql", env.MariaDBDSN(db))
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			r := rand.New(rand.NewSource(int64(w)))
			for ctx.Err() == nil {
				k := r.Intn(rowsN*2 + 1000)
				var err error
				switch r.Intn(4) {
				case 0:
					_, err = conn.Exec("INSERT INTO t VALUES (?, 1, 'ins') ON DUPLICATE KEY UPDATE v = v + 1", k)
				case 1, 2:
					_, err = conn.Exec("UPDATE t SET v = v + 1, s = CONCAT('upd ', ?) WHERE id = ?", w, k)
				case 3:
					_, err = conn.Exec("DELETE FROM t WHERE id = ?", k)
				}
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	state := map[int64][]change.Value{}
	lastPos := map[int64]string{}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	snapRows, binRows := 0, 0
	stopped := false
	var stopTime time.Time
	for {
		b, err := src.Read(rctx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, c := range b.Changes {
			switch c.Op {
			case change.OpSnapshot:
				snapRows++
				k := c.After[0].Int()
				if _, changed := lastPos[k]; changed {
					// DBLog: a change delivered before the chunk's window; the snapshot
					// row must then show exactly the state after it (never an older one)
					cur, ok := state[k]
					if !ok || !sameValues(cur, c.After) {
						t.Fatalf("stale snapshot row for key %d: %v after change %s gave %v", k, c.After, lastPos[k], cur)
					}
				}
				state[k] = c.After
			case change.OpInsert, change.OpUpdate:
				binRows++
				if c.Op == change.OpUpdate {
					delete(state, c.Before[0].Int())
				}
				k := c.After[0].Int()
				state[k] = c.After
				lastPos[k] = c.ID
			case change.OpDelete:
				binRows++
				k := c.Before[0].Int()
				delete(state, k)
				lastPos[k] = c.ID
			}
		}
		prog := src.Progress()
		if !stopped && len(prog) == 1 && prog[0].Done {
			stopped = true
			stop()
			wg.Wait()
			stopTime = time.Now()
			t.Logf("snapshot done in %v: %d snapshot rows, %d binlog changes; progress %+v", time.Since(start), snapRows, binRows, prog[0])
		}
		if stopped && time.Since(stopTime) > 2*time.Second && len(b.Changes) == 1 && b.Changes[0].Op == change.OpHeartbeat {
			break
		}
	}
	// compare with the table
	r, err := h.Query("SELECT id, v, s FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for r.Next() {
		var id, v int64
		var s string
		if err := r.Scan(&id, &v, &s); err != nil {
			t.Fatal(err)
		}
		n++
		got, ok := state[id]
		if !ok {
			t.Fatalf("key %d missing from the output", id)
		}
		if got[1].Int() != v || got[2].Str() != s {
			t.Fatalf("key %d: output %v, table (%d, %q)", id, got, v, s)
		}
	}
	if n != len(state) {
		t.Fatalf("output has %d keys, table %d", len(state), n)
	}
	t.Logf("final state matches: %d keys, %d snapshot rows, %d binlog changes", n, snapRows, binRows)
}

func sameValues(a, b []change.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
