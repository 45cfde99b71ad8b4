package pipeline

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Pipeline moves changes from a source through filters and a serializer to a sink, keeping
// the order per key and checkpointing only what the sink acknowledged. Build it with New and
// start it with Run, once.
type Pipeline struct {
	cfg     Config
	log     *zap.Logger
	names   pluginNames
	scope   sdk.OrderScope // the sink's ordering unit: the unit of the write lanes
	budget  *budget
	phases  *phases
	stats   counters
	started atomic.Bool
	// created is when New built the Pipeline: the start-up wait counts from it.
	created time.Time

	quiesce chan quiesceReq // served by the processor of a running Run
	done    chan struct{}   // closed when Run returns

	opened   chan struct{} // closed when the source is open (Opened)
	startSeq atomic.Uint64 // the loaded checkpoint's sequence (ReadBound)
}

type pluginNames struct {
	source, serializer, sink string
	filters                  []string
}

// New checks cfg, fills its defaults and returns a Pipeline ready to Run.
func New(cfg Config) (*Pipeline, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pipeline{cfg: cfg, created: time.Now(), budget: newBudget(cfg.MaxInFlightBytes), quiesce: make(chan quiesceReq), done: make(chan struct{}),
		opened: make(chan struct{})}
	p.phases = newPhases(cfg, p.budget)
	var err error
	if p.names.source, err = pluginName(cfg.Source); err != nil {
		return nil, &StageError{Stage: "source", Op: "info", Err: err}
	}
	if p.names.serializer, err = pluginName(cfg.Serializer); err != nil {
		return nil, &StageError{Stage: "serializer", Op: "info", Err: err}
	}
	if p.names.sink, err = pluginName(cfg.Sink); err != nil {
		return nil, &StageError{Stage: "sink", Op: "info", Err: err}
	}
	for i, f := range cfg.Filters {
		n, err := pluginName(f)
		if err != nil {
			return nil, &StageError{Stage: "filter", Op: "info", Err: fmt.Errorf("filter %d: %w", i+1, err)}
		}
		p.names.filters = append(p.names.filters, n)
	}
	p.scope = sdk.OrderKey
	if os, ok := cfg.Sink.(sdk.OrderScoper); ok {
		var scope sdk.OrderScope
		if err := protect(func() error { scope = os.OrderScope(); return nil }); err != nil {
			return nil, &StageError{Stage: "sink", Plugin: p.names.sink, Op: "order scope", Err: err}
		}
		if !scope.Valid() {
			return nil, &StageError{Stage: "sink", Plugin: p.names.sink, Op: "order scope",
				Err: fmt.Errorf("unknown order scope %q (want %q, %q or %q)", scope, sdk.OrderKey, sdk.OrderTable, sdk.OrderAll)}
		}
		p.scope = scope
	}
	p.log = cfg.Logger.With(zap.String(logging.FieldPipeline, cfg.Name))
	return p, nil
}

func pluginName(pl sdk.Plugin) (name string, err error) {
	err = protect(func() error {
		name = pl.Info().Name
		return nil
	})
	return name, err
}

// Quiesce runs fn while nothing is in flight: it stops taking batches from the source, waits
// until the sink acknowledged every record passed on so far, runs fn and resumes. Reloads
// use it so that a change of routing (topic, sharding columns) applies to whole keys in
// order: no record routed the old way is still unacknowledged when the first one is routed
// the new way. Before Run it runs fn at once; after Run returned it returns ErrNotRunning.
func (p *Pipeline) Quiesce(ctx context.Context, fn func() error) error {
	if !p.started.Load() {
		return fn()
	}
	q := quiesceReq{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	select {
	case p.quiesce <- q:
	case <-p.done:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-q.reply
}

// Phase returns the current phase (PhaseFull while snapshot rows arrive, else
// PhaseIncremental) and its write concurrency and memory.
func (p *Pipeline) Phase() (string, PhaseResources) { return p.phases.current() }

// OrderScope returns the sink's ordering unit, which is the unit of the write lanes.
func (p *Pipeline) OrderScope() sdk.OrderScope { return p.scope }

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.cfg.Name }

// Run loads the checkpoint, opens the sink and the source (at the checkpoint), and moves
// changes until the source ends (io.EOF), ctx is cancelled, or a stage fails. Within
// Config.StartupWait a failed Open is tried again (see Waitable). It saves the
// final checkpoint and closes the sink and the source before returning.
//
// The end of the source and the cancellation of ctx are clean stops: Run returns nil. A
// stage failure returns a *StageError naming the stage and plugin.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	if !p.started.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	defer close(p.done)
	cfg := p.cfg
	cp, err := cfg.Store.Load(ctx, cfg.Name)
	if err != nil {
		return p.startErr(ctx, &StageError{Stage: "checkpoint", Op: "load", Err: err})
	}
	if cp != nil {
		p.stats.committed.Store(&committedInfo{pos: cp.Position, seq: cp.Sequence, at: cp.SavedAt})
		p.startSeq.Store(cp.Sequence)
	}
	resume, err := p.open(ctx, cp)
	if err != nil {
		return p.startErr(ctx, err)
	}
	close(p.opened)
	p.logStarted(resume)

	r := newRun(p, cp)
	runErr := r.run(ctx)
	// Sink first: it flushes what the source's positions depend on.
	closeErr := errors.Join(p.closeSink(ctx), p.closeSource(ctx))
	err = errors.Join(runErr, closeErr)
	p.logStopped(err)
	return err
}

// open opens the sink, then the source at checkpoint cp (from the start if nil), and returns
// the position the source resumes at. Within the start-up wait, an Open that fails with an
// error that may pass (the target is not up yet) is tried again with backoff; the sink stays
// open while the source is waited for. On failure it closes what it opened and returns the
// open error joined with the close errors.
func (p *Pipeline) open(ctx context.Context, cp *checkpoint.Checkpoint) (change.Position, error) {
	cfg := p.cfg
	until := p.created.Add(cfg.StartupWait)
	if err := p.openWaiting(ctx, until, "sink", p.names.sink, func() error { return cfg.Sink.Open(ctx) }); err != nil {
		return nil, errors.Join(&StageError{Stage: "sink", Plugin: p.names.sink, Op: "open", Err: err}, p.closeSink(ctx))
	}
	var resume change.Position
	if cp != nil {
		resume = cp.Position
	}
	if err := p.openWaiting(ctx, until, "source", p.names.source, func() error {
		return cfg.Source.Open(ctx, sdk.OpenRequest{Pipeline: cfg.Name, Position: resume, State: cfg.State})
	}); err != nil {
		openErr := &StageError{Stage: "source", Plugin: p.names.source, Op: "open", Err: err}
		return nil, errors.Join(openErr, p.closeSource(ctx), p.closeSink(ctx))
	}
	return resume, nil
}

// closeSink closes the sink within closeTimeout, even when ctx is cancelled.
func (p *Pipeline) closeSink(ctx context.Context) error {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if err := protect(func() error { return p.cfg.Sink.Close(c) }); err != nil {
		return &StageError{Stage: "sink", Plugin: p.names.sink, Op: "close", Err: err}
	}
	return nil
}

// closeSource closes the source within closeTimeout, even when ctx is cancelled.
func (p *Pipeline) closeSource(ctx context.Context) error {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if err := protect(func() error { return p.cfg.Source.Close(c) }); err != nil {
		return &StageError{Stage: "source", Plugin: p.names.source, Op: "close", Err: err}
	}
	return nil
}

// logStarted logs the start of the run at position resume, with the settings it runs with.
func (p *Pipeline) logStarted(resume change.Position) {
	p.log.Info("pipeline started", zap.String(logging.FieldPosition, p.describePosition(resume)),
		zap.String("source", p.names.source), zap.String("sink", p.names.sink),
		zap.String("order_scope", string(p.scope)),
		zap.Int("writers_full", p.phases.full.Writers), zap.Int("writers_incremental", p.phases.incr.Writers),
		zap.Int("batch_size", p.cfg.BatchSize),
		zap.Int64("max_in_flight_bytes_full", p.phases.full.MaxInFlightBytes),
		zap.Int64("max_in_flight_bytes_incremental", p.phases.incr.MaxInFlightBytes))
}

// logStopped logs the end of the run with its totals. The error err is returned, not logged:
// this line only marks the end of the run.
func (p *Pipeline) logStopped(err error) {
	st := p.Stats()
	fields := []zap.Field{
		zap.String(logging.FieldPosition, p.describePosition(st.Committed)),
		zap.Uint64("batches_read", st.BatchesRead), zap.Uint64("changes_read", st.ChangesRead),
		zap.Uint64("records_written", st.RecordsWritten), zap.Uint64("retries", st.Retries),
	}
	if err != nil {
		p.log.Info("pipeline stopped on error", fields...)
	} else {
		p.log.Info("pipeline stopped", fields...)
	}
}

// startErr turns a failure caused by the cancellation of ctx into a clean stop.
func (p *Pipeline) startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// describePosition renders a position for logs as the source describes it
// (sdk.PositionDescriber), else as formatPosition does.
func (p *Pipeline) describePosition(pos change.Position) string {
	if pos == nil {
		return ""
	}
	if d, ok := p.cfg.Source.(sdk.PositionDescriber); ok {
		ctx, cancel := context.WithTimeout(context.Background(), describeTimeout)
		defer cancel()
		var text string
		err := protect(func() error {
			var err error
			text, err = d.DescribePosition(ctx, pos)
			return err
		})
		if err == nil && text != "" {
			return text
		}
	}
	return formatPosition(pos)
}

// describeTimeout bounds a source's DescribePosition (a call to a plugin process).
const describeTimeout = 2 * time.Second

// formatPosition renders an opaque position for logs: as text when it is printable, else
// in hex.
func formatPosition(pos change.Position) string {
	if pos == nil {
		return ""
	}
	if utf8.Valid(pos) {
		printable := true
		for _, r := range string(pos) {
			if r < 0x20 || r == 0x7f {
				printable = false
				break
			}
		}
		if printable {
			return string(pos)
		}
	}
	return "0x" + hex.EncodeToString(pos)
}

// run is the state of one Run.
type run struct {
	full    limiter // rate ceilings of the snapshot phase
	incr    limiter // and of the incremental phase
	p       *Pipeline
	cfg     Config
	log     *zap.Logger
	tracker *checkpoint.Tracker
	budget  *budget
	phases  *phases
	stats   *counters

	readCtx    context.Context // cancelled to stop reading
	cancelRead context.CancelFunc
	workCtx    context.Context // cancelled on failure or when the drain times out
	cancelWork context.CancelFunc

	procCh chan readBatch
	lanes  []chan chunk
	deps   []dep // the current batch's key changes across shards (processor only)

	errOnce  sync.Once
	err      error
	drainOut atomic.Bool

	saveMu    sync.Mutex
	lastSaved uint64 // tracker sequence of the last saved checkpoint
	fresh     bool   // the run started without a checkpoint

	exactValues bool // the serializer's record values need no compacting copy (sdk.ExactValues)
	sharedHeads bool // the sink writes record heads itself (sdk.SharedHeads)
}

func newRun(p *Pipeline, cp *checkpoint.Checkpoint) *run {
	r := &run{
		p:       p,
		cfg:     p.cfg,
		log:     p.log,
		tracker: checkpoint.NewTracker(cp),
		budget:  p.budget,
		phases:  p.phases,
		stats:   &p.stats,
		procCh:  make(chan readBatch, 2),
		lanes:   make([]chan chunk, p.phases.lanes()),
		full:    newLimiter(p.cfg.Limits.Full),
		incr:    newLimiter(p.cfg.Limits.Incremental),
	}
	if ev, ok := p.cfg.Serializer.(sdk.ExactValues); ok {
		r.exactValues = ev.ExactValues()
	}
	if sh, ok := p.cfg.Sink.(sdk.SharedHeads); ok {
		r.sharedHeads = sh.SharedHeads()
	}
	if cp != nil {
		r.lastSaved = cp.Sequence
	} else {
		r.fresh = true
	}
	for i := range r.lanes {
		r.lanes[i] = make(chan chunk, laneQueue)
	}
	return r
}

// fail records the first stage error and stops everything.
func (r *run) fail(err error) {
	r.errOnce.Do(func() {
		r.err = err
		r.stats.lastError.Store(&errorInfo{msg: err.Error(), at: time.Now()})
		r.cancelRead()
		r.cancelWork()
	})
}

// failure returns the recorded failure; later calls of fail are ignored.
func (r *run) failure() error {
	r.errOnce.Do(func() {})
	return r.err
}

// stopping reports whether the work context is done (failure or drain timeout), in which
// case errors of plugin calls are consequences, not causes.
func (r *run) stopping() bool { return r.workCtx.Err() != nil }

func (r *run) run(ctx context.Context) error {
	r.readCtx, r.cancelRead = context.WithCancel(ctx)
	r.workCtx, r.cancelWork = context.WithCancel(context.WithoutCancel(ctx))
	defer r.cancelRead()
	defer r.cancelWork()

	var wg sync.WaitGroup
	wg.Go(r.read)
	wg.Go(r.process)
	for i := range r.lanes {
		l := newLane(r, i)
		wg.Go(l.run)
	}
	stopCommit := make(chan struct{})
	var cwg sync.WaitGroup
	cwg.Go(func() { r.commitLoop(stopCommit) })
	cwg.Go(func() { r.phaseLoop(stopCommit) })

	done := make(chan struct{})
	go r.drainWatch(ctx, done)

	wg.Wait()
	close(done)
	close(stopCommit)
	cwg.Wait()

	err := r.failure()
	if r.drainOut.Load() {
		b, _ := r.tracker.Pending()
		r.log.Warn("drain timeout: stopped with batches in flight; they will be read again after the checkpoint",
			zap.Duration("drain_timeout", r.cfg.DrainTimeout), zap.Int("batches", b))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	if serr := r.commit(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// drainWatch bounds the drain after ctx is cancelled.
func (r *run) drainWatch(ctx context.Context, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(r.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.drainOut.Store(true)
		r.cancelWork()
	}
}

// phaseLoop switches the phase back to incremental once snapshot rows stop, and logs the
// phase changes.
func (r *run) phaseLoop(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last, _ := r.phases.current()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.phases.tick(now)
			if ph, res := r.phases.current(); ph != last {
				last = ph
				r.log.Info("phase", zap.String("phase", ph), zap.Int("writers", res.Writers),
					zap.Int64("max_in_flight_bytes", res.MaxInFlightBytes))
			}
		}
	}
}

// laneQueue is how many chunks wait for a lane. It is deep on purpose: what bounds the memory
// in flight is the byte budget (MaxInFlightBytes, per phase), not a count of chunks, so a
// stalled sink lets the pipeline buffer up to the budget and no further, whatever the size of
// the rows.
const laneQueue = 1024
