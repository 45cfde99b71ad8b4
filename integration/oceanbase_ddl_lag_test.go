//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// TestOceanBaseSourceDDLWhileLagging: several DDL statements and rows between them are all
// written before the source reads any of them; each row must decode with the schema of its
// time (DDL replayed on the in-memory schema), not with the catalog's final one.
func TestOceanBaseSourceDDLWhileLagging(t *testing.T) {
	db, h := obDB(t, "ddllag")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))")
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "emit_ddl": true}), nil)
	mustExec(t, h, "INSERT INTO t VALUES (1, 'x')")
	first := rowChanges(readUntil(t, src, 30*time.Second, countRows(1)))
	// the source does not read while these run
	mustExec(t, h,
		"ALTER TABLE t ADD COLUMN b INT UNSIGNED DEFAULT 7 AFTER id",
		"INSERT INTO t VALUES (2, 4294967295, 'y')",
		"ALTER TABLE t DROP COLUMN a",
		"INSERT INTO t VALUES (3, 5)",
		"ALTER TABLE t MODIFY COLUMN b BIGINT NOT NULL",
		"INSERT INTO t VALUES (4, -9000000000)",
		"ALTER TABLE t CHANGE COLUMN b c DECIMAL(14,2), ADD COLUMN e ENUM('p','q') FIRST",
		"INSERT INTO t (id, c, e) VALUES (5, 12.5, 'q')",
		"UPDATE t SET c = 1.25 WHERE id = 5",
	)
	var ddl []*change.Change
	rest := readUntil(t, src, 30*time.Second, countRows(5))
	for _, b := range rest {
		for _, c := range b.Changes {
			if c.Op == change.OpDDL {
				ddl = append(ddl, c)
			}
		}
	}
	got := append(first, rowChanges(rest)...)
	if len(got) != 6 {
		t.Fatalf("got %d row changes, want 6", len(got))
	}
	type want struct {
		version uint64
		cols    string
		vals    string
	}
	text := func(c *change.Change) (string, string) {
		var cols, vals []string
		for i, col := range c.Table.Columns {
			cols = append(cols, col.Name+" "+col.Type)
			vals = append(vals, string(c.After[i].AppendText(nil, col.Fsp)))
		}
		return strings.Join(cols, ","), strings.Join(vals, ",")
	}
	wants := []want{
		{1, "id INT,a VARCHAR", "1,x"},
		{2, "id INT,b INT,a VARCHAR", "2,4294967295,y"},
		{3, "id INT,b INT", "3,5"},
		{4, "id INT,b BIGINT", "4,-9000000000"},
		{5, "e ENUM,id INT,c DECIMAL", "q,5,12.50"},
		{5, "e ENUM,id INT,c DECIMAL", "q,5,1.25"},
	}
	for i, w := range wants {
		c := got[i]
		cols, vals := text(c)
		if c.Table.Version != w.version || cols != w.cols || vals != w.vals {
			t.Errorf("row %d: version %d cols %q vals %q; want version %d cols %q vals %q", i, c.Table.Version, cols, vals, w.version, w.cols, w.vals)
		}
		if len(c.Table.PrimaryKey) != 1 || c.Table.Columns[c.Table.PrimaryKey[0]].Name != "id" {
			t.Errorf("row %d: primary key %v", i, c.Table.PrimaryKey)
		}
	}
	if !got[1].Table.Columns[1].Unsigned || got[3].Table.Columns[1].Nullable {
		t.Errorf("flags: b unsigned %v in v2; b nullable %v in v4", got[1].Table.Columns[1].Unsigned, got[3].Table.Columns[1].Nullable)
	}
	if got[4].Table.Columns[2].Precision != 14 || got[4].Table.Columns[2].Scale != 2 {
		t.Errorf("c: %+v", got[4].Table.Columns[2])
	}
	if len(ddl) != 4 || ddl[3].Table.Version != 5 {
		t.Errorf("ddl changes: %d", len(ddl))
	}
}
