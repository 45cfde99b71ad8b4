package change

import "testing"

func TestAppendKey(t *testing.T) {
	tbl := &Table{Database: "shop", Name: "orders", Columns: []Column{{Name: "a"}, {Name: "b"}, {Name: "c"}}, PrimaryKey: []int{2, 0}}
	ins := &Change{Op: OpInsert, Table: tbl, After: []Value{NewInt(7), NewString("x"), NewString("k")}}
	if got := string(AppendKey([]byte("p:"), ins)); got != "p:k\x017" {
		t.Fatalf("insert key = %q", got)
	}
	del := &Change{Op: OpDelete, Table: tbl, Before: []Value{NewInt(1), NewString("y"), NewString("d")}, After: []Value{NewInt(2), NewString("z"), NewString("e")}}
	if got := string(AppendKey(nil, del)); got != "d\x011" {
		t.Fatalf("delete key (before image) = %q", got)
	}
	if got := AppendKey(nil, &Change{Op: OpDDL, Table: tbl}); len(got) != 0 {
		t.Fatalf("ddl key = %q, want empty", got)
	}
	if got := string(AppendValuesText(nil, tbl, []int{0, 5, 1}, ins.After, '|')); got != "7||x" {
		t.Fatalf("values past the row = %q", got)
	}
}
