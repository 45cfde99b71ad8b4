package pipeline

import (
	"bytes"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Key-change modes (Config.KeyChange, the runtime block's key_change).
const (
	// KeyChangeSplit (the default): an UPDATE that changes the key or the sharding-column
	// values becomes a DELETE of the old row and an INSERT of the new row, and the INSERT is
	// not written before the DELETE is acknowledged by the sink.
	KeyChangeSplit = "split"
	// KeyChangeUpdate: such an UPDATE stays one change, routed by its new key only; nothing
	// orders it with later changes of the old key.
	KeyChangeUpdate = "update"
)

// splitKeyChanges replaces each UPDATE whose key or shard hash differs between its before and
// after images by its two halves (see change.MetaKeyChange). It runs before the objects
// stage, so the key and the shard are those of the full row, with the object's sharding
// columns (Config.Shard), and a row filter then applies to each half (a DELETE is kept when
// the old row matched, an INSERT when the new row matches: what the filter does with an
// UPDATE crossing it).
func (r *run) splitKeyChanges(changes []*change.Change, keyBuf *[]byte) []*change.Change {
	var out []*change.Change
	for i, c := range changes {
		del, ins, ok := r.splitKeyChange(c, keyBuf)
		if !ok {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = make([]*change.Change, i, len(changes)+4)
			copy(out, changes[:i])
		}
		out = append(out, del, ins)
	}
	if out == nil {
		return changes
	}
	return out
}

func (r *run) splitKeyChange(c *change.Change, keyBuf *[]byte) (del, ins *change.Change, ok bool) {
	return SplitKeyChange(c, r.cfg.Key, r.cfg.Shard, keyBuf)
}

// SplitKeyChange returns the DELETE and INSERT halves of c when c is an UPDATE whose key
// (key) or shard (shard) differs between its before and after images; ok is false
// otherwise. keyBuf is scratch space (may be nil).
func SplitKeyChange(c *change.Change, key func(*change.Change, []byte) []byte, shard func(*change.Change) uint64, keyBuf *[]byte) (del, ins *change.Change, ok bool) {
	if keyBuf == nil {
		keyBuf = new([]byte)
	}
	if c.Op != change.OpUpdate || c.Table == nil || c.Before == nil || c.After == nil {
		return nil, nil, false
	}
	d := *c
	d.Op, d.After = change.OpDelete, nil
	n := *c
	n.Op, n.Before = change.OpInsert, nil
	buf := key(&d, (*keyBuf)[:0])
	split := len(buf)
	buf = key(&n, buf)
	*keyBuf = buf
	if bytes.Equal(buf[:split], buf[split:]) && shard(&d) == shard(&n) {
		return nil, nil, false
	}
	d.ID, n.ID = change.KeyChangeDeleteID(c.ID), change.KeyChangeInsertID(c.ID)
	d.Meta = withKeyChange(c.Meta, change.KeyChangeDelete, c.ID, change.EncodeKey(change.KeyValues(c.Table, c.After, nil)))
	n.Meta = withKeyChange(c.Meta, change.KeyChangeInsert, c.ID, change.EncodeKey(change.KeyValues(c.Table, c.Before, nil)))
	return &d, &n, true
}

func withKeyChange(meta map[string]string, role, of, other string) map[string]string {
	m := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		m[k] = v
	}
	m[change.MetaKeyChange] = role
	m[change.MetaKeyChangeOf] = of
	m[change.MetaKeyChangeOtherKey] = other
	return m
}

// dep says that record `after` (the first record of a key change's INSERT) must not be
// written before record `on` (the last record of its DELETE, an earlier record of the same
// batch) is acknowledged by the sink.
type dep struct{ after, on int }

// keyChangeDeps finds the key changes among the batch's records: an INSERT half whose
// change directly follows its DELETE half, each with records, on different shards (on one
// shard the queue and the lane are the same and their order is the lane's).
func keyChangeDeps(recs []sdk.Record, changes []*change.Change, deps []dep) []dep {
	deps = deps[:0]
	lastOf := -1 // index of the last record of the previous change
	prevChange := -1
	for i := 0; i < len(recs); {
		ci := recs[i].Change
		j := i
		for j < len(recs) && recs[j].Change == ci {
			j++
		}
		c := changes[ci]
		if c.Meta[change.MetaKeyChange] == change.KeyChangeInsert && prevChange == ci-1 && ci > 0 {
			p := changes[ci-1]
			if p.Meta[change.MetaKeyChange] == change.KeyChangeDelete && p.Meta[change.MetaKeyChangeOf] == c.Meta[change.MetaKeyChangeOf] &&
				recs[lastOf].Hash != recs[i].Hash {
				deps = append(deps, dep{after: i, on: lastOf})
			}
		}
		prevChange, lastOf = ci, j-1
		i = j
	}
	return deps
}

// ackGate is closed when the record it waits for is acknowledged.
type ackGate struct{ ch chan struct{} }

// mark attaches a gate to record i of a chunk: a signal (close the gate once the record is
// acknowledged) or a wait (write the record only after the gate is closed).
type mark struct {
	i int
	g *ackGate
}

// routeDeps is route for a batch with key changes crossing shards. Records go to the same
// lanes as in route, in order, but a lane's records are sent up to a DELETE half before the
// INSERT half that waits for it is sent to its lane: a lane's queue never holds a waiting
// record whose dependency is still unsent (which could deadlock on full queues).
func (r *run) routeDeps(b *batchState, recs []sdk.Record, deps []dep) {
	n := uint64(len(r.lanes))
	type wait struct {
		g  *ackGate
		on int
	}
	waitAt := make(map[int]wait, len(deps))
	sigAt := make(map[int]*ackGate, len(deps))
	for _, d := range deps {
		g := &ackGate{ch: make(chan struct{})}
		waitAt[d.after] = wait{g: g, on: d.on}
		sigAt[d.on] = g
	}
	laneOf := func(i int) int { return int(r.laneOf(&recs[i], n)) } // as route
	parts := make([]chunk, n)
	holds := make([]int, n) // lane -> highest record index held in its unsent part, -1 none
	for l := range holds {
		holds[l] = -1
	}
	sendPart := func(l int) bool {
		if len(parts[l].recs) == 0 {
			return true
		}
		c := parts[l]
		parts[l] = chunk{}
		holds[l] = -1
		return r.send(l, c)
	}
	for i := range recs {
		l := laneOf(i)
		if w, ok := waitAt[i]; ok {
			if lt := laneOf(w.on); lt != l && holds[lt] >= w.on {
				if !sendPart(lt) {
					return
				}
			}
			parts[l].waits = append(parts[l].waits, mark{i: len(parts[l].recs), g: w.g})
		}
		if g, ok := sigAt[i]; ok {
			parts[l].sigs = append(parts[l].sigs, mark{i: len(parts[l].recs), g: g})
		}
		parts[l].b = b
		parts[l].recs = append(parts[l].recs, recs[i])
		holds[l] = i
	}
	for l := range parts {
		if !sendPart(l) {
			return
		}
	}
}
