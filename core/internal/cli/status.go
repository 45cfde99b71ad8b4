package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

func newStatus(g *globals) *cobra.Command {
	var addr string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running pipeline's phase, position, throughput, latency and last error",
		Long: `status reads the status endpoint of a running 'ferry run' (see its --status-addr)
and prints it. --json prints the endpoint's JSON as is.

Exit codes: 0 the pipeline answered, 1 it did not (not running, or another address).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			url := "http://" + addr + "/status"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return withCode(ExitFailure, fmt.Errorf("no pipeline answers at %s: %v", addr, err))
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				return withCode(ExitFailure, fmt.Errorf("%s: %s %v", url, resp.Status, err))
			}
			if asJSON {
				_, err := g.stdout.Write(body)
				return err
			}
			var s status.Snapshot
			if err := json.Unmarshal(body, &s); err != nil {
				return withCode(ExitFailure, fmt.Errorf("%s: %v", url, err))
			}
			printStatus(g.stdout, s)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", DefaultStatusAddr, "status address of the running pipeline")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON")
	return cmd
}

func printStatus(w io.Writer, s status.Snapshot) {
	row := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, v) }
	row("pipeline", s.Pipeline)
	row("phase", fmt.Sprintf("%s (up %s)", s.Phase, s.Now.Sub(s.StartedAt).Round(time.Second)))
	pos := s.Position
	if len(pos) > 48 {
		pos = pos[:48] + "…"
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
	if s.Latency.Samples > 0 {
		row("latency", fmt.Sprintf("last %.0f ms, p50 %.0f ms, p99 %.0f ms (%d recent changes)",
			s.Latency.LastMs, s.Latency.P50Ms, s.Latency.P99Ms, s.Latency.Samples))
	} else {
		row("latency", "no incremental change delivered yet")
	}
	if s.Latency.ClockNote != "" {
		row("", "note: "+s.Latency.ClockNote)
	}
	if l := s.Limits; l != (status.Limits{}) {
		lim := func(rows, bytes int64) string {
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
		row("rate limits", "full: "+lim(l.FullRowsPerSecond, l.FullBytesPerSecond)+"; incremental: "+lim(l.IncrementalRowsPerSecond, l.IncrementalBytesPerSecond))
	}
	row("retries", fmt.Sprint(s.Retries))
	row("in flight", bytesText(float64(s.InFlightBytes)))
	if s.LastError != "" {
		row("last error", fmt.Sprintf("%s (%s ago)", strings.TrimSpace(s.LastError), s.Now.Sub(s.LastErrorAt).Round(time.Second)))
	}
}

func bytesText(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
