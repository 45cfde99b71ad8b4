package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
