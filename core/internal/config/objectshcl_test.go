package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/objects"
)

func TestObjectsCSVRoundTripAndWrite(t *testing.T) {
	sel := &objects.Selection{
		Tables: []objects.Object{{Database: "shop", Table: "orders", Topic: "orders", Where: "`status` <> 'draft' AND note LIKE \"%x\"",
			Columns: []string{"id", "status"}, ShardingColumns: []string{"customer_id"}}},
		Rules: []objects.Object{{Database: "shop", Table: "order_item_*", Topic: "${db}_${table}"}},
	}
	var b strings.Builder
	if err := objects.WriteCSV(&b, append(append([]objects.Object{}, sel.Tables...), sel.Rules...)); err != nil {
		t.Fatal(err)
	}
	got, errs := objects.ReadCSV(strings.NewReader(b.String()))
	if len(errs) > 0 || !reflect.DeepEqual(got, sel) {
		t.Fatalf("%+v %+v", got, errs)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "p.hcl")
	src := "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"x\" {}\n  sink \"k\" {}\n  objects {\n    table \"a.b\" {}\n    exclude = [\"shop.*_bak\"]\n  }\n  runtime {}\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ReplaceObjectsBlock([]byte(src), p, sel)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := Parse(p, out, Options{})
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, out)
	}
	want := *sel
	want.Exclude = []string{"shop.*_bak"}
	if !reflect.DeepEqual(f.Pipeline.Objects.Selection, want) {
		t.Fatalf("%+v\n%s", f.Pipeline.Objects.Selection, out)
	}
	if !strings.Contains(string(out), "  runtime {}") {
		t.Fatalf("rest of the file changed:\n%s", out)
	}
}
