package oceanbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// ErrHistory is returned when the schema history cannot give the schemas in force at a
// resume position (missing, damaged or compacted past it).
var ErrHistory = errors.New("schema history")

// The schema history records, for each selected table, the schema in force from each schema
// change on, so that a restart decodes the log with the schemas of the log's time and not the
// catalog's (which may be several DDL statements ahead of the resume position). It is kept in
// the pipeline's state store (sdk.OpenRequest.State, beside the checkpoint):
//
//	schema-history/base.json            the schemas at epoch B (every table the source knew)
//	schema-history/entry-<epoch>.json   one entry per schema change after B, epochs B+1, B+2, ...
//
// An epoch counts the entries applied; every position the source makes carries the epoch of
// the schemas in force there (position version 3). An entry is written, durably, when the
// change is decoded, before the source hands the host any batch whose position has that
// epoch: a checkpoint can therefore never name an epoch the store lacks. A crash after the
// write and before a checkpoint passed it leaves entries beyond the checkpoint's epoch; the
// next Open deletes them and the stream, replaying the same statements from the log, writes
// them again. Acknowledged checkpoints (Ack) fold the entries up to their epoch into the base:
// nothing older than the oldest position a checkpoint can resume from is kept.
//
// Entries are made by DDL (replayed on the schema of its time), by the selection (a table that
// joins gets its first schema from the catalog; one that leaves is forgotten) and at a fresh
// start (the base).
const (
	histPrefix = "schema-history/"
	histBase   = histPrefix + "base.json"
	histEntry  = histPrefix + "entry-"
)

// histTable is one table's state in the history.
type histTable struct {
	Key  string `json:"key"` // lower-case "db.table"
	DB   string `json:"db"`
	Name string `json:"name"`
	// Schema is the schema in force; nil when the table does not exist (dropped, or selected
	// by name and not created yet).
	Schema *change.Table `json:"schema,omitempty"`
	// UniqueNames are the names of Schema.UniqueKeys (DROP INDEX needs them).
	UniqueNames []string `json:"unique_names,omitempty"`
	// Version is the last schema version given to the table (kept across a drop).
	Version uint64 `json:"version"`
	// Leave marks, in an entry, a table that left the selection.
	Leave bool `json:"leave,omitempty"`
}

// histRecord is the base or one entry.
type histRecord struct {
	Epoch uint64 `json:"epoch"`
	// Cause says what made the entry: "start", "ddl", "selection", "resume".
	Cause string `json:"cause"`
	// Statement is the DDL, At its binlog position (for messages).
	Statement string      `json:"statement,omitempty"`
	At        string      `json:"at,omitempty"`
	Tables    []histTable `json:"tables"`
}

// history is the source's schema history. The stream goroutine records; Ack compacts.
type history struct {
	st sdk.StateStore // nil: no store (history off: the catalog is read at every start)

	mu    sync.Mutex
	epoch uint64 // entries applied: the epoch of the stream's current position
	base  histRecord
	log   []histRecord // entries after base.Epoch, in order
	bytes int64        // stored bytes (base + entries)
	sizes map[uint64]int64
}

func newHistory(st sdk.StateStore) *history {
	return &history{st: st, sizes: map[uint64]int64{}}
}

// enabled reports whether the history is kept.
func (h *history) enabled() bool { return h != nil && h.st != nil }

func entryKey(epoch uint64) string { return fmt.Sprintf("%s%020d.json", histEntry, epoch) }

// start begins a new history at epoch 0 with the given tables (a fresh start): anything stored
// before (a checkpoint that was removed) is deleted.
func (h *history) start(ctx context.Context, tables []histTable) error {
	if !h.enabled() {
		return nil
	}
	keys, err := h.st.List(ctx, histPrefix)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHistory, err)
	}
	base := histRecord{Epoch: 0, Cause: "start", Tables: tables}
	if err := h.put(ctx, histBase, base); err != nil {
		return err
	}
	for _, k := range keys {
		if k != histBase {
			if err := h.st.Delete(ctx, k); err != nil {
				return fmt.Errorf("%w: %v", ErrHistory, err)
			}
		}
	}
	h.mu.Lock()
	h.epoch, h.base, h.log = 0, base, nil
	h.sizes = map[uint64]int64{0: h.sizes[0]}
	h.bytes = h.sizes[0]
	h.mu.Unlock()
	return nil
}

// load reads the history up to epoch (a resume position's) and returns the tables' states in
// force there. Entries beyond epoch (written by a run that crashed before a checkpoint passed
// them) are deleted.
func (h *history) load(ctx context.Context, epoch uint64) (map[string]histTable, error) {
	raw, err := h.st.Get(ctx, histBase)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHistory, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: the checkpoint's position needs the schemas of epoch %d, but the state store has no schema history (was the checkpoint directory's %s removed or not copied with the checkpoint?)",
			ErrHistory, epoch, strings.TrimSuffix(histPrefix, "/"))
	}
	var base histRecord
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("%w: %s is damaged: %v", ErrHistory, histBase, err)
	}
	if base.Epoch > epoch {
		return nil, fmt.Errorf("%w: compacted to epoch %d, after the checkpoint's epoch %d (an older checkpoint was restored?)", ErrHistory, base.Epoch, epoch)
	}
	sizes := map[uint64]int64{base.Epoch: int64(len(raw))}
	state := map[string]histTable{}
	for _, t := range base.Tables {
		state[t.Key] = t
	}
	keys, err := h.st.List(ctx, histEntry)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHistory, err)
	}
	have := map[uint64]string{}
	for _, k := range keys {
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(k, histEntry), ".json"), 10, 64)
		if err != nil {
			continue // not ours
		}
		if n <= base.Epoch || n > epoch {
			// folded into the base already, or beyond the checkpoint: remade by the replay
			if err := h.st.Delete(ctx, k); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrHistory, err)
			}
			continue
		}
		have[n] = k
	}
	var log []histRecord
	for n := base.Epoch + 1; n <= epoch; n++ {
		k, ok := have[n]
		if !ok {
			return nil, fmt.Errorf("%w: entry %d of %d is missing (%s)", ErrHistory, n, epoch, entryKey(n))
		}
		raw, err := h.st.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHistory, err)
		}
		var e histRecord
		if err := json.Unmarshal(raw, &e); err != nil || e.Epoch != n {
			return nil, fmt.Errorf("%w: %s is damaged", ErrHistory, k)
		}
		sizes[n] = int64(len(raw))
		apply(state, e)
		log = append(log, e)
	}
	h.mu.Lock()
	h.epoch, h.base, h.log, h.sizes = epoch, base, log, sizes
	h.bytes = 0
	for _, n := range sizes {
		h.bytes += n
	}
	h.mu.Unlock()
	return state, nil
}

// apply applies entry e to state.
func apply(state map[string]histTable, e histRecord) {
	for _, t := range e.Tables {
		if t.Leave {
			delete(state, t.Key)
			continue
		}
		state[t.Key] = t
	}
}

// record writes one entry (epoch+1) durably and makes it the current epoch.
func (h *history) record(ctx context.Context, cause, stmt, at string, tables []histTable) error {
	if !h.enabled() || len(tables) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := histRecord{Epoch: h.epoch + 1, Cause: cause, Statement: stmt, At: at, Tables: tables}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHistory, err)
	}
	if err := h.st.Put(ctx, entryKey(e.Epoch), b); err != nil {
		return fmt.Errorf("%w: save entry %d (%s): %v", ErrHistory, e.Epoch, cause, err)
	}
	h.epoch = e.Epoch
	h.log = append(h.log, e)
	h.sizes[e.Epoch] = int64(len(b))
	h.bytes += int64(len(b))
	return nil
}

// current returns the epoch in force.
func (h *history) current() uint64 {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

// compact folds the entries up to epoch (an acknowledged checkpoint's) into the base.
func (h *history) compact(ctx context.Context, epoch uint64) error {
	if !h.enabled() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if epoch <= h.base.Epoch || epoch > h.epoch {
		return nil
	}
	state := map[string]histTable{}
	for _, t := range h.base.Tables {
		state[t.Key] = t
	}
	n := 0
	for n < len(h.log) && h.log[n].Epoch <= epoch {
		apply(state, h.log[n])
		n++
	}
	if n == 0 {
		return nil
	}
	base := histRecord{Epoch: h.log[n-1].Epoch, Cause: "compacted"}
	for _, t := range state {
		base.Tables = append(base.Tables, t)
	}
	sort.Slice(base.Tables, func(i, j int) bool { return base.Tables[i].Key < base.Tables[j].Key })
	old := h.base.Epoch
	if err := h.putLocked(ctx, histBase, base); err != nil {
		return err
	}
	delete(h.sizes, old)
	for _, e := range h.log[:n] {
		// a failed delete leaves a file that load ignores and removes
		_ = h.st.Delete(ctx, entryKey(e.Epoch))
		delete(h.sizes, e.Epoch)
	}
	h.base = base
	h.log = append(h.log[:0:0], h.log[n:]...)
	h.bytes = 0
	for _, s := range h.sizes {
		h.bytes += s
	}
	return nil
}

// size returns the stored bytes and the number of entries after the base.
func (h *history) size() (bytes int64, entries int) {
	if h == nil {
		return 0, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes, len(h.log)
}

func (h *history) put(ctx context.Context, key string, r histRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.putLocked(ctx, key, r)
}

func (h *history) putLocked(ctx context.Context, key string, r histRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHistory, err)
	}
	if err := h.st.Put(ctx, key, b); err != nil {
		return fmt.Errorf("%w: save %s: %v", ErrHistory, key, err)
	}
	h.sizes[r.Epoch] = int64(len(b))
	return nil
}

// histOf describes table tb (nil: not existing) under key k for the history.
func histOf(k string, n tableName, tb *table, version uint64) histTable {
	h := histTable{Key: k, DB: n.DB, Name: n.Name, Version: version}
	if tb != nil {
		h.Schema = tb.t
		h.UniqueNames = tb.ukNames
		h.Version = tb.t.Version
	}
	return h
}

// tableOf rebuilds the decoder's table from a history state (nil when it does not exist).
func tableOf(h histTable) (*table, error) {
	if h.Schema == nil {
		return nil, nil
	}
	t := h.Schema
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrHistory, h.Key, err)
	}
	tb := newTable(t, 0)
	if len(h.UniqueNames) == len(t.UniqueKeys) {
		tb.ukNames = h.UniqueNames
	}
	return tb, nil
}
