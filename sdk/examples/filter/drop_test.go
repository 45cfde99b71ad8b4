package filter_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/filter"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfg(s string) sdk.Config { return sdk.NewConfig([]byte(s)) }

func changes() []*change.Change {
	mk := func(id string, op change.Op, db, table string) *change.Change {
		return &change.Change{ID: id, Op: op, Database: db, TableName: table}
	}
	return []*change.Change{
		mk("1", change.OpInsert, "demo", "orders"),
		mk("2", change.OpDelete, "demo", "orders"),
		mk("3", change.OpDelete, "demo", "audit"),
		mk("4", change.OpUpdate, "shop", "orders"),
		mk("5", change.OpHeartbeat, "demo", ""),
		mk("6", change.OpDelete, "shop", "orders"),
	}
}

func TestDrop(t *testing.T) {
	for _, tc := range []struct{ cfg, kept string }{
		{`{}`, "[1 2 3 4 5 6]"},
		{`{"ops":["delete"]}`, "[1 4 5]"},
		{`{"ops":["delete","heartbeat"]}`, "[1 4]"},
		{`{"tables":["demo.*"]}`, "[4 6]"},
		{`{"tables":["*.orders"]}`, "[3 5]"},
		{`{"ops":["delete"],"tables":["demo.*"]}`, "[1 4 5 6]"},
		{`{"ops":["delete"],"tables":["demo.audit","shop.orders"]}`, "[1 2 4 5]"},
	} {
		f := filter.New()
		if err := f.Configure(context.Background(), cfg(tc.cfg)); err != nil {
			t.Fatal(err)
		}
		out, err := f.Filter(context.Background(), changes())
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range out {
			ids = append(ids, c.ID)
		}
		if fmt.Sprint(ids) != tc.kept {
			t.Errorf("%s: kept %v, want %s", tc.cfg, ids, tc.kept)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	err := filter.New().Configure(context.Background(), cfg(`{"ops":["insert","upsert","Delete"],"tables":["demo.[x"]}`))
	aes := sdk.AttributeErrors(err)
	if len(aes) != 3 || aes[0].Attribute != "ops" || aes[0].Summary != `unknown operation "upsert"` ||
		aes[0].Detail == "" || aes[1].Attribute != "ops" || aes[2].Attribute != "tables" {
		t.Fatalf("errors %v", err)
	}
}

func newDrop(t testing.TB) (sdk.Filter, sdk.Config) {
	return filter.New(), cfg(`{"ops":["delete","heartbeat"]}`)
}

func TestConformance(t *testing.T) { sdktest.Filter(t, newDrop) }

func TestThroughGRPC(t *testing.T) {
	sdktest.CheckGoroutines(t)
	f := sdktest.GRPCPair[sdk.Filter](t, filter.New())
	if err := f.Configure(context.Background(), cfg(`{"ops":["bogus"]}`)); len(sdk.AttributeErrors(err)) != 1 {
		t.Fatalf("err = %v, want an attribute error through gRPC", err)
	}
	if err := f.Configure(context.Background(), cfg(`{"tables":["fixture.*"],"ops":["update"]}`)); err != nil {
		t.Fatal(err)
	}
	in := sdktest.SampleChanges()
	out, err := f.Filter(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in)-1 || out[2] != in[3] {
		t.Fatalf("kept %d of %d", len(out), len(in))
	}
}
