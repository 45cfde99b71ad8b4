package expr_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/plugins/filter/expr"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfg(s string) sdk.Config { return sdk.NewConfig([]byte(s)) }

func table() *change.Table {
	return &change.Table{Database: "shop", Name: "orders", Columns: []change.Column{
		{Name: "id", Type: "BIGINT"},
		{Name: "status", Type: "VARCHAR", Nullable: true},
		{Name: "amount", Type: "DECIMAL", Scale: 2, Nullable: true},
		{Name: "qty", Type: "INT", Unsigned: true, Nullable: true},
		{Name: "at", Type: "DATETIME", Fsp: 3, Nullable: true},
	}, PrimaryKey: []int{0}}
}

func row(id int64, status string, amount string) []change.Value {
	at, _ := change.NewDateTime(change.Temporal{Year: 2025, Month: 6, Day: 1, Hour: 12, Microsecond: 500000}, false)
	r := []change.Value{change.NewInt(id), change.NewString(status), change.Null, change.NewUint(3), at}
	if status == "" {
		r[1] = change.Null
	}
	if amount != "" {
		r[2] = change.MustDecimal(amount)
	}
	return r
}

// changes: one of each operation.
func changes() []*change.Change {
	t := table()
	at := time.UnixMilli(1748779200123)
	return []*change.Change{
		{ID: "1", Op: change.OpSnapshot, Table: t, Database: "shop", TableName: "orders", After: row(1, "paid", "10.50"), CommitTime: at},
		{ID: "2", Op: change.OpInsert, Table: t, Database: "shop", TableName: "orders", After: row(2, "draft", "0.00"), TxID: "tx-1", CommitTime: at},
		{ID: "3", Op: change.OpUpdate, Table: t, Database: "shop", TableName: "orders", Before: row(3, "draft", ""), After: row(3, "paid", "99.99"), TxID: "tx-2"},
		{ID: "4", Op: change.OpDelete, Table: t, Database: "shop", TableName: "orders", Before: row(4, "", "-1.00"), TxID: "tx-3"},
		{ID: "5", Op: change.OpDDL, Table: t, Database: "shop", TableName: "orders", DDL: "ALTER TABLE orders ADD x INT"},
		{ID: "6", Op: change.OpHeartbeat, Database: "shop"},
		{ID: "7", Op: change.OpInsert, Table: t, Database: "shop", TableName: "audit_log", After: row(7, "x", "1"), Topic: "preset"},
	}
}

func run(t *testing.T, conf string) []*change.Change {
	t.Helper()
	f := expr.New()
	if err := f.Configure(context.Background(), cfg(conf)); err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	out, err := f.Filter(context.Background(), changes())
	if err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	return out
}

func ids(cs []*change.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	return strings.Join(s, " ")
}

func TestKeepDrop(t *testing.T) {
	for _, tc := range []struct{ conf, kept string }{
		{`{}`, "1 2 3 4 5 6 7"},
		{`{"keep_if":"op == 'snapshot'"}`, "1"},
		{`{"keep_if":"op == 'insert'"}`, "2 7"},
		{`{"keep_if":"op == 'update'"}`, "3"},
		{`{"keep_if":"op == 'delete'"}`, "4"},
		{`{"keep_if":"op == 'ddl'"}`, "5"},
		{`{"keep_if":"op == 'heartbeat'"}`, "6"},
		{`{"drop_if":"op == 'delete' && table == 'audit_log'"}`, "1 2 3 4 5 6 7"},
		{`{"drop_if":"op == 'insert' && table == 'audit_log'"}`, "1 2 3 4 5 6"},
		{`{"keep_if":"db == 'shop' && table == 'orders'"}`, "1 2 3 4 5"},
		// row is after, or before for deletes; NULL is nil; a missing column is nil too.
		{`{"keep_if":"row.status == 'paid'"}`, "1 3"},
		{`{"keep_if":"row.status == nil && row.id != nil"}`, "4"},
		{`{"keep_if":"row.no_such_column == nil"}`, "1 2 3 4 5 6 7"},
		{`{"keep_if":"(row.amount ?? 0) > 10"}`, "1 3"},
		{`{"keep_if":"row.amount != nil && row.amount < 0"}`, "4"},
		{`{"keep_if":"before.status == 'draft' && after.status == 'paid'"}`, "3"},
		{`{"keep_if":"len(before) == 0 && len(after) > 0"}`, "1 2 7"},
		{`{"keep_if":"row.status == nil"}`, "4 5 6"},
		{`{"keep_if":"row.qty == 3 && row.id >= 2"}`, "2 3 4 7"},
		{`{"keep_if":"row.at == '2025-06-01 12:00:00.500'"}`, "1 2 3 4 7"},
		{`{"keep_if":"ddl contains 'ADD'"}`, "5"},
		{`{"keep_if":"commit_ms == 1748779200123"}`, "1 2"},
		{`{"keep_if":"tx != ''"}`, "2 3 4"},
		{`{"keep_if":"topic == 'preset'"}`, "7"},
	} {
		if got := ids(run(t, tc.conf)); got != tc.kept {
			t.Errorf("%s: kept %q, want %q", tc.conf, got, tc.kept)
		}
	}
}

func TestRoute(t *testing.T) {
	out := run(t, `{"drop_if":"op == 'heartbeat'","route":"op == 'ddl' ? '' : db + '_' + table + (row?.status == 'paid' ? '_paid' : '')"}`)
	var got []string
	for _, c := range out {
		got = append(got, c.ID+"="+c.Topic)
	}
	want := "1=shop_orders_paid 2=shop_orders 3=shop_orders_paid 4=shop_orders 5= 7=shop_audit_log"
	if strings.Join(got, " ") != want {
		t.Errorf("routes %v, want %s", got, want)
	}
	// nil leaves the topic as it was.
	out = run(t, `{"route":"table == 'audit_log' ? nil : 'x'"}`)
	if out[6].Topic != "preset" || out[0].Topic != "x" {
		t.Errorf("topics %q %q", out[6].Topic, out[0].Topic)
	}
}

func TestConfigureErrors(t *testing.T) {
	for _, tc := range []struct{ conf, attr, want string }{
		{`{"keep_if":"op ==","drop_if":"true"}`, "drop_if", "cannot both be set"},
		{`{"keep_if":"op == 'insert' &&"}`, "keep_if", "line 1, column"},
		{`{"drop_if":"op + 1"}`, "drop_if", "invalid expression"},
		{`{"drop_if":"opp == 'insert'"}`, "drop_if", "unknown name opp"},
		{`{"route":"1 + 2"}`, "route", "must give a string"},
		{`{"route":"table +"}`, "route", "line 1, column"},
	} {
		err := expr.New().Configure(context.Background(), cfg(tc.conf))
		aes := sdk.AttributeErrors(err)
		if len(aes) != 1 || aes[0].Attribute != tc.attr || !strings.Contains(aes[0].Error(), tc.want) {
			t.Errorf("%s: %v, want an error on %s with %q", tc.conf, err, tc.attr, tc.want)
		}
	}
	// the position is the expression's own.
	err := expr.New().Configure(context.Background(), cfg(`{"keep_if":"op == 'x' && tabel == 'y'"}`))
	if !strings.Contains(err.Error(), "column 14") || !strings.Contains(err.Error(), "tabel") {
		t.Errorf("error %v: want the column of tabel (14)", err)
	}
}

func TestRuntimeError(t *testing.T) {
	f := expr.New()
	if err := f.Configure(context.Background(), cfg(`{"keep_if":"row.amount > 0"}`)); err != nil {
		t.Fatal(err)
	}
	_, err := f.Filter(context.Background(), changes())
	if err == nil || !strings.Contains(err.Error(), "keep_if on change 5") {
		t.Fatalf("err %v: want the DDL's nil row.amount to fail the comparison", err)
	}
}

func TestValue(t *testing.T) {
	tb := sdktest.SampleTable()
	r := sdktest.SampleRow(1)
	var got []string
	for i, v := range r {
		got = append(got, fmt.Sprintf("%s=%T(%v)", tb.Columns[i].Name, expr.Value(&tb.Columns[i], v), expr.Value(&tb.Columns[i], v)))
	}
	want := []string{"id=int64(1)", "u64=uint64(18446744073709551615)", "f32=float64(-1.500000053056283e-07)", "f64=float64(0.1)",
		"amount=float64(-12.34)", "day=string(0000-00-00)", "dt=string(2024-02-29 23:59:59.123456)", "ts=string(2038-01-19 03:14:07.999)",
		"dur=string(-838:59:59.999999)", "yr=int64(0)", "flags=uint64(641)", "status=string(paid)", "tags=string(a,c)", "note=<nil>(<nil>)"}
	all := strings.Join(got, " ")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %s in %s", w, all)
		}
	}
}

func newExpr(t testing.TB) (sdk.Filter, sdk.Config) {
	return expr.New(), cfg(`{"drop_if":"op == 'heartbeat' || row?.id == 3","route":"op == 'insert' ? db + '.' + table : nil"}`)
}

func TestConformance(t *testing.T) { sdktest.Filter(t, newExpr) }

func BenchmarkFilter(b *testing.B) {
	for _, bc := range []struct{ name, conf string }{
		{"op-table", `{"drop_if":"op == 'delete' && table == 'audit_log'"}`},
		{"row", `{"keep_if":"row?.status != 'draft' && (row?.amount ?? 0) > 0"}`},
		{"row+route", `{"keep_if":"row?.status != 'draft'","route":"db + '_' + table"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := expr.New()
			if err := f.Configure(context.Background(), cfg(bc.conf)); err != nil {
				b.Fatal(err)
			}
			cs := changes()
			batch := make([]*change.Change, len(cs))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(batch, cs)
				if _, err := f.Filter(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/change")
		})
	}
}
