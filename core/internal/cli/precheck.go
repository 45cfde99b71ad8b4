package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
	redact := l.file.Redactor()

	for _, inst := range l.instances() {
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

// printChecks writes the table and returns how many unskipped checks failed and warned.
func printChecks(w io.Writer, rows []checkRow) (failed, warned int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tPLUGIN\tVERDICT\tDETAIL\tIF SKIPPED")
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
		cons := r.Consequence
		if r.Status == sdk.CheckPass {
			cons = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.plugin, verdict, oneLine(r.Detail), oneLine(cons))
	}
	_ = tw.Flush()
	return failed, warned
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// precheck runs and prints the checks; it returns an ExitPrecheck error when an unskipped
// check failed.
func precheck(ctx context.Context, g *globals, l *loaded, skips []string, w io.Writer) error {
	skip := map[string]bool{}
	for _, s := range skips {
		skip[s] = true
	}
	rows := runPrechecks(ctx, g, l, skip)
	if len(rows) == 0 {
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
	failed, warned := printChecks(w, rows)
	if failed > 0 {
		return withCode(ExitPrecheck, fmt.Errorf("precheck: %d check(s) failed (skip one with --skip NAME, accepting its consequence)", failed))
	}
	fmt.Fprintf(w, "precheck: passed (%d warning(s))\n", warned)
	return nil
}

func newPrecheck(g *globals) *cobra.Command {
	var vars, skips []string
	cmd := &cobra.Command{
		Use:   "precheck FILE",
		Short: "Check that the source and the target are ready for the pipeline",
		Long: `precheck validates the pipeline file, then runs every check of its plugins against the
real source and target (connectivity, binlog settings, log retention, privileges, names,
generated columns, keys, topics and queues) and prints a table of verdicts. A failed check
can be skipped by name with --skip, accepting the consequence the table states.

Exit codes: 0 every check passed or was skipped (warnings allowed), 4 a check failed,
3 invalid pipeline file, 2 wrong usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			host, err := g.host()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			defer host.Close()
			l, err := load(context.Background(), g, host, args[0], vs, g.stderr)
			if err != nil {
				return err
			}
			return precheck(context.Background(), g, l, skips, g.stdout)
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&skips, "skip", nil, "skip a failed check by name (repeatable)")
	return cmd
}
