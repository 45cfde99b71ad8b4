package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// PhaseResources are the write concurrency and memory of one phase (zero fields fall back to
// Config.Writers and Config.MaxInFlightBytes).
type PhaseResources struct {
	// Writers is how many sink writes may be in flight at once.
	Writers int
	// MaxInFlightBytes bounds the bytes of changes and records in flight.
	MaxInFlightBytes int64
}

// snapshotQuiet is how long after the last snapshot row the pipeline counts as incremental.
const snapshotQuiet = 2 * time.Second

// Phase names.
const (
	PhaseFull        = "full"
	PhaseIncremental = "incremental"
)

// phases switches the write concurrency and the memory budget between the snapshot phase
// (a snapshot row was read in the last snapshotQuiet) and the incremental phase. The lanes
// stay the same (max of both phases' writers), so a key keeps its lane and its order; only
// how many of them may write at once changes.
type phases struct {
	full, incr PhaseResources
	gate       *gate
	budget     *budget
	lastSnap   atomic.Int64 // unix nanos of the last batch with snapshot rows
	inFull     atomic.Bool
	mu         sync.Mutex
}

func newPhases(c Config, b *budget) *phases {
	ph := &phases{full: c.Full, incr: c.Incremental, budget: b}
	if ph.full.Writers == 0 {
		ph.full.Writers = c.Writers
	}
	if ph.incr.Writers == 0 {
		ph.incr.Writers = c.Writers
	}
	if ph.full.MaxInFlightBytes == 0 {
		ph.full.MaxInFlightBytes = c.MaxInFlightBytes
	}
	if ph.incr.MaxInFlightBytes == 0 {
		ph.incr.MaxInFlightBytes = c.MaxInFlightBytes
	}
	// Until a snapshot row is seen the pipeline is incremental.
	ph.gate = newGate(ph.incr.Writers)
	b.setMax(ph.incr.MaxInFlightBytes)
	return ph
}

// lanes is the number of write lanes: enough for either phase.
func (ph *phases) lanes() int { return max(ph.full.Writers, ph.incr.Writers) }

// sawSnapshot notes a batch with snapshot rows (called by the reader before the budget).
func (ph *phases) sawSnapshot(now time.Time) {
	ph.lastSnap.Store(now.UnixNano())
	if !ph.inFull.Load() {
		ph.set(true)
	}
}

// tick switches back to incremental once no snapshot row came for snapshotQuiet.
func (ph *phases) tick(now time.Time) {
	if ph.inFull.Load() && now.Sub(time.Unix(0, ph.lastSnap.Load())) > snapshotQuiet {
		ph.set(false)
	}
}

func (ph *phases) set(full bool) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.inFull.Load() == full {
		return
	}
	ph.inFull.Store(full)
	r := ph.incr
	if full {
		r = ph.full
	}
	ph.gate.resize(r.Writers)
	ph.budget.setMax(r.MaxInFlightBytes)
}

// current returns the phase name and its resources.
func (ph *phases) current() (string, PhaseResources) {
	if ph.inFull.Load() {
		return PhaseFull, ph.full
	}
	return PhaseIncremental, ph.incr
}

// gate is a counting semaphore whose capacity can change while it is used.
type gate struct {
	mu      sync.Mutex
	cap     int
	used    int
	changed chan struct{}
}

func newGate(n int) *gate { return &gate{cap: max(n, 1), changed: make(chan struct{})} }

func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.used < g.cap {
			g.used++
			g.mu.Unlock()
			return nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) release() {
	g.mu.Lock()
	g.used--
	g.broadcast()
	g.mu.Unlock()
}

func (g *gate) resize(n int) {
	g.mu.Lock()
	g.cap = max(n, 1)
	g.broadcast()
	g.mu.Unlock()
}

func (g *gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) capacity() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cap
}
