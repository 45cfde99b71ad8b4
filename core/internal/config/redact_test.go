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
		`  17:     passwrd  = "***"`, // not secret for the plugin: its value is scrubbed
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
