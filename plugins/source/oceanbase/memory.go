package oceanbase

import (
	"context"
	"sync"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// memBudget bounds the bytes the log reader buffers between the binlog connection and the
// host (reader_memory): binlog events received but not decoded yet (counted by their header's
// EventSize) plus decoded changes waiting in the open transaction's buffer and the output
// queue (counted by change.ApproxSize, position included). A nil budget counts nothing (a
// source used without Open, in tests).
//
//   - The receiving goroutine admits an event while the buffered events stay within half the
//     limit and the total within the limit (an event larger than half the limit is admitted
//     once no other event is buffered, one larger than the limit once nothing at all is).
//   - The open transaction's decoded rows are delivered ahead of its commit (spilled) once
//     they take more than half the limit, so with an empty output queue the total is within
//     the limit.
//   - Read decodes the next event only while the total is within the limit (or nothing
//     decoded waits); otherwise it hands the output queue to the host first.
//
// Decoding one event can add more bytes than the event releases, so the total can pass the
// limit by what one decoding step adds: the changes of one rows event (the server cuts rows
// events at binlog_row_event_max_size, 8 KiB by default, unless a single row is larger), or
// the rows of one snapshot chunk queued at its high watermark. stats() reports that growth:
// peak <= limit + maxGrowth (an oversized event apart). The replication client holds at most
// two more parsed events (EventCacheCount 1), and the receiving goroutine one it has not been
// able to admit yet.
type memBudget struct {
	mu     sync.Mutex
	limit  int64
	events int64 // EventSize of events received, not yet decoded
	queued int64 // ApproxSize of changes in the transaction buffer and the output queue
	peak   int64
	// maxGrowth is the largest increase of the total by one decoding step.
	maxGrowth int64
	freed     chan struct{} // signalled when bytes are released
	// waiting is set while the receiving goroutine waits for room; onWait (Source.wakeup)
	// tells Read, which may have to deliver the open transaction's rows to make room.
	waiting bool
	waitN   int64 // the size of the event it waits to admit
	onWait  func()
}

// fitsLocked reports whether an event of n bytes may be admitted now.
func (m *memBudget) fitsLocked(n int64) bool {
	used := m.events + m.queued
	return (m.events == 0 || m.events+n <= m.limit/2) && (used == 0 || used+n <= m.limit)
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{limit: limit, freed: make(chan struct{}, 1)}
}

func (m *memBudget) notePeakLocked() {
	if t := m.events + m.queued; t > m.peak {
		m.peak = t
	}
}

func (m *memBudget) signal() {
	select {
	case m.freed <- struct{}{}:
	default:
	}
}

// admitEvent waits until an event of n bytes fits and counts it.
func (m *memBudget) admitEvent(ctx context.Context, n int64) error {
	if m == nil {
		return nil
	}
	for {
		m.mu.Lock()
		if m.fitsLocked(n) {
			m.events += n
			m.waiting = false
			m.notePeakLocked()
			m.mu.Unlock()
			return nil
		}
		m.waiting, m.waitN = true, n
		m.mu.Unlock()
		if m.onWait != nil {
			m.onWait()
		}
		select {
		case <-m.freed:
		case <-ctx.Done():
			m.mu.Lock()
			m.waiting = false
			m.mu.Unlock()
			return ctx.Err()
		}
	}
}

// spillAt is the size of an open transaction's decoded rows at which they are delivered
// ahead of its commit.
func (m *memBudget) spillAt() int64 {
	if m == nil {
		return 1<<63 - 1
	}
	return m.limit / 2
}

// eventDone forgets an event's bytes: it was decoded, or will not be (a stream stopped).
func (m *memBudget) eventDone(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.events -= n
	if m.events < 0 {
		m.events = 0
	}
	m.mu.Unlock()
	m.signal()
}

// addQueued counts n more (n < 0: fewer) bytes of queued changes.
func (m *memBudget) addQueued(n int64) {
	if m == nil {
		return
	}
	if n == 0 {
		return
	}
	m.mu.Lock()
	m.queued += n
	if m.queued < 0 {
		m.queued = 0
	}
	m.notePeakLocked()
	m.mu.Unlock()
	if n < 0 {
		m.signal()
	}
}

// queuedBytes returns the bytes of queued changes (a decoding step's start).
func (m *memBudget) queuedBytes() int64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queued
}

// mayDecode reports whether Read may decode another event: the total is within the limit,
// or nothing decoded is waiting (an oversized event is then decoded alone).
func (m *memBudget) mayDecode() bool {
	if m == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queued == 0 || m.events+m.queued <= m.limit
}

// receiverWaiting reports whether the receiving goroutine waits for room that is not there
// (it does not wait for long when the room is there: it was signalled).
func (m *memBudget) receiverWaiting() bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting && !m.fitsLocked(m.waitN)
}

// stepDone records what one decoding step (which began with before bytes queued) added to the
// queued changes; the step's event is released after it (eventDone), so this is how far the
// step can take the total past the total it began with.
func (m *memBudget) stepDone(before int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if g := m.queued - before; g > m.maxGrowth {
		m.maxGrowth = g
	}
	m.mu.Unlock()
}

// MemoryStats is the log reader's buffer accounting (see reader_memory).
type MemoryStats struct {
	Limit  int64 // reader_memory
	Events int64 // bytes of binlog events received and not decoded yet
	Queued int64 // bytes of decoded changes not handed to the host yet
	Peak   int64 // highest Events+Queued so far
	// MaxGrowth is the most one decoding step added to Events+Queued: the bound is
	// Peak <= Limit + MaxGrowth.
	MaxGrowth int64
}

func (m *memBudget) stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Limit: m.limit, Events: m.events, Queued: m.queued, Peak: m.peak, MaxGrowth: m.maxGrowth}
}

// ReaderMemory reports the log reader's buffered bytes against reader_memory.
func (s *Source) ReaderMemory() MemoryStats {
	if s.mem == nil {
		return MemoryStats{}
	}
	return s.mem.stats()
}

// itemSize is what a queued change counts against reader_memory.
func itemSize(c *change.Change) int64 { return int64(c.ApproxSize()) }
