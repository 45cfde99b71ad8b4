package canal

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func newTest() *Serializer {
	s := newSerializer()
	s.hooks.Now, s.hooks.Seq = fixture.Now, fixture.Seq
	return s
}

func TestGolden(t *testing.T) {
	fixture.RunGolden(t, newTest(), "", map[string]int{"snapshot": 1, "insert": 1, "update": 1, "delete": 1, "ddl": 1, "heartbeat": 0})
}

func TestConformance(t *testing.T) {
	sdktest.Serializer(t, func(testing.TB) (sdk.Serializer, sdk.Config) { return newTest(), sdk.NewConfig([]byte(`{}`)) })
}

func BenchmarkSerialize(b *testing.B) { fixture.Bench(b, New()) }

func serializeOne(t *testing.T, s *Serializer, c *change.Change) map[string]any {
	t.Helper()
	vals := fixture.Serialize(t, s, c)
	if len(vals) != 1 {
		t.Fatalf("%d records", len(vals))
	}
	var m map[string]any
	if err := json.Unmarshal(vals[0], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEnumSetText(t *testing.T) {
	s := newTest()
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(`{"enum_set":"text"}`))); err != nil {
		t.Fatal(err)
	}
	row := serializeOne(t, s, fixture.Cases()[0].Change)["data"].([]any)[0].(map[string]any)
	if row["c_enum"] != "paid" || row["c_set"] != "a,c" {
		t.Errorf("enum_set=text: c_enum %v, c_set %v", row["c_enum"], row["c_set"])
	}
	row = serializeOne(t, newTest(), fixture.Cases()[0].Change)["data"].([]any)[0].(map[string]any)
	if row["c_enum"] != "2" || row["c_set"] != "5" {
		t.Errorf("default: c_enum %v, c_set %v, want the index 2 and the mask 5", row["c_enum"], row["c_set"])
	}
	err := s.Configure(context.Background(), sdk.NewConfig([]byte(`{"enum_set":"label"}`)))
	var ae *sdk.AttributeError
	if !errors.As(err, &ae) || ae.Attribute != "enum_set" {
		t.Errorf("bad enum_set: %v", err)
	}
}

func TestFloatsInJavaText(t *testing.T) {
	c := fixture.Cases()[0].Change
	for _, tc := range []struct {
		f, d       change.Value
		wantF, wnd string
	}{
		{change.NewFloat32(1e-7), change.NewFloat64(1e-7), "1.0E-7", "1.0E-7"},
		{change.NewFloat32(1), change.NewFloat64(-2.2250738585072014e-308), "1.0", "-2.2250738585072014E-308"},
		{change.NewFloat32(12345678), change.NewFloat64(1234567), "1.2345678E7", "1234567.0"},
		{change.NewFloat32(0.1), change.NewFloat64(5e-324), "0.1", "4.9E-324"},
	} {
		cc := *c
		cc.After = append([]change.Value(nil), c.After...)
		cc.After[7], cc.After[8] = tc.f, tc.d
		row := serializeOne(t, newTest(), &cc)["data"].([]any)[0].(map[string]any)
		if row["c_float"] != tc.wantF || row["c_double"] != tc.wnd {
			t.Errorf("c_float %v (want %s), c_double %v (want %s)", row["c_float"], tc.wantF, row["c_double"], tc.wnd)
		}
	}
}

func TestMemberOrderAndPkNames(t *testing.T) {
	// composite key declared (b, a): Canal names key columns in column order
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{
		{Name: "a", Type: "INT", ColumnType: "int(11)"}, {Name: "b", Type: "INT", ColumnType: "int(11)"}, {Name: "v", Type: "INT", ColumnType: "int(11)", Nullable: true}},
		PrimaryKey: []int{1, 0}}
	c := &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1), change.NewInt(2), change.Null}}
	got := string(fixture.Serialize(t, newTest(), c)[0])
	want := `{"data":[{"a":"1","b":"2","v":null}],"database":"d","es":0,"gtid":"","id":7,"isDdl":false,"mysqlType":{"a":"int(11)","b":"int(11)","v":"int(11)"},"old":null,"pkNames":["a","b"],"sql":"","sqlType":{"a":4,"b":4,"v":4},"table":"t","ts":1748779205500,"type":"INSERT"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestDDLType checks the classification with the types Canal 1.1.7's DruidDdlParser gave
// these statements (run against canal.parse-1.1.7 and druid-1.2.17).
func TestDDLType(t *testing.T) {
	for _, c := range []struct{ stmt, want string }{
		{"CREATE TABLE t (id int)", "CREATE"},
		{"create temporary table if not exists `t` (id int)", "CREATE"},
		{"/* x */ CREATE OR REPLACE TABLE t (id int)", "QUERY"},
		{"CREATE UNIQUE INDEX i ON t (a)", "CINDEX"},
		{"CREATE INDEX i ON t (a)", "CINDEX"},
		{"CREATE DATABASE d", "QUERY"},
		{"CREATE VIEW v AS SELECT 1", "QUERY"},
		{"DROP TABLE IF EXISTS a, b", "ERASE"},
		{"DROP INDEX i ON t", "DINDEX"},
		{"DROP DATABASE d", "QUERY"},
		{"TRUNCATE TABLE t", "TRUNCATE"},
		{"truncate t", "TRUNCATE"},
		{"RENAME TABLE a TO b, c TO d", "RENAME"},
		{"ALTER TABLE t RENAME TO u", "RENAME"},
		{"ALTER TABLE d.t RENAME u", "RENAME"},
		{"ALTER TABLE t RENAME COLUMN a TO b", "ALTER"},
		{"ALTER TABLE t ADD COLUMN note varchar(8)", "ALTER"},
		{"/* ferry */ ALTER TABLE orders ADD COLUMN note varchar(8)", "ALTER"},
		{"ALTER TABLE t ADD INDEX i (a), ADD COLUMN c int", "CINDEX"},
		{"ALTER TABLE t ADD COLUMN c int, ADD INDEX i (a)", "ALTER"},
		{"ALTER TABLE t ADD UNIQUE KEY uk (a)", "CINDEX"},
		{"ALTER TABLE t ADD CONSTRAINT uk UNIQUE (a)", "CINDEX"},
		{"ALTER TABLE t ADD PRIMARY KEY (id)", "CINDEX"},
		{"ALTER TABLE `t` ADD FULLTEXT INDEX f (a)", "CINDEX"},
		{"ALTER TABLE t DROP INDEX i", "DINDEX"},
		{"ALTER TABLE t DROP KEY i", "DINDEX"},
		{"ALTER TABLE t DROP PRIMARY KEY", "ALTER"},
		{"ALTER TABLE t DROP COLUMN c", "ALTER"},
		{"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id)", "QUERY"},
		{"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id), ADD COLUMN c int", "ALTER"},
		{"ALTER TABLE t ADD INDEX i (a), ENGINE=InnoDB", "ALTER"},
		{"ALTER TABLE t DEFAULT CHARSET=utf8mb4", "QUERY"},
		{"ALTER TABLE t MODIFY COLUMN e ENUM('x','y,z') NOT NULL DEFAULT 'x'", "ALTER"},
		{"ALTER DATABASE d CHARACTER SET utf8mb4", "QUERY"},
		{"GRANT ALL ON *.* TO u", "QUERY"},
		{"ALTER TABLE t ENGINE=InnoDB", "ALTER"},
		{"ALTER TABLE t CHARSET=utf8mb4", "QUERY"},
		{"ALTER TABLE t CHARACTER SET utf8mb4", "ALTER"},
		{"ALTER TABLE t DEFAULT CHARACTER SET utf8mb4", "ALTER"},
		{"ALTER TABLE t COLLATE utf8mb4_bin", "ALTER"},
		{"ALTER TABLE t COMMENT='x'", "ALTER"},
		{"ALTER TABLE t AUTO_INCREMENT=5", "ALTER"},
		{"ALTER TABLE t ROW_FORMAT=DYNAMIC", "ALTER"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "ALTER"},
		{"ALTER TABLE t ADD CHECK (a>0)", "QUERY"},
		{"ALTER TABLE t ADD CONSTRAINT c CHECK (a>0)", "QUERY"},
		{"ALTER TABLE t DROP FOREIGN KEY fk", "ALTER"},
		{"ALTER TABLE t DROP CONSTRAINT c", "DINDEX"},
		{"ALTER TABLE t DROP CHECK c", "QUERY"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS c int", "QUERY"},
		{"ALTER TABLE t ADD KEY k (a)", "CINDEX"},
		{"ALTER TABLE t ADD SPATIAL INDEX s (g)", "CINDEX"},
		{"ALTER ONLINE TABLE t ADD COLUMN c int", "ALTER"},
		{"ALTER IGNORE TABLE t ADD COLUMN c int", "ALTER"},
		{"ALTER TABLE t RENAME INDEX a TO b", "ALTER"},
		{"ALTER TABLE t RENAME KEY a TO b", "ALTER"},
		{"ALTER TABLE t RENAME AS u", "RENAME"},
		{"DROP TEMPORARY TABLE t", "ERASE"},
		{"RENAME USER a TO b", "QUERY"},
		{"CREATE TEMPORARY TABLE t2 (id int)", "CREATE"},
		{"CREATE TABLE IF NOT EXISTS t LIKE u", "CREATE"},
		{"CREATE TABLE t2 AS SELECT 1 AS a", "CREATE"},
		{"ALTER TABLE t ALGORITHM=INPLACE, ADD COLUMN c int", "ALTER"},
		{"ALTER TABLE t ADD COLUMN c int FIRST, LOCK=NONE", "ALTER"},
		{"ALTER TABLE t ENGINE=InnoDB, ADD INDEX i (a)", "ALTER"},
		{"ALTER TABLE t ADD INDEX i (a), COMMENT 'x'", "ALTER"},
		{"ALTER TABLE t MODIFY c int, ADD INDEX i (a)", "ALTER"},
		{"ALTER TABLE t ADD (c int, d int)", "ALTER"},
		{"ALTER TABLE t ADD UNIQUE (a)", "CINDEX"},
		{"ALTER TABLE t ADD UNIQUE INDEX u (a)", "CINDEX"},
		{"ALTER TABLE t ADD CONSTRAINT PRIMARY KEY (a)", "CINDEX"},
		{"ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES p (id)", "QUERY"},
		{"ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", "ALTER"},
		{"ALTER TABLE t CHANGE a b int", "ALTER"},
		{"ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 4", "QUERY"},
		{"ALTER TABLE t TRUNCATE PARTITION p0", "ALTER"},
		{"ALTER TABLE t FORCE", "ALTER"},
		{"CREATE OR REPLACE VIEW v AS SELECT 1", "QUERY"},
		{"CREATE FULLTEXT INDEX f ON t (a)", "CINDEX"},
		{"CREATE SPATIAL INDEX s ON t (g)", "CINDEX"},
		{"DROP INDEX `PRIMARY` ON t", "DINDEX"},
		{"DROP VIEW v", "QUERY"},
		{"DROP TABLE d.t", "ERASE"},
		{"CREATE ONLINE INDEX i ON t (a)", "QUERY"},
		{"TRUNCATE d.t", "TRUNCATE"},
		{"/*!40101 ALTER TABLE t ADD COLUMN c int */", "QUERY"},
	} {
		if got := DDLType(c.stmt); got != c.want {
			t.Errorf("%s: %s, want %s", c.stmt, got, c.want)
		}
	}
}

// The defaults are written once, in Spec: defaults() decodes them, so they cannot drift.
func TestDefaultsFromSpec(t *testing.T) {
	want := Options{EnumSet: EnumSetNumber}
	if got := defaults(); got != want {
		t.Fatalf("defaults decoded from the spec: %+v, want %+v", got, want)
	}
}
