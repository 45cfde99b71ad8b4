package oceanbase

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pingcap/tidb/pkg/parser"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func histSchema(name string, cols ...string) *change.Table {
	t := &change.Table{Database: "db", Name: name, Version: 1}
	for _, c := range cols {
		t.Columns = append(t.Columns, change.Column{Name: c, Type: "INT", ColumnType: "int"})
	}
	t.PrimaryKey = []int{0}
	return t
}

func colNames(t *change.Table) []string {
	var out []string
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

// The history gives the schemas of the resume position's epoch, forgets entries beyond it (a
// crash after the entry was written, before a checkpoint passed it), and compaction keeps
// the same answers while dropping what no checkpoint can resume before.
func TestHistoryLoadRecordCompact(t *testing.T) {
	ctx := context.Background()
	st, err := sdk.NewDirState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory(st)
	v1 := histSchema("t", "id", "a", "b")
	if err := h.start(ctx, []histTable{{Key: "db.t", DB: "db", Name: "t", Schema: v1, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	v2 := histSchema("t", "id", "b", "a") // MODIFY b AFTER id: equal types, other order
	v2.Version = 2
	if err := h.record(ctx, "ddl", "ALTER TABLE t MODIFY b INT AFTER id", "bin.1:100", []histTable{{Key: "db.t", DB: "db", Name: "t", Schema: v2, Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := h.record(ctx, "ddl", "DROP TABLE t", "bin.1:200", []histTable{{Key: "db.t", DB: "db", Name: "t", Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if h.current() != 2 {
		t.Fatalf("epoch %d, want 2", h.current())
	}

	// a restart at epoch 1: the schema after the MODIFY, entry 2 forgotten
	h2 := newHistory(st)
	state, err := h2.load(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := colNames(state["db.t"].Schema); len(got) != 3 || got[1] != "b" || got[2] != "a" {
		t.Fatalf("epoch 1: columns %v, want id b a", got)
	}
	if keys, _ := st.List(ctx, histEntry); len(keys) != 1 {
		t.Fatalf("entries after load at 1: %v, want only entry 1", keys)
	}
	// the replay writes entry 2 again; a restart at 0 sees the first schema
	if err := h2.record(ctx, "ddl", "DROP TABLE t", "bin.1:200", []histTable{{Key: "db.t", DB: "db", Name: "t", Version: 2}}); err != nil {
		t.Fatal(err)
	}

	// compaction to epoch 1: the base holds v2; epoch 2 (dropped) still loads; epoch 0 is gone
	h3 := newHistory(st)
	if _, err := h3.load(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := h3.record(ctx, "selection", "", "", []histTable{{Key: "db.u", DB: "db", Name: "u", Schema: histSchema("u", "id"), Version: 1}}); err != nil {
		t.Fatal(err)
	}
	before, _ := h3.size()
	if err := h3.compact(ctx, 2); err != nil {
		t.Fatal(err)
	}
	after, entries := h3.size()
	if entries != 1 || after >= before {
		t.Fatalf("after compaction: %d entries, %d bytes (before %d); want 1 entry, fewer bytes", entries, after, before)
	}
	state, err = newHistory(st).load(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s := state["db.t"]; s.Schema != nil || s.Version != 2 {
		t.Fatalf("db.t at 3: %+v, want dropped at version 2", s)
	}
	if state["db.u"].Schema == nil {
		t.Fatal("db.u missing at 3")
	}
	if _, err := newHistory(st).load(ctx, 1); !errors.Is(err, ErrHistory) {
		t.Fatalf("load before the compacted base: %v, want ErrHistory", err)
	}
	// a missing history for a position that needs one is an error, not a guess
	empty, _ := sdk.NewDirState(t.TempDir())
	if _, err := newHistory(empty).load(ctx, 4); !errors.Is(err, ErrHistory) {
		t.Fatalf("load from an empty store: %v, want ErrHistory", err)
	}
}

func TestPositionV3Epoch(t *testing.T) {
	p := position{File: "bin.000003", Pos: 1234, GTID: "0-1-9", Skip: 2, All: 5, Epoch: 77, HasEpoch: true}
	got, err := decodePosition(p.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 77 || !got.HasEpoch || got.File != p.File || got.Pos != p.Pos || got.Skip != 2 || got.All != 5 {
		t.Fatalf("round trip: %+v", got)
	}
	// a version-2 position has no epoch
	v2 := p.encode()
	v2 = append(append(change.Position{}, v2[:1]...), 2)
	rest := p.encode()[2:]
	cut := 2 + len(p.File) + 4 + 2 + len(p.GTID) + 4 + 4
	v2 = append(v2, rest[:cut]...)
	v2 = append(v2, rest[cut+8:]...)
	old, err := decodePosition(v2)
	if err != nil {
		t.Fatal(err)
	}
	if old.HasEpoch || old.All != 5 {
		t.Fatalf("version 2: %+v", old)
	}
}

// Statements the replay now follows exactly (they used to fall back to the catalog, which is
// wrong when the stream lags behind later DDL).
func TestReplayIndexesAndLike(t *testing.T) {
	p := parser.New()
	n := tableName{DB: "db", Name: "t"}
	base, _, err := replayDDL(p, "db", "CREATE TABLE t (id INT PRIMARY KEY, a INT NOT NULL, b INT NOT NULL)", n, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	eff, _, err := replayDDL(p, "db", "CREATE UNIQUE INDEX ua ON t (a)", n, base.t, base.ukNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(eff.t.UniqueKeys) != 1 || eff.ukNames[0] != "ua" {
		t.Fatalf("after CREATE UNIQUE INDEX: %v %v", eff.t.UniqueKeys, eff.ukNames)
	}
	eff, _, err = replayDDL(p, "db", "ALTER TABLE t RENAME INDEX ua TO ub", n, eff.t, eff.ukNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	eff, _, err = replayDDL(p, "db", "DROP INDEX ub ON t", n, eff.t, eff.ukNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(eff.t.UniqueKeys) != 0 {
		t.Fatalf("after DROP INDEX: %v", eff.t.UniqueKeys)
	}
	// unnamed keys (unknown names) make DROP INDEX unreplayable, never a guess
	withKey := *eff.t
	withKey.UniqueKeys = [][]int{{1}}
	if _, _, err := replayDDL(p, "db", "DROP INDEX x ON t", n, &withKey, nil, nil); !errors.Is(err, errNoReplay) {
		t.Fatalf("DROP INDEX with unnamed keys: %v, want errNoReplay", err)
	}
	// CREATE TABLE ... LIKE a tracked table copies its schema
	u := tableName{DB: "db", Name: "u"}
	lookup := func(db, name string) (*change.Table, []string) {
		if db == "db" && name == "t" {
			return base.t, nil
		}
		return nil, nil
	}
	like, _, err := replayDDL(p, "db", "CREATE TABLE u LIKE t", u, nil, nil, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if like.t.Name != "u" || len(like.t.Columns) != 3 {
		t.Fatalf("LIKE: %+v", like.t)
	}
	if _, _, err := replayDDL(p, "db", "CREATE TABLE u LIKE other", u, nil, nil, lookup); !errors.Is(err, errNoReplay) {
		t.Fatalf("LIKE an untracked table: %v, want errNoReplay", err)
	}
	// MySQL 8's CREATE TABLE ... START TRANSACTION
	c8, _, err := replayDDL(p, "db", "CREATE TABLE u (id INT PRIMARY KEY, x VARCHAR(3)) START TRANSACTION", u, nil, nil, nil)
	if err != nil || len(c8.t.Columns) != 2 {
		t.Fatalf("CREATE ... START TRANSACTION: %v %+v", err, c8.t)
	}
}

// Partition maintenance (monthly ADD/DROP PARTITION, TRUNCATE PARTITION, EXCHANGE, ...) keeps
// the schema: it is replayed with the same columns and keys, never a stop.
func TestReplayPartitionMaintenance(t *testing.T) {
	p := parser.New()
	n := tableName{DB: "db", Name: "t"}
	eff, _, err := replayDDL(p, "db", "CREATE TABLE t (id INT NOT NULL, d DATE NOT NULL, v VARCHAR(10), PRIMARY KEY (id, d)) "+
		"PARTITION BY RANGE COLUMNS(d) (PARTITION p1 VALUES LESS THAN ('2026-01-01'), PARTITION p2 VALUES LESS THAN ('2026-02-01'))", n, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN ('2026-03-01'))",
		"ALTER TABLE t TRUNCATE PARTITION p1",
		"ALTER TABLE t DROP PARTITION p1",
		"ALTER TABLE t EXCHANGE PARTITION p2 WITH TABLE t_archive",
		"ALTER TABLE t REORGANIZE PARTITION p3 INTO (PARTITION p3a VALUES LESS THAN ('2026-02-15'), PARTITION p3b VALUES LESS THAN ('2026-03-01'))",
		"ALTER TABLE t COALESCE PARTITION 1",
		"ALTER TABLE t REBUILD PARTITION p2",
		"ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 4",
		"ALTER TABLE t REMOVE PARTITIONING",
	} {
		next, touched, err := replayDDL(p, "db", q, n, eff.t, eff.ukNames, nil)
		if err != nil || !touched {
			t.Fatalf("%s: touched %v, %v", q, touched, err)
		}
		if len(next.t.Columns) != 3 || len(next.t.PrimaryKey) != 2 {
			t.Fatalf("%s: %+v", q, next.t)
		}
		eff = next
	}
}

// With binlog_row_metadata=FULL the TABLE_MAP names its columns: a schema whose columns are in
// another order (equal types, so the type check cannot see it) is refused, never decoded.
func TestCheckTableMapNames(t *testing.T) {
	schema := &change.Table{Database: "db", Name: "t", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "INT", ColumnType: "int"},
		{Name: "a", Type: "VARCHAR", ColumnType: "varchar(20)", Charset: "utf8mb4", Length: 20},
		{Name: "b", Type: "VARCHAR", ColumnType: "varchar(20)", Charset: "utf8mb4", Length: 20},
	}}
	tb := newTable(schema, 0)
	tm := func(names ...string) *replication.TableMapEvent {
		ev := &replication.TableMapEvent{Schema: []byte("db"), Table: []byte("t"), ColumnCount: 3,
			ColumnType: []byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VARCHAR},
			ColumnMeta: []uint16{0, 80, 80}}
		for _, n := range names {
			ev.ColumnName = append(ev.ColumnName, []byte(n))
		}
		return ev
	}
	s := &Source{}
	if err := s.checkTableMap(tb, tm()); err != nil {
		t.Fatalf("without names: %v", err)
	}
	if err := s.checkTableMap(tb, tm("id", "a", "b")); err != nil {
		t.Fatalf("matching names: %v", err)
	}
	err := s.checkTableMap(tb, tm("id", "b", "a"))
	if !errors.Is(err, ErrSchemaOutOfStep) || !strings.Contains(err.Error(), "column 2 of db.t is b in the binlog but a in the schema") {
		t.Fatalf("reordered names: %v, want ErrSchemaOutOfStep naming the column", err)
	}
}

func TestMySQLJSONDouble(t *testing.T) {
	// MySQL 8's JSON text (my_gcvt at MY_GCVT_MAX_FIELD_WIDTH, ".0" for a whole number in
	// fixed notation); the thresholds are those MariaDB's my_gcvt shows in SELECT 1e14+0e0 ...
	for f, want := range map[float64]string{
		0: "0.0", 1: "1.0", -3: "-3.0", 0.1: "0.1", 1.25: "1.25", 1e10: "10000000000.0",
		1e14: "100000000000000.0", 1e15: "1e15", 1e16: "1e16", 2.5e20: "2.5e20", 1e300: "1e300",
		-1e300: "-1e300", 1.7976931348623157e308: "1.7976931348623157e308",
		1.2345678901234568e17: "1.2345678901234568e17", 1234567890123456.5: "1234567890123456.5",
		0.001: "0.001", 0.00001: "0.00001", 1.5e-5: "0.000015", 1e-15: "0.000000000000001",
		1e-16: "1e-16", 1e-300: "1e-300", -1e-7: "-0.0000001", 2.2250738585072014e-308: "2.2250738585072014e-308",
	} {
		if got := mysqlJSONDouble(f); got != want {
			t.Errorf("%v: %s, want %s", f, got, want)
		}
	}
}

func TestMySQLJSONSpacing(t *testing.T) {
	for in, want := range map[string]string{
		`{"k":[1,"v",true,null],"n":1.25}`:   `{"k": [1, "v", true, null], "n": 1.25}`,
		`{"k": [1, "v"], "n": 1}`:            `{"k": [1, "v"], "n": 1}`,
		`{"a:b":"c,d","e":"\"x,y\":"}`:       `{"a:b": "c,d", "e": "\"x,y\":"}`,
		`"a,b"`:                              `"a,b"`,
		`[{"a":{"b":[]}},"\\",{"c":"\\\""}]`: `[{"a": {"b": []}}, "\\", {"c": "\\\""}]`,
		// doubles as MySQL writes them; integers as they are
		`{"e":1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.0,"t":1e-300,"s":1.5e-05,"w":1.0,"m":-2.50,"big":18446744073709551615,"neg":-9223372036854775808,"k":"1.5e-05"}`: `{"e": 1e300, "t": 1e-300, "s": 0.000015, "w": 1.0, "m": -2.5, "big": 18446744073709551615, "neg": -9223372036854775808, "k": "1.5e-05"}`,
	} {
		if got := mysqlJSONSpacing(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
