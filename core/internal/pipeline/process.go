package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// batchState is what a lane needs to acknowledge a batch's records.
type batchState struct {
	seq    uint64 // tracker sequence
	weight int64  // bytes held in the budget until every record is acknowledged
}

// chunk is the part of one batch's records that goes to one lane, in order.
type chunk struct {
	b    *batchState
	recs []sdk.Record
	// sigs and waits order key changes across lanes (keychange.go).
	sigs, waits []mark
}

// process is the processor goroutine: filters, serializer, host fields, registration with the
// tracker and routing to the lanes, one batch at a time in read order.
func (r *run) process() {
	defer func() {
		for _, ch := range r.lanes {
			close(ch)
		}
	}()
	var out []sdk.Record
	var keyBuf []byte
	counts := make([]int, len(r.lanes))
	for {
		var rb readBatch
		select {
		case b, ok := <-r.procCh:
			if !ok {
				return
			}
			rb = b
		case q := <-r.p.quiesce:
			q.reply <- r.quiesce(q)
			continue
		}
		if r.stopping() {
			r.budget.release(rb.weight)
			continue
		}
		recs, err := r.transform(rb.changes, out[:0], &keyBuf)
		if err != nil {
			r.budget.release(rb.weight)
			if !r.stopping() {
				r.fail(err)
			}
			continue
		}

		r.compactValues(recs)
		if err := r.throttle(r.workCtx, recs); err != nil {
			// Stopping: the batch was not registered, so the checkpoint stays before it and
			// a restart reads it again.
			r.budget.release(rb.weight)
			continue
		}
		b := &batchState{seq: r.tracker.Add(rb.pos, len(recs), len(rb.changes)), weight: rb.weight}
		if len(recs) == 0 {
			// Everything filtered out, or heartbeats without records: complete at once.
			r.budget.release(b.weight)
			if rb.initial {
				// A fresh run's start position: save it now, so that a crash before the
				// first periodic save resumes from where this run began rather than from
				// scratch (which could miss changes and leave deleted rows behind).
				if err := r.commit(r.workCtx); err != nil {
					r.fail(err)
				}
			}
			continue
		}
		// From here on the batch holds its records, not its changes.
		var recBytes int64
		for i := range recs {
			recBytes += int64(recs[i].ApproxSize())
		}
		if recBytes < b.weight {
			r.budget.release(b.weight - recBytes)
		} else if recBytes > b.weight {
			r.budget.force(recBytes - b.weight)
		}
		b.weight = recBytes
		r.route(b, recs, counts)
		clear(recs)
		out = recs[:0]
	}
}

// transform runs the filters and the serializer over one batch's changes and fills the
// host's fields of the records, which it appends to out.
func (r *run) transform(changes []*change.Change, out []sdk.Record, keyBuf *[]byte) ([]sdk.Record, error) {
	r.deps = r.deps[:0]
	if r.cfg.KeyChange != KeyChangeUpdate {
		err := protect(func() error {
			changes = r.splitKeyChanges(changes, keyBuf)
			return nil
		})
		if err != nil {
			return nil, &StageError{Stage: "objects", Op: "key change", Err: err}
		}
	}
	if r.cfg.Objects != nil {
		kept := make([]*change.Change, 0, len(changes))
		for _, c := range changes {
			var out *change.Change
			var keep bool
			err := protect(func() error {
				var err error
				out, keep, err = r.cfg.Objects(c)
				return err
			})
			if err != nil {
				return nil, &StageError{Stage: "objects", Op: "select", Err: err}
			}
			if keep {
				kept = append(kept, out)
			}
		}
		changes = kept
		if len(changes) == 0 {
			return out, nil
		}
	}
	for i, f := range r.cfg.Filters {
		err := protect(func() error {
			var err error
			changes, err = f.Filter(r.workCtx, changes)
			return err
		})
		if err != nil {
			return nil, &StageError{Stage: "filter", Plugin: r.p.names.filters[i], Op: "filter", Err: err}
		}
		if len(changes) == 0 {
			return out, nil
		}
	}
	if len(changes) == 0 {
		return out, nil
	}
	err := protect(func() error {
		var err error
		out, err = r.cfg.Serializer.Serialize(r.workCtx, changes, out)
		return err
	})
	if err == nil {
		*keyBuf, err = r.fill(out, changes, *keyBuf)
	}
	if err == nil && r.cfg.KeyChange != KeyChangeUpdate {
		r.deps = keyChangeDeps(out, changes, r.deps)
	}
	if err != nil {
		return nil, &StageError{Stage: "serializer", Plugin: r.p.names.serializer, Op: "serialize", Err: err}
	}
	return out, nil
}

// fill validates the serializer's records and fills the host's fields.
func (r *run) fill(recs []sdk.Record, changes []*change.Change, keyBuf []byte) ([]byte, error) {
	last := -1
	var hash uint64
	var key string
	for i := range recs {
		rec := &recs[i]
		ci := rec.Change
		if ci < 0 || ci >= len(changes) {
			return keyBuf, fmt.Errorf("record %d refers to change %d of %d", i, ci, len(changes))
		}
		if ci < last {
			return keyBuf, fmt.Errorf("record %d refers to change %d after change %d: records must follow the changes' order", i, ci, last)
		}
		c := changes[ci]
		if ci != last {
			last = ci
			hash = r.cfg.Shard(c)
			keyBuf = r.cfg.Key(c, keyBuf[:0])
			key = string(keyBuf)
		}
		rec.Hash = hash
		rec.ChangeID = c.ID
		rec.Op = c.Op
		rec.Database, rec.Table = c.Database, c.TableName
		if c.Table != nil {
			if rec.Database == "" {
				rec.Database = c.Table.Database
			}
			if rec.Table == "" {
				rec.Table = c.Table.Name
			}
		}
		rec.CommitTime = c.CommitTime
		rec.Position = c.Position
		if rec.Key == "" {
			rec.Key = key
		}
		if rec.Topic == "" {
			rec.Topic = c.Topic
		}
	}
	return keyBuf, nil
}

// route sends the batch's records to their lanes (laneOf: Hash % Writers for the default
// order scope), keeping their order within each lane. Sends block while a lane's queue is
// full.
func (r *run) route(b *batchState, recs []sdk.Record, counts []int) {
	if len(r.deps) > 0 {
		r.routeDeps(b, recs, r.deps)
		return
	}
	n := uint64(len(r.lanes))
	if n == 1 {
		r.send(0, chunk{b: b, recs: append([]sdk.Record(nil), recs...)})
		return
	}
	clear(counts)
	for i := range recs {
		counts[r.laneOf(&recs[i], n)]++
	}
	parts := make([][]sdk.Record, n)
	for l, c := range counts {
		if c > 0 {
			parts[l] = make([]sdk.Record, 0, c)
		}
	}
	for i := range recs {
		l := r.laneOf(&recs[i], n)
		parts[l] = append(parts[l], recs[i])
	}
	for l, part := range parts {
		if len(part) > 0 && !r.send(l, chunk{b: b, recs: part}) {
			return
		}
	}
}

// laneOf is the lane of rec among n: the sink's ordering unit (sdk.OrderScoper) is the
// lane's unit, so the records of one unit are written by one lane, in order. Key: the
// record's Hash; table: the FNV-1a 64 hash of "db.table" (the rocketmq sink's table rule);
// all: lane 0.
func (r *run) laneOf(rec *sdk.Record, n uint64) uint64 {
	switch r.p.scope {
	case sdk.OrderAll:
		return 0
	case sdk.OrderTable:
		return tableHash(rec.Database, rec.Table) % n
	}
	return rec.Hash % n
}

// tableHash is FNV-1a 64 of db + "." + table, without allocating.
func tableHash(db, table string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(db); i++ {
		h = (h ^ uint64(db[i])) * prime
	}
	h = (h ^ '.') * prime
	for i := 0; i < len(table); i++ {
		h = (h ^ uint64(table[i])) * prime
	}
	return h
}

func (r *run) send(lane int, c chunk) bool {
	select {
	case r.lanes[lane] <- c:
		return true
	case <-r.workCtx.Done():
		return false
	}
}

// quiesceReq asks the processor to run fn with nothing in flight.
type quiesceReq struct {
	ctx   context.Context
	fn    func() error
	reply chan error
}

// quiesce waits, without taking new batches, until every registered batch was acknowledged,
// then runs q.fn.
func (r *run) quiesce(q quiesceReq) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if n, _ := r.tracker.Pending(); n == 0 {
			return q.fn()
		}
		select {
		case <-t.C:
		case <-q.ctx.Done():
			return q.ctx.Err()
		case <-r.workCtx.Done():
			return ErrNotRunning
		}
	}
}

// compactValues copies the batch's record values into one array of exactly their size,
// unless the serializer says they are already (sdk.ExactValues). A serializer that appends
// values into a growing buffer leaves each earlier value pointing into an array that was
// outgrown: the records would keep alive up to twice the bytes the budget counts. One copy
// per batch (memcpy speed) makes the budget's count the truth, whatever the plugin does.
// For a sink that does not write record heads (sdk.SharedHeads), it also joins each
// record's Head into its Value.
func (r *run) compactValues(recs []sdk.Record) {
	if !r.exactValues {
		sdk.CompactValues(recs)
	}
	if !r.sharedHeads {
		sdk.JoinHeads(recs) // a sink that does not write heads gets whole bodies
	}
}
