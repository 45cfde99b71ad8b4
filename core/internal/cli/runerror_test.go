package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An objects entry that the live schema refutes, met while running (no precheck), is
// reported like validate's errors: file:line:column of the setting at fault, exit code 3.
func TestE2EObjectErrorAtRunTime(t *testing.T) {
	bins := e2eBins(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	cfg := `pipeline "objerr" {
  source "generator" {
    rows  = 20
    count = 100
  }
  objects {
    table "demo.orders" {
      columns = ["id", "nope"]
    }
  }
  serializer "jsonl" {}
  sink "file" { path = "out.jsonl" }
  checkpoint {
    dir = "cp"
  }
}
`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bins, "ferry"), "run", "--no-precheck", "--status-addr", "", path)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitConfig {
		t.Fatalf("exit %v, want %d:\n%s", err, ExitConfig, out)
	}
	for _, want := range []string{path + ":8:17", `columns = ["id", "nope"]`, `"nope"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
