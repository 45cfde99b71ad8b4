//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// The shell commands of README.md and docs/ (and the commands in the comments of configs/),
// run as a new user runs them: from the repository root, with bin/ferry built.
//
// What counts as a command: every line of a ```sh, ```bash, ```shell or ```console block
// (comments removed, `\` continuations joined; in a block with `$ ` prompts only the
// prompted lines, the lines after one being the output the docs show), a `$ ` line of any
// other fenced block, every line of an indented code block, and in configs/*.hcl a comment
// line indented under the comment's text that starts with bin/ferry, ferry, mkdir, make or go.
//
// Each document is a group, run in order in its own copy of the repository root (configs/
// copied, so checkpoints land in the copy's .ferry/; bin/ferry the binary under test,
// bin/plugins an empty directory the docs' `go build -o bin/plugins/...` fill; the rest of
// the checkout linked). Each command runs with bash -c in that directory and must exit 0
// (or as its plan says), and, where the docs say what it shows, show it (docPlans). A
// `ferry run` that does not end by itself is started in the background, waited for until
// `ferry status` shows the incremental stage, and stopped with SIGINT (Ctrl-C) at the end
// of its document (or before a command that needs it stopped): it must exit 0. Commands
// that need a running pipeline run while it runs.
//
// Before the first document that uses configs/mariadb-to-rocketmq.hcl runs, the state the docs
// start from is made: what `make demo` leaves (README's "Using ferry" and the examples built
// on that file follow it): the table ferry_demo.orders and the topic demo_orders on RocketMQ
// 5.x. So this test and `make demo` must not run at the same time (both use that table and
// topic, as the docs say; make test does not run make demo). The commands
// run with FERRY_RUN_DIR set to the copy, so pipelines of other tests on this machine are
// not "running on this machine" for `ferry status` without arguments.
//
// Substitution rule: a command is changed only where the docs tell the user to put their
// own servers; then each example value the docs use for them is replaced by the test bed's
// (docSubstitutions), and the plan says so (substitute). Nothing else is changed.
//
// Commands that cannot run here are on docSkips, each with its reason; a command that is
// on neither list runs with the default plan (exit 0). After its commands, a document may go
// on with what they made (docAfter: docs/plugins.md's pipeline of the four example plugins,
// each in its own process, runs with the binaries its go build commands built).
func TestDocsCommands(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := extractDocCommands(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) == 0 {
		t.Fatal("no command found in the docs")
	}
	var order []string
	byDoc := map[string][]docCommand{}
	for _, c := range cmds {
		if _, ok := byDoc[c.doc]; !ok {
			order = append(order, c.doc)
		}
		byDoc[c.doc] = append(byDoc[c.doc], c)
	}
	used := map[string]bool{}
	ran, skipped := 0, 0
	demoMade, groupsRun := false, 0
	for _, doc := range order {
		group := byDoc[doc]
		t.Run(strings.ReplaceAll(doc, "/", "_"), func(t *testing.T) {
			for _, c := range group {
				if _, skip := docSkips[c.key()]; !skip && !demoMade && strings.Contains(c.text, demoFile) {
					demoState(t, broker)
					demoMade = true
				}
			}
			groupsRun++
			g := newDocGroup(t, root, bin, env, broker)
			defer g.stopRun()
			seen := map[string]int{}
			for _, c := range group {
				key := c.key()
				if reason, ok := docSkips[key]; ok {
					used[key] = true
					skipped++
					t.Logf("%s:%d: skipped: %s\n    %s", c.doc, c.line, reason, c.text)
					continue
				}
				seen[key]++
				// a plan for the n-th occurrence in this document, for this document, for all
				var p docPlan
				ok := false
				for _, k := range []string{fmt.Sprintf("%s|%s|%d", c.doc, key, seen[key]), c.doc + "|" + key, key} {
					if p, ok = docPlans[k]; ok {
						used[k] = true
						break
					}
				}
				if len(c.shown) > 0 && (!ok || p.check == nil) {
					t.Errorf("%s:%d: the docs show output for %q: give it a plan with a check in docPlans", c.doc, c.line, c.text)
				}
				g.run(c, p)
				ran++
			}
			if after, ok := docAfter[doc]; ok {
				after(g)
			}
		})
	}
	if groupsRun < len(order) {
		return // -run picked some documents
	}
	for k := range docPlans {
		if !used[k] {
			t.Errorf("docPlans has %q, which no document has (changed docs? update the plan)", k)
		}
	}
	for k := range docSkips {
		if !used[k] {
			t.Errorf("docSkips has %q, which no document has (changed docs? update the list)", k)
		}
	}
	t.Logf("%d commands run, %d skipped", ran, skipped)
}

// docSkips: commands of the docs that cannot run here, with the reason (keyed by the
// command as extracted: comments removed, spaces collapsed).
var docSkips = map[string]string{
	"make demo": "installs and starts the test bed (make up, which tests must not run) and runs scripts/demo.sh for about a minute; " +
		"its steps are the README's commands, run here",
	"make test": "the whole test suite, this test included",
	"FERRY_CHAOS=full FERRY_REQUIRE_TESTBED=1 go test -tags integration -count=1 -timeout 60m -run 'TestChaos|TestLoad' -v ./integration/ [-args -chaos.kills=12]": "the full fault and load suite (up to an hour); " +
		"make test runs its short version. Checked instead: the tests and the flag it names exist (TestDocsCommandTestsExist)",
	"FERRY_REQUIRE_TESTBED=1 FERRY_BIN=$PWD/bin/ferry go test -tags integration -count=1 -run 'TestKeyChange' -v ./integration/": "an integration suite that make test runs (minutes, all eight formats on both brokers); " +
		"checked instead: the tests it names exist (TestDocsCommandTestsExist)",
	"make up build": "starts the test bed, which tests must not (it is up for them) and builds ferry, which make test has done",
	"bash integration/testbed/install-debezium-server.sh": "downloads Debezium Server (about 780 MB) for make bench, which make test does not run; " +
		"make bench runs it first",
	"FERRY_BIN=bin/ferry go run ./integration/cmd/bench -only debezium":                                                 "a benchmark of about 5 minutes (make bench runs it); not a test",
	"FERRY_BIN=bin/ferry go run ./integration/cmd/bench -only debezium -debezium-rows 1000000 -debezium-backlog 500000": "the same benchmark at the issue's sizes (about 15 minutes); not a test",
	"FERRY_REQUIRE_TESTBED=1 FERRY_BIN=$PWD/bin/ferry FERRY_UPSTREAM_REPORT=/tmp/upstream-report.txt go test -tags integration -count=1 -run TestUpstreamFormats -v ./integration/": "needs the real Debezium and Canal engines built by install-upstream.sh (a Maven build); make test runs it; " +
		"checked instead: the test it names exists (TestDocsCommandTestsExist)",
}

// docSubstitutions: the example servers of the docs and the test bed's, for the commands
// whose docs tell the user to put their own (plan.substitute).
func docSubstitutions(env harness.Environment, broker harness.Broker) *strings.Replacer {
	return strings.NewReplacer(
		"10.0.0.5:2883", env.MariaDBAddr, // the OBProxy / MySQL address
		"'sync@shop_tenant#prod'", env.MariaDBUser,
		"10.0.0.7:9876", broker.NameServer,
	)
}

// docPlan says how to run a command and what to check beyond its exit code.
type docPlan struct {
	background bool     // a `ferry run` without end: started, waited for until incremental
	needsRun   bool     // needs the README's pipeline running (started if it is not)
	needsStop  bool     // needs the pipeline stopped (the one running is stopped first)
	substitute bool     // the docs tell the user to put their own servers here
	env        []string // variables the docs tell the user to set for it
	// check looks at the output (stdout and stderr); it may run more commands through g.
	check func(g *docGroup, out string) error
}

const demoFile = "configs/mariadb-to-rocketmq.hcl"

var docPlans = map[string]docPlan{
	"bin/ferry validate configs/mariadb-to-rocketmq.hcl": {check: contains(`pipeline "demo_orders" is valid`)},
	"bin/ferry run configs/mariadb-to-rocketmq.hcl":      {background: true},
	"bin/ferry precheck configs/mariadb-to-rocketmq.hcl": {check: contains("precheck: passed")},
	"bin/ferry objects configs/mariadb-to-rocketmq.hcl":  {check: contains("ferry_demo.orders  (sink topic)", "1 object(s) selected, 0 dropped")},
	// "phase, position, rows/s, latency, last error"
	"bin/ferry status": {needsRun: true, check: contains("demo_orders", "running, incremental", "checkpoint", "rows/s", "latency")},
	"bin/ferry snapshot configs/mariadb-to-rocketmq.hcl --table ferry_demo.orders": {needsRun: true,
		check: contains(`pipeline "demo_orders" re-snapshots ferry_demo.orders now`)},
	"bin/ferry plugins": {check: func(g *docGroup, out string) error {
		if strings.Contains(out, "WARN") {
			return errors.New("warnings")
		}
		return contains("oceanbase", "canal", "rocketmq", "generator")(g, out)
	}},
	"bin/ferry version": {check: func(g *docGroup, out string) error {
		// "# or ferry --version": the same
		if !regexp.MustCompile(`^ferry \S+\nplugin protocol: \d`).MatchString(out) {
			return errors.New("not ferry's version")
		}
		if alt, code := g.sh("bin/ferry --version", nil); code != 0 || alt != out {
			return fmt.Errorf("bin/ferry --version (exit %d) prints another text:\n%s", code, alt)
		}
		return nil
	}},
	// docs/sources/oceanbase.md: the same command, "running" and then "stopped"
	"docs/sources/oceanbase.md|bin/ferry snapshot configs/mariadb-to-rocketmq.hcl --table ferry_demo.orders|2": {needsStop: true,
		check: func(g *docGroup, out string) error {
			if err := contains(`pipeline "demo_orders" is not running: re-snapshot of ferry_demo.orders recorded`)(g, out); err != nil {
				return err
			}
			// "stopped: applied at the next `ferry run`"
			g.startRun("bin/ferry run " + demoFile)
			if !strings.Contains(g.bgLog.String(), "applying the snapshot request recorded while the pipeline was stopped") {
				return fmt.Errorf("the next run did not apply the recorded request:\n%s", g.bgLog.String())
			}
			return nil
		}},
	// configs/shared/testbed.hcl: "for real servers set the variables ... with the password in FERRY_VAR_password"
	"bin/ferry run --var db=10.0.0.5:2883 --var user='sync@shop_tenant#prod' --var name_server=10.0.0.7:9876 configs/mariadb-to-rocketmq.hcl": {
		background: true, substitute: true, env: []string{"FERRY_VAR_password=" + harness.Env().MariaDBPassword}},
	// configs/generator-to-file.hcl
	"mkdir -p out && bin/ferry run --plugin-dir bin/plugins configs/generator-to-file.hcl": {check: func(g *docGroup, out string) error {
		b, err := os.ReadFile(filepath.Join(g.dir, "out/demo.jsonl"))
		if err != nil || strings.Count(string(b), "\n") < 1000 {
			return fmt.Errorf("out/demo.jsonl: %v, %d lines", err, strings.Count(string(b), "\n"))
		}
		return contains("pipeline stopped")(g, out)
	}},
}

func init() {
	// docs/plugins.md: go build -o bin/plugins/ferry-<kind>-<name> ./sdk/examples/<kind>/cmd
	for _, p := range []string{"source-generator", "filter-drop", "serializer-jsonl", "sink-file"} {
		kind := strings.SplitN(p, "-", 2)[0]
		out := "bin/plugins/ferry-" + p
		cmd := fmt.Sprintf("go build -o %s ./sdk/examples/%s/cmd", out, kind)
		docPlans[cmd] = docPlan{check: func(g *docGroup, _ string) error {
			// what `ferry plugins` then finds, by that name, in the plugin directory
			got, code := g.sh("bin/ferry --plugin-dir bin/plugins plugins", nil)
			name := strings.SplitN(p, "-", 2)[1]
			if code != 0 || !regexp.MustCompile(`(?m)^`+kind+`\s+`+name+`\s.*bin/plugins/ferry-`+p).MatchString(got) {
				return fmt.Errorf("ferry plugins does not list %s (exit %d):\n%s", out, code, got)
			}
			return nil
		}}
	}
}

// docAfter: what a document goes on to do with what its commands made, run after them.
var docAfter = map[string]func(g *docGroup){
	// "A pipeline made of the four examples, each in its own process": the pipeline block of
	// docs/plugins.md (its plugin_path settings are relative to the file: the repository
	// root), with the binaries the document's go build commands made.
	"docs/plugins.md": func(g *docGroup) {
		b, err := os.ReadFile(filepath.Join(g.dir, "docs/plugins.md"))
		if err != nil {
			g.t.Fatal(err)
		}
		m := regexp.MustCompile("(?s)```hcl\n(pipeline \"demo\" \\{.*?\n\\}\n)```").FindSubmatch(b)
		if m == nil {
			g.t.Fatal("docs/plugins.md: no pipeline \"demo\" block")
		}
		if err := os.WriteFile(filepath.Join(g.dir, "demo.hcl"), m[1], 0o644); err != nil {
			g.t.Fatal(err)
		}
		_ = os.Remove("/tmp/demo.jsonl")
		start := time.Now()
		out, code := g.sh("bin/ferry run demo.hcl", nil)
		g.t.Logf("docs/plugins.md: the four examples' pipeline: exit %d (%.1fs)", code, time.Since(start).Seconds())
		data, _ := os.ReadFile("/tmp/demo.jsonl")
		if code != 0 || !strings.Contains(out, "pipeline stopped") || strings.Count(string(data), "\n") < 1000 || strings.Contains(out, "WARN") {
			g.t.Errorf("docs/plugins.md: the four examples' pipeline: exit %d, %d lines in /tmp/demo.jsonl:\n%s", code, strings.Count(string(data), "\n"), out)
		}
	},
}

func contains(parts ...string) func(*docGroup, string) error {
	return func(_ *docGroup, out string) error {
		for _, p := range parts {
			if !strings.Contains(out, p) {
				return fmt.Errorf("the output lacks %q", p)
			}
		}
		return nil
	}
}

// docCommand is one command of a document.
type docCommand struct {
	doc   string // path relative to the repository root
	line  int
	text  string   // comments removed, continuations joined
	shown []string // output shown after a `$ ` prompt
}

func (c docCommand) key() string { return strings.Join(strings.Fields(c.text), " ") }

var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}

// extractDocCommands reads README.md, docs/**/*.md and configs/**/*.hcl under root.
func extractDocCommands(root string) ([]docCommand, error) {
	files := []string{"README.md"}
	for _, pat := range []string{"docs/*.md", "docs/*/*.md", "docs/*/*/*.md", "configs/*.hcl", "configs/*/*.hcl"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			files = append(files, rel)
		}
	}
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		lines := strings.Split(string(b), "\n")
		if strings.HasSuffix(f, ".hcl") {
			out = append(out, hclCommentCommands(f, lines)...)
		} else {
			out = append(out, markdownCommands(f, lines)...)
		}
	}
	return out, nil
}

// markdownCommands: see TestDocsCommands for what counts as a command.
func markdownCommands(doc string, lines []string) []docCommand {
	var out []docCommand
	// add joins the command starting at lines[i] with its continuation lines; it returns
	// the index of the last line used.
	add := func(i int, first string, indent string) int {
		c := docCommand{doc: doc, line: i + 1}
		text := stripShellComment(first)
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + stripShellComment(strings.TrimPrefix(lines[i], indent))
		}
		c.text = strings.TrimSpace(text)
		if c.text != "" {
			out = append(out, c)
		}
		return i
	}
	for i := 0; i < len(lines); i++ {
		trim := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(trim, "```"):
			lang := strings.TrimPrefix(trim, "```")
			end := i + 1
			for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
				end++
			}
			body := lines[i+1 : end]
			prompts := false
			for _, l := range body {
				if strings.HasPrefix(strings.TrimSpace(l), "$ ") {
					prompts = true
				}
			}
			for j := 0; j < len(body); j++ {
				l := strings.TrimSpace(body[j])
				switch {
				case prompts && strings.HasPrefix(l, "$ "):
					// the output shown: the lines up to the next prompt
					j = add(i+1+j, strings.TrimPrefix(l, "$ "), "") - (i + 1)
					n := len(out) - 1
					for j+1 < len(body) && !strings.HasPrefix(strings.TrimSpace(body[j+1]), "$ ") {
						j++
						if s := strings.TrimSpace(body[j]); s != "" && n >= 0 {
							out[n].shown = append(out[n].shown, s)
						}
					}
				case !prompts && shellLangs[lang] && l != "" && !strings.HasPrefix(l, "#"):
					j = add(i+1+j, l, "") - (i + 1)
				}
			}
			i = end
		case strings.HasPrefix(lines[i], "    ") && trim != "" && i > 0 && strings.TrimSpace(lines[i-1]) == "":
			// an indented code block: a list item's continuation is indented by 2 in these docs
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == ""); i++ {
				if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "#") {
					i = add(i, l, "")
				}
			}
		}
	}
	return out
}

var hclCommentCommand = regexp.MustCompile(`^#\s{2,}((bin/ferry|ferry|mkdir|make|go)\s.*)$`)

// hclCommentCommands: the commands in the comments of a pipeline file.
func hclCommentCommands(doc string, lines []string) []docCommand {
	var out []docCommand
	for i := 0; i < len(lines); i++ {
		m := hclCommentCommand.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		c := docCommand{doc: doc, line: i + 1}
		text := stripShellComment(m[1])
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + stripShellComment(strings.TrimPrefix(strings.TrimSpace(lines[i]), "#"))
		}
		c.text = strings.TrimSpace(text)
		out = append(out, c)
	}
	return out
}

// stripShellComment removes a shell comment: a # that starts a word outside quotes.
func stripShellComment(s string) string {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimRight(s[:i], " \t")
		}
	}
	return strings.TrimRight(s, " \t")
}

// docGroup is the copy of the repository root one document's commands run in.
type docGroup struct {
	t      *testing.T
	dir    string
	env    []string
	subst  *strings.Replacer
	bg     *exec.Cmd
	bgDone chan error
	bgLog  *syncBuffer
	bgFile string
}

func newDocGroup(t *testing.T, root, bin string, env harness.Environment, broker harness.Broker) *docGroup {
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "bin", "configs", ".ferry", ".git", "out":
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "configs"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy configs: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin", "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "ferry")); err != nil {
		t.Fatal(err)
	}
	g := &docGroup{t: t, dir: dir, subst: docSubstitutions(env, broker),
		env: append(os.Environ(), "FERRY_RUN_DIR="+filepath.Join(dir, ".run"), "FERRY_PLUGIN_DIR=")}
	return g
}

// demoState makes what `make demo` leaves (scripts/demo.sh, smaller): ferry_demo.orders and
// the topic demo_orders on RocketMQ 5.x.
func demoState(t *testing.T, broker harness.Broker) {
	t.Helper()
	const dbName = "ferry_demo"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, `CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(32) NOT NULL,
       status ENUM('new','paid','shipped') NOT NULL, amount DECIMAL(12,2), updated_at DATETIME(3))`)
	insertRows(t, db, "INSERT INTO orders VALUES ", 2000, func(i int) string {
		return fmt.Sprintf("(%d, 'customer-%d', 'new', %d.25, '2026-11-25 08:00:00.000')", i, i%37, i)
	})
	harness.CreateTopic(t, broker, "demo_orders", 8)
}

// sh runs a command in the group's directory and returns its output and exit code.
func (g *docGroup) sh(text string, extraEnv []string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir = g.dir
	cmd.Env = append(append([]string{}, g.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		return string(out) + err.Error(), -1
	}
	return string(out), 0
}

func (g *docGroup) run(c docCommand, p docPlan) {
	t := g.t
	text := c.text
	if p.substitute {
		text = g.subst.Replace(text)
	}
	if p.needsStop {
		g.stopRun()
	}
	if p.needsRun && g.bg == nil {
		g.startRun("bin/ferry run " + demoFile)
	}
	start := time.Now()
	if p.background {
		g.stopRun()
		g.startRun(text, p.env...)
		t.Logf("%s:%d: ran in the background until incremental (%.1fs): %s", c.doc, c.line, time.Since(start).Seconds(), text)
		return
	}
	out, code := g.sh(text, p.env)
	t.Logf("%s:%d: exit %d (%.1fs): %s", c.doc, c.line, code, time.Since(start).Seconds(), text)
	if code != 0 {
		t.Errorf("%s:%d: %s: exit %d, want 0:\n%s", c.doc, c.line, text, code, out)
		return
	}
	if p.check != nil {
		if err := p.check(g, out); err != nil {
			t.Errorf("%s:%d: %s: %v\n%s", c.doc, c.line, text, err, out)
		}
	}
}

var stageIncremental = regexp.MustCompile(`"stage":\s*"incremental"`)

// startRun starts a `ferry run` command in the background and waits until `ferry status`
// of its file shows the incremental stage.
func (g *docGroup) startRun(text string, extraEnv ...string) {
	t := g.t
	g.stopRun()
	file := ""
	for _, f := range strings.Fields(text) {
		if strings.HasSuffix(f, ".hcl") {
			file = f
		}
	}
	cmd := exec.Command("bash", "-c", text)
	cmd.Dir = g.dir
	cmd.Env = append(append([]string{}, g.env...), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.bgLog = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = g.bgLog, g.bgLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.bg, g.bgFile, g.bgDone = cmd, file, make(chan error, 1)
	go func() { g.bgDone <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := g.sh("bin/ferry status -o json "+file, extraEnv)
		if stageIncremental.MatchString(out) {
			return
		}
		select {
		case err := <-g.bgDone:
			g.bg = nil
			t.Fatalf("%s ended before the incremental stage: %v\n%s", text, err, g.bgLog.String())
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not incremental after 60s; last status:\n%s\nlog:\n%s", text, out, g.bgLog.String())
		}
	}
}

// stopRun stops the background run as Ctrl-C does (SIGINT to its process group); it must
// stop gracefully: exit 0.
func (g *docGroup) stopRun() {
	if g.bg == nil {
		return
	}
	t := g.t
	cmd := g.bg
	g.bg = nil
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-g.bgDone:
		if err != nil || !strings.Contains(g.bgLog.String(), "pipeline stopped") {
			t.Errorf("%s: Ctrl-C did not stop it gracefully: %v\n%s", strings.Join(cmd.Args[2:], " "), err, g.bgLog.String())
		}
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-g.bgDone
		t.Errorf("%s: not stopped 30s after SIGINT:\n%s", strings.Join(cmd.Args[2:], " "), g.bgLog.String())
	}
}

// TestDocsCommandTestsExist: the `go test` commands of the docs (TestDocsCommands does not
// run them: docSkips) name tests and flags that exist.
func TestDocsCommandTestsExist(t *testing.T) {
	root, _ := filepath.Abs("..")
	cmds, err := extractDocCommands(root)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	m, _ := filepath.Glob(filepath.Join(root, "integration", "*_test.go"))
	for _, f := range m {
		b, _ := os.ReadFile(f)
		src.Write(b)
	}
	runFlag := regexp.MustCompile(`-run '?([^' ]+)'?`)
	checked := 0
	for _, c := range cmds {
		if !strings.Contains(c.text, "go test") {
			continue
		}
		checked++
		if !strings.Contains(c.text, "./integration/") {
			t.Errorf("%s:%d: %s: not the integration package", c.doc, c.line, c.text)
		}
		rm := runFlag.FindStringSubmatch(c.text)
		if rm == nil {
			t.Errorf("%s:%d: %s: no -run", c.doc, c.line, c.text)
			continue
		}
		for _, alt := range strings.Split(rm[1], "|") {
			if !regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(alt) + `\w*\(t \*testing\.T\)`).MatchString(src.String()) {
				t.Errorf("%s:%d: -run %s: no test %s* in integration/", c.doc, c.line, rm[1], alt)
			}
		}
		for _, fm := range regexp.MustCompile(`-args -([a-z.]+)=`).FindAllStringSubmatch(c.text, -1) {
			if !strings.Contains(src.String(), `"`+fm[1]+`"`) {
				t.Errorf("%s:%d: flag -%s is not defined in integration/", c.doc, c.line, fm[1])
			}
		}
	}
	if checked == 0 {
		t.Fatal("no test command found in docs/testing.md")
	}
}

// TestDocsCommandsExtracted checks the extraction itself on the forms it reads (no test bed).
func TestDocsCommandsExtracted(t *testing.T) {
	md := strings.Split("x\n\n```sh\nmake demo   # a comment\n            # more comment\nbin/ferry run --var u='a#b' \\\n   f.hcl  # run\n```\n\n```\n$ bin/ferry version\nferry 1\n$ echo hi\nhi\n```\n\n    go test \\\n      ./x/\n\n- item\n  continued\n", "\n")
	got := markdownCommands("d.md", md)
	want := []docCommand{
		{doc: "d.md", line: 4, text: "make demo"},
		{doc: "d.md", line: 6, text: "bin/ferry run --var u='a#b'     f.hcl"},
		{doc: "d.md", line: 11, text: "bin/ferry version", shown: []string{"ferry 1"}},
		{doc: "d.md", line: 13, text: "echo hi", shown: []string{"hi"}},
		{doc: "d.md", line: 17, text: "go test       ./x/"},
	}
	for i := range got {
		got[i].text = got[i].key()
	}
	for i := range want {
		want[i].text = want[i].key()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	hcl := hclCommentCommands("c.hcl", strings.Split("# text\n#   template = \"x\"\n#   bin/ferry run --var a=b \\\n#                 --var c=d f.hcl\n# with more\n", "\n"))
	if len(hcl) != 1 || hcl[0].key() != "bin/ferry run --var a=b --var c=d f.hcl" || hcl[0].line != 3 {
		t.Errorf("comment commands: %v", hcl)
	}
	root, _ := filepath.Abs("..")
	cmds, err := extractDocCommands(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		t.Logf("%s:%d: %s", c.doc, c.line, c.key())
	}
}
