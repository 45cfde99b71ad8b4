package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, args...)
		if code != ExitOK || !strings.Contains(out, "ferry ") || !strings.Contains(out, "plugin protocol: 1") {
			t.Errorf("%v: code %d, out %q", args, code, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"frobnicate"},
		{"validate"},
		{"validate", "a.hcl", "b.hcl"},
		{"run", "--no-such-flag", "x.hcl"},
		{"validate", "--var", "novalue", "x.hcl"},
		{"--log-level", "loud", "version"},
		{"plugin", "serve", "nokind"},
	}
	for _, args := range cases {
		code, _, errOut := runCLI(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut)
		}
		if !strings.Contains(errOut, "Error:") {
			t.Errorf("%v: no error message: %q", args, errOut)
		}
	}
}

const validPipeline = `
pipeline "p1" {
  source "generator" {
    rows       = 10
    count      = 50
    batch_size = 8
  }
  filter "drop" { ops = ["delete"] }
  serializer "jsonl" {}
  sink "file" { path = var.out }
  checkpoint { dir = "cp" }
}
variable "out" {}
`

func TestValidateValid(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "ok.hcl", validPipeline)
	code, out, errOut := runCLI(t, "validate", "--var", "out="+filepath.Join(dir, "o.jsonl"), p)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`pipeline "p1" is valid`, "generator", "drop", "jsonl", "file", "built-in"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Errors from every layer — HCL structure, a plugin's declared schema, a plugin's own check and
// a plugin that does not exist — are reported together, each at file:line:column.
func TestValidateInvalidReportsPositions(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "bad.hcl", `pipeline "p1" {
  source "generator" {
    rows = "many"
  }
  filter "drop" { ops = ["delete", "upsert"] }
  serializer "jsonl" {}
  sink "fiel" {}
  runtime {
    writers   = 2
    bach_size = 10
  }
}
`)
	code, out, errOut := runCLI(t, "validate", p)
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitConfig, errOut)
	}
	if out != "" {
		t.Errorf("stdout should be empty on error: %q", out)
	}
	for _, want := range []string{
		p + ":10:5", `"bach_size"`, `Did you mean "batch_size"?`, // runtime typo (phase 1)
		p + ":7:8", `Plugin not found`, `did you mean "file"?`, // unknown plugin, at its label
		p + ":3:12",           // wrong type for a plugin attribute (phase 2)
		p + ":5:25", "upsert", // the drop filter's own check of its ops (Configure)
		"Error: the pipeline file has 4 error(s)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestValidateMissingFile(t *testing.T) {
	code, _, errOut := runCLI(t, "validate", filepath.Join(t.TempDir(), "nope.hcl"))
	if code != ExitConfig || !strings.Contains(errOut, "nope.hcl") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestRunInProcessAndResume(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.jsonl")
	p := writeFile(t, dir, "ok.hcl", validPipeline)
	code, _, errOut := runCLI(t, "--log-level", "warn", "run", "--var", "out="+out, p)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	first := lines(t, out)
	if len(first) == 0 || len(first) > 50 {
		t.Fatalf("%d lines", len(first))
	}
	if _, err := os.Stat(filepath.Join(dir, "cp", "p1.json")); err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	// The source finished and the checkpoint covers everything: a second run adds nothing.
	code, _, errOut = runCLI(t, "--log-level", "warn", "run", "--var", "out="+out, p)
	if code != ExitOK {
		t.Fatalf("second run exit %d: %s", code, errOut)
	}
	if again := lines(t, out); len(again) != len(first) {
		t.Errorf("resumed run wrote %d more lines", len(again)-len(first))
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestPluginsListsBuiltins(t *testing.T) {
	code, out, errOut := runCLI(t, "--plugin-dir", t.TempDir(), "plugins")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"KIND", "source", "generator", "filter", "drop", "serializer", "jsonl", "sink", "file", "built-in"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}
