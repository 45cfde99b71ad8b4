package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Stats is a snapshot of a pipeline's counters since New.
type Stats struct {
	// BatchesRead and ChangesRead count what the source returned.
	BatchesRead uint64
	ChangesRead uint64
	// RecordsWritten counts records the sink acknowledged; BytesWritten sums their bodies
	// (Record.BodyLen: head and value).
	RecordsWritten uint64
	BytesWritten   uint64
	// Retries counts failed sink writes that were retried.
	Retries uint64
	// RecordsSkipped counts records the sink reported too large and the oversize policy
	// skipped (Config.OnOversize); they are acknowledged but not in RecordsWritten.
	RecordsSkipped uint64
	// Committed is the last saved checkpoint position (the loaded one until the first save),
	// CommittedSequence its batch sequence and CommittedAt when it was saved.
	Committed         change.Position
	CommittedSequence uint64
	CommittedAt       time.Time
	// InFlightBytes is the memory budget in use now; PeakInFlightBytes the most ever used.
	InFlightBytes     int64
	PeakInFlightBytes int64
	// LastError is the last error seen (a retried write or the failure that stopped the
	// pipeline), and LastErrorAt when; empty when there was none.
	LastError   string
	LastErrorAt time.Time
}

type errorInfo struct {
	msg string
	at  time.Time
}

type committedInfo struct {
	pos change.Position
	seq uint64
	at  time.Time
}

type counters struct {
	batchesRead    atomic.Uint64
	changesRead    atomic.Uint64
	recordsWritten atomic.Uint64
	bytesWritten   atomic.Uint64
	retries        atomic.Uint64
	recordsSkipped atomic.Uint64
	committed      atomic.Pointer[committedInfo]
	lastError      atomic.Pointer[errorInfo]
}

// Stats returns the pipeline's counters. It is safe to call at any time, also while Run
// runs.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		BatchesRead:    p.stats.batchesRead.Load(),
		ChangesRead:    p.stats.changesRead.Load(),
		RecordsWritten: p.stats.recordsWritten.Load(),
		BytesWritten:   p.stats.bytesWritten.Load(),
		Retries:        p.stats.retries.Load(),
		RecordsSkipped: p.stats.recordsSkipped.Load(),
	}
	if c := p.stats.committed.Load(); c != nil {
		s.Committed, s.CommittedSequence, s.CommittedAt = c.pos, c.seq, c.at
	}
	if e := p.stats.lastError.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, e.at
	}
	s.InFlightBytes, s.PeakInFlightBytes = p.budget.usage()
	return s
}
