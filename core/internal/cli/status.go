package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/console"
	"github.com/ferry-cdc/ferry/core/internal/status"
)

func newStatus(g *globals) *cobra.Command {
	var addr, output string
	var vars []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [FILE|NAME]",
		Short: "Show a running pipeline's phase, position, throughput, latency and last error",
		Long: `status reads the status endpoint of a running 'ferry run' and prints it. Each running
pipeline serves its own (see run's --status-addr): status finds it from the pipeline FILE
(the address its run recorded in its lease file), from the pipeline NAME (the pipelines
running on this machine, listed in ~/.ferry/run or $FERRY_RUN_DIR), or, without an
argument, the only pipeline running here. --addr reads a given address instead.
-o json prints the endpoint's JSON.

Exit codes: 0 the pipeline answered, 1 it did not (not running, or another address),
2 wrong usage (also: several pipelines run and none was named), 3 invalid pipeline FILE.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				output = outputJSON
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			target := statusTarget{addr: addr}
			if addr == "" {
				vs, err := parseVars(vars)
				if err != nil {
					return err
				}
				arg := ""
				if len(args) == 1 {
					arg = args[0]
				}
				if target, err = findStatus(arg, vs); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			url := "http://" + target.addr + "/status"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if target.pipeline != "" {
					return withCode(ExitFailure, fmt.Errorf("pipeline %q is not running: nothing answers at %s, the status address its run recorded (%v)", target.pipeline, target.addr, err))
				}
				return withCode(ExitFailure, fmt.Errorf("no pipeline answers at %s: %v", target.addr, err))
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				return withCode(ExitFailure, fmt.Errorf("%s: %s %v", url, resp.Status, err))
			}
			var s status.Snapshot
			if err := json.Unmarshal(body, &s); err != nil {
				return withCode(ExitFailure, fmt.Errorf("%s: %v", url, err))
			}
			if target.pipeline != "" && s.Pipeline != target.pipeline {
				return withCode(ExitFailure, fmt.Errorf("pipeline %q is not running: %s, the status address its last run recorded, now serves pipeline %q", target.pipeline, target.addr, s.Pipeline))
			}
			if output == outputJSON {
				_, err := g.stdout.Write(body)
				return err
			}
			printStatus(g.stdout, s)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "status address of the running pipeline (default: found from FILE or NAME)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable of the pipeline FILE: NAME=VALUE (repeatable)")
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVar(&asJSON, "json", false, "the same as -o json")
	_ = cmd.Flags().MarkHidden("json")
	return cmd
}

func printStatus(w io.Writer, s status.Snapshot) {
	row := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, v) }
	row("pipeline", s.Pipeline)
	phase := s.Phase
	if s.Stage != "" && (s.Phase == status.PhaseRunning || s.Phase == status.PhaseStopping) {
		phase += ", " + s.Stage
	}
	row("phase", fmt.Sprintf("%s (up %s)", phase, s.Now.Sub(s.StartedAt).Round(time.Second)))
	if l := s.Lease; l != nil {
		printLease(row, l, s.Now)
	}
	if wt := s.Waiting; wt != nil {
		row("waiting for", waitingText(wt, s.Now))
		row("", "last error: "+wt.Error)
	}
	printProgress(row, s)
	printLatency(row, s.Latency)
	if l := s.Limits; l != (status.Limits{}) {
		row("rate limits", "full: "+rateText(l.FullRowsPerSecond, l.FullBytesPerSecond)+"; incremental: "+rateText(l.IncrementalRowsPerSecond, l.IncrementalBytesPerSecond))
	}
	row("retries", fmt.Sprint(s.Retries))
	if s.RecordsSkipped > 0 {
		row("skipped", fmt.Sprintf("%d records too large for the sink (in the dead-letter file)", s.RecordsSkipped))
	}
	row("in flight", bytesText(float64(s.InFlightBytes)))
	if s.LastError != "" {
		row("last error", fmt.Sprintf("%s (%s ago)", strings.TrimSpace(s.LastError), s.Now.Sub(s.LastErrorAt).Round(time.Second)))
	}
	if r := s.Reload; r != nil {
		text := fmt.Sprintf("%s %s ago (%d applied, %d refused)", r.Last, s.Now.Sub(r.LastAt).Round(time.Second), r.Applied, r.Refused)
		if r.Error != "" {
			text += ": " + oneLine(r.Error) + "; the previous objects block runs"
		}
		row("last reload", text)
	}
	if r := s.Retention; r != nil {
		printRetention(row, r, s.Now)
	}
	if p := s.Snapshot; p != nil {
		printSnapshotProgress(w, row, p)
	}
}

// printProgress prints how far the pipeline got: the checkpoint, the last commit, the
// changes read and the records written, and the throughput.
func printProgress(row func(k, v string), s status.Snapshot) {
	pos := s.PositionText
	if pos == "" {
		pos = s.Position
		if len(pos) > 48 {
			pos = pos[:48] + "…"
		}
	}
	if s.SavedAt.IsZero() {
		row("checkpoint", "none saved yet")
	} else {
		row("checkpoint", fmt.Sprintf("%s (saved %s ago)", pos, s.Now.Sub(s.SavedAt).Round(time.Millisecond)))
	}
	if !s.LastCommitTime.IsZero() {
		row("last commit", s.LastCommitTime.Format(time.RFC3339Nano))
	}
	row("changes read", fmt.Sprint(s.ChangesRead))
	row("written", fmt.Sprintf("%d records, %s", s.RecordsWritten, bytesText(float64(s.BytesWritten))))
	row("throughput", fmt.Sprintf("%.0f rows/s, %s/s", s.RowsPerSecond, bytesText(s.BytesPerSecond)))
}

// printLatency prints the commit-to-acknowledgement latency and its notes.
func printLatency(row func(k, v string), l status.Latency) {
	if l.Samples > 0 {
		row("latency", fmt.Sprintf("last %.0f ms, p50 %.0f ms, p99 %.0f ms (%d recent changes)",
			l.LastMs, l.P50Ms, l.P99Ms, l.Samples))
	} else {
		row("latency", "no incremental change delivered yet")
	}
	if l.ResolutionNote != "" {
		row("", "note: "+l.ResolutionNote)
	}
	if l.ClockNote != "" {
		row("", "note: "+l.ClockNote)
	}
}

// rateText is a phase's rate limit: "100 rows/s, 1.0 MiB/s", or "none".
func rateText(rows, bytes int64) string {
	if rows == 0 && bytes == 0 {
		return "none"
	}
	var parts []string
	if rows > 0 {
		parts = append(parts, fmt.Sprintf("%d rows/s", rows))
	}
	if bytes > 0 {
		parts = append(parts, bytesText(float64(bytes))+"/s")
	}
	return strings.Join(parts, ", ")
}

// printLease prints the role in a shared checkpoint store: `active (etcd ..., lease 10s,
// writes fenced in 7.5s)` or `standby (active: pid 42 on host-a ...)`.
func printLease(row func(k, v string), l *status.Lease, now time.Time) {
	text := fmt.Sprintf("%s since %s (%s, lease %s)", l.Role, l.Since.Format(time.RFC3339), l.Store,
		time.Duration(l.LeaseTime*float64(time.Second)))
	row("lease", text)
	switch {
	case l.Role == status.RoleStandby && l.Holder != "":
		row("", "active: "+l.Holder)
	case l.Role == status.RoleStandby:
		row("", "active: unknown")
	case !l.FencedUntil.IsZero() && !now.Before(l.FencedUntil):
		row("", fmt.Sprintf("writes FENCED for %s: the lease was not renewed", now.Sub(l.FencedUntil).Round(time.Millisecond)))
	case !l.FencedUntil.IsZero():
		row("", fmt.Sprintf("writes fenced in %s unless renewed", l.FencedUntil.Sub(now).Round(time.Millisecond)))
	}
	if l.Error != "" {
		row("", "store error: "+oneLine(l.Error))
	}
}

// printRetention prints the local change store: the window a rewind can reach, what it
// holds, how far the reader is ahead of the writer, and why the reader waits.
func printRetention(row func(k, v string), r *status.Retention, now time.Time) {
	window := "empty"
	if !r.Oldest.IsZero() {
		window = fmt.Sprintf("%s .. %s (%s)", r.Oldest.Format(time.RFC3339), r.Newest.Format(time.RFC3339),
			r.Newest.Sub(r.Oldest).Round(time.Second))
	}
	row("retention", "rewind window "+window)
	bound := ""
	if r.MaxBytes > 0 {
		bound = fmt.Sprintf(" of %s (%.0f%%)", bytesText(float64(r.MaxBytes)), 100*float64(r.Bytes)/float64(r.MaxBytes))
	}
	row("", fmt.Sprintf("stored %d changes, %s%s; %s on disk", r.Changes, bytesText(float64(r.Bytes)), bound, bytesText(float64(r.DiskBytes))))
	row("", fmt.Sprintf("ahead of the writer: %d changes, %s", r.LeadChanges, bytesText(float64(r.LeadBytes))))
	if r.SourcePositionText != "" {
		row("", "reader at "+r.SourcePositionText)
	}
	if r.Waiting != "" {
		row("", "reader WAITING: "+oneLine(r.Waiting))
	}
	if rw := r.LastRewind; rw != nil {
		text := fmt.Sprintf("last rewind to %s, %s ago", rw.To.Format(time.RFC3339), now.Sub(rw.At).Round(time.Second))
		if rw.Error != "" {
			text += ": " + oneLine(rw.Error)
		}
		row("", text)
	}
}

// printSnapshotProgress prints the snapshot's totals and a table of its tables.
func printSnapshotProgress(w io.Writer, row func(k, v string), p *status.SnapshotProgress) {
	sum := fmt.Sprintf("%d of %d tables done, %s rows read", p.TablesDone, p.TablesTotal, console.Count(p.RowsRead))
	if p.RowsEstimated > 0 {
		sum += fmt.Sprintf(" of ~%s", console.Count(p.RowsEstimated))
	}
	if p.Percent != nil {
		sum += " (" + console.Percent(p.Percent) + ")"
	} else {
		sum += " (percent unknown)"
	}
	if !p.Done {
		sum += fmt.Sprintf(", %.0f rows/s", p.RowsPerSecond)
		if p.ETASeconds != nil {
			sum += ", about " + console.Duration(time.Duration(*p.ETASeconds*float64(time.Second))) + " left"
		}
	}
	row("snapshot", sum)
	cells := [][]string{{"TABLE", "ROWS", "ESTIMATE", "PERCENT", "STATE"}}
	for _, t := range p.Tables {
		est := "unknown"
		if t.RowsEstimated > 0 {
			est = "~" + console.Count(t.RowsEstimated)
		}
		cells = append(cells, []string{t.Table, console.Count(t.RowsRead), est, console.Percent(t.Percent), t.State})
	}
	widths := make([]int, len(cells[0]))
	for _, r := range cells {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range cells {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i == 0 || i == len(r)-1 { // names and states left, numbers right
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func bytesText(b float64) string { return console.Bytes(b) }

// waitingText says what a start-up wait waits for: `sink "rocketmq" at 127.0.0.1:9876 (open,
// attempt 3; next in 4s, gives up in 4m51s)`.
func waitingText(w *status.Waiting, now time.Time) string {
	at := ""
	if w.Address != "" {
		at = " at " + w.Address
	}
	return fmt.Sprintf("%s%s (%s, attempt %d; next in %s, gives up in %s)", w.For, at, w.What, w.Attempt,
		max(w.NextAttemptAt.Sub(now), 0).Round(time.Second), max(w.GiveUpAt.Sub(now), 0).Round(time.Second))
}
