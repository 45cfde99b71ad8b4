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
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/runner"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

func newSnapshot(g *globals) *cobra.Command {
	var vars, tables []string
	var addr string
	cmd := &cobra.Command{
		Use:   "snapshot FILE --table db.table [--table ...]",
		Short: "Read the snapshot of tables of a pipeline again while the other tables keep streaming",
		Long: `snapshot re-snapshots tables of a pipeline: their rows are read again, in chunks, with the
same hand-over guarantees as the first snapshot (no snapshot row is delivered after a newer
change of its key, and the tables' changes keep flowing), while every other table keeps
streaming. Use it to get out of a stop (a table whose schema ferry could not follow), or to
refill a topic. A table whose snapshot is under way starts it over.

When the pipeline runs (another process holds its lease), the request goes to that
process's status server (the address its run recorded in the lease file, or --addr) and is
in force when this command returns. When it is stopped, the request is recorded in
<checkpoint dir>/<pipeline>.snapshot-request.json and applied at the next 'ferry run'. Either
way the request stays in that file until a saved checkpoint records the planned snapshot, so
a crash before that applies it again at the next start.

Tables must be selected by the pipeline; others are refused, by name. The source must be
able to re-snapshot (the oceanbase source in mode "both").

Exit codes: 0 the request was applied (running) or recorded (stopped), 1 it was refused or
the pipeline could not be reached, 2 wrong usage, 3 invalid pipeline file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := runner.CheckTables(tables); err != nil {
				return withCode(ExitUsage, err)
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			return requestSnapshot(cmd.Context(), g, args[0], vs, tables, addr)
		},
	}
	cmd.Flags().StringArrayVar(&tables, "table", nil, "a table to snapshot again, db.table (repeatable, at least one)")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&addr, "addr", "",
		"status address of the pipeline when it runs (default: the address its run recorded in the lease file)")
	return cmd
}

func requestSnapshot(ctx context.Context, g *globals, path string, vars map[string]string, tables []string, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	f, diags := config.LoadFile(path, config.Options{Vars: vars})
	if diags.HasErrors() || f == nil || f.Pipeline == nil {
		return renderFail(g.stderr, diags, f)
	}
	p := f.Pipeline
	store, err := checkpoint.NewFileStore(p.Checkpoint.Dir)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer store.Close()
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(path)
	// Holding the lease keeps the pipeline from starting while the request is recorded; not
	// getting it means the pipeline runs.
	lease, err := store.Acquire(checkpoint.Owner{Pipeline: p.Name, File: abs, Host: host, PID: os.Getpid()}, false)
	if errors.Is(err, checkpoint.ErrLeaseHeld) {
		if addr == "" {
			o := store.ReadOwner(p.Name)
			if o == nil || o.StatusAddr == "" {
				return withCode(ExitFailure, fmt.Errorf("pipeline %q is running without a status server (--status-addr \"\"): stop it and run this again, or restart it with a status address", p.Name))
			}
			addr = o.StatusAddr
		}
		return postSnapshot(ctx, g, addr, p.Name, tables)
	}
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer lease.Release()
	if err := checkSelected(ctx, g, path, vars, tables); err != nil {
		return err
	}
	reqPath := runner.SnapshotRequestPath(store.Dir(), p.Name)
	prev, err := runner.ReadSnapshotRequest(reqPath)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	req := &runner.SnapshotRequest{Pipeline: p.Name, RequestedAt: time.Now().UTC()}
	if prev != nil {
		req.Tables = prev.Tables
	}
	req.Tables = runner.UnionTables(req.Tables, tables)
	if err := runner.WriteSnapshotRequest(reqPath, req); err != nil {
		return withCode(ExitFailure, err)
	}
	fmt.Fprintf(g.stdout, "pipeline %q is not running: re-snapshot of %s recorded in %s; it is applied when the pipeline starts ('ferry run %s')\n",
		p.Name, strings.Join(req.Tables, ", "), reqPath, path)
	return nil
}

// checkSelected refuses tables the pipeline does not select (or selects and drops: a view,
// excluded, a bad column): those of its objects block, else those the source's tables setting
// selects (as `ferry objects` lists them). A source without a tables setting, or one that
// cannot list tables, checks them itself when the request is applied.
func checkSelected(ctx context.Context, g *globals, path string, vars map[string]string, tables []string) error {
	host, err := g.host()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer host.Close()
	l, err := load(ctx, g, host, path, vars, g.stderr)
	if err != nil {
		return err
	}
	p := l.File.Pipeline
	if _, ok := l.Source.Plugin.(sdk.Resnapshotter); !ok {
		return withCode(ExitFailure, fmt.Errorf("source %q cannot re-snapshot tables (it does not implement sdk.Resnapshotter)", l.Source.Ref.Name))
	}
	sel, where := &p.Objects.Selection, "the objects block of "+path
	if !p.Objects.Present {
		if sel, err = sourceSelection(l); err != nil {
			return nil // checked when applied
		}
		where = fmt.Sprintf("the tables of source %q in %s", l.Source.Ref.Name, path)
	}
	rows, err := resolveObjects(ctx, l, sel)
	if errors.Is(err, sdk.ErrNotSupported) || (err != nil && strings.Contains(err.Error(), "cannot list tables")) {
		return nil // checked when applied
	}
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("check the tables against the source: %w", err))
	}
	byName := map[string]resolved{}
	for _, r := range rows {
		byName[strings.ToLower(r.obj.Name())] = r
	}
	var problems []string
	for _, t := range tables {
		r, ok := byName[strings.ToLower(t)]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is not selected by %s", t, where))
		case r.reason != "":
			problems = append(problems, fmt.Sprintf("%s is not synchronized: %s", t, r.reason))
		case r.how == objects.NotSelected || r.how == objects.Excluded:
			problems = append(problems, fmt.Sprintf("%s is not selected by %s", t, where))
		}
	}
	if len(problems) > 0 {
		return withCode(ExitFailure, fmt.Errorf("cannot re-snapshot: %s", strings.Join(problems, "; ")))
	}
	return nil
}

// postSnapshot sends the request to the running pipeline's status server.
func postSnapshot(ctx context.Context, g *globals, addr, name string, tables []string) error {
	body, _ := json.Marshal(status.ResnapshotRequest{Pipeline: name, Tables: tables})
	url := "http://" + addr + "/snapshot"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q is running, but its status server does not answer at %s (set --addr to its --status-addr): %v", name, addr, err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r status.ResnapshotResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return withCode(ExitFailure, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(data))))
	}
	if resp.StatusCode != http.StatusOK {
		return withCode(ExitFailure, fmt.Errorf("pipeline %q refused the re-snapshot: %s", name, r.Error))
	}
	fmt.Fprintf(g.stdout, "pipeline %q re-snapshots %s now; 'ferry status' shows the progress\n", name, strings.Join(tables, ", "))
	return nil
}
