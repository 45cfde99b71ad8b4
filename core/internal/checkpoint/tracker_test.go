package checkpoint

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk/change"
)

func pos(i uint64) change.Position {
	return binary.BigEndian.AppendUint64(nil, i)
}

func posNum(t *testing.T, p change.Position) uint64 {
	t.Helper()
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func TestTrackerInOrder(t *testing.T) {
	tr := NewTracker(nil)
	if m := tr.Committed(); m.Position != nil || m.Sequence != 0 {
		t.Fatalf("initial mark = %+v", m)
	}
	s1 := tr.Add(pos(1), 2, 5)
	s2 := tr.Add(pos(2), 1, 1)
	if s1 != 1 || s2 != 2 {
		t.Fatalf("sequences = %d, %d", s1, s2)
	}
	// Batch 2 completes first: the watermark must wait for batch 1.
	if done, err := tr.Ack(s2, 1); err != nil || !done {
		t.Fatalf("Ack = %v, %v", done, err)
	}
	if m := tr.Committed(); m.Sequence != 0 {
		t.Fatalf("watermark passed an incomplete batch: %+v", m)
	}
	if b, c := tr.Pending(); b != 2 || c != 1 {
		t.Fatalf("Pending = %d, %d", b, c)
	}
	if done, err := tr.Ack(s1, 1); err != nil || done {
		t.Fatalf("Ack = %v, %v", done, err)
	}
	if m := tr.Committed(); m.Sequence != 0 {
		t.Fatalf("watermark passed a half-acknowledged batch: %+v", m)
	}
	if done, err := tr.Ack(s1, 1); err != nil || !done {
		t.Fatalf("Ack = %v, %v", done, err)
	}
	m := tr.Committed()
	if posNum(t, m.Position) != 2 || m.Sequence != 2 || m.Changes != 6 {
		t.Fatalf("mark = %+v", m)
	}
	if b, c := tr.Pending(); b != 0 || c != 0 {
		t.Fatalf("Pending = %d, %d", b, c)
	}
}

func TestTrackerEmptyBatches(t *testing.T) {
	tr := NewTracker(&Checkpoint{Position: pos(10), Sequence: 10, Changes: 100})
	if m := tr.Committed(); posNum(t, m.Position) != 10 || m.Sequence != 10 || m.Changes != 100 {
		t.Fatalf("start mark = %+v", m)
	}
	// An empty batch at the head completes at once.
	if s := tr.Add(pos(11), 0, 3); s != 11 {
		t.Fatalf("sequence = %d", s)
	}
	if m := tr.Committed(); posNum(t, m.Position) != 11 || m.Changes != 103 {
		t.Fatalf("mark = %+v", m)
	}
	// An empty batch behind an incomplete one waits for it.
	s12 := tr.Add(pos(12), 1, 1)
	tr.Add(pos(13), 0, 1)
	tr.Add(pos(14), 0, 1)
	if m := tr.Committed(); posNum(t, m.Position) != 11 {
		t.Fatalf("empty batch overtook an incomplete one: %+v", m)
	}
	if _, err := tr.Ack(s12, 1); err != nil {
		t.Fatal(err)
	}
	if m := tr.Committed(); posNum(t, m.Position) != 14 || m.Sequence != 14 || m.Changes != 106 {
		t.Fatalf("mark = %+v", m)
	}
}

func TestTrackerErrors(t *testing.T) {
	tr := NewTracker(nil)
	s := tr.Add(pos(1), 2, 2)
	if _, err := tr.Ack(s, 3); !errors.Is(err, ErrOverAck) {
		t.Fatalf("over-ack = %v", err)
	}
	if _, err := tr.Ack(s+1, 1); !errors.Is(err, ErrUnknownBatch) {
		t.Fatalf("ack of a future batch = %v", err)
	}
	if _, err := tr.Ack(s, 0); err == nil {
		t.Fatal("ack of 0 records accepted")
	}
	if _, err := tr.Ack(s, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Ack(s, 1); !errors.Is(err, ErrUnknownBatch) {
		t.Fatalf("ack of a passed batch = %v", err)
	}
	// A complete batch waiting behind an incomplete one rejects more acks.
	a := tr.Add(pos(2), 1, 1)
	b := tr.Add(pos(3), 1, 1)
	if _, err := tr.Ack(b, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Ack(b, 1); !errors.Is(err, ErrOverAck) {
		t.Fatalf("second ack of a complete batch = %v", err)
	}
	if _, err := tr.Ack(a, 1); err != nil {
		t.Fatal(err)
	}
	if m := tr.Committed(); m.Sequence != 3 {
		t.Fatalf("mark = %+v", m)
	}
}

// TestTrackerRandomized acknowledges records of many batches in random order from several
// goroutines and checks, after every acknowledgement, that the watermark never passes a batch
// with unacknowledged records and that it ends at the last batch.
func TestTrackerRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		const batches = 3000
		tr := NewTracker(nil)
		records := make([]int, batches+1)
		type ack struct {
			seq uint64
			n   int
		}
		var acks []ack
		for i := 1; i <= batches; i++ {
			n := rng.IntN(5) // 0..4 records
			if rng.IntN(4) == 0 {
				n = 0
			}
			records[i] = n
			if s := tr.Add(pos(uint64(i)), n, n+1); s != uint64(i) {
				t.Fatalf("sequence %d for batch %d", s, i)
			}
			// Acknowledge in pieces.
			for n > 0 {
				k := 1 + rng.IntN(n)
				acks = append(acks, ack{uint64(i), k})
				n -= k
			}
		}
		rng.Shuffle(len(acks), func(i, j int) { acks[i], acks[j] = acks[j], acks[i] })

		var mu sync.Mutex // guards unacked, checked against the watermark
		unacked := append([]int(nil), records...)
		doneCount := make([]int, batches+1) // how many acks reported each batch done
		check := func() {
			m := tr.Committed()
			w := posNum(t, m.Position)
			if w != m.Sequence {
				t.Errorf("seed %d: position %d with sequence %d", seed, w, m.Sequence)
			}
			for i := uint64(1); i <= w; i++ {
				if unacked[i] != 0 {
					t.Fatalf("seed %d: watermark %d is ahead of batch %d with %d unacknowledged records", seed, w, i, unacked[i])
				}
			}
		}
		const workers = 4
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(acks); i += workers {
					a := acks[i]
					// Record the ack before making it, so the check never sees the tracker
					// ahead of the model.
					mu.Lock()
					unacked[a.seq] -= a.n
					mu.Unlock()
					done, err := tr.Ack(a.seq, a.n)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if done {
						doneCount[a.seq]++
					}
					if i%97 == 0 {
						check()
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		check()
		mu.Unlock()
		for i := 1; i <= batches; i++ {
			if want := min(records[i], 1); doneCount[i] != want {
				t.Fatalf("seed %d: batch %d with %d records reported done %d times", seed, i, records[i], doneCount[i])
			}
		}
		m := tr.Committed()
		if m.Sequence != batches || posNum(t, m.Position) != batches {
			t.Fatalf("seed %d: final mark %+v, want batch %d", seed, m, batches)
		}
		var wantChanges uint64
		for i := 1; i <= batches; i++ {
			wantChanges += uint64(records[i] + 1)
		}
		if m.Changes != wantChanges {
			t.Fatalf("seed %d: changes %d, want %d", seed, m.Changes, wantChanges)
		}
		if b, c := tr.Pending(); b != 0 || c != 0 {
			t.Fatalf("seed %d: pending %d, %d", seed, b, c)
		}
	}
}

// TestTrackerSequentialModel compares the tracker with a naive model after every step of a
// single-threaded random interleaving of Add and Ack.
func TestTrackerSequentialModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	tr := NewTracker(nil)
	var remaining []int // index = seq-1
	var open []uint64
	for step := 0; step < 20000; step++ {
		if len(open) == 0 || rng.IntN(3) == 0 {
			n := rng.IntN(4)
			s := tr.Add(pos(uint64(len(remaining)+1)), n, 1)
			remaining = append(remaining, n)
			if n > 0 {
				open = append(open, s)
			}
		} else {
			k := rng.IntN(len(open))
			s := open[k]
			remaining[s-1]--
			if _, err := tr.Ack(s, 1); err != nil {
				t.Fatal(err)
			}
			if remaining[s-1] == 0 {
				open[k] = open[len(open)-1]
				open = open[:len(open)-1]
			}
		}
		want := uint64(0)
		for want < uint64(len(remaining)) && remaining[want] == 0 {
			want++
		}
		if m := tr.Committed(); m.Sequence != want || posNum(t, m.Position) != want {
			t.Fatalf("step %d: mark %+v, model %d", step, m, want)
		}
	}
}

func BenchmarkTrackerAck(b *testing.B) {
	tr := NewTracker(nil)
	p := pos(1)
	for i := 0; i < b.N; i++ {
		s := tr.Add(p, 2, 1)
		if _, err := tr.Ack(s, 1); err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Ack(s, 1); err != nil {
			b.Fatal(err)
		}
	}
}
