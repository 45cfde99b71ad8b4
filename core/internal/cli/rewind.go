package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/retention"
	"github.com/ferry-cdc/ferry/core/internal/runner"
	"github.com/ferry-cdc/ferry/core/internal/status"
)

// ---- ferry rewind ----

func newRewind(g *globals) *cobra.Command {
	var vars []string
	var addr, to string
	cmd := &cobra.Command{
		Use:   "rewind FILE --to TIME",
		Short: "Send a pipeline's changes again from a time inside its retention window",
		Long: `rewind makes the writer of a pipeline with a retention block go back to the first change
committed at or after TIME that the local store retains, and send everything from there
again, in order per key, with the change ids of the first time, each message marked with
the property ferry_replayed=true (until the writer reaches what it had not delivered yet);
then the stream continues live. The source is not read again: the changes come from the
store, so a rewind works after the source's log was purged. Today's objects block, filters
and serializer apply.

TIME is RFC 3339 (2026-01-02T15:04:05Z, or with an offset) or relative to now: -2h, -90m.
A TIME outside the retention window (before the oldest retained change, or after the
newest) is refused, and the window is shown.

When the pipeline runs, the request goes to its status server (POST /rewind; the address
its run recorded in the lease file, or --addr) and is in force when this command returns.
When it is stopped, the rewind is recorded in its store and applied at the next 'ferry run'.
Either way it is durable: a crash during the replay continues it.

Exit codes: 0 rewound (running) or recorded (stopped), 1 refused or the pipeline could not
be reached, 2 wrong usage, 3 invalid pipeline file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseRewindTime(to, time.Now())
			if err != nil {
				return withCode(ExitUsage, err)
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			return requestRewind(cmd.Context(), g, args[0], vs, t, addr)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the time to go back to: RFC 3339, or relative to now such as -2h")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&addr, "addr", "", "status address of the pipeline when it runs (default: the address its run recorded in the lease file)")
	return cmd
}

// parseRewindTime reads --to: RFC 3339 or a negative duration from now.
func parseRewindTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("--to is required: RFC 3339 (2026-01-02T15:04:05Z) or relative such as -2h")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if strings.HasPrefix(s, "-") {
		if d, err := time.ParseDuration(s); err == nil {
			return now.Add(d), nil
		}
	}
	return time.Time{}, fmt.Errorf("--to %q: want RFC 3339 (2026-01-02T15:04:05Z) or a time relative to now such as -2h or -90m", s)
}

func requestRewind(ctx context.Context, g *globals, path string, vars map[string]string, to time.Time, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	f, diags := config.LoadFile(path, config.Options{Vars: vars})
	if diags.HasErrors() || f == nil || f.Pipeline == nil {
		return renderFail(g.stderr, diags, f)
	}
	p := f.Pipeline
	if !p.Retention.Enabled {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q has no retention block: nothing is retained to rewind into (add retention { duration = \"24h\" } to %s)", p.Name, path))
	}
	store, err := checkpoint.NewFileStore(p.Checkpoint.Dir)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer store.Close()
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(path)
	lease, err := store.Acquire(checkpoint.Owner{Pipeline: p.Name, File: abs, Host: host, PID: os.Getpid()}, false)
	if errors.Is(err, checkpoint.ErrLeaseHeld) {
		if addr == "" {
			o := store.ReadOwner(p.Name)
			if o == nil || o.StatusAddr == "" {
				return withCode(ExitFailure, fmt.Errorf("pipeline %q is running without a status server (--status-addr \"\"): stop it and run this again, or restart it with a status address", p.Name))
			}
			addr = o.StatusAddr
		}
		return postRewind(ctx, g, addr, p.Name, to)
	}
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer lease.Release()
	dir := runner.RetentionDir(p)
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q has no retention store in %s yet (it never ran with its retention block)", p.Name, dir))
	}
	st, err := retention.OpenStore(retention.Options{Dir: dir, Duration: p.Retention.Duration, MaxBytes: p.Retention.MaxBytes, MinFree: p.Retention.MinFree})
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer st.Close()
	cp, err := store.Load(ctx, p.Name)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	next, epoch := st.Window().First, uint32(0)
	if cp != nil {
		if wp, ok := retention.DecodePos(cp.Position); ok {
			next, epoch = wp.Seq+1, wp.Epoch
		}
	}
	rw, err := st.RewindTo(to, next, epoch)
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q: %w", p.Name, err))
	}
	fmt.Fprintf(g.stdout, "pipeline %q is not running: rewind to %s recorded in its store (record %d); the writer starts there at the next 'ferry run %s'\n",
		p.Name, rw.To.Format(time.RFC3339Nano), rw.Seq, path)
	return nil
}

func postRewind(ctx context.Context, g *globals, addr, name string, to time.Time) error {
	body, _ := json.Marshal(status.RewindRequest{Pipeline: name, To: to})
	url := "http://" + addr + "/rewind"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q is running, but its status server does not answer at %s (set --addr to its --status-addr): %v", name, addr, err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r status.RewindResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return withCode(ExitFailure, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(data))))
	}
	if resp.StatusCode != http.StatusOK {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q refused the rewind: %s", name, r.Error))
	}
	fmt.Fprintf(g.stdout, "pipeline %q rewound to %s: the writer sends again from record %d\n", name, r.To.Format(time.RFC3339Nano), r.Record)
	return nil
}
