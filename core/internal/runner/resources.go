package runner

import (
	"os"
	"runtime/debug"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
)

// MemoryOverhead is what ferry needs beside its buffers (code, plugin clients, gRPC, the
// broker client, serializer scratch space), added to the buffers for the Go memory limit.
const MemoryOverhead = 128 << 20

// applyResources maps the resources block onto the pipeline: each phase's write
// concurrency and memory (zero: the runtime block's value).
func applyResources(c *pipeline.Config, p *config.Pipeline) {
	r := p.Resources
	c.Full = pipeline.PhaseResources{Writers: r.FullWriteConcurrency, MaxInFlightBytes: r.FullMemory}
	c.Incremental = pipeline.PhaseResources{Writers: r.IncrementalWriteConcurrency, MaxInFlightBytes: r.IncrementalMemory}
}

// memoryLimit is the Go runtime's soft memory limit for a pipeline with a resources block:
// the larger phase's in-flight memory, the log reader's memory and a fixed overhead. Near it
// the garbage collector works harder instead of letting the heap grow to twice the live data
// (GOGC), which is what makes the resources' memory values hold for the process as a whole.
// 0 when the pipeline sets no memory or GOMEMLIMIT is set (the operator's value wins).
func memoryLimit(p *config.Pipeline) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	r := p.Resources
	if r.FullMemory == 0 && r.IncrementalMemory == 0 && r.LogReaderMemory == 0 {
		return 0
	}
	inflight := max(r.FullMemory, r.IncrementalMemory)
	if inflight == 0 {
		inflight = p.Runtime.MaxInFlightBytes
	}
	return inflight + r.LogReaderMemory + MemoryOverhead
}

// setMemoryLimit applies memoryLimit and returns it (0: unchanged).
func setMemoryLimit(p *config.Pipeline) int64 {
	n := memoryLimit(p)
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return n
}
