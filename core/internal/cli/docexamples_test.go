package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docBlock is one fenced code block of a markdown file.
type docBlock struct {
	file, lang, text string
	line             int
}

// docBlocks returns the fenced code blocks of README.md and docs/**/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	files := []string{"../../../README.md"}
	for _, pat := range []string{"../../../docs/*.md", "../../../docs/*/*.md"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	var out []docBlock
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur *docBlock
		for i, line := range strings.Split(string(b), "\n") {
			trim := strings.TrimSpace(line)
			switch {
			case cur == nil && strings.HasPrefix(trim, "```"):
				cur = &docBlock{file: f, lang: strings.TrimPrefix(trim, "```"), line: i + 1}
			case cur != nil && trim == "```":
				out = append(out, *cur)
				cur = nil
			case cur != nil:
				cur.text += line + "\n"
			}
		}
	}
	return out
}

var fileHeader = regexp.MustCompile(`^#\s*(\S+\.hcl)\s*\n`)

// notValidated lists the pipeline-shaped HCL blocks of the docs that are not meant to
// validate, with the reason: "file:line of the opening fence".
var notValidated = map[string]string{
	"configuration.md:7": "a schematic of the file's structure: `{ ... }` stands for a block's settings",
}

// Every HCL example in README.md and docs/ that is a pipeline passes `ferry validate` as
// written. A block whose first line is a comment naming a file ("# shared/base.hcl") is that
// file, written beside the pipelines of its document (templates). Other blocks are fragments
// of a pipeline file, shown on their own; they must not hold a pipeline block.
func TestDocsHCLExamplesValidate(t *testing.T) {
	bins := e2eBins(t)
	byDoc := map[string][]docBlock{}
	var docs []string
	for _, b := range docBlocks(t) {
		if b.lang != "hcl" {
			continue
		}
		if _, ok := byDoc[b.file]; !ok {
			docs = append(docs, b.file)
		}
		byDoc[b.file] = append(byDoc[b.file], b)
	}
	validated := 0
	for _, doc := range docs {
		dir := t.TempDir()
		var pipelines []docBlock
		for _, b := range byDoc[doc] {
			if m := fileHeader.FindStringSubmatch(b.text); m != nil {
				p := filepath.Join(dir, m[1])
				_ = os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(b.text), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if regexp.MustCompile(`(?m)^pipeline "`).MatchString(b.text) {
				pipelines = append(pipelines, b)
			}
		}
		// Examples are written to run from the repository root: ./bin/plugins is there.
		_ = os.Symlink(bins, filepath.Join(dir, "bin"))
		for _, b := range pipelines {
			if _, skip := notValidated[filepath.Base(doc)+":"+strconv.Itoa(b.line)]; skip {
				continue
			}
			p := filepath.Join(dir, "example.hcl")
			if err := os.WriteFile(p, []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(bins, "ferry"), "--plugin-dir", filepath.Join(bins, "plugins"), "validate", p)
			cmd.Dir = dir
			// the values the examples ask the user to provide
			cmd.Env = append(os.Environ(), "FERRY_VAR_OB_PASSWORD=x", "OB_SYNC_PASSWORD=x")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "is valid") {
				t.Errorf("%s:%d: the example does not validate: %v\n%s", filepath.Base(doc), b.line, err, out)
			}
			validated++
		}
	}
	if validated == 0 {
		t.Fatal("no HCL example found")
	}
	t.Logf("%d pipeline examples validated", validated)
}
