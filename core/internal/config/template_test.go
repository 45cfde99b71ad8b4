package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/ferry-cdc/ferry/sdk"
)

func TestTemplatesHappy(t *testing.T) {
	f, diags := LoadFile("testdata/happy/templated.hcl", Options{Env: lookupTestEnv(nil)})
	noErrors(t, f, diags)
	p := f.Pipeline
	shared := mustAbs(t, "testdata/happy/shared")

	var tmpls []string
	for _, tm := range f.Templates {
		tmpls = append(tmpls, tm.Filename)
		if tm.Path != filepath.Join(shared, filepath.Base(tm.Filename)) {
			t.Errorf("template path %q", tm.Path)
		}
	}
	if want := []string{"testdata/happy/shared/base.hcl", "testdata/happy/shared/team.hcl"}; !reflect.DeepEqual(tmpls, want) {
		t.Fatalf("templates = %q, want %q", tmpls, want)
	}
	if r := f.Templates[1].Range; r.Filename != "testdata/happy/templated.hcl" || r.Start.Line != 2 || r.Start.Column != 32 {
		t.Errorf("template range %v", r)
	}
	var vars []string
	for _, v := range f.Variables {
		vars = append(vars, v.Name+"@"+filepath.Base(v.DefRange.Filename))
	}
	if want := []string{"rmq@base.hcl", "mq_password@base.hcl", "team@team.hcl"}; !reflect.DeepEqual(vars, want) {
		t.Errorf("variables = %q, want %q", vars, want)
	}
	// A template's variable is usable in the pipeline file.
	if !reflect.DeepEqual(p.Tags, []string{"team-a"}) {
		t.Errorf("tags = %q", p.Tags)
	}

	// runtime: only in the templates, attribute by attribute, the later template first.
	rt := p.Runtime
	if rt.BatchSize != 2048 || rt.DrainTimeout != 10*time.Second || rt.Writers != DefaultWriters || rt.BatchTimeout != DefaultBatchTimeout {
		t.Errorf("runtime = %+v", rt)
	}
	if r := rt.Ranges["batch_size"]; r.Filename != "testdata/happy/shared/team.hcl" || r.Start.Line != 9 {
		t.Errorf("batch_size range %v", r)
	}
	if r := rt.Ranges["drain_timeout"]; r.Filename != "testdata/happy/shared/base.hcl" {
		t.Errorf("drain_timeout range %v", r)
	}
	if rt.DefRange.Filename != "testdata/happy/shared/team.hcl" {
		t.Errorf("runtime DefRange %v", rt.DefRange)
	}
	// A relative path resolves against the directory of the file it is written in.
	if want := filepath.Join(shared, "state"); p.Checkpoint.Dir != want {
		t.Errorf("checkpoint dir %q, want %q", p.Checkpoint.Dir, want)
	}
	if want := filepath.Join(shared, "bin", "ferry-source-test"); p.Source.Path != want {
		t.Errorf("source path %q, want %q", p.Source.Path, want)
	}
	// limits: a nested block type is taken as a whole.
	l := p.Limits
	if l.Full.RowsPerSecond != 0 || l.Full.BytesPerSecond != 1<<20 || l.Incremental.RowsPerSecond != 5000 {
		t.Errorf("limits = %+v", l)
	}
	if l.DefRange.Filename != "testdata/happy/templated.hcl" {
		t.Errorf("limits DefRange %v", l.DefRange)
	}
	// resources: base.hcl's preset, team.hcl's full_memory over it, the pipeline's own value.
	res := p.Resources
	res.Ranges, res.DefRange, res.presetRanges = nil, hcl.Range{}, nil
	want := Resources{Present: true, Preset: "small", FullReadConcurrency: 2, FullWriteConcurrency: 2, FullMemory: 768 << 20,
		LogReaderMemory: 128 << 20, IncrementalWriteConcurrency: 6, IncrementalMemory: 128 << 20}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("resources = %+v\nwant %+v", res, want)
	}
	if r, _ := p.Resources.ValueRange(ResFullReadConcurrency); r.Filename != "testdata/happy/shared/base.hcl" || r.Start.Line != 33 {
		t.Errorf("full_read_concurrency comes from %v", r)
	}
	if r, _ := p.Resources.ValueRange(ResFullMemory); r.Filename != "testdata/happy/shared/team.hcl" {
		t.Errorf("full_memory comes from %v", r)
	}

	// Phase 2 on the merged plugin bodies; file() reads relative to the template.
	cases := []struct {
		block *PluginBlock
		want  string
	}{
		{&p.Source, `{"buffer":1048576,"enabled":true,"labels":{"note":"from the shared directory"},"mode":"safe","name":"orders","port":3306,"timeout":"5s"}`},
		{&p.Sink, `{"buffer":1048576,"enabled":true,"hosts":["127.0.0.1:9876"],"mode":"fast","name":"base-sink","password":"base-secret","port":9876,"timeout":"4s"}`},
	}
	for _, c := range cases {
		cfg, diags := c.block.Decode(testSpec, f)
		noErrors(t, f, diags)
		if string(cfg) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.block.Kind, cfg, c.want)
		}
	}
	// AttributeDiagnostics point into the template for values from it.
	d := p.Sink.AttributeDiagnostics([]*sdk.AttributeError{{Attribute: "hosts[0]", Summary: "unreachable"}})
	if len(d) != 1 || d[0].Subject.Filename != "testdata/happy/shared/base.hcl" || d[0].Subject.Start.Line != 45 {
		t.Errorf("diags = %s %v", diagText(d), d[0].Subject)
	}
	if got := string(f.Source("testdata/happy/shared/team.hcl")); !strings.HasPrefix(got, "# Listed after base.hcl") {
		t.Errorf("Source(team.hcl) = %.40q", got)
	}
	if f.Source("nope.hcl") != nil {
		t.Error("Source of an unknown file")
	}
}

// memFS serves files by absolute path for Options.ReadFile.
type memFS map[string]string

func (m memFS) read(p string) ([]byte, error) {
	if s, ok := m[p]; ok {
		return []byte(s), nil
	}
	return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
}

// parseWith parses conf/p.hcl with the given templates (paths relative to conf/).
func parseWith(t *testing.T, src string, files map[string]string, opts Options) (*File, hcl.Diagnostics) {
	t.Helper()
	return parseNamed(t, "conf/p.hcl", src, files, opts)
}

func parseNamed(t *testing.T, name, src string, files map[string]string, opts Options) (*File, hcl.Diagnostics) {
	t.Helper()
	fs := memFS{}
	conf := mustAbs(t, "conf")
	for name, s := range files {
		fs[filepath.Join(conf, name)] = s
	}
	opts.ReadFile = fs.read
	if opts.Env == nil {
		opts.Env = lookupTestEnv(nil)
	}
	return Parse(name, []byte(src), opts)
}

func TestTemplateOrder(t *testing.T) {
	files := map[string]string{
		"a.hcl": `defaults {
  runtime {
    batch_size    = 1
    writers       = 1
    drain_timeout = "1s"
  }
  checkpoint { interval = "1m" }
  sink "test" {
    name = "from-a"
    port = 1
    mode = "paranoid"
  }
  sink "other" { ratio = 0.5 }
  limits {
    incremental { rows_per_second = 10 }
  }
}`,
		"b.hcl": `defaults {
  runtime {
    batch_size = 2
    writers    = 2
  }
  sink "test" {
    name = "from-b"
    port = 2
  }
}`,
	}
	src := `template = ["a.hcl", "b.hcl"]
pipeline "p" {
  source "s" {}
  serializer "z" {}
  sink "test" { name = "own" }
  runtime { batch_size = 3 }
}`
	f, diags := parseWith(t, src, files, Options{})
	noErrors(t, f, diags)
	rt := f.Pipeline.Runtime
	if rt.BatchSize != 3 || rt.Writers != 2 || rt.DrainTimeout != time.Second || f.Pipeline.Checkpoint.Interval != time.Minute {
		t.Errorf("runtime = %+v, checkpoint = %+v", rt, f.Pipeline.Checkpoint)
	}
	if f.Pipeline.Limits.Incremental.RowsPerSecond != 10 || f.Pipeline.Limits.DefRange.Filename != "conf/a.hcl" {
		t.Errorf("limits = %+v", f.Pipeline.Limits)
	}
	cfg, diags := f.Pipeline.Sink.Decode(testSpec, f)
	noErrors(t, f, diags)
	// sink "other" is ignored: its ratio does not reach sink "test".
	if want := `{"buffer":1048576,"enabled":true,"mode":"paranoid","name":"own","port":2,"timeout":"5s"}`; string(cfg) != want {
		t.Errorf("config = %s, want %s", cfg, want)
	}
	// Plugin blocks are never added from a template: the pipeline names its plugins.
	_, diags = parseWith(t, `template = "a.hcl"
pipeline "p" {
  source "s" {}
  serializer "z" {}
}`, files, Options{})
	if len(diags) != 1 || diags[0].Summary != "Missing sink block" {
		t.Errorf("diags = %s", diagText(diags))
	}
	// The host reads the body as merged too (cli's blockSets).
	content, _, _ := f.Pipeline.Sink.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "port"}, {Name: "mode"}}})
	if a := content.Attributes["port"]; a == nil || a.Range.Filename != "conf/b.hcl" {
		t.Errorf("port from %v", a)
	}
	if a := content.Attributes["mode"]; a == nil || a.Range.Filename != "conf/a.hcl" {
		t.Errorf("mode from %v", a)
	}
}

func TestTemplateVariables(t *testing.T) {
	files := map[string]string{"t.hcl": `variable "region" { default = "eu" }
variable "team" {}
defaults {
  source "s" { region = var.region }
}`}
	src := `template = "t.hcl"
variable "own" { default = "x" }
pipeline "p" {
  description = "${var.region}/${var.team}/${var.own}"
  source "s" {}
  serializer "z" {}
  sink "k" {}
}`
	f, diags := parseWith(t, src, files, Options{Vars: map[string]string{"team": "ops"}, Env: lookupTestEnv(map[string]string{"FERRY_VAR_region": "us"})})
	noErrors(t, f, diags)
	if f.Pipeline.Description != "us/ops/x" {
		t.Errorf("description = %q", f.Pipeline.Description)
	}
	cfg, diags := f.Pipeline.Source.Decode(sdk.Spec{Attributes: []sdk.Attribute{{Name: "region", Type: sdk.TypeString}}}, f)
	noErrors(t, f, diags)
	if string(cfg) != `{"region":"us"}` {
		t.Errorf("config = %s", cfg)
	}
	_, diags = parseWith(t, src, files, Options{Vars: map[string]string{"team": "ops", "tem": "x"}})
	if len(diags) != 1 || diags[0].Detail != `--var sets "tem", but neither conf/p.hcl nor its templates declare such a variable. Did you mean "team"?` {
		t.Errorf("diags = %s", diagText(diags))
	}
}

func TestTemplateJSON(t *testing.T) {
	files := map[string]string{"t.json": `{"variable": {"n": {"default": 7}}, "defaults": {"runtime": {"batch_size": "${var.n}"}, "sink": {"k": {"x": 1}}}}`}
	f, diags := parseNamed(t, "conf/p.json", `{"template": "t.json", "pipeline": {"p": {"source": {"s": {}}, "serializer": {"z": {}}, "sink": {"k": {}}}}}`, files, Options{})
	noErrors(t, f, diags)
	if f.Pipeline.Runtime.BatchSize != 7 {
		t.Errorf("batch_size = %d", f.Pipeline.Runtime.BatchSize)
	}
	_, diags = f.Pipeline.Sink.Decode(sdk.Spec{}, f)
	if len(diags) != 1 || diags[0].Subject.Filename != "conf/t.json" || diags[0].Subject.Start.Line != 1 {
		t.Fatalf("diags = %s", diagText(diags))
	}
	var buf bytes.Buffer
	_ = WriteDiagnostics(&buf, diags, f, false)
	if !strings.Contains(buf.String(), `   1: {"variable"`) {
		t.Errorf("no snippet from the JSON template:\n%s", buf.String())
	}
}

func TestMergedBody(t *testing.T) {
	parse := func(name, src string) hcl.Body {
		f, diags := hclsyntax.ParseConfig([]byte(src), name, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return f.Body
	}
	top := parse("top.hcl", "a = 1\nn { x = 1 }\n")
	base := parse("base.hcl", "a = 2\nb = 2\nn { x = 2 }\nn { x = 3 }\nm { y = 1 }\nbogus = 1\n")
	body := mergeBodies(top, nil, base)
	schema := &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "a"}, {Name: "b"}, {Name: "c", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "n"}, {Type: "m"}},
	}
	content, diags := body.Content(schema)
	// bogus (in base.hcl) and the required c (at top's missing-item range).
	if len(diags) != 2 || diags[0].Subject.Filename != "base.hcl" || diags[1].Summary != "Missing required argument" || diags[1].Subject.Filename != "top.hcl" {
		t.Errorf("diags = %s", diagText(diags))
	}
	if content.Attributes["a"].Range.Filename != "top.hcl" || content.Attributes["b"].Range.Filename != "base.hcl" {
		t.Errorf("attributes = %v", content.Attributes)
	}
	var blocks []string
	for _, b := range content.Blocks {
		blocks = append(blocks, b.Type+"@"+b.DefRange.Filename)
	}
	if want := []string{"n@top.hcl", "m@base.hcl"}; !reflect.DeepEqual(blocks, want) {
		t.Errorf("blocks = %q, want %q", blocks, want)
	}
	pc, remain, diags := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "b"}}})
	if len(diags) != 0 || pc.Attributes["b"] == nil {
		t.Errorf("partial: %v %s", pc.Attributes, diagText(diags))
	}
	attrs, _ := remain.JustAttributes()
	var names []string
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"a", "bogus"}) || attrs["a"].Range.Filename != "top.hcl" {
		t.Errorf("remaining attributes = %q", names)
	}
	if body.MissingItemRange().Filename != "top.hcl" {
		t.Errorf("missing item range %v", body.MissingItemRange())
	}
	if mergeBodies(top) != top {
		t.Error("a single body is not wrapped")
	}
}
