package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
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
			if err := checkTableArgs(tables); err != nil {
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

// checkTableArgs checks the --table values: at least one, each "db.table" without patterns.
func checkTableArgs(tables []string) error {
	if len(tables) == 0 {
		return errors.New("name at least one table: --table db.table")
	}
	for _, t := range tables {
		db, name, ok := strings.Cut(t, ".")
		if !ok || db == "" || name == "" || strings.Contains(name, ".") {
			return fmt.Errorf("--table %q: want db.table", t)
		}
		if strings.ContainsAny(t, "* ") {
			return fmt.Errorf("--table %q: name one table (no patterns, no spaces)", t)
		}
	}
	return nil
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
	reqPath := snapshotRequestPath(store.Dir(), p.Name)
	prev, err := readSnapshotRequest(reqPath)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	req := &snapshotRequest{Pipeline: p.Name, RequestedAt: time.Now().UTC()}
	if prev != nil {
		req.Tables = prev.Tables
	}
	req.Tables = unionTables(req.Tables, tables)
	if err := writeSnapshotRequest(reqPath, req); err != nil {
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
	p := l.file.Pipeline
	if _, ok := l.source.Plugin.(sdk.Resnapshotter); !ok {
		return withCode(ExitFailure, fmt.Errorf("source %q cannot re-snapshot tables (it does not implement sdk.Resnapshotter)", l.source.Ref.Name))
	}
	sel, where := &p.Objects.Selection, "the objects block of "+path
	if !p.Objects.Present {
		if sel, err = sourceSelection(l); err != nil {
			return nil // checked when applied
		}
		where = fmt.Sprintf("the tables of source %q in %s", l.source.Ref.Name, path)
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

// ---- the request file ----

// snapshotRequest is <checkpoint dir>/<pipeline>.snapshot-request.json: tables to snapshot
// again whose new snapshot is not yet in a saved checkpoint.
type snapshotRequest struct {
	Pipeline    string    `json:"pipeline"`
	Tables      []string  `json:"tables"`
	RequestedAt time.Time `json:"requested_at"`
}

func snapshotRequestPath(dir, pipeline string) string {
	return filepath.Join(dir, pipeline+".snapshot-request.json")
}

// readSnapshotRequest reads a request file; a missing one gives nil.
func readSnapshotRequest(path string) (*snapshotRequest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot request: %w", err)
	}
	var r snapshotRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("snapshot request %s is damaged (%v): fix or delete it", path, err)
	}
	if err := checkTableArgs(r.Tables); err != nil {
		return nil, fmt.Errorf("snapshot request %s: %v: fix or delete it", path, err)
	}
	return &r, nil
}

// writeSnapshotRequest replaces the request file atomically and durably (temporary file,
// fsync, rename, fsync of the directory); a request without tables removes it.
func writeSnapshotRequest(path string, r *snapshotRequest) error {
	dir := filepath.Dir(path)
	if r == nil || len(r.Tables) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove snapshot request: %w", err)
		}
		return syncDir(dir)
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write snapshot request: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write snapshot request: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unionTables appends the names of add that a does not have (ignoring case), in order.
func unionTables(a, add []string) []string {
	out := append([]string(nil), a...)
	seen := map[string]bool{}
	for _, t := range a {
		seen[strings.ToLower(t)] = true
	}
	for _, t := range add {
		if !seen[strings.ToLower(t)] {
			seen[strings.ToLower(t)] = true
			out = append(out, t)
		}
	}
	return out
}

// ---- the running side ----

// resnapshots applies re-snapshot requests in `ferry run`: the one recorded while the pipeline
// was stopped, at the start, and those of POST /snapshot. A request is written to the request
// file before the source gets it, and its tables leave the file once a checkpoint is saved
// that holds a position the source returned after the request was in force (ReadBound): from
// then on the saved position itself makes a restart continue the new snapshot.
type resnapshots struct {
	path string
	name string
	src  sdk.Resnapshotter // nil: the source cannot
	pl   *pipeline.Pipeline
	log  *zap.Logger

	mu      sync.Mutex
	pending []pendingResnapshot // applied, not yet in a saved checkpoint
}

type pendingResnapshot struct {
	tables []string
	bound  uint64
}

func newResnapshots(dir, name string, src sdk.Source, pl *pipeline.Pipeline, log *zap.Logger) *resnapshots {
	r := &resnapshots{path: snapshotRequestPath(dir, name), name: name, pl: pl, log: log}
	if rs, ok := src.(sdk.Resnapshotter); ok {
		r.src = rs
	}
	return r
}

// recorded returns the request recorded while the pipeline was stopped (nil: none).
func (r *resnapshots) recorded() (*snapshotRequest, error) { return readSnapshotRequest(r.path) }

// request applies a re-snapshot of tables to the open source.
func (r *resnapshots) request(ctx context.Context, tables []string) error {
	if err := checkTableArgs(tables); err != nil {
		return sdk.Permanent(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src == nil {
		return fmt.Errorf("the source cannot re-snapshot tables: %w", sdk.ErrNotSupported)
	}
	prev, err := readSnapshotRequest(r.path)
	if err != nil {
		return err
	}
	next := &snapshotRequest{Pipeline: r.name, RequestedAt: time.Now().UTC()}
	if prev != nil {
		next.Tables, next.RequestedAt = prev.Tables, prev.RequestedAt
	}
	next.Tables = unionTables(next.Tables, tables)
	if err := writeSnapshotRequest(r.path, next); err != nil {
		return err
	}
	if err := r.src.Resnapshot(ctx, tables); err != nil {
		if werr := writeSnapshotRequest(r.path, prev); werr != nil {
			r.log.Warn("could not restore the snapshot request file after a refused request", zap.Error(werr))
		}
		return err
	}
	r.pending = append(r.pending, pendingResnapshot{tables: tables, bound: r.pl.ReadBound()})
	r.log.Info("re-snapshot planned", zap.Strings("tables", tables))
	return nil
}

// settle drops the requests a saved checkpoint holds from the request file.
func (r *resnapshots) settle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return
	}
	saved := r.pl.Stats().CommittedSequence
	keep := r.pending[:0]
	var done []string
	for _, p := range r.pending {
		if saved > p.bound {
			done = append(done, p.tables...)
			continue
		}
		keep = append(keep, p)
	}
	r.pending = keep
	if len(done) == 0 {
		return
	}
	cur, err := readSnapshotRequest(r.path)
	if err != nil {
		r.log.Warn("snapshot request file", zap.Error(err))
		return
	}
	if cur == nil {
		return
	}
	var still []string
	for _, p := range r.pending {
		still = unionTables(still, p.tables)
	}
	// tables of the file that no pending request has are settled
	next := &snapshotRequest{Pipeline: cur.Pipeline, RequestedAt: cur.RequestedAt}
	for _, t := range cur.Tables {
		for _, s := range still {
			if strings.EqualFold(s, t) {
				next.Tables = append(next.Tables, t)
				break
			}
		}
	}
	if err := writeSnapshotRequest(r.path, next); err != nil {
		r.log.Warn("could not update the snapshot request file; the request is applied again at the next start", zap.Error(err))
		return
	}
	r.log.Info("re-snapshot recorded in a saved checkpoint", zap.Strings("tables", done))
}

// watch settles requests as checkpoints are saved, until ctx ends.
func (r *resnapshots) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.settle()
		}
	}
}

// errResnapshotStart marks the failure of the request recorded while the pipeline was stopped.
var errResnapshotStart = errors.New("the recorded snapshot request cannot be applied")

// serveResnapshots applies the recorded request once the source is open, then takes
// POST /snapshot requests and settles them as checkpoints are saved. A recorded request the
// source refuses stops the run (cancel, with the reason): starting without it would silently
// drop what the operator asked for.
func serveResnapshots(ctx context.Context, cancel context.CancelCauseFunc, rs *resnapshots, start *snapshotRequest,
	tracker *status.Tracker, log *zap.Logger) {
	select {
	case <-rs.pl.Opened():
	case <-rs.pl.Done():
		return
	case <-ctx.Done():
		return
	}
	if start != nil {
		log.Info("applying the snapshot request recorded while the pipeline was stopped",
			zap.Strings("tables", start.Tables), zap.String("file", rs.path))
		if err := rs.request(ctx, start.Tables); err != nil {
			if ctx.Err() == nil {
				cancel(fmt.Errorf("%w (%s): %v; fix the pipeline or delete the file", errResnapshotStart, rs.path, err))
			}
			return
		}
	}
	tracker.SetResnapshot(rs.request)
	rs.watch(ctx, 250*time.Millisecond)
}
