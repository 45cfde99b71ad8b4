package objects

import (
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// The runtime splits a key change with the stage's Key and Shard before the stage applies
// the selection to each half: the sharding columns decide, the row filter applies per half,
// and each half's key and hash come from its own full row even when projection drops the
// sharding column.
func TestKeyChangeThroughStage(t *testing.T) {
	sel := &Selection{Tables: []Object{{Database: "shop", Table: "orders", Where: "`status` <> 'draft'",
		Columns: []string{"id", "status"}, ShardingColumns: []string{"customer_id"}}}}
	s := NewStage(sel)
	tb := orders()
	split := func(c *change.Change) (*change.Change, *change.Change, bool) {
		return pipeline.SplitKeyChange(c, s.Key, s.Shard, nil)
	}
	// Same key, new customer (sharding column, not selected): split.
	up := &change.Change{ID: "u1", Op: change.OpUpdate, Table: tb, Before: row(1, 10, "paid", 5), After: row(1, 20, "paid", 5)}
	del, ins, ok := split(up)
	if !ok {
		t.Fatal("sharding-column change not split")
	}
	d, keep, err := s.Apply(del)
	if err != nil || !keep {
		t.Fatal(err, keep)
	}
	i, keep, err := s.Apply(ins)
	if err != nil || !keep {
		t.Fatal(err, keep)
	}
	if s.Shard(d) != (&change.Change{Op: change.OpDelete, Table: tb, Before: up.Before}).KeyHash([]int{1}) ||
		s.Shard(i) != (&change.Change{Op: change.OpInsert, Table: tb, After: up.After}).KeyHash([]int{1}) || s.Shard(d) == s.Shard(i) {
		t.Fatal("halves not hashed by their own customer")
	}
	if d.ID != "u1/delete" || i.ID != "u1/insert" || d.Meta[change.MetaKeyChange] != change.KeyChangeDelete ||
		i.Meta[change.MetaKeyChange] != change.KeyChangeInsert || len(d.Before) != 2 || len(i.After) != 2 {
		t.Fatalf("halves %+v %+v", d, i)
	}
	// Same key and customer, other columns: not split.
	if _, _, ok := split(&change.Change{ID: "u2", Op: change.OpUpdate, Table: tb, Before: row(1, 10, "paid", 5), After: row(1, 10, "sent", 6)}); ok {
		t.Fatal("plain update split")
	}
	// New key, old row outside the filter: only the INSERT half is kept.
	del, ins, ok = split(&change.Change{ID: "u3", Op: change.OpUpdate, Table: tb, Before: row(1, 10, "draft", 5), After: row(2, 10, "paid", 5)})
	if !ok {
		t.Fatal("key change not split")
	}
	if _, keep, _ := s.Apply(del); keep {
		t.Fatal("DELETE of a row outside the filter kept")
	}
	if out, keep, _ := s.Apply(ins); !keep || out.Op != change.OpInsert || string(s.Key(out, nil)) != "2" {
		t.Fatalf("INSERT half %+v %v", out, keep)
	}
}
