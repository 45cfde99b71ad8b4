package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/console"
	"github.com/ferry-cdc/ferry/core/internal/deadletter"
	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

// Options are what `ferry run` decides besides the pipeline file.
type Options struct {
	// Path and Vars are the pipeline file and its variables; a reload reads them again.
	Path string
	Vars map[string]string
	// Adopt continues from a checkpoint made from another file path (the file was moved).
	Adopt bool
	// Watch is how often the file is checked for changes (0: reload on SIGHUP only).
	Watch time.Duration
	// Wait, when set, overrides runtime.startup_wait.
	Wait *time.Duration
	// StandbyAgain: the process runs again after it lost the lease; a shared checkpoint store
	// that cannot be reached is waited for without a limit.
	StandbyAgain bool

	// Logger is the process's logger (Run adds the pipeline's name); Redact masks the file's
	// secrets in what Run reports (errors, status).
	Logger *zap.Logger
	Redact func(string) string
	// Console, when set, shows the snapshot's progress and a live status line; without one
	// the progress goes to the log.
	Console *console.Console
	// StatusAddr picks the status server's address from the previous run's lease owner
	// (nil: none): listen first, then fallback when listen is taken ("" for either: none).
	StatusAddr func(prev *checkpoint.Owner) (listen, fallback string)
	// OnStatusServed, when set, learns the address status is served on (the CLI records the
	// run there); the function it returns runs when Run returns.
	OnStatusServed func(addr, checkpointDir string) (undo func())
	// Precheck, when set, runs the prechecks once status is served, waiting until until for
	// a source or sink that cannot be reached; an error refuses the start.
	Precheck func(ctx context.Context, until time.Time, tracker *status.Tracker) error
}

// Run runs the loaded pipeline until ctx ends (a graceful stop: in-flight messages are
// delivered and a final checkpoint saved), the source ends, or the pipeline fails. It
// assembles what the file asks for around the runtime: the checkpoint store and the lease
// (a file store with its lock, or a shared store with a fenced lease and a standby wait,
// ADR 0014), status and metrics, the objects stage, the dead-letter file, the resources'
// memory limit, the retention store (ADR 0013), re-snapshot requests and the reloader.
//
// Run reports nothing itself that it returns: the error says why the pipeline stopped.
// Errors of Precheck come back as they are; a lost lease wraps checkpoint.ErrLeaseLost; a
// stop while waiting (prechecks, standby) returns nil.
func Run(ctx context.Context, l *Loaded, o Options) error {
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	r := &run{l: l, o: o, p: l.File.Pipeline}
	r.log = o.Logger.With(zap.String(logging.FieldPipeline, r.p.Name))
	defer r.close()
	if err := r.openCheckpoints(); err != nil {
		return err
	}
	r.newTracker()
	if err := r.newPipeline(); err != nil {
		return err
	}
	stopStopping := context.AfterFunc(ctx, func() { r.tracker.SetPhase(status.PhaseStopping) })
	defer stopStopping()
	r.startServing(ctx)
	if started, err := r.awaitStart(ctx); !started {
		return err
	}
	return r.runPipeline(ctx)
}

// run is one Run: what it opened, closed in reverse order when it returns.
type run struct {
	l   *Loaded
	o   Options
	p   *config.Pipeline
	log *zap.Logger

	store   *checkpoint.FileStore
	ha      *haRun            // nil: the file store's lease
	lease   *checkpoint.Lease // the file store's lease
	owner   checkpoint.Owner
	prev    *checkpoint.Owner // the previous run's lease owner (its status address)
	cpStore checkpoint.Store
	state   sdk.StateStore

	tracker *status.Tracker
	pl      *pipeline.Pipeline
	stage   *objects.Stage
	ret     *retentionHook
	rs      *resnapshots
	start   *SnapshotRequest // recorded while the pipeline was stopped
	until   time.Time        // end of the start-up wait

	closers []func()
}

func (r *run) defer_(f func()) { r.closers = append(r.closers, f) }

func (r *run) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// openCheckpoints opens the checkpoint store and takes the pipeline's lease: the file
// store's lock, or for a shared store (checkpoint.store = "etcd" or "mysql") prepares what
// awaitStart connects and takes the lease of later, as a standby whose status is served.
func (r *run) openCheckpoints() error {
	p := r.p
	store, err := checkpoint.NewFileStore(p.Checkpoint.Dir)
	if err != nil {
		return err
	}
	r.store = store
	r.defer_(func() { _ = store.Close() })
	host, _ := os.Hostname()
	abs, _ := filepath.Abs(r.o.Path)
	r.owner = checkpoint.Owner{Pipeline: p.Name, File: abs, Host: host, PID: os.Getpid()}
	r.prev = store.ReadOwner(p.Name) // its status address, before Acquire replaces it
	if r.ha = newHA(r.o.Redact, p, r.owner, r.log); r.ha != nil {
		r.defer_(r.ha.close)
		r.cpStore, r.state = haStore{r.ha}, haStore{r.ha} // connected in awaitStart
		return nil
	}
	if r.lease, err = store.Acquire(r.owner, r.o.Adopt); err != nil {
		return err
	}
	lease := r.lease
	r.defer_(func() { _ = lease.Release() })
	ds, err := sdk.NewDirState(store.StateDir(p.Name))
	if err != nil {
		return err
	}
	r.cpStore, r.state = store, ds
	return nil
}

// newTracker makes the status tracker: the pipeline's counters (once it exists), the
// source's progress and positions, and the configured limits.
func (r *run) newTracker() {
	p := r.p
	t := status.NewTracker(p.Name, func() pipeline.Stats {
		st := r.pl.Stats()
		st.LastError = r.o.Redact(st.LastError)
		return st
	})
	t.SetLogger(r.log)
	if pr, ok := r.l.Source.Plugin.(sdk.ProgressReporter); ok {
		t.SetProgressSource(pr.SnapshotProgress)
	}
	if pd, ok := r.l.Source.Plugin.(sdk.PositionDescriber); ok {
		t.SetPositionDescriber(pd.DescribePosition)
	}
	t.SetLimits(status.Limits{
		FullRowsPerSecond: p.Limits.Full.RowsPerSecond, FullBytesPerSecond: p.Limits.Full.BytesPerSecond,
		IncrementalRowsPerSecond: p.Limits.Incremental.RowsPerSecond, IncrementalBytesPerSecond: p.Limits.Incremental.BytesPerSecond,
	})
	r.tracker = t
}

// newPipeline assembles the runtime's configuration from the file and makes the pipeline.
func (r *run) newPipeline() error {
	p, log := r.p, r.log
	pcfg := r.pipelineConfig()
	if p.Objects.Present {
		r.stage = objects.NewStage(&p.Objects.Selection)
		r.stage.OnDrop = func(table string, how objects.How) {
			reason := "no table entry or rule of the objects block selects it"
			if how == objects.Excluded {
				reason = "an exclude pattern of the objects block matches it"
			}
			log.Warn("changes of a table the source reads are dropped", zap.String("table", table), zap.String("reason", reason))
		}
		pcfg.Objects, pcfg.Shard, pcfg.Key = r.stage.Apply, r.stage.Shard, r.stage.Key
	}
	if p.Runtime.Oversize == config.OversizeSkip {
		dl, err := deadletter.Open(p.Checkpoint.Dir, p.Name)
		if err != nil {
			return err
		}
		r.defer_(func() { _ = dl.Close() })
		pcfg.OnOversize = dl.Write
		log.Info("records too large for the sink are skipped into the dead-letter file (runtime oversize = \"skip\")",
			zap.String("file", dl.Name()))
	}
	applyResources(&pcfg, p)
	ret, err := openRetention(p, &pcfg, r.tracker, log) // the local change store between the source and the writer
	if err != nil {
		return err
	}
	r.ret = ret
	r.defer_(ret.Close)
	if r.ha != nil {
		pcfg.Fence = r.ha // every sink write is fenced by the lease
	}
	r.startupWait(&pcfg)
	if r.pl, err = pipeline.New(pcfg); err != nil {
		return err
	}
	if n := setMemoryLimit(p); n > 0 {
		log.Info("memory limit: memory in flight + log reader memory + overhead", zap.Int64("bytes", n))
	}
	ret.lowerMemoryLimit(log)
	r.rs = newResnapshots(r.store.Dir(), p.Name, pcfg.Source, r.pl, log)
	if r.start, err = r.rs.recorded(); err != nil {
		return err
	}
	r.tracker.SetPipelinePhase(func() string { ph, _ := r.pl.Phase(); return ph })
	return nil
}

// pipelineConfig maps the file's runtime, checkpoint and limits blocks and the plugins onto
// the runtime's configuration.
func (r *run) pipelineConfig() pipeline.Config {
	p, l := r.p, r.l
	filters := make([]sdk.Filter, len(l.Filters))
	for i, f := range l.Filters {
		filters[i] = f.Plugin.(sdk.Filter)
	}
	return pipeline.Config{
		Name:               p.Name,
		Source:             l.Source.Plugin.(sdk.Source),
		Filters:            filters,
		Serializer:         l.Serializer.Plugin.(sdk.Serializer),
		Sink:               l.Sink.Plugin.(sdk.Sink),
		Store:              r.cpStore,
		State:              r.state,
		BatchSize:          p.Runtime.BatchSize,
		BatchTimeout:       p.Runtime.BatchTimeout,
		Writers:            p.Runtime.Writers,
		MaxInFlightBytes:   p.Runtime.MaxInFlightBytes,
		DrainTimeout:       p.Runtime.DrainTimeout,
		KeyChange:          p.Runtime.KeyChange,
		CheckpointInterval: p.Checkpoint.Interval,
		Logger:             r.o.Logger, // the pipeline adds its own name field
		OnDelivered:        r.tracker.OnDelivered,
		Limits: pipeline.Limits{
			Full:        pipeline.Rate{RowsPerSecond: float64(p.Limits.Full.RowsPerSecond), BytesPerSecond: float64(p.Limits.Full.BytesPerSecond)},
			Incremental: pipeline.Rate{RowsPerSecond: float64(p.Limits.Incremental.RowsPerSecond), BytesPerSecond: float64(p.Limits.Incremental.BytesPerSecond)},
		},
	}
}

// startupWait sets the start-up wait (runtime.startup_wait, or Options.Wait): it counts from
// here, for the prechecks and the plugins' Open alike, and shows in status.
func (r *run) startupWait(pcfg *pipeline.Config) {
	wait := r.p.Runtime.StartupWait
	if r.o.Wait != nil {
		wait = *r.o.Wait
	}
	r.until = time.Now().Add(wait)
	pcfg.StartupWait = wait
	pcfg.OnWaiting = func(w *pipeline.Waiting) {
		if w == nil {
			r.tracker.SetWaiting(nil)
			return
		}
		r.tracker.SetWaiting(&status.Waiting{For: fmt.Sprintf("%s %q", w.Stage, w.Plugin), Address: w.Address, What: "open",
			Attempt: w.Attempt, Error: r.o.Redact(w.Err.Error()), NextAttemptAt: w.Next, GiveUpAt: w.Until})
	}
	if wait > 0 {
		r.log.Info("a source or sink that cannot be reached at start is waited for", zap.Duration("startup_wait", wait))
	}
}

// startServing starts what goes on beside the pipeline until Run returns: the tracker, the
// progress line or log, the reloader and the status server.
func (r *run) startServing(ctx context.Context) {
	// Not ctx: status and the progress line go on while the pipeline drains.
	tctx, tcancel := context.WithCancel(context.Background())
	r.defer_(tcancel)
	r.tracker.Start(tctx)
	if con := r.o.Console; con != nil {
		con.SetTracker(r.tracker)
		con.Start(tctx)
	} else {
		r.tracker.LogProgress(tctx, status.ProgressLogInterval)
	}
	rl := newReloader(r.o.Path, r.o.Vars, r.log, r.l, r.stage, r.pl)
	rl.onResult = func(err error) {
		if err != nil {
			err = errors.New(r.o.Redact(err.Error()))
		}
		r.tracker.RecordReload(err, time.Now())
	}
	rl.ready = r.pl.Opened()
	wctx, stopWatch := context.WithCancel(ctx)
	r.defer_(stopWatch)
	go rl.Watch(wctx, r.o.Watch)
	r.serveStatus(tctx)
}

// serveStatus starts the status server (Options.StatusAddr) and records its address with
// the lease, so that `ferry status FILE` and `ferry snapshot` find it.
func (r *run) serveStatus(ctx context.Context) {
	if r.o.StatusAddr == nil {
		return
	}
	listen, fallback := r.o.StatusAddr(r.prev)
	if listen == "" {
		return
	}
	addr, err := r.tracker.Run(ctx, listen, r.log)
	if err != nil && fallback != "" && fallback != listen {
		addr, err = r.tracker.Run(ctx, fallback, r.log) // the old port was taken meanwhile
	}
	if err != nil {
		r.log.Warn("status server not started; the pipeline runs without it", zap.String("addr", listen), zap.Error(err))
		return
	}
	r.log.Info("status served", zap.String("url", "http://"+addr+"/status"), zap.String("metrics", "http://"+addr+"/metrics"))
	if r.ha != nil {
		r.ha.owner.StatusAddr = addr // recorded in the store with the lease
	} else if err := r.lease.SetStatusAddr(addr); err != nil {
		r.log.Warn("could not record the status address in the lease file; `ferry status FILE` and `ferry snapshot` need --addr", zap.Error(err))
	}
	if r.o.OnStatusServed != nil {
		r.defer_(r.o.OnStatusServed(addr, r.store.Dir()))
	}
}

// awaitStart runs the prechecks (waiting for a source or sink that cannot be reached yet)
// and, with a shared store, waits as a standby until this process holds the lease. started
// is false when the pipeline must not start: err says why, nil when ctx ended meanwhile.
func (r *run) awaitStart(ctx context.Context) (started bool, err error) {
	if r.o.Precheck != nil {
		err := r.o.Precheck(ctx, r.until, r.tracker)
		if ctx.Err() != nil {
			r.tracker.SetPhase(status.PhaseStopped)
			return false, nil // stopped while waiting: nothing started
		}
		if err != nil {
			r.tracker.SetPhase(status.PhaseFailed)
			return false, err
		}
	}
	if r.ha != nil {
		if err := r.ha.connect(ctx, r.until, r.o.StandbyAgain, r.tracker); err != nil {
			if ctx.Err() != nil {
				r.tracker.SetPhase(status.PhaseStopped)
				return false, nil
			}
			r.tracker.SetPhase(status.PhaseFailed)
			return false, err
		}
		if err := r.ha.acquire(ctx, r.tracker); err != nil {
			r.tracker.SetPhase(status.PhaseStopped)
			return false, nil // stopped while standby: nothing started
		}
	}
	return true, nil
}

// runPipeline runs the pipeline with the re-snapshot requests and the lease watch beside it.
func (r *run) runPipeline(ctx context.Context) error {
	l := r.l
	r.log.Info("pipeline starting", zap.String("source", l.Source.Ref.Name), zap.String("sink", l.Sink.Ref.Name),
		zap.String("serializer", l.Serializer.Ref.Name), zap.Int("filters", len(l.Filters)))
	r.tracker.SetPhase(status.PhaseRunning)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go serveResnapshots(runCtx, cancelRun, r.rs, r.start, r.tracker, r.log)
	if r.ha != nil {
		r.ha.watchLost(runCtx, cancelRun) // a lost lease stops the run; the CLI runs again as a standby
	}
	err := r.pl.Run(runCtx)
	if lost := r.ha.lost(); lost != nil {
		r.tracker.SetPhase(status.PhaseStopped)
		return leaseLostError(lost)
	}
	r.tracker.SetResnapshot(nil)
	r.rs.settle() // the final checkpoint may hold a re-snapshot
	if cause := context.Cause(runCtx); errors.Is(cause, ErrResnapshotStart) {
		r.tracker.SetPhase(status.PhaseFailed)
		return cause
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		r.tracker.SetPhase(status.PhaseFailed)
		var ce *objects.ColumnError
		if errors.As(err, &ce) {
			return err // the CLI pins it to the objects entry
		}
		return fmt.Errorf("pipeline failed: %w", err)
	}
	r.tracker.SetPhase(status.PhaseStopped)
	return nil
}
