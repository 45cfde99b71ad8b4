package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferry-cdc/ferry/sdk"
)

// precheckTimeout bounds each plugin's prechecks.
const precheckTimeout = 2 * time.Minute

type checkRow struct {
	sdk.Check
	plugin  string
	skipped bool
}

// runPrechecks runs the prechecks of every plugin that has them, in pipeline order, then
// the objects block's checks.
func runPrechecks(ctx context.Context, g *globals, l *loaded, skip map[string]bool) []checkRow {
	var rows []checkRow
	// Details quote settings and server answers: mask the file's secrets in them.
	redact := l.File.Redactor()

	for _, inst := range l.Instances() {
		pc, ok := inst.Plugin.(sdk.Prechecker)
		if !ok {
			continue
		}
		who := fmt.Sprintf("%s %s", inst.Ref.Kind, inst.Ref.Name)
		cctx, cancel := context.WithTimeout(ctx, precheckTimeout)
		checks, err := pc.Precheck(cctx)
		cancel()
		if err != nil {
			checks = append(checks, sdk.Check{Name: string(inst.Ref.Kind) + "_precheck", Status: sdk.CheckFail,
				Detail: "the checks could not run: " + err.Error(), Consequence: "the plugin's readiness is unknown"})
		}
		for _, c := range checks {
			c.Detail, c.Consequence = redact(c.Detail), redact(c.Consequence)
			rows = append(rows, checkRow{Check: c, plugin: who, skipped: skip[c.Name] && c.Status != sdk.CheckPass})
		}
	}
	for _, c := range objectChecks(ctx, g, l) {
		c.Detail, c.Consequence = redact(c.Detail), redact(c.Consequence)
		rows = append(rows, checkRow{Check: c, plugin: objectsPlugin, skipped: skip[c.Name] && c.Status != sdk.CheckPass})
	}
	return rows
}

// printChecks writes the table of checks (all of them, or with onlyProblems the failed,
// warned and skipped ones) fitted to width columns: the detail and what a skip costs are
// wrapped in the last column. It returns how many unskipped checks failed and warned.
func printChecks(w io.Writer, rows []checkRow, width int, onlyProblems bool) (failed, warned int) {
	type line struct{ name, plugin, verdict, detail, cons string }
	var lines []line
	for _, r := range rows {
		verdict := strings.ToUpper(string(r.Status))
		switch {
		case r.skipped:
			verdict = "skipped (" + string(r.Status) + ")"
		case r.Status == sdk.CheckFail:
			failed++
		case r.Status == sdk.CheckWarn:
			warned++
		}
		if onlyProblems && r.Status == sdk.CheckPass {
			continue
		}
		cons := r.Consequence
		if r.Status == sdk.CheckPass {
			cons = ""
		}
		lines = append(lines, line{r.Name, r.plugin, verdict, oneLine(r.Detail), oneLine(cons)})
	}
	if len(lines) == 0 {
		return failed, warned
	}
	w1, w2, w3 := len("CHECK"), len("PLUGIN"), len("VERDICT")
	for _, l := range lines {
		w1, w2, w3 = max(w1, runeLen(l.name)), max(w2, runeLen(l.plugin)), max(w3, runeLen(l.verdict))
	}
	indent := w1 + w2 + w3 + 6
	last := max(width-indent, 30)
	row := func(a, b, c, d string) {
		fmt.Fprintf(w, "%s  %s  %s  %s\n", pad(a, w1), pad(b, w2), pad(c, w3), d)
	}
	row("CHECK", "PLUGIN", "VERDICT", "DETAIL")
	cont := strings.Repeat(" ", indent)
	for _, l := range lines {
		text := wrap(l.detail, last)
		if l.cons != "" {
			text = append(text, wrap("if skipped: "+l.cons, last)...)
		}
		if len(text) == 0 {
			text = []string{""}
		}
		row(l.name, l.plugin, l.verdict, text[0])
		for _, t := range text[1:] {
			fmt.Fprintf(w, "%s%s\n", cont, t)
		}
	}
	return failed, warned
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, n int) string { return s + strings.Repeat(" ", max(0, n-runeLen(s))) }

// wrap breaks s into lines of at most width runes at spaces (a longer word gets its own line).
func wrap(s string, width int) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case runeLen(cur)+1+runeLen(word) <= width:
			cur += " " + word
		default:
			out = append(out, cur)
			cur = word
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// defaultWidth is the table width when the output is not a terminal and $COLUMNS is unset.
const defaultWidth = 100

// outputWidth is the width to fit output written to w: the terminal's, else $COLUMNS, else
// defaultWidth.
func outputWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		f = os.Stderr // ferry run's console writer draws on stderr
	}
	if term.IsTerminal(int(f.Fd())) {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return defaultWidth
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkJSON is one check in precheck's -o json output.
type checkJSON struct {
	Name        string `json:"name"`
	Plugin      string `json:"plugin"`
	Status      string `json:"status"`
	Skipped     bool   `json:"skipped"`
	Detail      string `json:"detail,omitempty"`
	Consequence string `json:"consequence,omitempty"`
}

// precheckJSON is precheck's -o json output.
type precheckJSON struct {
	fileJSON
	Passed bool        `json:"passed"`
	Failed int         `json:"failed"`
	Warned int         `json:"warned"`
	Checks []checkJSON `json:"checks"`
}

// precheckMode says how precheck prints: the whole table (ferry precheck), only problems and
// a one-line summary (ferry run), or JSON.
type precheckMode int

const (
	precheckTable precheckMode = iota
	precheckSummary
	precheckJSONOut
)

// precheck runs and prints the checks; it returns an ExitPrecheck error when an unskipped
// check failed. With precheckJSONOut, out receives the result instead of w.
func precheck(ctx context.Context, g *globals, l *loaded, skips []string, w io.Writer, mode precheckMode, out *precheckJSON) error {
	skip := skipSet(skips)
	return reportPrechecks(runPrechecks(ctx, g, l, skip), skip, w, mode, out)
}

func skipSet(skips []string) map[string]bool {
	skip := map[string]bool{}
	for _, s := range skips {
		skip[s] = true
	}
	return skip
}

// reportPrechecks prints the checks' rows as precheck does and returns its error.
func reportPrechecks(rows []checkRow, skip map[string]bool, w io.Writer, mode precheckMode, out *precheckJSON) error {
	if len(rows) == 0 && mode != precheckJSONOut {
		fmt.Fprintln(w, "precheck: no plugin of this pipeline has checks")
		return nil
	}
	known := map[string]bool{}
	for _, r := range rows {
		known[r.Name] = true
	}
	for s := range skip {
		if !known[s] {
			return withCode(ExitUsage, fmt.Errorf("--skip %s: no check has that name", s))
		}
	}
	var failed, warned int
	switch mode {
	case precheckJSONOut:
		out.Checks = []checkJSON{}
		for _, r := range rows {
			out.Checks = append(out.Checks, checkJSON{Name: r.Name, Plugin: r.plugin, Status: string(r.Status), Skipped: r.skipped,
				Detail: r.Detail, Consequence: r.Consequence})
			switch {
			case r.skipped:
			case r.Status == sdk.CheckFail:
				failed++
			case r.Status == sdk.CheckWarn:
				warned++
			}
		}
		out.Failed, out.Warned, out.Passed = failed, warned, failed == 0
	default:
		failed, warned = printChecks(w, rows, outputWidth(w), mode == precheckSummary)
	}
	if failed > 0 {
		return withCode(ExitPrecheck, fmt.Errorf("precheck: %d check(s) failed (skip one with --skip NAME, accepting its consequence)", failed))
	}
	switch mode {
	case precheckSummary:
		fmt.Fprintf(w, "precheck: passed: %d check(s), %d warning(s), %d skipped ('ferry precheck FILE' shows every check)\n",
			len(rows), warned, countSkipped(rows))
	case precheckTable:
		fmt.Fprintf(w, "precheck: passed (%d warning(s))\n", warned)
	}
	return nil
}

func countSkipped(rows []checkRow) int {
	n := 0
	for _, r := range rows {
		if r.skipped {
			n++
		}
	}
	return n
}

func newPrecheck(g *globals) *cobra.Command {
	var vars, skips []string
	var output string
	cmd := &cobra.Command{
		Use:   "precheck FILE",
		Short: "Check that the source and the target are ready for the pipeline",
		Long: `precheck validates the pipeline file, then runs every check of its plugins against the
real source and target (connectivity, binlog settings, log retention, privileges, names,
generated columns, keys, topics and queues) and prints a table of verdicts, fitted to the
terminal's width (details wrapped). A failed check can be skipped by name with --skip,
accepting the consequence the table states. -o json prints {file, pipeline, valid,
diagnostics, plugins, passed, failed, warned, checks} instead.

Exit codes: 0 every check passed or was skipped (warnings allowed), 4 a check failed,
3 invalid pipeline file, 2 wrong usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			host, err := g.host()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			defer host.Close()
			l, head, err := loadForOutput(cmd.Context(), g, host, args[0], vs, output)
			if output != outputJSON {
				if err != nil {
					return err
				}
				return precheck(cmd.Context(), g, l, skips, g.stdout, precheckTable, nil)
			}
			res := precheckJSON{fileJSON: head, Checks: []checkJSON{}}
			if err == nil {
				err = precheck(cmd.Context(), g, l, skips, g.stdout, precheckJSONOut, &res)
			}
			if werr := writeJSON(g.stdout, res); werr != nil {
				return werr
			}
			return err
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&skips, "skip", nil, "skip a failed check by name (repeatable)")
	return cmd
}
