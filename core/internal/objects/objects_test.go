package objects

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/sdk/change"
)

func orders() *change.Table {
	return &change.Table{Database: "shop", Name: "orders", Version: 1,
		Columns: []change.Column{{Name: "id", Type: "INT"}, {Name: "customer_id", Type: "INT"},
			{Name: "status", Type: "VARCHAR", ColumnType: "varchar(10)", Charset: "utf8mb4"}, {Name: "amount", Type: "INT"}, {Name: "note", Type: "VARCHAR", Charset: "utf8mb4"}},
		PrimaryKey: []int{0}}
}

func row(id, cust int64, status string, amount int64) []change.Value {
	return []change.Value{change.NewInt(id), change.NewInt(cust), change.NewString(status), change.NewInt(amount), change.NewString("n")}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, db, t string
		want     bool
	}{
		{"shop.*", "shop", "x", true},
		{"shop.*", "shop2", "x", false},
		{"*.*", "a", "b", true},
		{"shop.order_item_*", "shop", "order_item_1", true},
		{"shop.order_item_*", "shop", "order_items", false},
		{"shop.*_bak", "shop", "a_bak", true},
		{"shop.*_bak", "shop", "a_bak2", false},
		{"SHOP.A*B*C", "shop", "axxbyyc", true},
		{"s*", "shop", "t", true},
	} {
		if got := Match(c.p, c.db, c.t); got != c.want {
			t.Errorf("Match(%q, %s.%s) = %v", c.p, c.db, c.t, got)
		}
	}
}

func TestCheckWhereSyntax(t *testing.T) {
	if err := CheckWhereSyntax("`status` <> 'draft' AND amount > 0"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a = ", "a = 1; DROP TABLE x", "a = 1 ORDER BY a", "",
		// B8: conditions the stage refuses whatever the schema.
		"name REGEXP '^a'", "id IN (SELECT id FROM x)", "id = (SELECT 1)", "EXISTS (SELECT 1)",
		"UPPER(name) = 'A'", "id > 9223372036854775807 + 1", "orders.id = 1 AND UPPER(y) = 'a'",
	} {
		if err := CheckWhereSyntax(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Qualified names and any column names are left to the schema.
	for _, good := range []string{"orders.id = 1", "shop.orders.id > 0 OR nocolumn IS NULL", "a BETWEEN 1 AND 2 AND CONCAT(b, c) LIKE 'x%'"} {
		if err := CheckWhereSyntax(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

func TestStage(t *testing.T) {
	sel := &Selection{
		Tables: []Object{{Database: "shop", Table: "orders", Topic: "t_${db}_${table}",
			Where: "`status` <> 'draft' AND amount > 0", Columns: []string{"id", "status", "amount"}, ShardingColumns: []string{"customer_id"}}},
		Rules:   []Object{{Database: "shop", Table: "x*", Topic: "x"}},
		Exclude: []string{"shop.x_bak"},
	}
	var dropped []string
	s := NewStage(sel)
	s.OnDrop = func(name string, how How) { dropped = append(dropped, name) }
	tb := orders()

	// snapshot row passes with projection, key and hash from the full row
	c := &change.Change{ID: "1", Op: change.OpSnapshot, Table: tb, After: row(1, 77, "paid", 5)}
	out, keep, err := s.Apply(c)
	if err != nil || !keep {
		t.Fatal(err, keep)
	}
	if len(out.After) != 3 || len(out.Table.Columns) != 3 || out.Topic != "t_shop_orders" || out.After[1].Str() != "paid" {
		t.Fatalf("projection: %+v", out)
	}
	if out.Table.PrimaryKey[0] != 0 || len(tb.Columns) != 5 || len(c.After) != 5 {
		t.Fatal("original modified or key lost")
	}
	if got, want := s.Shard(out), c.KeyHash([]int{1}); got != want {
		t.Fatalf("shard %d, want %d", got, want)
	}
	other := &change.Change{ID: "1b", Op: change.OpSnapshot, Table: tb, After: row(2, 77, "paid", 9)}
	o2, _, _ := s.Apply(other)
	if s.Shard(o2) != s.Shard(out) {
		t.Fatal("same customer, different hash")
	}
	if k := string(s.Key(out, nil)); k != "1" {
		t.Fatalf("key %q", k)
	}
	// draft filtered
	if _, keep, _ := s.Apply(&change.Change{ID: "2", Op: change.OpInsert, Table: tb, After: row(2, 1, "draft", 5)}); keep {
		t.Fatal("draft kept")
	}
	// update into the filter: insert; out of it: delete
	up := &change.Change{ID: "3", Op: change.OpUpdate, Table: tb, Before: row(3, 1, "draft", 5), After: row(3, 1, "paid", 5)}
	if out, keep, _ := s.Apply(up); !keep || out.Op != change.OpInsert || out.Before != nil || len(out.After) != 3 {
		t.Fatalf("appear: %+v", out)
	}
	up = &change.Change{ID: "4", Op: change.OpUpdate, Table: tb, Before: row(3, 1, "paid", 5), After: row(3, 1, "paid", 0)}
	if out, keep, _ := s.Apply(up); !keep || out.Op != change.OpDelete || out.After != nil || len(out.Before) != 3 {
		t.Fatalf("disappear: %+v", out)
	}
	// rule, exclusion, not selected
	xt := &change.Table{Database: "shop", Name: "x1", Columns: []change.Column{{Name: "a", Type: "INT"}}}
	if out, keep, _ := s.Apply(&change.Change{ID: "5", Op: change.OpInsert, Table: xt, After: []change.Value{change.NewInt(1)}}); !keep || out.Topic != "x" {
		t.Fatal("rule")
	}
	bak := &change.Table{Database: "shop", Name: "x_bak", Columns: []change.Column{{Name: "a", Type: "INT"}}}
	if _, keep, _ := s.Apply(&change.Change{ID: "6", Op: change.OpInsert, Table: bak, After: []change.Value{change.NewInt(1)}}); keep {
		t.Fatal("excluded kept")
	}
	if len(dropped) != 1 || dropped[0] != "shop.x_bak" {
		t.Fatal(dropped)
	}
	// an unknown column stops with table and column named
	s.SetSelection(&Selection{Tables: []Object{{Database: "shop", Table: "orders", Columns: []string{"id", "nope"}}}})
	_, _, err = s.Apply(c)
	var ce *ColumnError
	if !errors.As(err, &ce) || ce.Column != "nope" || !strings.Contains(err.Error(), "shop.orders") {
		t.Fatalf("err = %v", err)
	}
	s.SetSelection(&Selection{Tables: []Object{{Database: "shop", Table: "orders", Where: "statu = 1"}}})
	if _, _, err = s.Apply(c); err == nil || !strings.Contains(err.Error(), "statu") {
		t.Fatalf("err = %v", err)
	}
}
