package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/runner"
)

func TestSnapshotUsageErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "ok.hcl", validPipeline)
	for _, args := range [][]string{
		{"snapshot", p},                             // no table
		{"snapshot", p, "--table", "nodot"},         // not db.table
		{"snapshot", p, "--table", "db."},           // empty name
		{"snapshot", p, "--table", "db.*"},          // a pattern
		{"snapshot", p, "--table", "a.b.c"},         // too many parts
		{"snapshot", "--table", "db.t"},             // no file
		{"snapshot", p, "x.hcl", "--table", "db.t"}, // two files
	} {
		code, _, errOut := runCLI(t, args...)
		if code != ExitUsage || !strings.Contains(errOut, "Error:") {
			t.Errorf("%q: exit %d (want %d), stderr %q", args, code, ExitUsage, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cp")); err == nil {
		t.Error("a usage error touched the checkpoint directory")
	}
}

// A stopped pipeline whose source cannot re-snapshot (the generator) is refused, and nothing
// is recorded.
func TestSnapshotStoppedRefusedWithoutAbility(t *testing.T) {
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp")
	p := writeFile(t, dir, "p.hcl", strings.Replace(validPipeline, `dir = "cp"`, fmt.Sprintf("dir = %q", cp), 1))
	code, out, errOut := runCLI(t, "snapshot", "--var", "out="+filepath.Join(dir, "o.jsonl"), p, "--table", "demo.orders")
	if code != ExitFailure || !strings.Contains(errOut, "cannot re-snapshot") || !strings.Contains(errOut, `"generator"`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming the source", code, out, errOut)
	}
	if _, err := os.Stat(runner.SnapshotRequestPath(cp, "p1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("request file written for a refused request: %v", err)
	}
}
