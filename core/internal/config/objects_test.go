package config

import (
	"reflect"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/objects"
)

func TestObjectsBlock(t *testing.T) {
	src := `
variable "suffix" { default = "v1" }
pipeline "p" {
  source "s" {}
  serializer "x" {}
  sink "k" {}
  objects {
    table "shop.orders" {
      topic            = "orders_${var.suffix}"
      where            = "` + "`status` <> 'draft' AND `amount` > 0" + `"
      columns          = ["id", "customer_id", "status", "amount", "updated_at"]
      sharding_columns = ["customer_id"]
    }
    rule "shop.order_item_*" { topic = "${db}_${table}" }
    rule "shop.*" {}
    exclude = ["shop.*_bak"]
  }
}`
	f, diags := Parse("p.hcl", []byte(src), Options{Env: lookupTestEnv(nil)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	o := f.Pipeline.Objects
	if !o.Present {
		t.Fatal("objects block not present")
	}
	want := objects.Selection{
		Tables: []objects.Object{{Database: "shop", Table: "orders", Topic: "orders_v1",
			Where:   "`status` <> 'draft' AND `amount` > 0",
			Columns: []string{"id", "customer_id", "status", "amount", "updated_at"}, ShardingColumns: []string{"customer_id"}}},
		Rules: []objects.Object{{Database: "shop", Table: "order_item_*", Topic: "${db}_${table}"},
			{Database: "shop", Table: "*"}},
		Exclude: []string{"shop.*_bak"},
	}
	if !reflect.DeepEqual(o.Selection, want) {
		t.Fatalf("got %+v\nwant %+v", o.Selection, want)
	}
	obj, how, _ := o.Resolve("shop", "order_item_2024")
	if how != objects.ByRule || obj.Topic != "shop_order_item_2024" {
		t.Fatalf("resolve: %v %+v", how, obj)
	}
	if _, how, _ := o.Resolve("shop", "orders_bak"); how != objects.Excluded {
		t.Fatalf("orders_bak: %v", how)
	}
	if obj, how, _ := o.Resolve("SHOP", "Orders"); how != objects.ByTable || obj.Topic != "orders_v1" {
		t.Fatalf("orders: %v %+v", how, obj)
	}
	if _, how, _ := o.Resolve("other", "t"); how != objects.NotSelected {
		t.Fatalf("other.t: %v", how)
	}
}

func TestNoObjectsBlock(t *testing.T) {
	f, diags := Parse("p.hcl", []byte(`pipeline "p" {
  source "s" {}
  serializer "x" {}
  sink "k" {}
}`), Options{})
	if diags.HasErrors() || f.Pipeline.Objects.Present || !f.Pipeline.Objects.Empty() {
		t.Fatal(diags, f.Pipeline.Objects)
	}
}
