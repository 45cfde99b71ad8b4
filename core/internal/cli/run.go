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
	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/runner"
	"github.com/ferry-cdc/ferry/core/internal/status"
)

func newRun(g *globals) *cobra.Command {
	var vars []string
	var statusAddr string
	var skips []string
	var noPrecheck, adopt bool
	var watch, wait time.Duration
	var cpuProfile, memProfile string
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
			stopProfiles, err := startProfiles(cpuProfile, memProfile)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			err = runAgain(g, args[0], vs, o) // runPipeline, again after a lost lease (ha.go)
			return errors.Join(err, stopProfiles())
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
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file (go tool pprof reads it)")
	cmd.Flags().StringVar(&memProfile, "mem-profile", "", "write a heap profile (allocations and what is in use) to this file when the run ends")
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
	log := g.logger.With(zap.String(logging.FieldPipeline, l.File.Pipeline.Name))
	// A second signal after the graceful stop began ends the process at once.
	done := make(chan struct{})
	defer close(done)
	go forceStopOnSecondSignal(ctx, done, stop, notifyStop, func() {
		log.Warn("second signal: stopping now; the last saved checkpoint stays valid")
		host.Close()
		os.Exit(ExitFailure)
	})
	err = runner.Run(ctx, l, runner.Options{
		Path: path, Vars: vars, Adopt: o.adopt, Watch: o.watch, Wait: o.wait, StandbyAgain: o.standbyAgain,
		Logger: g.logger, Redact: g.secrets.Redact, Console: con,
		StatusAddr: func(prev *checkpoint.Owner) (string, string) {
			listen := statusListenAddr(o.statusAddr, prev)
			if o.statusAddr == AutoStatusAddr {
				return listen, net.JoinHostPort(autoStatusHost, "0")
			}
			return listen, ""
		},
		OnStatusServed: func(addr, dir string) func() {
			unregister, err := registerRun(runEntry{Pipeline: l.File.Pipeline.Name, File: absPath(path), Checkpoint: dir, StatusAddr: addr,
				PID: os.Getpid(), Host: hostname(), Since: time.Now().UTC()})
			if err != nil {
				log.Warn("could not record the run in the run directory; `ferry status NAME` does not find it", zap.String("dir", RunDir()), zap.Error(err))
			}
			return unregister
		},
		Precheck: func(ctx context.Context, until time.Time, tracker *status.Tracker) error {
			if o.noPrecheck {
				return nil
			}
			return precheckWaiting(ctx, g, l, o.skips, g.stderr, until, tracker, log)
		},
	})
	var ce *objects.ColumnError
	var ee *exitError
	switch {
	case err == nil, errors.As(err, &ee), errors.Is(err, checkpoint.ErrLeaseLost):
		return err
	case errors.As(err, &ce):
		return objectError(g, l.File, ce, err)
	}
	return withCode(ExitFailure, err)
}

// notifyStop registers c for the signals that stop ferry run.
func notifyStop(c chan<- os.Signal) { signal.Notify(c, os.Interrupt, syscall.SIGTERM) }

// forceStopOnSecondSignal waits for the graceful stop to begin (ctx ends: the first signal),
// gives the signals back (stop), and calls force at a second one. It returns when done is
// closed (the command returns), whichever comes first, and leaves no signal registered.
func forceStopOnSecondSignal(ctx context.Context, done <-chan struct{}, stop func(), notify func(chan<- os.Signal), force func()) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	stop()
	sig := make(chan os.Signal, 1)
	notify(sig)
	defer signal.Stop(sig)
	select {
	case <-done:
	case <-sig:
		force()
	}
}

func absPath(path string) string {
	abs, _ := filepath.Abs(path)
	return abs
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// runAgain runs the pipeline (runPipeline) and, each time this process lost the lease of a
// shared checkpoint store to another one (it was frozen, or cut off from the store), runs
// it again as a standby.
func runAgain(g *globals, path string, vars map[string]string, o runOptions) error {
	for {
		err := runPipeline(g, path, vars, o)
		if !errors.Is(err, checkpoint.ErrLeaseLost) {
			return err
		}
		o.standbyAgain = true // the store may be what is gone: wait for it as long as it takes
		g.logger.Warn("the pipeline lease was lost to another process: starting again as a standby", zap.Error(err))
		waitPortFree(o.statusAddr, 5*time.Second)
	}
}

// waitPortFree waits until addr (a fixed status address) can be listened on again: the
// previous run's status server shuts down in the background.
func waitPortFree(addr string, d time.Duration) {
	if addr == "" || addr == AutoStatusAddr {
		return
	}
	until := time.Now().Add(d)
	for time.Now().Before(until) {
		if l, err := net.Listen("tcp", addr); err == nil {
			_ = l.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
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
