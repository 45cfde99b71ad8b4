package checkpoint

import (
	"fmt"
	"sync"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Mark is a point of the contiguous-ack watermark.
type Mark struct {
	// Position is the position of the last batch that, with every batch before it, is fully
	// acknowledged (the start position when none is yet).
	Position change.Position
	// Sequence is the sequence number of that batch: how many batches have been
	// acknowledged, counting from the start checkpoint's Sequence.
	Sequence uint64
	// Changes counts the changes of those batches, from the start checkpoint's Changes.
	Changes uint64
}

type pendingBatch struct {
	pos       change.Position
	remaining int
	changes   int
}

// Tracker is the contiguous-ack watermark. The runtime registers each source batch with Add,
// in read order, saying how many records it produced; records are then acknowledged with Ack
// in any order, from any goroutine. Committed returns the position of the last batch such
// that it and every earlier batch are fully acknowledged. A batch with no records is complete
// as soon as it is added, but the watermark passes it only once every earlier batch is
// complete.
//
// Add and Ack are O(1) amortized. A Tracker is safe for concurrent use.
type Tracker struct {
	mu sync.Mutex
	// q[head:] are the batches not yet passed by the watermark; q[head] has sequence
	// number mark.Sequence+1.
	q         []pendingBatch
	head      int
	mark      Mark
	completed int // batches in q[head:] with remaining == 0
}

// NewTracker returns a Tracker whose watermark starts at start (nil for a first run). The
// first batch added gets sequence number start.Sequence+1.
func NewTracker(start *Checkpoint) *Tracker {
	t := &Tracker{}
	if start != nil {
		t.mark = Mark{Position: start.Position, Sequence: start.Sequence, Changes: start.Changes}
	}
	return t
}

// Add registers the next batch in read order: its resume position, the number of records it
// produced (each to be acknowledged once) and the number of changes it held. It returns the
// batch's sequence number.
func (t *Tracker) Add(pos change.Position, records, changes int) uint64 {
	if records < 0 {
		records = 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.q = append(t.q, pendingBatch{pos: pos, remaining: records, changes: changes})
	seq := t.mark.Sequence + uint64(len(t.q)-t.head)
	if records == 0 {
		t.completed++
		t.advance()
	}
	return seq
}

// Ack acknowledges n records of batch seq. done reports whether the batch is now fully
// acknowledged (whether or not the watermark could pass it yet).
func (t *Tracker) Ack(seq uint64, n int) (done bool, err error) {
	if n <= 0 {
		return false, fmt.Errorf("acknowledge %d records of batch %d: count must be positive", n, seq)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	first := t.mark.Sequence + 1
	if seq < first || seq-first >= uint64(len(t.q)-t.head) {
		return false, fmt.Errorf("acknowledge batch %d: %w (pending %d..%d)", seq, ErrUnknownBatch, first, first+uint64(len(t.q)-t.head)-1)
	}
	b := &t.q[t.head+int(seq-first)]
	if n > b.remaining {
		return false, fmt.Errorf("acknowledge %d records of batch %d with %d unacknowledged: %w", n, seq, b.remaining, ErrOverAck)
	}
	b.remaining -= n
	if b.remaining > 0 {
		return false, nil
	}
	t.completed++
	if seq == first {
		t.advance()
	}
	return true, nil
}

// advance moves the watermark over complete batches at the head. Each batch is passed once,
// so the cost is amortized over Add.
func (t *Tracker) advance() {
	for t.head < len(t.q) && t.q[t.head].remaining == 0 {
		b := &t.q[t.head]
		t.mark.Position = b.pos
		t.mark.Sequence++
		t.mark.Changes += uint64(b.changes)
		*b = pendingBatch{}
		t.head++
		t.completed--
	}
	switch {
	case t.head == len(t.q):
		t.q = t.q[:0]
		t.head = 0
	case t.head >= 1024 && t.head*2 >= len(t.q):
		n := copy(t.q, t.q[t.head:])
		clear(t.q[n:])
		t.q = t.q[:n]
		t.head = 0
	}
}

// Committed returns the watermark.
func (t *Tracker) Committed() Mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark
}

// Pending returns how many added batches the watermark has not passed, and how many of them
// are complete but wait behind an incomplete one.
func (t *Tracker) Pending() (batches, complete int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.q) - t.head, t.completed
}
