package runner

import (
	"os"
	"runtime/debug"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
)

// MemoryOverhead is what ferry needs beside its buffers (code, plugin clients, gRPC, the
// broker client, serializer and decoder scratch space, garbage not yet collected), added to
// the buffers for the Go memory limit. With MemoryOutsideHeap it is the fixed overhead of
// issue 19 (at most 64 MiB over the memory settings): 28 MiB left the debezium format's
// CPU per change as it was with 64 (ADR 0015, "Later: the fixed overhead").
const MemoryOverhead = 28 << 20

// MemoryOutsideHeap is the allowance the memory tests add to the limit for peak RSS: what
// the resident size holds beside what the Go memory limit bounds (the binary's own pages,
// mostly: RssFile ~43 MiB on the test machine, whose kernel maps the text in 2 MiB folios,
// clean and reclaimable but counted by VmHWM), and, with large buffers held by a stalled
// sink, part of the heap's overshoot of the soft limit (256 MiB settings: 336-348 MiB, 44-56
// MiB over the limit, of which 43 the binary's pages; TestE2EResourcesBoundMemory allows an
// eighth of the buffers on top, for the heap's size classes).
const MemoryOutsideHeap = 56 << 20

// DefaultReaderMemory is the log reader's memory in the limit when the resources block does
// not set it: the oceanbase source's default reader_memory.
const DefaultReaderMemory = 64 << 20

// applyResources maps the resources block onto the pipeline: each phase's write
// concurrency and memory (zero: the runtime block's value).
func applyResources(c *pipeline.Config, p *config.Pipeline) {
	r := p.Resources
	c.Full = pipeline.PhaseResources{Writers: r.FullWriteConcurrency, MaxInFlightBytes: r.FullMemory}
	c.Incremental = pipeline.PhaseResources{Writers: r.IncrementalWriteConcurrency, MaxInFlightBytes: r.IncrementalMemory}
}

// memoryLimit is the Go runtime's soft memory limit of a pipeline: the larger phase's
// in-flight memory (runtime.max_in_flight_bytes unless the resources block sets it), the log
// reader's memory (resources.log_reader_memory, else DefaultReaderMemory) and a fixed
// overhead. Near it the garbage collector works harder instead of letting the heap grow to
// twice the live data (GOGC), which is what makes the memory settings hold for the process
// as a whole, with default settings too. 0 when GOMEMLIMIT is set (the operator's value
// wins).
func memoryLimit(p *config.Pipeline) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	r := p.Resources
	inflight := max(r.FullMemory, r.IncrementalMemory)
	if inflight == 0 {
		inflight = p.Runtime.MaxInFlightBytes
	}
	if inflight == 0 {
		inflight = config.DefaultMaxInFlightBytes
	}
	reader := r.LogReaderMemory
	if reader == 0 {
		reader = DefaultReaderMemory
	}
	return inflight + reader + MemoryOverhead
}

// setMemoryLimit applies memoryLimit and returns it (0: unchanged).
func setMemoryLimit(p *config.Pipeline) int64 {
	n := memoryLimit(p)
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return n
}
