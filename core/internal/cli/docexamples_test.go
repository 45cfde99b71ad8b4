package cli

import (
	"encoding/json"
	"fmt"
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
	fragment         bool // an HCL fragment embedded in a minimal pipeline
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

// notValidated lists the HCL blocks of the docs (pipelines and fragments) that are not meant
// to validate, with the reason: "file:line of the opening fence".
var notValidated = map[string]string{
	"configuration.md:7": "a schematic of the file's structure: `{ ... }` stands for a block's settings",
}

// topLevelBlock matches a block or attribute that starts at the first column of a fragment.
var topLevelBlock = regexp.MustCompile(`(?m)^([a-z_]+)\b`)

// embedFragment puts an HCL fragment of the docs (blocks of a pipeline shown on their own) into
// the smallest pipeline a user would write around it: a source "oceanbase", a serializer
// "canal" and a sink "rocketmq", each replaced by the fragment's own block of that kind; a
// bare `table` block goes into an objects block; other blocks (objects, filter, runtime,
// limits, ...) are added as they are. It returns false for a fragment whose top-level
// names it does not know.
func embedFragment(text string) (string, bool) {
	kinds := map[string]bool{}
	for _, m := range topLevelBlock.FindAllStringSubmatch(text, -1) {
		kinds[m[1]] = true
	}
	known := map[string]bool{"source": true, "serializer": true, "sink": true, "filter": true, "table": true,
		"objects": true, "runtime": true, "checkpoint": true, "limits": true, "resources": true, "description": true, "tags": true}
	for k := range kinds {
		if !known[k] {
			return "", false
		}
	}
	body := text
	if kinds["table"] {
		if kinds["objects"] {
			return "", false
		}
		body = "objects {\n" + text + "}\n"
	}
	var b strings.Builder
	b.WriteString("pipeline \"fragment\" {\n")
	if !kinds["source"] {
		b.WriteString("source \"oceanbase\" {\n  address  = \"127.0.0.1:3306\"\n  user     = \"u\"\n  password = \"p\"\n  tables   = [\"shop.orders\"]\n}\n")
	}
	if !kinds["serializer"] {
		b.WriteString("serializer \"canal\" {}\n")
	}
	if !kinds["sink"] {
		b.WriteString("sink \"rocketmq\" {\n  name_servers = [\"127.0.0.1:9876\"]\n  topic        = \"t\"\n}\n")
	}
	b.WriteString(body)
	b.WriteString("}\n")
	return b.String(), true
}

// Every HCL example in README.md and docs/ that is a pipeline passes `ferry validate` as
// written. A block whose first line is a comment naming a file ("# shared/base.hcl") is that
// file, written beside the pipelines of its document (templates). Other blocks are fragments
// of a pipeline file, shown on their own: each is embedded in a minimal pipeline
// (embedFragment) and must validate there too.
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
	validated, fragmentsValidated := 0, 0
	for _, doc := range docs {
		dir := t.TempDir()
		var pipelines, fragments []docBlock
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
			} else {
				fragments = append(fragments, b)
			}
		}
		// Examples are written to run from the repository root: ./bin/plugins is there.
		_ = os.Symlink(bins, filepath.Join(dir, "bin"))
		for _, b := range fragments {
			if _, skip := notValidated[filepath.Base(doc)+":"+strconv.Itoa(b.line)]; skip {
				continue
			}
			text, ok := embedFragment(b.text)
			if !ok {
				t.Errorf("%s:%d: an HCL fragment that is neither a pipeline, a template file nor blocks of a pipeline (add it to notValidated with a reason if it is schematic):\n%s", filepath.Base(doc), b.line, b.text)
				continue
			}
			b.text, b.fragment = text, true
			pipelines = append(pipelines, b)
		}
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
			cmd.Env = append(os.Environ(), "FERRY_VAR_OB_PASSWORD=x", "OB_SYNC_PASSWORD=x", "OB_PASSWORD=x", "RMQ_AK=ak", "RMQ_SK=sk")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "is valid") {
				what := "the example"
				if b.fragment {
					what = "the fragment, in a minimal pipeline,"
				}
				t.Errorf("%s:%d: %s does not validate: %v\n%s\n%s", filepath.Base(doc), b.line, what, err, out, b.text)
			}
			if b.fragment {
				fragmentsValidated++
			} else {
				validated++
			}
		}
	}
	if validated == 0 {
		t.Fatal("no HCL example found")
	}
	if fragmentsValidated == 0 {
		t.Fatal("no HCL fragment found")
	}
	t.Logf("%d pipeline examples and %d fragments validated", validated, fragmentsValidated)
}

// subDocument reports where doc (a JSON example of the docs) is not part of got: every key of
// an object is there with a matching value, every element of an array matches one of got's
// (an empty array only an empty one), and "…" stands for any value.
func subDocument(path string, doc, got any) []string {
	if s, ok := doc.(string); ok && s == "…" {
		return nil
	}
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		var out []string
		for k, v := range d {
			gv, ok := g[k]
			if !ok {
				out = append(out, path+"."+k+": missing")
				continue
			}
			out = append(out, subDocument(path+"."+k, v, gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || (len(d) == 0) != (len(g) == 0) {
			return []string{path + ": not a matching array"}
		}
	elems:
		for i, e := range d {
			for _, ge := range g {
				if len(subDocument("", e, ge)) == 0 {
					continue elems
				}
			}
			return []string{fmt.Sprintf("%s[%d]: no element like it", path, i)}
		}
		return nil
	}
	if fmt.Sprint(doc) != fmt.Sprint(got) {
		return []string{fmt.Sprintf("%s: %v, the docs say %v", path, got, doc)}
	}
	return nil
}

// The JSON document docs/cli.md shows for `-o json` is what `ferry validate -o json` prints
// for the file it names (run from the repository root, as the docs' commands are).
func TestDocsCLIJSONExample(t *testing.T) {
	bins := e2eBins(t)
	var example string
	for _, b := range docBlocks(t) {
		if filepath.Base(b.file) == "cli.md" && b.lang == "json" {
			example = b.text
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("docs/cli.md's JSON example: %v\n%s", err, example)
	}
	cmd := exec.Command(filepath.Join(bins, "ferry"), "validate", "-o", "json", doc["file"].(string))
	cmd.Dir = "../../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("validate -o json: %v\n%s", err, out)
	}
	var got any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range subDocument("", doc, got) {
		t.Errorf("docs/cli.md's JSON example: %s\n%s", p, out)
	}
}
