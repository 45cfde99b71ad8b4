package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Defaults of the Config fields left zero.
const (
	DefaultBatchSize          = 512
	DefaultBatchTimeout       = 50 * time.Millisecond
	DefaultWriters            = 4
	DefaultMaxInFlightBytes   = 64 << 20
	DefaultCheckpointInterval = time.Second
	DefaultDrainTimeout       = 30 * time.Second

	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 10 * time.Second
	DefaultRetryFactor  = 2.0
	DefaultRetryJitter  = 0.2
)

// closeTimeout bounds the final checkpoint save and the plugins' Close calls.
const closeTimeout = 30 * time.Second

// Config describes one pipeline.
type Config struct {
	// Name is the pipeline's name (letters, digits, '_' and '-'; it names the checkpoint).
	Name string
	// Source is already Configured; Run calls Open, Read, Ack (when it is an
	// sdk.SourceAcker) and Close.
	Source sdk.Source
	// Filters are Configured and applied in order.
	Filters []sdk.Filter
	// Serializer is Configured.
	Serializer sdk.Serializer
	// Sink is Configured; Run calls Open, Write and Close.
	Sink sdk.Sink
	// Store keeps the checkpoint. Run loads it at the start and never closes it.
	Store checkpoint.Store
	// State is the source's durable state store (sdk.OpenRequest.State), kept with the
	// checkpoint; nil for none.
	State sdk.StateStore
	// BatchSize is the most records per Sink.Write (default 512).
	BatchSize int
	// BatchTimeout is the longest a lane waits to fill a batch (default 50ms).
	BatchTimeout time.Duration
	// Writers is the number of parallel sink write lanes (default 4).
	Writers int
	// MaxInFlightBytes bounds the memory of changes and records in flight (default 64MiB).
	MaxInFlightBytes int64
	// CheckpointInterval is how often the checkpoint is saved when it moved (default 1s).
	CheckpointInterval time.Duration
	// DrainTimeout bounds the wait for in-flight writes after the context is cancelled
	// (default 30s).
	DrainTimeout time.Duration
	// Retry governs the retries of failed sink writes.
	Retry RetryPolicy
	// StartupWait is how long, counted from New (so that the caller's own start-up checks
	// between New and Run count too), Run goes on opening the sink
	// and then the source while their Open fails with an error that may pass (Waitable: not
	// permanent, not a panic, not a cancellation): the database or broker is not up yet.
	// Each failed attempt is logged at warn level and reported to OnWaiting. After it, or at
	// once when it is 0 (the default), Open's error stops Run. Cancelling ctx ends the wait
	// at once, as a clean stop.
	StartupWait time.Duration
	// StartupRetry is the backoff between those attempts (default: 1s doubling to 30s,
	// jitter 0.2; MaxAttempts is not used: StartupWait bounds the attempts).
	StartupRetry RetryPolicy
	// OnWaiting, when set, is called with each start-up wait as it begins, and with nil when
	// the waiting is over (the plugin opened, Run gave up or ctx was cancelled).
	OnWaiting func(*Waiting)
	// Logger receives the pipeline's logs (default: none).
	Logger *zap.Logger
	// Shard hashes a change to choose its lane and sdk.Record.Hash. Changes that must stay
	// in order must hash alike. Default: c.KeyHash(nil).
	Shard func(*change.Change) uint64
	// OnDelivered, when set, is called by a write lane after the sink delivered recs (before
	// the next write of that lane), with the time of the acknowledgement. It must be quick
	// and must not keep recs. Status uses it to measure commit-to-acknowledgement latency.
	OnDelivered func(recs []sdk.Record, at time.Time)
	// Objects, when set, is applied to every change of a batch before the filters (the
	// object selection: routing, row filters, column projection). It returns the change to
	// pass on (possibly a new one) and whether to keep it; an error stops the pipeline.
	Objects func(*change.Change) (*change.Change, bool, error)
	// KeyChange is what an UPDATE that changes the key or the sharding-column values
	// becomes: KeyChangeSplit ("" too) or KeyChangeUpdate.
	KeyChange string
	// Key, when set, appends the record key of a change to dst. Default: the key columns'
	// canonical text joined with "\x01".
	Key func(c *change.Change, dst []byte) []byte
	// OnOversize, when set, is the skip policy for records the sink reports too large
	// (sdk.TooLargeError): the lane calls it with the record (which it must not keep), logs a
	// warning (table, key, position, size; no values), counts the record in
	// Stats.RecordsSkipped and acknowledges it, so the checkpoint passes it. An error from
	// OnOversize (say, the dead-letter file cannot be written) stops the pipeline. When nil,
	// a too-large record stops the pipeline like any permanent error.
	OnOversize func(rec *sdk.Record, err *sdk.TooLargeError) error
	// Limits are rate ceilings for the snapshot and incremental phases (zero: unlimited).
	Limits Limits
	// Full and Incremental are the write concurrency and memory of each phase (the
	// resources block); zero fields fall back to Writers and MaxInFlightBytes. The pipeline
	// counts as in the full phase while snapshot rows arrive (and 2s after the last one).
	Full, Incremental PhaseResources
	// Fence, when set, guards every Sink.Write with the pipeline's lease (see Fence).
	Fence Fence
}

// RetryPolicy is an exponential backoff for failed sink writes. A lane retries from the first
// undelivered record and blocks meanwhile, so the order per key is kept.
type RetryPolicy struct {
	// Initial is the first delay (default 100ms).
	Initial time.Duration
	// Max caps the delay (default 10s).
	Max time.Duration
	// Factor multiplies the delay after each failure (default 2).
	Factor float64
	// MaxAttempts is how many Writes in a row may fail for the same first undelivered record
	// before the pipeline fails, the first attempt included; progress resets the count. 0
	// retries forever. Errors with a method `Permanent() bool` returning true are never
	// retried.
	MaxAttempts int
	// Jitter randomizes each delay by ± this fraction (default 0.2; negative disables).
	Jitter float64
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Initial <= 0 {
		r.Initial = DefaultRetryInitial
	}
	if r.Max <= 0 {
		r.Max = DefaultRetryMax
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.Factor < 1 {
		r.Factor = DefaultRetryFactor
	}
	if r.Jitter == 0 {
		r.Jitter = DefaultRetryJitter
	}
	if r.Jitter < 0 {
		r.Jitter = 0
	}
	if r.Jitter > 1 {
		r.Jitter = 1
	}
	return r
}

// Delay returns the wait after the given number of consecutive failures (1 for the first).
func (r RetryPolicy) Delay(failures int) time.Duration {
	r = r.withDefaults()
	d := float64(r.Initial) * math.Pow(r.Factor, float64(max(failures-1, 0)))
	d = min(d, float64(r.Max))
	if r.Jitter > 0 {
		d *= 1 + r.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.Writers == 0 {
		c.Writers = DefaultWriters
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	c.Retry = c.Retry.withDefaults()
	if c.StartupRetry.Initial <= 0 {
		c.StartupRetry.Initial = DefaultStartupRetryInitial
	}
	if c.StartupRetry.Max <= 0 {
		c.StartupRetry.Max = DefaultStartupRetryMax
	}
	c.StartupRetry = c.StartupRetry.withDefaults()
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Key == nil {
		c.Key = func(ch *change.Change, dst []byte) []byte { return change.AppendKey(dst, ch) }
	}
	if c.Shard == nil {
		c.Shard = func(ch *change.Change) uint64 { return ch.KeyHash(nil) }
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := checkpoint.ValidateName(c.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	switch {
	case c.Source == nil:
		return bad("no source")
	case c.Serializer == nil:
		return bad("no serializer")
	case c.Sink == nil:
		return bad("no sink")
	case c.Store == nil:
		return bad("no checkpoint store")
	case c.BatchSize < 0:
		return bad("batch size %d is negative", c.BatchSize)
	case c.BatchTimeout < 0:
		return bad("batch timeout %s is negative", c.BatchTimeout)
	case c.Writers < 0:
		return bad("writers %d is negative", c.Writers)
	case c.MaxInFlightBytes < 0:
		return bad("max in-flight bytes %d is negative", c.MaxInFlightBytes)
	case c.CheckpointInterval < 0:
		return bad("checkpoint interval %s is negative", c.CheckpointInterval)
	case c.DrainTimeout < 0:
		return bad("drain timeout %s is negative", c.DrainTimeout)
	case c.StartupWait < 0:
		return bad("startup wait %s is negative", c.StartupWait)
	case c.Full.Writers < 0 || c.Incremental.Writers < 0:
		return bad("phase writers are negative")
	case c.Full.MaxInFlightBytes < 0 || c.Incremental.MaxInFlightBytes < 0:
		return bad("phase in-flight bytes are negative")
	case c.KeyChange != "" && c.KeyChange != KeyChangeSplit && c.KeyChange != KeyChangeUpdate:
		return bad("key change mode %q is not %q or %q", c.KeyChange, KeyChangeSplit, KeyChangeUpdate)
	case c.Retry.MaxAttempts < 0:
		return bad("retry max attempts %d is negative", c.Retry.MaxAttempts)
	}
	for i, f := range c.Filters {
		if f == nil {
			return bad("filter %d is nil", i+1)
		}
	}
	return nil
}
