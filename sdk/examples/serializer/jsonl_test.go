package serializer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/serializer"
	"github.com/ferry-cdc/ferry/sdk/examples/source"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfg(s string) sdk.Config { return sdk.NewConfig([]byte(s)) }

func Example() {
	t := source.OrdersTable()
	dt, _ := change.NewDateTime(change.Temporal{Year: 2024, Month: 1, Day: 1, Hour: 8, Microsecond: 500}, false)
	before := []change.Value{change.NewInt(7), change.NewInt(42), change.NewEnum("new", 1), change.MustDecimal("10.50"), change.Null, dt}
	after := append([]change.Value(nil), before...)
	after[2], after[4] = change.NewEnum("paid", 2), change.NewString(`gift "wrap"`)
	c := &change.Change{ID: "gen-7", Op: change.OpUpdate, Table: t, Database: "demo", TableName: "orders",
		Before: before, After: after, CommitTime: time.UnixMilli(1718000000123)}

	s := serializer.New()
	recs, _ := s.Serialize(context.Background(), []*change.Change{c}, nil)
	fmt.Printf("key %q\n%s\n", recs[0].Key, recs[0].Value)
	// Output:
	// key "7"
	// {"id":"gen-7","op":"update","db":"demo","table":"orders","before":{"id":"7","customer_id":"42","status":"new","amount":"10.50","note":null,"created_at":"2024-01-01 08:00:00.000500"},"after":{"id":"7","customer_id":"42","status":"paid","amount":"10.50","note":"gift \"wrap\"","created_at":"2024-01-01 08:00:00.000500"},"commit_ms":1718000000123}
}

func TestEveryChangeIsValidJSON(t *testing.T) {
	for _, c := range []string{`{}`, `{"bytes":"hex","include_before":false,"topic":"t"}`} {
		s := serializer.New()
		if err := s.Configure(context.Background(), cfg(c)); err != nil {
			t.Fatal(err)
		}
		in := sdktest.SampleChanges()
		recs, err := s.Serialize(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(in)-1 { // no record for the heartbeat
			t.Fatalf("%d records for %d changes", len(recs), len(in))
		}
		for _, r := range recs {
			var v map[string]any
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			ch := in[r.Change]
			if v["id"] != ch.ID || v["op"] != ch.Op.String() {
				t.Errorf("record for %s: %s", ch.ID, r.Value)
			}
			if ch.Op == change.OpDDL && v["ddl"] == nil {
				t.Errorf("no ddl in %s", r.Value)
			}
		}
		first := string(recs[0].Value)
		switch c {
		case `{}`:
			if !strings.Contains(first, `"bin":"AP/+YQA="`) || !strings.Contains(first, `"u64":"18446744073709551615"`) ||
				!strings.Contains(first, `"amount":"-12.3400"`) || !strings.Contains(first, `"dur":"-838:59:59.999999"`) ||
				!strings.Contains(first, `"day":"0000-00-00"`) || !strings.Contains(first, `"note":null`) {
				t.Errorf("values: %s", first)
			}
			if recs[0].Key != "1" || recs[0].Topic != "" {
				t.Errorf("key %q topic %q", recs[0].Key, recs[0].Topic)
			}
		default:
			if !strings.Contains(first, `"bin":"00fffe6100"`) || recs[0].Topic != "t" || recs[5].Topic != "orders-\x01topic" {
				t.Errorf("hex/topic: %s %q %q", first, recs[0].Topic, recs[5].Topic)
			}
			if !strings.Contains(string(recs[2].Value), `"before":null`) {
				t.Errorf("include_before=false: %s", recs[2].Value)
			}
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	err := serializer.New().Configure(context.Background(), cfg(`{"bytes":"base32"}`))
	if aes := sdk.AttributeErrors(err); len(aes) != 1 || aes[0].Attribute != "bytes" {
		t.Fatalf("err = %v", err)
	}
	err = serializer.New().Configure(context.Background(), cfg(`{"include_before":"yes"}`))
	if aes := sdk.AttributeErrors(err); len(aes) != 1 || aes[0].Attribute != "include_before" {
		t.Fatalf("err = %v", err)
	}
}

func TestConformance(t *testing.T) {
	sdktest.Serializer(t, func(t testing.TB) (sdk.Serializer, sdk.Config) { return serializer.New(), cfg(`{}`) })
}

func TestThroughGRPC(t *testing.T) {
	sdktest.CheckGoroutines(t)
	want, _ := serializer.New().Serialize(context.Background(), sdktest.SampleChanges(), nil)
	s := sdktest.GRPCPair[sdk.Serializer](t, serializer.New())
	got, err := s.Serialize(context.Background(), sdktest.SampleChanges(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := sdktest.DiffRecords(want, got); d != "" {
		t.Fatal(d)
	}
}
