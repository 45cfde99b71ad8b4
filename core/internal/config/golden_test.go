package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden pins the rendered text of WriteDiagnostics (both phases, sorted by position as
// `ferry validate` prints them). The .txt files are written by hand.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(path, ".hcl") + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			f, diags, _ := loadAndDecode(path, Options{Env: lookupTestEnv(nil)})
			SortDiagnostics(diags)
			var got bytes.Buffer
			if err := WriteDiagnostics(&got, diags, f, false); err != nil {
				t.Fatal(err)
			}
			if os.Getenv("FERRY_UPDATE_GOLDEN") == "1" {
				// Only for reviewed changes of the layout: check `git diff` afterwards.
				_ = os.WriteFile(strings.TrimSuffix(path, ".hcl")+".txt", got.Bytes(), 0o644)
				return
			}
			if got.String() != string(want) {
				t.Errorf("rendered diagnostics differ\n--- got\n%s\n--- want\n%s", got.String(), want)
			}
		})
	}
}
