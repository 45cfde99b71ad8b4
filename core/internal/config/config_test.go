package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func noErrors(t *testing.T, f *File, diags hcl.Diagnostics) {
	t.Helper()
	if diags.HasErrors() {
		var b strings.Builder
		_ = WriteDiagnostics(&b, diags, f, false)
		t.Fatalf("unexpected diagnostics:\n%s", b.String())
	}
}

func TestFullFile(t *testing.T) {
	opts := Options{
		Vars: map[string]string{"user": "user-from-flag", "group": "group-from-flag"},
		Env: lookupTestEnv(map[string]string{
			"FERRY_VAR_user":        "user-from-env", // loses to --var
			"FERRY_VAR_RMQ":         "10.0.0.7:9876", // upper-case form, wins over the default
			"FERRY_VAR_db_password": "s3cret-pw",
			"FERRY_TEST_ENV":        "prod",
		}),
	}
	f, diags := LoadFile("testdata/happy/full.hcl", opts)
	noErrors(t, f, diags)
	p := f.Pipeline
	dir := mustAbs(t, "testdata/happy")

	if f.Dir != dir {
		t.Errorf("Dir = %q, want %q", f.Dir, dir)
	}
	if p.Name != "orders_to_mq" || p.Description != "Orders in eu" {
		t.Errorf("name %q, description %q", p.Name, p.Description)
	}
	if !reflect.DeepEqual(p.Tags, []string{"team-a", "prod"}) {
		t.Errorf("tags = %q", p.Tags)
	}
	if p.NameRange.Start.Line != 24 || p.DefRange.Start.Line != 24 {
		t.Errorf("pipeline ranges %v %v", p.DefRange, p.NameRange)
	}

	wantRuntime := Runtime{
		BatchSize:        256,
		BatchTimeout:     20 * time.Millisecond,
		Writers:          DefaultWriters,
		MaxInFlightBytes: 128 << 20,
		DrainTimeout:     30 * time.Second,
		Oversize:         OversizeFail,
		KeyChange:        "split",
	}
	got := p.Runtime
	got.DefRange, got.Ranges = hcl.Range{}, nil
	if !reflect.DeepEqual(got, wantRuntime) {
		t.Errorf("runtime = %+v, want %+v", got, wantRuntime)
	}
	if r := p.Runtime.Ranges["batch_size"]; r.Start.Line != 65 || r.Start.Column != 27 {
		t.Errorf("batch_size range %v", r)
	}
	if p.Checkpoint.Dir != filepath.Join(dir, "state", "cp") || p.Checkpoint.Interval != time.Second {
		t.Errorf("checkpoint = %+v", p.Checkpoint)
	}

	// Plugin blocks: kinds, names, reserved attributes, order.
	var names []string
	for _, b := range p.Plugins() {
		names = append(names, string(b.Kind)+"/"+b.Name)
	}
	if want := []string{"source/test", "filter/expr", "filter/test", "serializer/canal", "sink/test"}; !reflect.DeepEqual(names, want) {
		t.Errorf("plugins = %q, want %q", names, want)
	}
	if want := filepath.Join(dir, "bin", "ferry-source-test"); p.Source.Path != want {
		t.Errorf("source path = %q, want %q", p.Source.Path, want)
	}
	if p.Source.OutOfProcess || !p.Filters[1].OutOfProcess || p.Sink.Path != "" {
		t.Errorf("reserved attributes: %+v %+v %+v", p.Source, p.Filters[1], p.Sink)
	}
	if p.Source.LabelRange.Start.Line != 28 || p.Source.LabelRange.Start.Column != 10 {
		t.Errorf("source label range %v", p.Source.LabelRange)
	}

	// Phase 2.
	cases := []struct {
		block *PluginBlock
		want  string
	}{
		{&p.Source, `{"buffer":65536,"enabled":true,"hosts":["a","b"],"labels":{"env":"prod","note":"line one\n","owner":"team-a"},"mode":"safe","name":"user-from-flag","password":"s3cret-pw","port":80,"ratio":0.25,"timeout":"1m30s"}`},
		{&p.Filters[1], `{"buffer":4096,"enabled":true,"mode":"fast","name":"f","port":80,"timeout":"5s"}`},
		{&p.Sink, `{"buffer":1048576,"enabled":false,"hosts":["10.0.0.7:9876","b:1"],"mode":"safe","name":"10.0.0.7:9876/group-from-flag","password":"file-secret","port":9876,"timeout":"5s"}`},
	}
	for _, c := range cases {
		cfg, diags := c.block.Decode(testSpec, f)
		noErrors(t, f, diags)
		if string(cfg) != c.want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.block.Kind, c.block.Name, cfg, c.want)
		}
	}
	// The JSON is what the SDK decodes.
	cfg, _ := p.Source.Decode(testSpec, f)
	var sc struct {
		Name     string            `json:"name"`
		Port     int               `json:"port"`
		Ratio    float64           `json:"ratio"`
		Enabled  bool              `json:"enabled"`
		Timeout  sdk.Duration      `json:"timeout"`
		Buffer   int64             `json:"buffer"`
		Hosts    []string          `json:"hosts"`
		Labels   map[string]string `json:"labels"`
		Mode     string            `json:"mode"`
		Password sdk.Secret        `json:"password"`
	}
	if err := sdk.NewConfig(cfg).Decode(&sc); err != nil {
		t.Fatal(err)
	}
	if sc.Timeout.D() != 90*time.Second || sc.Password.Reveal() != "s3cret-pw" || sc.Buffer != 64<<10 {
		t.Errorf("sdk decode = %+v", sc)
	}
	expr, diags := p.Filters[0].Decode(sdk.Spec{Attributes: []sdk.Attribute{{Name: "drop_if", Type: sdk.TypeString, Required: true}}}, f)
	noErrors(t, f, diags)
	if string(expr) != `{"drop_if":"op == 'delete'"}` {
		t.Errorf("expr filter config = %s", expr)
	}

	// Variables as declared.
	if len(f.Variables) != 5 || !f.Variables[4].Sensitive || f.Variables[0].Description != "RocketMQ name server" {
		t.Errorf("variables = %+v", f.Variables)
	}
}

func TestDefaults(t *testing.T) {
	f, diags := LoadFile("testdata/happy/minimal.hcl", Options{})
	noErrors(t, f, diags)
	p := f.Pipeline
	r := p.Runtime
	if r.BatchSize != 512 || r.BatchTimeout != 50*time.Millisecond || r.Writers != 4 ||
		r.MaxInFlightBytes != 64<<20 || r.DrainTimeout != 30*time.Second || r.StartupWait != 0 {
		t.Errorf("runtime defaults = %+v", r)
	}
	if want := filepath.Join(mustAbs(t, "testdata/happy"), ".ferry", "checkpoints"); p.Checkpoint.Dir != want {
		t.Errorf("checkpoint dir = %q, want %q", p.Checkpoint.Dir, want)
	}
	if p.Checkpoint.Interval != time.Second || p.Description != "" || p.Tags != nil || len(p.Filters) != 0 {
		t.Errorf("defaults: %+v", p)
	}
	cfg, diags := p.Sink.Decode(sdk.Spec{}, f)
	noErrors(t, f, diags)
	if string(cfg) != "{}" {
		t.Errorf("empty config = %s", cfg)
	}
}

func TestJSONSyntax(t *testing.T) {
	f, diags := LoadFile("testdata/happy/minimal.json", Options{Env: lookupTestEnv(nil)})
	noErrors(t, f, diags)
	p := f.Pipeline
	if p.Name != "from-json" || !reflect.DeepEqual(p.Tags, []string{"json"}) {
		t.Errorf("pipeline = %+v", p)
	}
	if p.Runtime.Writers != 8 || p.Runtime.DrainTimeout != 0 || p.Runtime.StartupWait != 2*time.Minute || p.Sink.Path != "/opt/ferry/sink" {
		t.Errorf("runtime %+v, sink path %q", p.Runtime, p.Sink.Path)
	}
	cfg, diags := p.Source.Decode(testSpec, f)
	noErrors(t, f, diags)
	if want := `{"buffer":1048576,"enabled":true,"mode":"safe","name":"orders","port":3306,"timeout":"5s"}`; string(cfg) != want {
		t.Errorf("config = %s, want %s", cfg, want)
	}
	// Errors in JSON files carry ranges too.
	f, diags = Parse("bad.json", []byte(`{"pipeline": {"p": {"runtime": {"bach_size": 1}}}}`), Options{})
	if !diags.HasErrors() || !strings.Contains(diagText(diags), `Did you mean "batch_size"?`) {
		t.Errorf("diags = %s", diagText(diags))
	}
	_ = f
}

func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Summary + ": " + d.Detail + "\n")
	}
	return b.String()
}

func TestVariablePrecedence(t *testing.T) {
	src := []byte(`
variable "a" { default = "default-a" }
variable "b" { default = "default-b" }
variable "c" { default = "default-c" }
variable "n" { default = 3 }
pipeline "p" {
  description = join(",", [var.a, var.b, var.c])
  source "s" {}
  serializer "z" {}
  sink "k" {}
  runtime { writers = var.n }
}
`)
	env := map[string]string{"FERRY_VAR_a": "env-a", "FERRY_VAR_b": "env-b"}
	f, diags := Parse("p.hcl", src, Options{Vars: map[string]string{"a": "flag-a"}, Env: lookupTestEnv(env)})
	noErrors(t, f, diags)
	if got := f.Pipeline.Description; got != "flag-a,env-b,default-c" {
		t.Errorf("description = %q", got)
	}
	if f.Pipeline.Runtime.Writers != 3 {
		t.Errorf("writers = %d", f.Pipeline.Runtime.Writers)
	}
	// A string from --var converts to the attribute's type.
	f, diags = Parse("p.hcl", src, Options{Vars: map[string]string{"n": "7"}, Env: lookupTestEnv(nil)})
	noErrors(t, f, diags)
	if f.Pipeline.Runtime.Writers != 7 {
		t.Errorf("writers = %d", f.Pipeline.Runtime.Writers)
	}
	// --var for an undeclared variable.
	_, diags = Parse("p.hcl", src, Options{Vars: map[string]string{"bb": "x"}, Env: lookupTestEnv(nil)})
	if len(diags) != 1 || diags[0].Summary != "Value for undeclared variable" ||
		!strings.Contains(diags[0].Detail, `Did you mean "b"?`) || diags[0].Subject != nil {
		t.Errorf("diags = %s", diagText(diags))
	}
}

func TestFunctions(t *testing.T) {
	files := map[string][]byte{}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
	}
	files[filepath.Join(mustAbs(t, "conf"), "cert.pem")] = []byte("PEM\n")
	files["/abs/x"] = []byte("abs")
	files[filepath.Join(mustAbs(t, "conf"), "bin.dat")] = []byte{0xff, 0xfe}
	src := []byte(`
pipeline "p" {
  tags = [
    file("cert.pem"),
    file("/abs/x"),
    env("HOME_X"),
    env("UNSET_X", "fallback"),
    upper("a"), lower("B"), format("%03d", 7), trimspace(" t "),
    coalesce(null, "c"), tostring(5), join("-", split(",", "x,y")),
  ]
  source "s" {}
  serializer "z" {}
  sink "k" {}
  runtime {
    writers = tonumber("9")
  }
}
`)
	f, diags := Parse("conf/p.hcl", src, Options{Env: lookupTestEnv(map[string]string{"HOME_X": "home"}), ReadFile: read})
	noErrors(t, f, diags)
	want := []string{"PEM\n", "abs", "home", "fallback", "A", "b", "007", "t", "c", "5", "x-y"}
	if !reflect.DeepEqual(f.Pipeline.Tags, want) {
		t.Errorf("tags = %q, want %q", f.Pipeline.Tags, want)
	}
	if f.Pipeline.Runtime.Writers != 9 {
		t.Errorf("writers = %d", f.Pipeline.Runtime.Writers)
	}
	_, diags = Parse("conf/p.hcl", []byte(`pipeline "p" { description = file("bin.dat") }`), Options{ReadFile: read})
	if !strings.Contains(diagText(diags), `file "bin.dat" is not valid UTF-8`) {
		t.Errorf("diags = %s", diagText(diags))
	}
}

func TestLoadFileMissing(t *testing.T) {
	f, diags := LoadFile("testdata/does-not-exist.hcl", Options{})
	if f != nil || len(diags) != 1 || diags[0].Summary != "Cannot read pipeline file" {
		t.Fatalf("f = %v, diags = %s", f, diagText(diags))
	}
	if !errors.Is(Err(diags), ErrInvalid) || Err(nil) != nil {
		t.Errorf("Err = %v", Err(diags))
	}
}

func TestAttributeDiagnosticsBeforeDecode(t *testing.T) {
	f, diags := Parse("p.hcl", []byte("pipeline \"p\" {\n  source \"s\" {\n    x = 1\n  }\n  serializer \"z\" {}\n  sink \"k\" {}\n}\n"), Options{})
	noErrors(t, f, diags)
	d := f.Pipeline.Source.AttributeDiagnostics([]*sdk.AttributeError{{Attribute: "x", Summary: "bad x"}, nil})
	if len(d) != 1 || d[0].Subject.Start.Line != 2 || d[0].Summary != "Bad x" {
		t.Errorf("diags = %s", diagText(d))
	}
}

func TestInvalidSpec(t *testing.T) {
	f, diags := Parse("p.hcl", []byte("pipeline \"p\" {\n  source \"s\" {}\n  serializer \"z\" {}\n  sink \"k\" {}\n}\n"), Options{})
	noErrors(t, f, diags)
	_, d := f.Pipeline.Source.Decode(sdk.Spec{Attributes: []sdk.Attribute{{Name: "plugin_path", Type: sdk.TypeString}}}, f)
	if len(d) != 1 || d[0].Summary != "Invalid plugin schema" || d[0].Subject.Start.Line != 2 {
		t.Errorf("diags = %s", diagText(d))
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"batch_size", "batch_timeout", "writers"}
	for in, want := range map[string]string{
		"bach_size":  "batch_size",
		"BATCH_SIZE": "batch_size",
		"writer":     "writers",
		"threads":    "",
		"":           "",
	} {
		if got := Suggest(in, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRuntimeOversize(t *testing.T) {
	src := func(v string) []byte {
		return []byte("pipeline \"p\" {\n  runtime {\n    oversize = " + v + "\n  }\n  source \"s\" {}\n  serializer \"z\" {}\n  sink \"k\" {}\n}\n")
	}
	f, diags := Parse("p.hcl", src(`"skip"`), Options{})
	noErrors(t, f, diags)
	if f.Pipeline.Runtime.Oversize != OversizeSkip {
		t.Errorf("oversize = %q, want skip", f.Pipeline.Runtime.Oversize)
	}
	f, diags = Parse("p.hcl", []byte("pipeline \"p\" {\n  source \"s\" {}\n  serializer \"z\" {}\n  sink \"k\" {}\n}\n"), Options{})
	noErrors(t, f, diags)
	if f.Pipeline.Runtime.Oversize != OversizeFail {
		t.Errorf("default oversize = %q, want fail", f.Pipeline.Runtime.Oversize)
	}
	_, diags = Parse("p.hcl", src(`"drop"`), Options{})
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 ||
		!strings.Contains(diagText(diags), "skip") {
		t.Errorf("bad value: diags = %s", diagText(diags))
	}
}
