package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

// CheckTables checks the --table values: at least one, each "db.table" without patterns.
func CheckTables(tables []string) error {
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

// SnapshotRequest is <checkpoint dir>/<pipeline>.snapshot-request.json: tables to snapshot
// again whose new snapshot is not yet in a saved checkpoint.
type SnapshotRequest struct {
	Pipeline    string    `json:"pipeline"`
	Tables      []string  `json:"tables"`
	RequestedAt time.Time `json:"requested_at"`
}

func SnapshotRequestPath(dir, pipeline string) string {
	return filepath.Join(dir, pipeline+".snapshot-request.json")
}

// ReadSnapshotRequest reads a request file; a missing one gives nil.
func ReadSnapshotRequest(path string) (*SnapshotRequest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot request: %w", err)
	}
	var r SnapshotRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("snapshot request %s is damaged (%v): fix or delete it", path, err)
	}
	if err := CheckTables(r.Tables); err != nil {
		return nil, fmt.Errorf("snapshot request %s: %v: fix or delete it", path, err)
	}
	return &r, nil
}

// WriteSnapshotRequest replaces the request file atomically and durably (temporary file,
// fsync, rename, fsync of the directory); a request without tables removes it.
func WriteSnapshotRequest(path string, r *SnapshotRequest) error {
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

// UnionTables appends the names of add that a does not have (ignoring case), in order.
func UnionTables(a, add []string) []string {
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
	r := &resnapshots{path: SnapshotRequestPath(dir, name), name: name, pl: pl, log: log}
	if rs, ok := src.(sdk.Resnapshotter); ok {
		r.src = rs
	}
	return r
}

// recorded returns the request recorded while the pipeline was stopped (nil: none).
func (r *resnapshots) recorded() (*SnapshotRequest, error) { return ReadSnapshotRequest(r.path) }

// request applies a re-snapshot of tables to the open source.
func (r *resnapshots) request(ctx context.Context, tables []string) error {
	if err := CheckTables(tables); err != nil {
		return sdk.Permanent(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src == nil {
		return fmt.Errorf("the source cannot re-snapshot tables: %w", sdk.ErrNotSupported)
	}
	prev, err := ReadSnapshotRequest(r.path)
	if err != nil {
		return err
	}
	next := &SnapshotRequest{Pipeline: r.name, RequestedAt: time.Now().UTC()}
	if prev != nil {
		next.Tables, next.RequestedAt = prev.Tables, prev.RequestedAt
	}
	next.Tables = UnionTables(next.Tables, tables)
	if err := WriteSnapshotRequest(r.path, next); err != nil {
		return err
	}
	if err := r.src.Resnapshot(ctx, tables); err != nil {
		if werr := WriteSnapshotRequest(r.path, prev); werr != nil {
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
	cur, err := ReadSnapshotRequest(r.path)
	if err != nil {
		r.log.Warn("snapshot request file", zap.Error(err))
		return
	}
	if cur == nil {
		return
	}
	var still []string
	for _, p := range r.pending {
		still = UnionTables(still, p.tables)
	}
	// tables of the file that no pending request has are settled
	next := &SnapshotRequest{Pipeline: cur.Pipeline, RequestedAt: cur.RequestedAt}
	for _, t := range cur.Tables {
		for _, s := range still {
			if strings.EqualFold(s, t) {
				next.Tables = append(next.Tables, t)
				break
			}
		}
	}
	if err := WriteSnapshotRequest(r.path, next); err != nil {
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

// ErrResnapshotStart marks the failure of the request recorded while the pipeline was stopped.
var ErrResnapshotStart = errors.New("the recorded snapshot request cannot be applied")

// serveResnapshots applies the recorded request once the source is open, then takes
// POST /snapshot requests and settles them as checkpoints are saved. A recorded request the
// source refuses stops the run (cancel, with the reason): starting without it would silently
// drop what the operator asked for.
func serveResnapshots(ctx context.Context, cancel context.CancelCauseFunc, rs *resnapshots, start *SnapshotRequest,
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
				cancel(fmt.Errorf("%w (%s): %v; fix the pipeline or delete the file", ErrResnapshotStart, rs.path, err))
			}
			return
		}
	}
	tracker.SetResnapshot(rs.request)
	rs.watch(ctx, 250*time.Millisecond)
}
