package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// marker is an expected diagnostic: its file, start line and a substring of its text.
type marker struct {
	file string
	line int
	text string
}

const markerPrefix = "# ERROR:"

// readMarkers returns the "# ERROR: text" markers of a file (several are allowed per line).
func readMarkers(t *testing.T, path string) []marker {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []marker
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		parts := strings.Split(sc.Text(), markerPrefix)
		for _, p := range parts[1:] {
			if s := strings.TrimSpace(p); s != "" {
				out = append(out, marker{filepath.Clean(path), n, s})
			}
		}
	}
	return out
}

// errorFileColumns pins the exact start column of some diagnostics (by the base name of the
// file the diagnostic points into).
var errorFileColumns = map[string]int{
	"runtime_unknown_attr.hcl:6":   5,  // the attribute's name
	"enum.hcl:4":                   12, // the value
	"undefined_var.hcl:6":          17, // var.rqm
	"undefined_var.hcl:9":          23, // the second reference in the list
	"missing_required.hcl:4":       3,  // the sink block's header
	"plugin_attribute_error.hcl:4": 14, // hosts' value, for "hosts[1]"
	"plugin_attribute_error.hcl:5": 14, // labels' value, for "labels.bad"
	"env_unset.hcl:4":              16, // env(
	"two_pipelines.hcl:7":          1,  // the second pipeline's header
	"bad_pipeline_name.hcl:1":      10, // the label
	"syntax_error.hcl:6":           18, // the second "="
	"unknown_blocks.hcl:8":         3,  // the block type
	"wrong_type.hcl:6":             15, // "eighty"
	"objects_errors.hcl:16":        42, // the second AND inside the where string
	"objects_errors.hcl:24":        35, // ${tabel}
	"objects_errors.hcl:41":        30, // "shop.orders" in the exclude list
}

func TestErrorFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/error-files/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d error files", len(files))
	}
	checkedCols := map[string]bool{}
	usedTemplates := map[string]bool{}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, diags, _ := loadAndDecode(path, Options{Env: lookupTestEnv(testEnv)})
			// Markers in the templates the file uses are expected too.
			want := readMarkers(t, path)
			if f != nil {
				for _, tm := range f.Templates {
					usedTemplates[filepath.Clean(tm.Filename)] = true
					want = append(want, readMarkers(t, tm.Filename)...)
				}
			}
			if len(want) == 0 {
				t.Fatal("no # ERROR: markers")
			}

			matched := make([]bool, len(want))
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without a subject: %s: %s", d.Summary, d.Detail)
					continue
				}
				if d.Severity != hcl.DiagError {
					t.Errorf("line %d: not an error: %s", d.Subject.Start.Line, d.Summary)
				}
				text := d.Summary + "\n" + d.Detail
				ok := false
				for i, m := range want {
					if m.file == filepath.Clean(d.Subject.Filename) && m.line == d.Subject.Start.Line && strings.Contains(text, m.text) {
						matched[i], ok = true, true
					}
				}
				if !ok {
					t.Errorf("unexpected diagnostic at %s:%d: %s: %s", d.Subject.Filename, d.Subject.Start.Line, d.Summary, d.Detail)
				}
				key := fmt.Sprintf("%s:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
				if col, ok := errorFileColumns[key]; ok {
					checkedCols[key] = true
					if d.Subject.Start.Column != col {
						t.Errorf("%s: column %d, want %d (%s)", key, d.Subject.Start.Column, col, d.Summary)
					}
				}
			}
			for i, m := range want {
				if !matched[i] {
					t.Errorf("%s:%d: no diagnostic containing %q", m.file, m.line, m.text)
				}
			}

			// Every diagnostic renders, and no secret leaks.
			var buf bytes.Buffer
			if err := WriteDiagnostics(&buf, diags, f, false); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "hunter2") {
				t.Errorf("secret printed:\n%s", buf.String())
			}
		})
	}
	for key := range errorFileColumns {
		if !checkedCols[key] {
			t.Errorf("%s: no diagnostic found to check the column of", key)
		}
	}
	// Every template with markers is used by an error file (else its markers go unchecked).
	tmpls, _ := filepath.Glob("testdata/error-files/templates/*.hcl")
	for _, tm := range tmpls {
		if len(readMarkers(t, tm)) > 0 && !usedTemplates[filepath.Clean(tm)] {
			t.Errorf("%s: not used by any error file", tm)
		}
	}
}
