package status

import (
	"context"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Phases of a pipeline as status reports them.
const (
	PhaseStarting = "starting"
	// PhaseWaiting: at start, the source or the sink cannot be reached yet and ferry retries
	// (runtime startup_wait); Snapshot.Waiting says for what.
	PhaseWaiting  = "waiting"
	PhaseRunning  = "running"
	PhaseStopping = "stopping"
	PhaseStopped  = "stopped"
	PhaseFailed   = "failed"
)

// Stages of a running pipeline: reading the snapshot, or streaming changes.
const (
	StageSnapshot    = "snapshot"
	StageIncremental = "incremental"
)

// Snapshot is what /status returns. Field names are part of ferry's interface.
type Snapshot struct {
	Pipeline string `json:"pipeline"`
	Phase    string `json:"phase"`
	// Stage is StageSnapshot or StageIncremental while that is known (empty before).
	Stage     string    `json:"stage,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Now       time.Time `json:"now"`

	// Position is the last saved checkpoint (hex), SavedAt when it was saved.
	Position string `json:"position"`
	// PositionText is Position as the source describes it (sdk.PositionDescriber), for
	// people: "mysql-bin.000003:4711 gtid 0-1-42"; empty when the source cannot.
	PositionText string    `json:"position_text,omitempty"`
	SavedAt      time.Time `json:"saved_at,omitzero"`
	// LastCommitTime is the commit time of the newest change the sink acknowledged.
	LastCommitTime time.Time `json:"last_commit_time,omitzero"`

	ChangesRead    uint64  `json:"changes_read"`
	RecordsWritten uint64  `json:"records_written"`
	BytesWritten   uint64  `json:"bytes_written"`
	RowsPerSecond  float64 `json:"rows_per_second"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	Retries        uint64  `json:"retries"`
	// RecordsSkipped counts records the sink refused as too large that the oversize policy
	// skipped into the dead-letter file.
	RecordsSkipped uint64 `json:"records_skipped"`
	InFlightBytes  int64  `json:"in_flight_bytes"`

	Latency Latency `json:"latency"`
	// Limits are the configured rate ceilings (0: unlimited).
	Limits Limits `json:"limits"`

	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`

	// Snapshot is the per-table snapshot progress the source reports; nil when it reports
	// none (no snapshot, a source that cannot report it, or every table done and forgotten).
	Snapshot *SnapshotProgress `json:"snapshot,omitempty"`

	// Reload is the outcome of the objects block's reloads; nil before the first.
	Reload *Reload `json:"reload,omitempty"`

	// Waiting says what the pipeline waits for while Phase is PhaseWaiting; nil otherwise.
	Waiting *Waiting `json:"waiting,omitempty"`

	// Retention is the local change store (retention block); nil when it is off.
	Retention *Retention `json:"retention,omitempty"`
	// Lease is the pipeline lease in a shared checkpoint store (active or standby); nil
	// with the file store.
	Lease *Lease `json:"lease,omitempty"`
}

// Waiting is a start-up wait: a source or sink that cannot be reached yet.
type Waiting struct {
	// For names the plugin: `sink "rocketmq"`.
	For string `json:"for"`
	// Address is the host:port the error names ("" when it names none).
	Address string `json:"address,omitempty"`
	// What is the step that failed: "precheck" or "open".
	What    string `json:"what"`
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
	// NextAttemptAt is when ferry tries again; GiveUpAt when it stops waiting and fails.
	NextAttemptAt time.Time `json:"next_attempt_at"`
	GiveUpAt      time.Time `json:"give_up_at"`
}

// Limits are a pipeline's rate ceilings as configured (0: unlimited).
type Limits struct {
	FullRowsPerSecond         int64 `json:"full_rows_per_second"`
	FullBytesPerSecond        int64 `json:"full_bytes_per_second"`
	IncrementalRowsPerSecond  int64 `json:"incremental_rows_per_second"`
	IncrementalBytesPerSecond int64 `json:"incremental_bytes_per_second"`
}

// Latency is the time from a change's commit in the source to the sink's acknowledgement,
// over the most recent incremental changes (snapshot rows are not counted).
type Latency struct {
	Samples int     `json:"samples"`
	LastMs  float64 `json:"last_ms"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	// ClockNote is set when commit times lie in ferry's future: the source's clock is ahead
	// of this machine's, and latencies are understated (negative ones are counted as 0).
	ClockNote string `json:"clock_note,omitempty"`
	// ClockSkewMs is how far ahead the source's clock was at most (0: no skew seen).
	ClockSkewMs float64 `json:"clock_skew_ms,omitempty"`
	// WholeSeconds is set when every sampled commit time was a whole second (MariaDB and
	// MySQL 5.7 binlogs record commit times in seconds): each latency then reads up to one
	// second high, half a second on average. ResolutionNote says so.
	WholeSeconds   bool   `json:"whole_second_commit_times,omitempty"`
	ResolutionNote string `json:"resolution_note,omitempty"`
}

const (
	latencyWindow = 4096             // recent samples kept for percentiles
	rateWindow    = 10 * time.Second // throughput is averaged over this
)

// Tracker measures one pipeline.
type Tracker struct {
	reload  reloads
	name    string
	started time.Time
	stats   func() pipeline.Stats
	phase   atomic.Value // string

	mu         sync.Mutex
	lat        []float64 // ring of recent latencies in ms
	latNext    int
	latFull    bool
	lastLat    float64
	skewMs     float64 // largest negative latency seen, as a positive number
	subSecond  bool    // a sampled commit time had a fraction of a second
	lastCommit time.Time
	samples    []sample // counters sampled once a second, for rates
	// What the sink acknowledged, for the stage: whether the newest delivered record was a
	// snapshot row, and whether any incremental change (or heartbeat) was delivered.
	lastWasSnapshot bool
	sawIncremental  bool

	progress   atomic.Pointer[ProgressFunc]
	prog       *SnapshotProgress // last progress polled (nil: none)
	progRates  []progSample      // snapshot rows read, sampled at each poll, for the rate
	progFailed bool              // the last poll failed (its error was logged)

	describe atomic.Pointer[DescribeFunc]
	descMu   sync.Mutex
	descPos  string // hex of the position last described
	descText string

	pipePhase  atomic.Pointer[func() string]
	waiting    atomic.Pointer[Waiting]
	lease      atomic.Pointer[Lease] // shared checkpoint store's lease (ha.go)
	waitMu     sync.Mutex
	beforeWait string                         // the phase a wait replaced
	resnap     atomic.Pointer[ResnapshotFunc] // POST /snapshot (resnapshot.go)
	retention  atomic.Pointer[RetentionFunc]  // retention.go
	rewind     atomic.Pointer[RewindFunc]     // POST /rewind (retention.go)

	log       atomic.Pointer[zap.Logger]
	startOnce sync.Once

	limits   atomic.Pointer[Limits]
	hist     prometheus.Histogram
	registry *prometheus.Registry
}

type sample struct {
	at             time.Time
	records, bytes uint64
}

// NewTracker measures the pipeline name whose counters stats returns.
func NewTracker(name string, stats func() pipeline.Stats) *Tracker {
	t := &Tracker{name: name, started: time.Now(), stats: stats, lat: make([]float64, latencyWindow)}
	t.phase.Store(PhaseStarting)
	labels := prometheus.Labels{"pipeline": name}
	t.hist = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ferry_latency_seconds", ConstLabels: labels,
		Help:    "Time from a change's commit in the source to the sink's acknowledgement (incremental changes).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	})
	reg := prometheus.NewRegistry()
	counter := func(name, help string, f func(pipeline.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return f(t.stats()) })
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	reg.MustRegister(t.hist, newProgressCollector(t),
		counter("ferry_changes_read_total", "Changes read from the source.", func(s pipeline.Stats) float64 { return float64(s.ChangesRead) }),
		counter("ferry_records_written_total", "Records the sink acknowledged.", func(s pipeline.Stats) float64 { return float64(s.RecordsWritten) }),
		counter("ferry_bytes_written_total", "Message bytes the sink acknowledged.", func(s pipeline.Stats) float64 { return float64(s.BytesWritten) }),
		counter("ferry_sink_retries_total", "Sink writes that failed and were retried.", func(s pipeline.Stats) float64 { return float64(s.Retries) }),
		counter("ferry_records_skipped_total", "Records too large for the sink, skipped into the dead-letter file (runtime oversize = \"skip\").",
			func(s pipeline.Stats) float64 { return float64(s.RecordsSkipped) }),
		gauge("ferry_in_flight_bytes", "Memory budget in use by changes in flight.", func() float64 { return float64(t.stats().InFlightBytes) }),
		gauge("ferry_checkpoint_saved_timestamp_seconds", "When the last checkpoint was saved (Unix time).", func() float64 {
			return unix(t.stats().CommittedAt)
		}),
		gauge("ferry_last_commit_timestamp_seconds", "Commit time of the newest change the sink acknowledged (Unix time).", func() float64 {
			t.mu.Lock()
			defer t.mu.Unlock()
			return unix(t.lastCommit)
		}),
		gauge("ferry_rows_per_second", "Records acknowledged per second over the last 10 seconds.", func() float64 {
			r, _ := t.rates()
			return r
		}),
		gauge("ferry_up", "1 while the pipeline is running.", func() float64 {
			if t.Phase() == PhaseRunning {
				return 1
			}
			return 0
		}),
	)
	reg.MustRegister(
		gauge("ferry_lease_active", "1 while this process runs the pipeline and may send (with a shared checkpoint store: the lease holder, its fence open; a standby is 0). Alert when the sum over a pipeline's processes is not 1.", func() float64 {
			if ok, _ := t.active(); ok {
				return 1
			}
			return 0
		}),
		gauge("ferry_lease_fence_seconds", "Seconds left before the active's writes stop unless its lease is renewed (shared checkpoint store; 0 on a standby or when fenced).", func() float64 {
			l := t.leaseStatus()
			if l == nil || l.FencedUntil.IsZero() {
				return 0
			}
			return max(time.Until(l.FencedUntil).Seconds(), 0)
		}),
	)
	reg.MustRegister(reloadCollectors(t, labels)...)
	t.registry = reg
	return t
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// SetLimits records the configured rate ceilings for /status.
func (t *Tracker) SetLimits(l Limits) { t.limits.Store(&l) }

// DescribeFunc renders a position as text (sdk.PositionDescriber.DescribePosition).
type DescribeFunc func(ctx context.Context, pos change.Position) (string, error)

// SetPositionDescriber makes Snapshot fill PositionText with f.
func (t *Tracker) SetPositionDescriber(f DescribeFunc) {
	if f != nil {
		t.describe.Store(&f)
	}
}

// describePosition returns pos as the source describes it ("" when it cannot), asking once
// per position.
func (t *Tracker) describePosition(pos change.Position) string {
	f := t.describe.Load()
	if f == nil || len(pos) == 0 {
		return ""
	}
	h := hex.EncodeToString(pos)
	t.descMu.Lock()
	defer t.descMu.Unlock()
	if h == t.descPos {
		return t.descText
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	text, err := (*f)(ctx, pos)
	if err != nil {
		text = ""
	}
	t.descPos, t.descText = h, text
	return text
}

// SetLogger sets the logger for what the tracker itself reports (a failing progress source).
func (t *Tracker) SetLogger(log *zap.Logger) {
	if log != nil {
		t.log.Store(log)
	}
}

func (t *Tracker) logger() *zap.Logger {
	if l := t.log.Load(); l != nil {
		return l
	}
	return zap.NewNop()
}

// Start samples throughput and polls the progress source (SetProgressSource) once a second
// until ctx ends. Only the first call starts them (Run calls it too); later calls do nothing.
func (t *Tracker) Start(ctx context.Context) {
	t.startOnce.Do(func() {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			t.Sample(time.Now())
			for {
				select {
				case now := <-tick.C:
					t.Sample(now)
				case <-ctx.Done():
					return
				}
			}
		}()
		go t.pollLoop(ctx)
	})
}

// SetPipelinePhase sets where the pipeline's own phase comes from: f returns
// pipeline.PhaseFull while snapshot rows arrive, else pipeline.PhaseIncremental (it is the
// first result of pipeline.Pipeline.Phase). The stage follows it unless the progress source
// says otherwise.
func (t *Tracker) SetPipelinePhase(f func() string) {
	if f != nil {
		t.pipePhase.Store(&f)
	}
}

// SetPhase sets the reported phase.
func (t *Tracker) SetPhase(p string) { t.phase.Store(p) }

// SetWaiting reports a start-up wait (phase PhaseWaiting) or, with nil, its end (the phase
// before the wait again, unless the phase was set meanwhile).
func (t *Tracker) SetWaiting(w *Waiting) {
	t.waitMu.Lock()
	defer t.waitMu.Unlock()
	if w == nil {
		if t.waiting.Swap(nil) != nil && t.Phase() == PhaseWaiting {
			t.SetPhase(t.beforeWait)
		}
		return
	}
	c := *w
	if t.waiting.Swap(&c) == nil {
		t.beforeWait = t.Phase()
	}
	t.SetPhase(PhaseWaiting)
}

// Phase returns the reported phase.
func (t *Tracker) Phase() string { return t.phase.Load().(string) }

// Registry holds the Prometheus metrics.
func (t *Tracker) Registry() *prometheus.Registry { return t.registry }

// OnDelivered records the latency of delivered records; it is pipeline.Config.OnDelivered.
func (t *Tracker) OnDelivered(recs []sdk.Record, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		if r.CommitTime.IsZero() {
			continue
		}
		if r.CommitTime.After(t.lastCommit) {
			t.lastCommit = r.CommitTime
		}
		if r.Op == change.OpSnapshot {
			t.lastWasSnapshot = true
			continue
		}
		t.lastWasSnapshot, t.sawIncremental = false, true
		if r.Op == change.OpHeartbeat {
			continue
		}
		if r.CommitTime.Nanosecond() != 0 {
			t.subSecond = true
		}
		ms := float64(at.Sub(r.CommitTime)) / float64(time.Millisecond)
		if ms < 0 {
			t.skewMs = max(t.skewMs, -ms)
			ms = 0
		}
		t.lastLat = ms
		t.lat[t.latNext] = ms
		t.latNext = (t.latNext + 1) % len(t.lat)
		if t.latNext == 0 {
			t.latFull = true
		}
		t.hist.Observe(ms / 1000)
	}
}

// Sample records the counters for throughput; Run calls it every second.
func (t *Tracker) Sample(now time.Time) {
	s := t.stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, sample{at: now, records: s.RecordsWritten, bytes: s.BytesWritten})
	for len(t.samples) > 2 && now.Sub(t.samples[1].at) >= rateWindow {
		t.samples = t.samples[1:]
	}
}

// rates returns records and bytes per second over the sampled window.
func (t *Tracker) rates() (float64, float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.samples) < 2 {
		return 0, 0
	}
	a, b := t.samples[0], t.samples[len(t.samples)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(b.records-a.records) / dt, float64(b.bytes-a.bytes) / dt
}

// Snapshot returns the current status.
func (t *Tracker) Snapshot() Snapshot {
	s := t.stats()
	rps, bps := t.rates()
	out := Snapshot{
		Pipeline: t.name, Phase: t.Phase(), StartedAt: t.started, Now: time.Now(),
		Position: hex.EncodeToString(s.Committed), PositionText: t.describePosition(s.Committed), SavedAt: s.CommittedAt,
		ChangesRead: s.ChangesRead, RecordsWritten: s.RecordsWritten, BytesWritten: s.BytesWritten,
		RowsPerSecond: rps, BytesPerSecond: bps, Retries: s.Retries, RecordsSkipped: s.RecordsSkipped, InFlightBytes: s.InFlightBytes,
		LastError: s.LastError, LastErrorAt: s.LastErrorAt,
		Reload: t.reloadStatus(), Retention: t.retentionStatus(),
	}
	if w := t.waiting.Load(); w != nil && out.Phase == PhaseWaiting {
		c := *w
		out.Waiting = &c
	}
	if l := t.limits.Load(); l != nil {
		out.Limits = *l
	}
	out.Lease = t.leaseStatus()
	pipePhase := ""
	if f := t.pipePhase.Load(); f != nil {
		pipePhase = (*f)()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out.LastCommitTime = t.lastCommit
	n := t.latNext
	if t.latFull {
		n = len(t.lat)
	}
	if n > 0 {
		xs := slices.Clone(t.lat[:n])
		slices.Sort(xs)
		out.Latency = Latency{Samples: n, LastMs: t.lastLat, P50Ms: quantile(xs, 0.5), P99Ms: quantile(xs, 0.99)}
	}
	out.Stage = t.stageLocked(pipePhase, s.ChangesRead)
	if t.prog != nil {
		out.Snapshot = t.prog.clone()
	}
	if out.Latency.Samples > 0 && !t.subSecond {
		out.Latency.WholeSeconds = true
		out.Latency.ResolutionNote = "the source records commit times in whole seconds, so each latency reads up to 1s high (0.5s on average)"
	}
	if t.skewMs > 0 {
		out.Latency.ClockSkewMs = t.skewMs
		out.Latency.ClockNote = "commit times were up to " + time.Duration(t.skewMs*float64(time.Millisecond)).Round(time.Millisecond).String() +
			" ahead of this machine's clock: the source's clock is ahead, so latencies read low"
	}
	return out
}

// quantile of sorted xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	i := int(q*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
