package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// Tests for what a new user hit (issue 15): one test per defect of the CLI.

// obPipeline is a pipeline of the built-in oceanbase source and rocketmq sink; validate
// connects to neither. objects is placed inside the pipeline block.
func obPipeline(sourceExtra, objects string) string {
	return `pipeline "p" {
  source "oceanbase" {
    address = "127.0.0.1:13306"
    user    = "ferry"
` + sourceExtra + `
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = ["127.0.0.1:29876"]
    topic        = "t"
  }
` + objects + `
}
`
}

// B14: a bad table name in the objects block is reported once, at the name; the source's
// "needs at least one db.table" (its tables were filled from that block) is not repeated.
func TestValidateBadTableNameNoSpuriousTables(t *testing.T) {
	p := writeFile(t, t.TempDir(), "p.hcl", obPipeline("", `  objects {
    table "bad" {}
  }`))
	code, _, errOut := runCLI(t, "validate", p)
	if code != ExitConfig || !strings.Contains(errOut, "Invalid table name") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(strings.ToLower(errOut), "needs at least one") || !strings.Contains(errOut, "has 1 error(s)") {
		t.Errorf("spurious error about the source's tables:\n%s", errOut)
	}
}

// `ferry plugins` says which copy of a plugin that is built in and on disk is used: the
// built-in, then the first plugin directory's; -o json carries the same.
func TestPluginsSaysWhichCopyIsUsed(t *testing.T) {
	bins := e2eBins(t)
	d1, d2 := t.TempDir(), t.TempDir()
	for _, d := range []string{d1, d2} {
		data, err := os.ReadFile(filepath.Join(bins, "plugins", "ferry-sink-file"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, d, "ferry-sink-file", string(data))
		if err := os.Chmod(filepath.Join(d, "ferry-sink-file"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI(t, "--plugin-dir", d1, "--plugin-dir", d2, "plugins", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rows []pluginRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]pluginRow{}
	for _, r := range rows {
		if r.Kind == "sink" && r.Name == "file" {
			got[r.Location] = r
		}
	}
	p1, p2 := filepath.Join(d1, "ferry-sink-file"), filepath.Join(d2, "ferry-sink-file")
	if b := got["built-in"]; !b.Used || !strings.Contains(b.UsedNote, p1) {
		t.Errorf("built-in: %+v", b)
	}
	if r := got[p1]; r.Used || !strings.Contains(r.UsedNote, "built-in is used") {
		t.Errorf("%s: %+v", p1, r)
	}
	if r := got[p2]; r.Used || r.Location != p2 {
		t.Errorf("%s: %+v", p2, r)
	}
	_, out, _ = runCLI(t, "--plugin-dir", d1, "plugins")
	if !strings.Contains(out, "USED") || !strings.Contains(out, "the built-in is used") {
		t.Errorf("table:\n%s", out)
	}
}

// precheck's table fits the width (details and consequences wrapped in the last column);
// run's form prints only the failed, warned and skipped checks.
func TestPrecheckTableFitsWidth(t *testing.T) {
	long := strings.Repeat("the binlog retention is shorter than the snapshot is expected to take ", 6)
	rows := []checkRow{
		{Check: sdk.Check{Name: "binlog_format", Status: sdk.CheckPass, Detail: "binlog_format is ROW"}, plugin: "source oceanbase"},
		{Check: sdk.Check{Name: "log_retention", Status: sdk.CheckWarn, Detail: long, Consequence: "the snapshot may have to start over"}, plugin: "source oceanbase"},
		{Check: sdk.Check{Name: "rocketmq_topic", Status: sdk.CheckFail, Detail: "topic t does not exist", Consequence: "every write fails"}, plugin: "sink rocketmq"},
	}
	for _, width := range []int{80, 100, 160} {
		var b strings.Builder
		failed, warned := printChecks(&b, rows, width, false)
		if failed != 1 || warned != 1 {
			t.Errorf("failed %d warned %d", failed, warned)
		}
		out := b.String()
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if n := len([]rune(l)); n > width {
				t.Errorf("width %d: a line of %d columns: %q", width, n, l)
			}
		}
		if got, want := strings.Join(strings.Fields(out), " "), oneLine(long); !strings.Contains(got, want) {
			t.Errorf("width %d: detail lost:\n%s", width, out)
		}
		if !strings.Contains(out, "if skipped: every write fails") {
			t.Errorf("no consequence:\n%s", out)
		}
	}
	var b strings.Builder
	printChecks(&b, rows, 100, true)
	if out := b.String(); strings.Contains(out, "binlog_format") || !strings.Contains(out, "log_retention") || !strings.Contains(out, "rocketmq_topic") {
		t.Errorf("only problems:\n%s", out)
	}
}

// validate -o json: one JSON document with the verdict, the diagnostics (file, line,
// column) and the plugins; the exit code is validate's.
func TestValidateJSON(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "ok.hcl", validPipeline)
	code, out, errOut := runCLI(t, "validate", "-o", "json", "--var", "out="+filepath.Join(dir, "o.jsonl"), p)
	var v fileJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitOK || !v.Valid || v.Pipeline != "p1" || len(v.Plugins) != 4 {
		t.Fatalf("exit %d %v: %s %s", code, err, out, errOut)
	}
	bad := writeFile(t, dir, "bad.hcl", obPipeline("", `  objects {
    table "bad" {}
  }`))
	code, out, _ = runCLI(t, "validate", "-o", "json", bad)
	v = fileJSON{}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitConfig || v.Valid || len(v.Diagnostics) != 1 {
		t.Fatalf("exit %d %v: %s", code, err, out)
	}
	if d := v.Diagnostics[0]; d.Severity != "error" || d.Line != 13 || d.Column != 11 || d.File != bad {
		t.Errorf("%+v", d)
	}
	if code, _, _ := runCLI(t, "validate", "-o", "yaml", p); code != ExitUsage {
		t.Errorf("-o yaml: exit %d", code)
	}
}
