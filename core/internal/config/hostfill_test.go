package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// hostSpec declares every host setting under names of its own: the host must fill by the
// declaration, not by the attribute's name.
var hostSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "address", Type: sdk.TypeString},
	{Name: "include", Type: sdk.TypeStringList, Host: sdk.HostTables},
	{Name: "skip", Type: sdk.TypeStringList, Host: sdk.HostExcludeTables},
	{Name: "readers", Type: sdk.TypeInt, Host: sdk.HostSnapshotConcurrency},
	{Name: "buffer", Type: sdk.TypeSize, Host: sdk.HostReaderMemory},
	// Named like a host setting but not declared as one: never filled.
	{Name: "tables", Type: sdk.TypeStringList},
}}

func parsePipeline(t *testing.T, source, blocks string) *Pipeline {
	t.Helper()
	src := "pipeline \"p\" {\n  source \"s\" {\n" + source + "  }\n  serializer \"z\" {}\n  sink \"k\" {}\n" + blocks + "}\n"
	f, diags := Parse("p.hcl", []byte(src), Options{})
	noErrors(t, f, diags)
	return f.Pipeline
}

func jsonObject(t *testing.T, cfg []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cfg, &m); err != nil {
		t.Fatalf("%s: %v", cfg, err)
	}
	return m
}

const objectsAndResources = `  objects {
    table "shop.orders" {}
    rule "shop.item_*" {}
    exclude = ["shop.item_bak"]
  }
  resources {
    full_read_concurrency = 6
    log_reader_memory     = "32MiB"
  }
`

func TestFillSourceByDeclaration(t *testing.T) {
	p := parsePipeline(t, `    address = "db:2881"`+"\n", objectsAndResources)
	out, diags := p.FillSource(hostSpec, []byte(`{"address":"db:2881"}`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]any{
		"address": "db:2881",
		"include": []any{"shop.orders", "shop.item_*"},
		"skip":    []any{"shop.item_bak"},
		"readers": float64(6),
		"buffer":  float64(32 << 20),
	}
	if got := jsonObject(t, out); !reflect.DeepEqual(got, want) {
		t.Errorf("filled %v\nwant %v", got, want)
	}
	if name, ok := p.HostTablesFilled(hostSpec); !ok || name != "include" {
		t.Errorf("HostTablesFilled = %q %v", name, ok)
	}
	if p.HostFilledQuiet(hostSpec) != nil {
		t.Error("tables were selected: no error is quiet")
	}
}

func TestFillSourceNothingDeclared(t *testing.T) {
	p := parsePipeline(t, "", objectsAndResources)
	spec := sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "tables", Type: sdk.TypeStringList},
		{Name: "snapshot_concurrency", Type: sdk.TypeInt},
	}}
	in := []byte(`{"tables":null}`)
	out, diags := p.FillSource(spec, in)
	if diags.HasErrors() || string(out) != string(in) {
		t.Errorf("a source declaring no host setting got %s %v", out, diags)
	}
	if _, ok := p.HostTablesFilled(spec); ok {
		t.Error("tables filled without a declaration")
	}
}

func TestFillSourceBlockWins(t *testing.T) {
	// The source block sets the tables itself: neither they nor the exclude list are filled.
	p := parsePipeline(t, `    include = ["a.b"]`+"\n", "  objects {\n    table \"shop.orders\" {}\n  }\n")
	out, diags := p.FillSource(hostSpec, []byte(`{"include":["a.b"]}`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := jsonObject(t, out); !reflect.DeepEqual(got, map[string]any{"include": []any{"a.b"}}) {
		t.Errorf("filled %v", got)
	}
	// The block sets only the exclude list: the tables are filled, the exclude list is the block's.
	p = parsePipeline(t, `    skip = ["x.y"]`+"\n", "  objects {\n    table \"shop.orders\" {}\n    exclude = [\"shop.z\"]\n  }\n")
	out, _ = p.FillSource(hostSpec, []byte(`{"skip":["x.y"]}`))
	if got := jsonObject(t, out); !reflect.DeepEqual(got, map[string]any{"include": []any{"shop.orders"}, "skip": []any{"x.y"}}) {
		t.Errorf("filled %v", got)
	}
}

func TestFillSourceConflictWithResources(t *testing.T) {
	p := parsePipeline(t, "    readers = 3\n    buffer = \"1MiB\"\n", "  resources {\n    full_read_concurrency = 6\n    log_reader_memory = \"32MiB\"\n  }\n")
	_, diags := p.FillSource(hostSpec, []byte(`{"readers":3,"buffer":1048576}`))
	if len(diags) != 2 {
		t.Fatalf("diags = %v", diags)
	}
	for i, want := range []struct {
		attr string
		line int
	}{{"readers", 3}, {"buffer", 4}} {
		d := diags[i]
		if !strings.Contains(d.Summary, "Conflicting "+want.attr+" and resources") || d.Subject == nil || d.Subject.Start.Line != want.line ||
			!strings.Contains(d.Detail, "line ") {
			t.Errorf("diag %d: %s: %s at %v", i, d.Summary, d.Detail, d.Subject)
		}
	}
}

func TestFillSourceEmptySelectionIsQuiet(t *testing.T) {
	// Every entry of the objects block is refused (reported at the entry): the source gets no
	// tables, and its own "needs a table" would only repeat that.
	src := "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"z\" {}\n  sink \"k\" {}\n  objects {\n    table \"no_database\" {}\n  }\n}\n"
	f, diags := Parse("p.hcl", []byte(src), Options{})
	if !diags.HasErrors() || f == nil || f.Pipeline == nil || !f.Pipeline.Objects.Present {
		t.Fatalf("want the entry refused: %v", diags)
	}
	p := f.Pipeline
	out, fd := p.FillSource(hostSpec, []byte(`{}`))
	if fd.HasErrors() {
		t.Fatal(fd)
	}
	if got := jsonObject(t, out); !reflect.DeepEqual(got["include"], []any{}) {
		t.Errorf("include = %#v, want an empty list", got["include"])
	}
	q := p.HostFilledQuiet(hostSpec)
	if q == nil || !q("include") || !q("include[0]") || q("tables") || q("address") {
		t.Error("only errors about the filled attribute are quiet")
	}
}

func TestFillSourceBadSettingsIsAnError(t *testing.T) {
	p := parsePipeline(t, "", objectsAndResources)
	_, diags := p.FillSource(hostSpec, []byte(`[1]`))
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "not a JSON object") {
		t.Errorf("diags = %v", diags)
	}
}

func TestSourceTableSettings(t *testing.T) {
	inc, exc, ok, err := SourceTableSettings(hostSpec, []byte(`{"include":["a.*"],"skip":["a.b"],"tables":["no"]}`))
	if err != nil || !ok || !reflect.DeepEqual(inc, []string{"a.*"}) || !reflect.DeepEqual(exc, []string{"a.b"}) {
		t.Errorf("= %v %v %v %v", inc, exc, ok, err)
	}
	if _, _, ok, err := SourceTableSettings(hostSpec, []byte(`{}`)); ok || err != nil {
		t.Errorf("unset: %v %v", ok, err)
	}
	if _, _, ok, _ := SourceTableSettings(sdk.Spec{Attributes: []sdk.Attribute{{Name: "tables", Type: sdk.TypeStringList}}}, []byte(`{"tables":["x.y"]}`)); ok {
		t.Error("undeclared tables read")
	}
	if _, _, _, err := SourceTableSettings(hostSpec, []byte(`{"include":"a.b"}`)); err == nil || !strings.Contains(err.Error(), "include") {
		t.Errorf("bad value: %v", err)
	}
	out, err := WithoutHostTables(hostSpec, []byte(`{"include":["a"],"skip":[],"tables":["t"],"address":"x"}`))
	if err != nil || string(out) != `{"address":"x","tables":["t"]}` {
		t.Errorf("WithoutHostTables = %s %v", out, err)
	}
}
