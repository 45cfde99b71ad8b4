package dbz

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

var kcTable = &change.Table{Database: "shop", Name: "orders",
	Columns:    []change.Column{{Name: "id", Type: "INT"}, {Name: "name", Type: "VARCHAR", Nullable: true}},
	PrimaryKey: []int{0}}

// halves are the changes the pipeline makes of UPDATE id 1 -> 2.
func halves() []*change.Change {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	meta := func(role, other string) map[string]string {
		return map[string]string{change.MetaKeyChange: role, change.MetaKeyChangeOf: "u1", change.MetaKeyChangeOtherKey: other}
	}
	return []*change.Change{
		{ID: "u1/delete", Op: change.OpDelete, Table: kcTable, Before: []change.Value{change.NewInt(1), change.NewString("a")}, CommitTime: at,
			Meta: meta(change.KeyChangeDelete, change.EncodeKey([]change.Value{change.NewInt(2)}))},
		{ID: "u1/insert", Op: change.OpInsert, Table: kcTable, After: []change.Value{change.NewInt(2), change.NewString("a")}, CommitTime: at,
			Meta: meta(change.KeyChangeInsert, change.EncodeKey([]change.Value{change.NewInt(1)}))},
		{ID: "i2", Op: change.OpInsert, Table: kcTable, After: []change.Value{change.NewInt(1), change.NewString("b")}, CommitTime: at},
	}
}

func TestKeyChangeHeaders(t *testing.T) {
	for _, tc := range []struct {
		mode           Mode
		oldKey, newKey string
		ops            []string
	}{
		{Envelope,
			`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"ferry.shop.orders.Key"},"payload":{"id":1}}`,
			`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"ferry.shop.orders.Key"},"payload":{"id":2}}`,
			[]string{"d", "c", "c"}},
		{Flatten, `{"id":1}`, `{"id":2}`, []string{"d", "c", "c"}},
		{SMT, `{"id":1}`, `{"id":2}`, []string{"d", "c", "c"}},
	} {
		s := New(sdk.Info{Name: "dbz"}, tc.mode)
		recs, err := s.Serialize(context.Background(), halves(), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Delete of the old key, create of the new key, no tombstone between them (RocketMQ).
		if len(recs) != 3 {
			t.Fatalf("mode %d: %d records", tc.mode, len(recs))
		}
		for i, r := range recs {
			var v map[string]any
			if err := json.Unmarshal(r.Body(), &v); err != nil {
				t.Fatalf("mode %d record %d: %v", tc.mode, i, err)
			}
			op := ""
			switch tc.mode {
			case Envelope:
				op = v["payload"].(map[string]any)["op"].(string)
			case Flatten:
				op = v["op"].(string)
			case SMT:
				op = v["__op"].(string)
			}
			if op != tc.ops[i] || r.Change != i {
				t.Fatalf("mode %d record %d: op %q change %d", tc.mode, i, op, r.Change)
			}
		}
		want := [][]sdk.Property{{{Key: HeaderNewKey, Value: tc.newKey}}, {{Key: HeaderOldKey, Value: tc.oldKey}}, nil}
		for i := range want {
			got := withoutContext(recs[i].Properties)
			if len(got) != len(want[i]) || len(got) == 1 && got[0] != want[i][0] {
				t.Errorf("mode %d record %d: properties %v, want %v", tc.mode, i, got, want[i])
			}
			for _, p := range got {
				if !json.Valid([]byte(p.Value)) {
					t.Errorf("header %s is not JSON: %s", p.Key, p.Value)
				}
			}
		}
	}
}

func TestKeyChangeHeaderWithoutKeyColumns(t *testing.T) {
	c := halves()[0]
	c.Meta[change.MetaKeyChangeOtherKey] = "garbage"
	recs, err := New(sdk.Info{Name: "dbz"}, Flatten).Serialize(context.Background(), []*change.Change{c}, nil)
	if err != nil || len(recs) != 1 || withoutContext(recs[0].Properties) != nil {
		t.Fatalf("%v %v", recs, err)
	}
}

// withoutContext drops the __debezium.context.* headers every record carries.
func withoutContext(ps []sdk.Property) []sdk.Property {
	var out []sdk.Property
	for _, p := range ps {
		if !strings.HasPrefix(p.Key, "__debezium.context.") {
			out = append(out, p)
		}
	}
	return out
}

// Every record carries Debezium 3's context headers (with their schema in the debezium
// format, plain in the others); context_headers = false drops them.
func TestContextHeaders(t *testing.T) {
	for _, mode := range []Mode{Envelope, Flatten, SMT} {
		s := New(sdk.Info{Name: "dbz"}, mode)
		recs, err := s.Serialize(context.Background(), halves()[2:], nil)
		if err != nil || len(recs) != 1 {
			t.Fatal(recs, err)
		}
		got := map[string]string{}
		for _, p := range recs[0].Properties {
			got[p.Key] = p.Value
		}
		want := map[string]string{HeaderContextLogicalName: "ferry", HeaderContextConnector: "mysql", HeaderContextTaskID: "0"}
		for k, v := range want {
			v = `"` + v + `"`
			if mode == Envelope {
				v = `{"schema":{"type":"string","optional":false},"payload":` + v + `}`
			}
			if got[k] != v {
				t.Errorf("mode %d: %s = %q, want %q", mode, k, got[k], v)
			}
		}
		if len(got[HeaderContextRunID]) < 36 {
			t.Errorf("mode %d: run id %q", mode, got[HeaderContextRunID])
		}
		if err := s.Configure(context.Background(), sdk.NewConfig([]byte(`{"context_headers": false}`))); err != nil {
			t.Fatal(err)
		}
		if recs, _ := s.Serialize(context.Background(), halves()[2:], nil); len(recs[0].Properties) != 0 {
			t.Errorf("mode %d: context_headers = false: %v", mode, recs[0].Properties)
		}
	}
}
