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
		"objects": true, "runtime": true, "checkpoint": true, "limits": true, "resources": true, "retention": true, "description": true, "tags": true}
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
			cmd.Env = append(os.Environ(), "FERRY_VAR_OB_PASSWORD=x", "OB_SYNC_PASSWORD=x", "OB_PASSWORD=x", "RMQ_AK=ak", "RMQ_SK=sk", "ETCD_PASSWORD=x", "META_PASSWORD=x")
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

// inlineCommand is a command written in running text (a `code span`) of README.md or docs/.
var inlineCommand = regexp.MustCompile("`((?:bin/)?ferry [a-z-][^`]*|go (?:test|run) [^`]+|make [a-z-]+)`")

// The commands the docs name in running text exist as written, without running them (the
// runnable ones in code blocks are run by the integration test TestDocsCommands): a `make X`
// is a target of the Makefile; a `go test` names a package with tests and benchmarks that
// match its -run and -bench; a `go run` a main package; a `ferry ...` a command whose --help
// lists every --flag it uses (placeholders such as FILE, NAME, `<kind>/<name>` are words).
func TestDocsInlineCommandsExist(t *testing.T) {
	bins := e2eBins(t)
	makefile, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"../../../README.md"}
	for _, pat := range []string{"../../../docs/*.md", "../../../docs/*/*.md"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	helps := map[string]string{}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inlineCommand.FindAllStringSubmatch(string(b), -1) {
			cmd := strings.TrimSpace(m[1])
			words := strings.Fields(cmd)
			where := filepath.Base(f) + ": `" + cmd + "`"
			checked++
			switch {
			case words[0] == "make":
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(words[1]) + `:`).Match(makefile) {
					t.Errorf("%s: no target %s in the Makefile", where, words[1])
				}
			case words[0] == "go":
				checkGoCommand(t, where, words)
			default:
				var sub []string
				for _, w := range words[1:] {
					if !regexp.MustCompile(`^[a-z]+$`).MatchString(w) {
						break
					}
					sub = append(sub, w)
				}
				key := strings.Join(sub, " ")
				help, ok := helps[key]
				if !ok {
					out, err := exec.Command(filepath.Join(bins, "ferry"), append(sub, "--help")...).CombinedOutput()
					if err != nil || !strings.Contains(string(out), "Usage:\n  ferry "+key) {
						t.Errorf("%s: ferry %s --help: %v\n%s", where, key, err, out)
						continue
					}
					help = string(out)
					helps[key] = help
				}
				for _, w := range words[1:] {
					if fl, _, _ := strings.Cut(w, "="); strings.HasPrefix(fl, "--") && fl != "--" && !strings.Contains(help, fl+" ") {
						t.Errorf("%s: ferry %s has no flag %s", where, key, fl)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no inline command found")
	}
	t.Logf("%d inline commands checked", checked)
}

// checkGoCommand checks a `go test` or `go run` command of the docs against the source tree.
func checkGoCommand(t *testing.T, where string, words []string) {
	t.Helper()
	var pkgs []string
	flags := map[string]string{}
	for i := 2; i < len(words); i++ {
		w := strings.Trim(words[i], "'")
		switch {
		case strings.HasPrefix(w, "./"):
			pkgs = append(pkgs, strings.TrimSuffix(strings.TrimSuffix(w, "/..."), "/"))
		case (w == "-run" || w == "-bench") && i+1 < len(words):
			flags[w] = strings.Trim(words[i+1], "'")
			i++
		}
	}
	if len(pkgs) == 0 {
		t.Errorf("%s: no package", where)
		return
	}
	for _, p := range pkgs {
		dir := filepath.Join("../../..", p)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("%s: no package %s", where, p)
			continue
		}
		if words[1] == "run" {
			if b, _ := os.ReadFile(filepath.Join(dir, "main.go")); !strings.Contains(string(b), "func main()") {
				t.Errorf("%s: %s is not a main package", where, p)
			}
			continue
		}
		var src strings.Builder
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, f := range tests {
			b, _ := os.ReadFile(f)
			src.Write(b)
		}
		if src.Len() == 0 && !strings.HasSuffix(words[len(words)-1], "...") {
			t.Errorf("%s: %s has no tests", where, p)
		}
		for flag, prefix := range map[string]string{"-run": "Test", "-bench": "Benchmark"} {
			pat, ok := flags[flag]
			if !ok || pat == "." || pat == "^$" || pat == "x" {
				continue
			}
			for _, alt := range strings.Split(strings.Trim(pat, "^$"), "|") {
				name := strings.TrimPrefix(alt, prefix)
				if !regexp.MustCompile(`(?m)^func (\([^)]*\) )?` + prefix + `\w*` + regexp.QuoteMeta(name) + `\w*\(`).MatchString(src.String()) {
					t.Errorf("%s: %s %s: no %s matching %q in %s", where, flag, pat, prefix, alt, p)
				}
			}
		}
	}
}
