package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

const secretValue = "hunter2"

// assertNoSecret renders diags (with and without color) and checks that the secret appears
// nowhere: not in summaries, details, nor snippets.
func assertNoSecret(t *testing.T, f *File, diags hcl.Diagnostics, wantMasked int) string {
	t.Helper()
	if len(diags) == 0 {
		t.Fatal("expected diagnostics")
	}
	for _, d := range diags {
		if strings.Contains(d.Summary+d.Detail, secretValue) {
			t.Errorf("secret in diagnostic text: %s: %s", d.Summary, d.Detail)
		}
	}
	var plain string
	for _, color := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WriteDiagnostics(&buf, diags, f, color); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, secretValue) {
			t.Errorf("secret printed (color %v):\n%s", color, out)
		}
		if n := strings.Count(out, masked); n < wantMasked {
			t.Errorf("%d masks printed, want at least %d (color %v):\n%s", n, wantMasked, color, out)
		}
		if color && !strings.Contains(out, "\x1b[1;4m") {
			t.Errorf("no highlight in color output:\n%s", out)
		}
		if !color {
			plain = out
		}
	}
	return plain
}

func TestSecretsPhase2(t *testing.T) {
	src := `variable "pw" {
  default   = "hunter2"
  sensitive = true
}

pipeline "p" {
  source "test" {
    name     = "src"
    password = "hunter2"
    mode     = "fsat"
  }
  serializer "canal" {}
  sink "test" { password = "hunter2" }
  filter "test" {
    name     = "f"
    password = ["hunter2"]
    passwrd  = "hunter2"
  }
  filter "test" {
    name     = "g"
    password = format("%d",
      "hunter2")
    mode     = var.pw
    port     = upper(var.pw)
  }
  runtime {
    writers = var.pw
    batch_size = tonumber(var.pw)
  }
}
`
	f, diags := Parse("s.hcl", []byte(src), Options{Env: lookupTestEnv(nil)})
	for _, b := range f.Pipeline.Plugins() {
		if b.Name == "test" {
			_, d := b.Decode(testSpec, f)
			diags = append(diags, d...)
		}
	}
	SortDiagnostics(diags)
	// Errors on the lines with the secret: enum (10), missing name (13), type (16), unknown
	// (17), function (21-22), enum with a sensitive value (23), type (24, 27), a function whose
	// message quotes its argument (28).
	lines := map[int]bool{}
	for _, d := range diags {
		lines[d.Subject.Start.Line] = true
	}
	for _, l := range []int{10, 13, 16, 17, 21, 23, 24, 27, 28} {
		if !lines[l] {
			t.Errorf("no diagnostic on line %d", l)
		}
	}
	out := assertNoSecret(t, f, diags, 6)
	for _, want := range []string{
		`  13:   sink "test" { password = *** }`,
		`  16:     password = ***`,
		`  21:     password = ***`,
		`  22:       ***`,
		`  23:     mode     = ***`,
		`  27:     writers = ***`,
		`The value is not one of the allowed values of "mode"`,
		`  17:     passwrd  = ***`, // unknown to the plugin and like a secret name: masked
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Before phase 2 the plugin schemas are unknown: secret-looking names are masked, and
// Options.Specs makes it exact.
func TestSecretsPhase1(t *testing.T) {
	src := `pipeline "p" {
  source "x" { password = "hunter2" }
  source "x" { password = "hunter2" }
  serializer "y" { dsn = "hunter2" }
  serializer "y" { dsn = "hunter2" }
  sink "z" {}
  sorce "x" { api_token = "hunter2" }
}
`
	specs := func(kind sdk.Kind, name string) (sdk.Spec, bool) {
		if kind == sdk.KindSerializer {
			return sdk.Spec{Attributes: []sdk.Attribute{{Name: "dsn", Type: sdk.TypeString, Secret: true}}}, true
		}
		return sdk.Spec{}, false
	}
	f, diags := Parse("s.hcl", []byte(src), Options{Specs: specs})
	if len(diags) != 3 {
		t.Fatalf("diags = %s", diagText(diags))
	}
	assertNoSecret(t, f, diags, 3)

	// Without Specs the dsn of the duplicate serializer is not known to be secret.
	f, diags = Parse("s.hcl", []byte(src), Options{})
	var buf bytes.Buffer
	_ = WriteDiagnostics(&buf, diags, f, false)
	if !strings.Contains(buf.String(), `dsn = "hunter2"`) {
		t.Errorf("expected the unmarked dsn to print (the test relies on Specs above):\n%s", buf.String())
	}
}

// A schema that marks a secret-looking name as not secret shows it after Decode.
func TestSecretGuessOverridden(t *testing.T) {
	src := "pipeline \"p\" {\n  source \"x\" {\n    token_ttl = \"5x\"\n  }\n  serializer \"y\" {}\n  sink \"z\" {}\n}\n"
	f, diags := Parse("s.hcl", []byte(src), Options{})
	noErrors(t, f, diags)
	_, diags = f.Pipeline.Source.Decode(sdk.Spec{Attributes: []sdk.Attribute{{Name: "token_ttl", Type: sdk.TypeDuration}}}, f)
	var buf bytes.Buffer
	_ = WriteDiagnostics(&buf, diags, f, false)
	if !strings.Contains(buf.String(), `   3:     token_ttl = "5x"`) {
		t.Errorf("output:\n%s", buf.String())
	}
}

// Plugin-reported messages are scrubbed of secret values.
func TestSecretInAttributeError(t *testing.T) {
	src := "pipeline \"p\" {\n  source \"test\" {\n    name = \"n\"\n    password = \"hunter2\"\n  }\n  serializer \"y\" {}\n  sink \"z\" {}\n}\n"
	f, diags := Parse("s.hcl", []byte(src), Options{})
	noErrors(t, f, diags)
	_, diags = f.Pipeline.Source.Decode(testSpec, f)
	noErrors(t, f, diags)
	d := f.Pipeline.Source.AttributeDiagnostics([]*sdk.AttributeError{{Attribute: "password", Summary: "password hunter2 is too weak", Detail: "hunter2 is in a dictionary"}})
	if d[0].Subject.Start.Line != 4 || d[0].Subject.Start.Column != 16 {
		t.Errorf("subject = %v", d[0].Subject)
	}
	assertNoSecret(t, f, d, 3)
}

// Secrets written in a template are masked like those in the pipeline file, and a template's
// secret ranges never mask text of another file at the same offsets.
func TestSecretsInTemplates(t *testing.T) {
	files := map[string]string{"t.hcl": `defaults {
  sink "test" { password = "hunter2" }
  source "test" {
    password = "hunter2"
    port     = "x"
  }
}
variable "token" {
  default   = "hunter2"
  sensitive = true
}
`}
	src := `pipeline "p" {
  tags = "visible text that is long enough"
  source "test" {
    name     = "src"
    password = "own"
    mode     = var.token
  }
  serializer "z" {}
  sink "test" {}
}
template = "t.hcl" # last, to keep the offsets above aligned with the template's
`
	f, diags := parseWith(t, src, files, Options{})
	if len(diags) != 1 || diags[0].Subject.Start.Line != 2 {
		t.Fatalf("diags = %s", diagText(diags))
	}
	var buf bytes.Buffer
	_ = WriteDiagnostics(&buf, diags, f, false)
	if !strings.Contains(buf.String(), `   2:   tags = "visible text that is long enough"`) {
		t.Errorf("pipeline text masked by a template's secret range:\n%s", buf.String())
	}
	// Phase 1: secret-looking names in the template are masked.
	tmplLine := func(line int) *hcl.Diagnostic {
		rng := hcl.Range{Filename: "conf/t.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 3}}
		s := f.Source("conf/t.hcl")
		off := 0
		for l := 1; l < line; l++ {
			off += bytes.IndexByte(s[off:], '\n') + 1
		}
		rng.Start.Byte, rng.End.Byte = off, off+2
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Look here", Subject: &rng}
	}
	out := assertNoSecret(t, f, hcl.Diagnostics{tmplLine(2), tmplLine(4), tmplLine(9)}, 3)
	if !strings.Contains(out, `   2:   sink "test" { password = *** }`) {
		t.Errorf("output:\n%s", out)
	}
	// Phase 2: the source's password set in the template is overridden by the pipeline, and
	// stays masked; the sensitive variable's value is scrubbed from messages.
	_, d := f.Pipeline.Source.Decode(testSpec, f)
	_, d2 := f.Pipeline.Sink.Decode(testSpec, f)
	d = append(d, d2...)
	d = append(d, tmplLine(4), tmplLine(2))
	SortDiagnostics(d)
	out = assertNoSecret(t, f, d, 3)
	for _, want := range []string{
		`   4:     password = ***`,
		`   6:     mode     = ***`,
		`The value is not one of the allowed values of "mode"`,
		`on conf/t.hcl:5:16, in source "test":`,
		`Inappropriate value for attribute "port"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// With Options.Specs in phase 1, a template's attribute that only looks secret shows.
	files["t.hcl"] = "defaults {\n  sink \"k\" { token_ttl = \"5x\" }\n}\n"
	specs := func(kind sdk.Kind, name string) (sdk.Spec, bool) {
		return sdk.Spec{Attributes: []sdk.Attribute{{Name: "token_ttl", Type: sdk.TypeDuration}}}, true
	}
	f, diags = parseWith(t, pipelineWith("")+"template = \"t.hcl\"\n", files, Options{Specs: specs})
	noErrors(t, f, diags)
	buf.Reset()
	_ = WriteDiagnostics(&buf, hcl.Diagnostics{tmplLine(2)}, f, false)
	if !strings.Contains(buf.String(), `token_ttl = "5x"`) {
		t.Errorf("output:\n%s", buf.String())
	}
}

// B4: a short or common secret is masked where it stands as a value, not inside other
// names: the test bed's password "ferry" left "***_probe_shop.orders" and ".../***/bin".
func TestMaskOnlyValues(t *testing.T) {
	scrub := scrubber([]string{"ferry", "pw", "0123456789abcdefXYZ"})
	for in, want := range map[string]string{
		`table "ferry_probe_shop.orders"`:            `table "ferry_probe_shop.orders"`,
		`plugin dir /home/u/ferry/bin/plugins`:       `plugin dir /home/u/ferry/bin/plugins`,
		`topic ferry-orders, db ferry.orders`:        `topic ferry-orders, db ferry.orders`,
		`connect ferry:ferry@tcp(127.0.0.1:13306)/x`: `connect ***:***@tcp(127.0.0.1:13306)/x`,
		`the password is ferry.`:                     `the password is ***.`,
		`cannot convert "ferry" to number`:           `cannot convert "***" to number`,
		`dsn u:pw@tcp(h) and a pwd, pw2, "pw"`:       `dsn u:***@tcp(h) and a pwd, pw2, "***"`,
		`line 1: key=0123456789abcdefXYZ&x`:          `line 1: key=***&x`,
		`glued x0123456789abcdefXYZy`:                `glued x***y`,
		`ferryferry ferry_ferry`:                     `ferryferry ferry_ferry`,
	} {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

// B6: a syntax error leaves the attributes unknown; a secret-looking assignment is masked
// to the end of its line. A misspelled secret attribute stays masked after the schema is
// known.
func TestSecretsInBrokenFiles(t *testing.T) {
	const secret = "Zq9-unique-value"
	for _, line := range []string{
		`password = "` + secret + `" x`,
		`password: "` + secret + `"`,
		`password == "` + secret + `"`,
		`password = ` + secret,
		`sink "test" { api_token = "` + secret + `" oops }`,
	} {
		src := "pipeline \"p\" {\n  source \"test\" {\n    name = \"s\"\n  }\n    " + line + "\n  serializer \"test\" {}\n}\n"
		f, diags := Parse("s.hcl", []byte(src), Options{})
		if !diags.HasErrors() {
			t.Fatalf("%s: no error", line)
		}
		var buf bytes.Buffer
		_ = WriteDiagnostics(&buf, diags, f, false)
		if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), masked) || strings.Contains(buf.String(), masked+masked) {
			t.Errorf("%s: secret printed or nothing masked:\n%s", line, buf.String())
		}
	}

	src := "pipeline \"p\" {\n  source \"test\" {\n    name   = \"s\"\n    passwd = \"" + secret + "\"\n    pasword = \"" + secret + "x\"\n  }\n  serializer \"y\" {}\n  sink \"z\" {}\n}\n"
	f, diags := Parse("s.hcl", []byte(src), Options{})
	noErrors(t, f, diags)
	_, diags = f.Pipeline.Source.Decode(testSpec, f)
	if len(diags) != 2 {
		t.Fatalf("diags = %s", diagText(diags))
	}
	var buf bytes.Buffer
	_ = WriteDiagnostics(&buf, diags, f, false)
	if out := buf.String(); strings.Contains(out, secret) || !strings.Contains(out, "passwd = ***") || !strings.Contains(out, "pasword = ***") {
		t.Errorf("output:\n%s", out)
	}
	if got := f.Redact("login as " + secret + " failed"); got != "login as *** failed" {
		t.Errorf("Redact = %q", got)
	}
}
