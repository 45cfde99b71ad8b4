package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/plugin"
)

const referencePath = "../../../docs/plugins/reference.md"

// The reference is generated from the plugins' specs; CI fails when it is stale.
func TestPluginReferenceUpToDate(t *testing.T) {
	reg, err := plugin.BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := writeReference(&got, reg); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(referencePath)
	if err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("docs/plugins/reference.md is stale: run `make docs` (%v)", err)
	}
	if regexp.MustCompile(`[0-9]e[+-][0-9]`).Match(want) {
		t.Errorf("docs/plugins/reference.md has a number in scientific notation")
	}
}

// Every example pipeline in configs/ passes `ferry validate` as written (with the real binary,
// so out-of-process built-ins work).
func TestConfigsValidate(t *testing.T) {
	bins := e2eBins(t)
	files, _ := filepath.Glob("../../../configs/*.hcl")
	if len(files) == 0 {
		t.Fatal("no configs")
	}
	root, _ := filepath.Abs("../../..")
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		cmd := exec.Command(filepath.Join(bins, "ferry"), "--plugin-dir", filepath.Join(bins, "plugins"), "validate", abs)
		cmd.Dir = t.TempDir()
		// configs are written to run from the repository root, where make demo creates out/.
		cmd.Dir = root
		_ = os.MkdirAll(filepath.Join(root, "out"), 0o755)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "is valid") {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
