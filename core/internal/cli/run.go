package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
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

func newRun(g *globals) *cobra.Command {
	var vars []string
	var statusAddr string
	var skips []string
	var noPrecheck, adopt bool
	var watch, wait time.Duration
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run (or resume) a pipeline until it is stopped",
		Long: `run validates the pipeline file, starts its plugins and runs the pipeline. It resumes from
the pipeline's last checkpoint when there is one. SIGINT or SIGTERM stops it gracefully:
in-flight messages are delivered (up to runtime.drain_timeout) and a final checkpoint is
saved; a second signal stops at once (the last saved checkpoint stays valid).

Exit codes: 0 stopped cleanly or the source finished, 1 the pipeline failed,
3 invalid pipeline file, 4 a precheck failed, 2 wrong usage.

Before starting, run runs the prechecks of 'ferry precheck' and refuses to start when one
fails (--skip NAME accepts a failure, --no-precheck skips them all).

Only one process runs a pipeline at a time: run takes the pipeline's lease in its
checkpoint directory (<dir>/<name>.lock) and refuses to start while another holds it. A
pipeline name belongs to one pipeline file per checkpoint directory; --adopt continues
from the checkpoint after the file was moved or renamed.

The objects block (tables, rules, row filters, columns, sharding columns, topics) can be
changed while the pipeline runs: run reloads it on SIGHUP and when the file changes
(checked every --watch interval). Tables the change adds are snapshotted (when the source
snapshots) and then stream; nothing else restarts. Changes elsewhere in the file are
reported and need a restart.

A source or sink that cannot be reached at start (the database or broker is not up yet)
fails the run at once, unless a start-up wait is set (runtime.startup_wait in the file, or
--wait, which overrides it): then run retries the failed connectivity prechecks and the
plugins' Open with backoff for that long, logging at warn level what it waits for, and
/status shows the phase "waiting". Errors that cannot pass (wrong credentials, a missing
topic, a configuration error, a crashed plugin) never wait. SIGINT or SIGTERM ends the
wait at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			o := runOptions{statusAddr: statusAddr, skips: skips, noPrecheck: noPrecheck, adopt: adopt, watch: watch}
			if cmd.Flags().Changed("wait") {
				if wait < 0 {
					return withCode(ExitUsage, fmt.Errorf("--wait %s is negative", wait))
				}
				o.wait = &wait
			}
			return runAgain(g, args[0], vs, o) // runPipeline, again after a lost lease (ha.go)
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&statusAddr, "status-addr", AutoStatusAddr,
		`serve /status (JSON), /metrics (Prometheus) and /healthz here; "auto": 127.0.0.1 and the port of the pipeline's last run if free, else a free port (recorded in its lease file, found by 'ferry status FILE|NAME'); "" turns it off`)
	cmd.Flags().StringArrayVar(&skips, "skip", nil, "skip a failed precheck by name (repeatable)")
	cmd.Flags().BoolVar(&noPrecheck, "no-precheck", false, "do not run the prechecks before starting")
	cmd.Flags().BoolVar(&adopt, "adopt", false, "continue a pipeline whose checkpoint was made from another file path (the file was moved)")
	cmd.Flags().DurationVar(&wait, "wait", 0,
		"at start, retry a source or sink that cannot be reached for this long (overrides runtime.startup_wait; 0: fail at once)")
	cmd.Flags().DurationVar(&watch, "watch", 2*time.Second, "check the pipeline file for changes this often and reload its objects block (0: only on SIGHUP)")
	return cmd
}

type runOptions struct {
	statusAddr string
	skips      []string
	noPrecheck bool
	adopt      bool
	watch      time.Duration
	wait       *time.Duration // --wait, when given: overrides runtime.startup_wait
	// standbyAgain: run again after the lease was lost (runAgain): a shared checkpoint store
	// that cannot be reached is waited for without a limit.
	standbyAgain bool
}

func runPipeline(g *globals, path string, vars map[string]string, o runOptions) error {
	statusAddr := o.statusAddr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// On a terminal: a live snapshot progress bar, then a live status line, with the logs
	// printed above it. Otherwise plain structured logs.
	var con *console.Console
	if f, ok := g.stderr.(*os.File); ok && console.IsTerminal(f) {
		con = console.New(f, nil)
		if lg, err := logging.New(logging.Options{Level: g.logLevel, Format: g.logFormat, Output: con.Writer()}); err == nil {
			g.logger = logging.Redacting(lg, &g.secrets)
		}
		g.stderr = con.Writer()
		defer con.Stop() // runs last: the final line before an error is printed
	}
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
	log := g.logger.With(zap.String(logging.FieldPipeline, p.Name))
	store, err := checkpoint.NewFileStore(p.Checkpoint.Dir)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer store.Close()
	host2, _ := os.Hostname()
	abs, _ := filepath.Abs(path)
	prevOwner := store.ReadOwner(p.Name) // its status address, before Acquire replaces it
	// HA (ha.go): a shared checkpoint store keeps the checkpoint, the state and the lease.
	storeWait := p.Runtime.StartupWait
	if o.wait != nil {
		storeWait = *o.wait
	}
	if o.standbyAgain {
		storeWait = -1
	}
	ha, err := openHA(ctx, g, p, checkpoint.Owner{Pipeline: p.Name, File: abs, Host: host2, PID: os.Getpid()}, log, storeWait)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	var cpStore checkpoint.Store = store
	var state sdk.StateStore
	var lease *checkpoint.Lease
	if ha != nil {
		defer ha.close()
		cpStore, state = ha.store, ha.store.State()
	} else {
		lease, err = store.Acquire(checkpoint.Owner{Pipeline: p.Name, File: abs, Host: host2, PID: os.Getpid()}, o.adopt)
		if err != nil {
			return withCode(ExitFailure, err)
		}
		defer lease.Release()
		ds, err := sdk.NewDirState(store.StateDir(p.Name))
		if err != nil {
			return withCode(ExitFailure, err)
		}
		state = ds
	}

	filters := make([]sdk.Filter, len(l.filters))
	for i, f := range l.filters {
		filters[i] = f.Plugin.(sdk.Filter)
	}
	var pl *pipeline.Pipeline
	tracker := status.NewTracker(p.Name, func() pipeline.Stats {
		st := pl.Stats()
		st.LastError = g.secrets.Redact(st.LastError)
		return st
	})
	tracker.SetLogger(log)
	if pr, ok := l.source.Plugin.(sdk.ProgressReporter); ok {
		tracker.SetProgressSource(pr.SnapshotProgress)
	}
	if pd, ok := l.source.Plugin.(sdk.PositionDescriber); ok {
		tracker.SetPositionDescriber(pd.DescribePosition)
	}
	tracker.SetLimits(status.Limits{
		FullRowsPerSecond: p.Limits.Full.RowsPerSecond, FullBytesPerSecond: p.Limits.Full.BytesPerSecond,
		IncrementalRowsPerSecond: p.Limits.Incremental.RowsPerSecond, IncrementalBytesPerSecond: p.Limits.Incremental.BytesPerSecond,
	})
	var objStage *objects.Stage
	if p.Objects.Present {
		objStage = objects.NewStage(&p.Objects.Selection)
		objStage.OnDrop = func(table string, how objects.How) {
			reason := "no table entry or rule of the objects block selects it"
			if how == objects.Excluded {
				reason = "an exclude pattern of the objects block matches it"
			}
			log.Warn("changes of a table the source reads are dropped", zap.String("table", table), zap.String("reason", reason))
		}
	}
	pcfg := pipeline.Config{
		Name:               p.Name,
		Source:             l.source.Plugin.(sdk.Source),
		Filters:            filters,
		Serializer:         l.serializer.Plugin.(sdk.Serializer),
		Sink:               l.sink.Plugin.(sdk.Sink),
		Store:              cpStore,
		State:              state,
		BatchSize:          p.Runtime.BatchSize,
		BatchTimeout:       p.Runtime.BatchTimeout,
		Writers:            p.Runtime.Writers,
		MaxInFlightBytes:   p.Runtime.MaxInFlightBytes,
		DrainTimeout:       p.Runtime.DrainTimeout,
		KeyChange:          p.Runtime.KeyChange,
		CheckpointInterval: p.Checkpoint.Interval,
		Logger:             g.logger, // the pipeline adds its own name field
		OnDelivered:        tracker.OnDelivered,
		Limits: pipeline.Limits{
			Full:        pipeline.Rate{RowsPerSecond: float64(p.Limits.Full.RowsPerSecond), BytesPerSecond: float64(p.Limits.Full.BytesPerSecond)},
			Incremental: pipeline.Rate{RowsPerSecond: float64(p.Limits.Incremental.RowsPerSecond), BytesPerSecond: float64(p.Limits.Incremental.BytesPerSecond)},
		},
	}
	if objStage != nil {
		pcfg.Objects, pcfg.Shard, pcfg.Key = objStage.Apply, objStage.Shard, objStage.Key
	}
	if p.Runtime.Oversize == config.OversizeSkip {
		dl, err := deadletter.Open(p.Checkpoint.Dir, p.Name)
		if err != nil {
			return withCode(ExitFailure, err)
		}
		defer dl.Close()
		pcfg.OnOversize = dl.Write
		log.Info("records too large for the sink are skipped into the dead-letter file (runtime oversize = \"skip\")",
			zap.String("file", dl.Name()))
	}
	applyResources(&pcfg, p)
	// retention (issue 17): the local change store between the source and the writer (rewind.go).
	ret, err := openRetention(p, &pcfg, tracker, log)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	defer ret.Close()
	if ha != nil {
		pcfg.Fence = ha // HA: every sink write is fenced by the lease
	}
	startWait := p.Runtime.StartupWait
	if o.wait != nil {
		startWait = *o.wait
	}
	// The start-up wait counts from here, for the prechecks and the plugins' Open alike.
	startUntil := time.Now().Add(startWait)
	pcfg.StartupWait = startWait
	pcfg.OnWaiting = func(w *pipeline.Waiting) {
		if w == nil {
			tracker.SetWaiting(nil)
			return
		}
		tracker.SetWaiting(&status.Waiting{For: fmt.Sprintf("%s %q", w.Stage, w.Plugin), Address: w.Address, What: "open",
			Attempt: w.Attempt, Error: g.secrets.Redact(w.Err.Error()), NextAttemptAt: w.Next, GiveUpAt: w.Until})
	}
	if startWait > 0 {
		log.Info("a source or sink that cannot be reached at start is waited for", zap.Duration("startup_wait", startWait))
	}
	pl, err = pipeline.New(pcfg)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	if n := setMemoryLimit(p); n > 0 {
		log.Info("memory limit from the resources block", zap.Int64("bytes", n))
	}
	ret.lowerMemoryLimit(log) // retention (issue 17)
	rs := newResnapshots(store.Dir(), p.Name, pcfg.Source, pl, log)
	startReq, err := rs.recorded()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	tracker.SetPipelinePhase(func() string { ph, _ := pl.Phase(); return ph })
	// Not the signal context: status and the progress line go on while the pipeline drains.
	tctx, tcancel := context.WithCancel(context.Background())
	defer tcancel()
	tracker.Start(tctx)
	if con == nil {
		// no progress bar: the snapshot's progress goes to the log
		tracker.LogProgress(tctx, status.ProgressLogInterval)
	}
	if con != nil {
		con.SetTracker(tracker)
		con.Start(tctx)
	}
	rl := newReloader(path, vars, log, l, objStage, pl)
	rl.onResult = func(err error) {
		if err != nil {
			err = errors.New(g.secrets.Redact(err.Error()))
		}
		tracker.RecordReload(err, time.Now())
	}
	rl.ready = pl.Opened()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go rl.Watch(wctx, o.watch)
	if listen := statusListenAddr(statusAddr, prevOwner); listen != "" {
		sctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr, err := tracker.Run(sctx, listen, log)
		if err != nil && statusAddr == AutoStatusAddr && listen != net.JoinHostPort(autoStatusHost, "0") {
			addr, err = tracker.Run(sctx, net.JoinHostPort(autoStatusHost, "0"), log) // the old port was taken meanwhile
		}
		if err != nil {
			log.Warn("status server not started; the pipeline runs without it", zap.String("addr", listen), zap.Error(err))
		} else {
			log.Info("status served", zap.String("url", "http://"+addr+"/status"), zap.String("metrics", "http://"+addr+"/metrics"))
			if ha != nil {
				ha.owner.StatusAddr = addr // recorded in the store with the lease
			} else if err := lease.SetStatusAddr(addr); err != nil {
				log.Warn("could not record the status address in the lease file; `ferry status FILE` and `ferry snapshot` need --addr", zap.Error(err))
			}
			unregister, err := registerRun(runEntry{Pipeline: p.Name, File: abs, Checkpoint: store.Dir(), StatusAddr: addr,
				PID: os.Getpid(), Host: host2, Since: time.Now().UTC()})
			if err != nil {
				log.Warn("could not record the run in the run directory; `ferry status NAME` does not find it", zap.String("dir", RunDir()), zap.Error(err))
			}
			defer unregister()
		}
	}

	// A second signal after the graceful stop began ends the process at once.
	go func() {
		<-ctx.Done()
		tracker.SetPhase(status.PhaseStopping)
		stop()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		log.Warn("second signal: stopping now; the last saved checkpoint stays valid")
		host.Close()
		os.Exit(ExitFailure)
	}()

	// The prechecks run once status is served, so that a start-up wait for an unreachable
	// source or sink shows there.
	if !o.noPrecheck {
		err := precheckWaiting(ctx, g, l, o.skips, g.stderr, startUntil, tracker, log)
		if ctx.Err() != nil {
			tracker.SetPhase(status.PhaseStopped)
			return nil // stopped while waiting: nothing started
		}
		if err != nil {
			tracker.SetPhase(status.PhaseFailed)
			return err
		}
	}

	if ha != nil { // HA: wait as a standby until this process holds the lease
		if err := ha.acquire(ctx, tracker); err != nil {
			tracker.SetPhase(status.PhaseStopped)
			return nil // stopped while standby: nothing started
		}
	}
	log.Info("pipeline starting", zap.String("source", l.source.Ref.Name), zap.String("sink", l.sink.Ref.Name),
		zap.String("serializer", l.serializer.Ref.Name), zap.Int("filters", len(l.filters)))
	tracker.SetPhase(status.PhaseRunning)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go serveResnapshots(runCtx, cancelRun, rs, startReq, tracker, log)
	if ha != nil {
		ha.watchLost(runCtx, cancelRun) // HA: a lost lease stops the run; runAgain makes it a standby
	}
	err = pl.Run(runCtx)
	if lost := ha.lost(); lost != nil {
		tracker.SetPhase(status.PhaseStopped)
		return leaseLostError(lost)
	}
	tracker.SetResnapshot(nil)
	rs.settle() // the final checkpoint may hold a re-snapshot
	if cause := context.Cause(runCtx); errors.Is(cause, errResnapshotStart) {
		tracker.SetPhase(status.PhaseFailed)
		log.Error("pipeline failed", zap.Error(cause))
		return withCode(ExitFailure, cause)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		tracker.SetPhase(status.PhaseFailed)
		log.Error("pipeline failed", zap.Error(err))
		var ce *objects.ColumnError
		if errors.As(err, &ce) {
			return objectError(g, l.file, ce, err)
		}
		return withCode(ExitFailure, err)
	}
	tracker.SetPhase(status.PhaseStopped)
	return nil
}

// objectError reports an objects-block entry that the live schema refutes (a column of
// where, columns or sharding_columns the table does not have), found while running, as
// validate reports its errors: pinned to the entry's file:line:column, exit code 3.
func objectError(g *globals, f *config.File, ce *objects.ColumnError, err error) error {
	rng := f.Pipeline.Objects.DefRange
	if db, name, ok := strings.Cut(ce.Table, "."); ok {
		if at, found := f.Pipeline.Objects.Locate(db, name); found {
			rng = at.Range(ce.Setting)
		}
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Objects entry does not match the table",
		Detail:  g.secrets.Redact(ce.Error()) + ". Fix the objects block and run again (or reload it while the pipeline runs).",
		Subject: &rng}
	_ = config.WriteDiagnostics(g.stderr, hcl.Diagnostics{d}, f, false)
	return withCode(ExitConfig, fmt.Errorf("pipeline stopped at %s:%d:%d: %w", rng.Filename, rng.Start.Line, rng.Start.Column, err))
}
