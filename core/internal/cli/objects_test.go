package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/objects"
)

func TestObjectsCSVErrors(t *testing.T) {
	in := "database,table,topic,row_filter,columns,sharding_columns\n" +
		"shop,orders,orders,`status` <> 'draft',\"id,status\",customer_id\n" + // 2 ok
		"shop,bad.name,t,,,\n" + // 3 bad name
		"shop,x,${schema},,,\n" + // 4 bad topic
		"shop,y,t,a = = 1,,\n" + // 5 bad filter
		"shop,z,t,,\"a,a\",\n" + // 6 duplicate column
		"shop,orders,t,,,\n" + // 7 duplicate object
		"shop,w,t\n" + // 8 field count
		"shop,order_item_*,${db}_${table},,,\n" // 9 ok (rule)
	_, errs := readCSV(strings.NewReader(in))
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{3, 4, 5, 6, 7, 8}) {
		t.Fatalf("bad lines %v: %+v", lines, errs)
	}
}

func TestObjectsCSVRoundTripAndWrite(t *testing.T) {
	sel := &objects.Selection{
		Tables: []objects.Object{{Database: "shop", Table: "orders", Topic: "orders", Where: "`status` <> 'draft' AND note LIKE \"%x\"",
			Columns: []string{"id", "status"}, ShardingColumns: []string{"customer_id"}}},
		Rules: []objects.Object{{Database: "shop", Table: "order_item_*", Topic: "${db}_${table}"}},
	}
	var b strings.Builder
	if err := writeCSV(&b, append(append([]objects.Object{}, sel.Tables...), sel.Rules...)); err != nil {
		t.Fatal(err)
	}
	got, errs := readCSV(strings.NewReader(b.String()))
	if len(errs) > 0 || !reflect.DeepEqual(got, sel) {
		t.Fatalf("%+v %+v", got, errs)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "p.hcl")
	src := "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"x\" {}\n  sink \"k\" {}\n  objects {\n    table \"a.b\" {}\n    exclude = [\"shop.*_bak\"]\n  }\n  runtime {}\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := replaceObjectsBlock([]byte(src), p, sel)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := config.Parse(p, out, config.Options{})
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

// B1: a CSV quoting error is reported by line, not a panic in FieldPos.
func TestObjectsCSVQuotingError(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "p.hcl", "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"x\" {}\n  sink \"k\" {}\n}\n")
	q := writeFile(t, dir, "q.csv", "database,table,topic,row_filter,columns,sharding_columns\nfe\"rry,a,,,,\n")
	code, _, errOut := runCLI(t, "objects", p, "--import", q)
	if code != ExitConfig || !strings.Contains(errOut, q+":2: ") {
		t.Fatalf("exit %d, stderr %q; want exit %d and %s:2: ...", code, errOut, ExitConfig, q)
	}
}
