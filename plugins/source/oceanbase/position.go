package oceanbase

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// ErrBadPosition is returned by Open for positions this source did not make.
var ErrBadPosition = errors.New("not an oceanbase source position")

// A position is where to resume: the binlog transaction to start at (by file/offset and by the
// GTID set executed before it), how much of that transaction was already delivered, and the
// snapshot's progress. Layout (big-endian):
//
//	version 3: 'O' 3 | len(file) u16 | file | offset u32 | len(gtid) u16 | gtid | skip u32 | all u32 | epoch u64 | len(snap) u32 | snap JSON
//	version 2: 'O' 2 | len(file) u16 | file | offset u32 | len(gtid) u16 | gtid | skip u32 | all u32 | len(snap) u32 | snap JSON
//	version 1: 'O' 1 | len(file) u16 | file | offset u32 | len(gtid) u16 | gtid | skip u32 | len(snap) u32 | snap JSON
//
// skip counts the selected row changes of the transaction already delivered (it numbers the
// changes: TxSeq and ids); all (version 2) counts every row change of the transaction, of any
// table, up to and including the last one delivered. Resuming drops the transaction's first
// `all` row changes, so a position inside a transaction stays exact when the table selection
// changed in between (a table added or removed); version 1 positions (all unknown) drop the
// first `skip` selected row changes. epoch (version 3) is the schema-history epoch in force at
// the position (history.go); older positions have none, and their resume reads the catalog. The snapshot part is nil when there is no snapshot
// (incremental mode).
type position struct {
	File string
	Pos  uint32
	GTID string // GTID set executed before the transaction at File:Pos ("" if unknown)
	Skip uint32 // selected row changes of that transaction already delivered
	All  uint32 // row changes (any table) of that transaction already passed; 0: unknown (version 1)
	// Epoch is the schema-history epoch in force at File:Pos (before the transaction there);
	// HasEpoch is false for positions of versions 1 and 2.
	Epoch    uint64
	HasEpoch bool
	Snap     *snapState
}

const posMagic, posVersion = 'O', 3

// snapState is the snapshot's progress. It is immutable once referenced by a position:
// completing a chunk makes a new one.
type snapState struct {
	// Tables maps "db.table" to the progress of a table whose snapshot is under way; a
	// selected table absent from Tables and Done has not started.
	Tables map[string]*tableProgress `json:"tables"`
	// Done maps each table whose snapshot completed to the snapshot rows delivered. It stays
	// after Finished: a restart snapshots the selected tables it does not name (tables added
	// to the configuration while ferry was stopped) and only those.
	Done map[string]int64 `json:"done,omitempty"`
	// Finished is set when no table's snapshot is under way or planned.
	Finished bool `json:"finished,omitempty"`

	enc []byte // cached encoding
}

// tableProgress lists a table's completed key ranges, sorted and merged.
type tableProgress struct {
	// Done is only read from version-1 encodings (done tables are now in snapState.Done).
	Done   bool       `json:"done,omitempty"`
	Ranges []keyRange `json:"ranges,omitempty"`
	Rows   int64      `json:"rows,omitempty"` // snapshot rows delivered
}

// keyRange is the key interval (Lo, Hi] in the table's key order; nil bounds are unbounded.
// Key tuples hold each key column's value as the server prints it (text protocol).
type keyRange struct {
	Lo [][]byte `json:"lo,omitempty"`
	Hi [][]byte `json:"hi,omitempty"`
}

func tupleEqual(a, b [][]byte) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (s *snapState) encode() []byte {
	if s == nil {
		return nil
	}
	if s.enc == nil {
		b, err := json.Marshal(s)
		if err != nil {
			panic(err) // plain data: cannot fail
		}
		s.enc = b
	}
	return s.enc
}

// clone returns a copy of s that may be changed (maps copied, values shared).
func (s *snapState) clone() *snapState {
	n := &snapState{Tables: make(map[string]*tableProgress, len(s.Tables)), Finished: s.Finished}
	for k, v := range s.Tables {
		n.Tables[k] = v
	}
	if len(s.Done) > 0 {
		n.Done = make(map[string]int64, len(s.Done))
		for k, v := range s.Done {
			n.Done[k] = v
		}
	}
	return n
}

// withChunk returns a copy of s with range r of table name completed and rows added.
// order lists the tables' ranges in key order: ranges of a table are completed by chunks that
// the planner made in key order, so merging adjacent ones keeps the list short. A table whose
// ranges merge into the whole key space moves to Done.
func (s *snapState) withChunk(name string, r keyRange, rows int64) *snapState {
	n := s.clone()
	old := n.Tables[name]
	tp := &tableProgress{}
	if old != nil {
		tp.Rows = old.Rows
		tp.Ranges = append(tp.Ranges, old.Ranges...)
	}
	tp.Rows += rows
	tp.Ranges = append(tp.Ranges, r)
	tp.Ranges = mergeRanges(tp.Ranges)
	if len(tp.Ranges) == 1 && tp.Ranges[0].Lo == nil && tp.Ranges[0].Hi == nil {
		delete(n.Tables, name)
		if n.Done == nil {
			n.Done = map[string]int64{}
		}
		n.Done[name] = tp.Rows
		return n
	}
	n.Tables[name] = tp
	return n
}

// known reports whether the state has name's snapshot: done or under way.
func (s *snapState) known(name string) bool {
	if s == nil {
		return false
	}
	if _, ok := s.Done[name]; ok {
		return true
	}
	_, ok := s.Tables[name]
	return ok
}

// isDone reports whether name's snapshot completed.
func (s *snapState) isDone(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.Done[name]
	return ok
}

// rows returns the snapshot rows of name delivered so far.
func (s *snapState) rows(name string) int64 {
	if s == nil {
		return 0
	}
	if n, ok := s.Done[name]; ok {
		return n
	}
	if tp := s.Tables[name]; tp != nil {
		return tp.Rows
	}
	return 0
}

// without returns a copy of s that forgets name (a table removed from the selection, or
// dropped): if it is selected again, its snapshot starts over.
func (s *snapState) without(name string) *snapState {
	if !s.known(name) {
		return s
	}
	n := s.clone()
	delete(n.Tables, name)
	delete(n.Done, name)
	return n
}

// reopened returns a copy of s that is not Finished (a table's snapshot was added).
func (s *snapState) reopened() *snapState {
	if !s.Finished {
		return s
	}
	n := s.clone()
	n.Finished = false
	return n
}

// resumable returns the state a restarted run continues from: each table keeps only its
// contiguous completed prefix (the range starting at the table's start). Completed ranges
// beyond it are read again by the planner, which resumes after the prefix; keeping them would
// let the new run's chunks (planned on today's rows, so with other boundaries) overlap them,
// and overlapping ranges never merge into one (the table would never be marked done, and a
// later prefix could stop short). Rows keeps the count of rows delivered. Version-1 states
// (done tables in Tables) are normalised: done tables move to Done.
func (s *snapState) resumable() *snapState {
	if s == nil {
		return nil
	}
	n := &snapState{Tables: make(map[string]*tableProgress, len(s.Tables)), Finished: s.Finished}
	for k, v := range s.Done {
		if n.Done == nil {
			n.Done = map[string]int64{}
		}
		n.Done[k] = v
	}
	for k, v := range s.Tables {
		if v == nil {
			continue
		}
		if v.Done {
			if n.Done == nil {
				n.Done = map[string]int64{}
			}
			n.Done[k] = v.Rows
			continue
		}
		tp := &tableProgress{Rows: v.Rows}
		for _, r := range v.Ranges {
			if r.Lo == nil {
				tp.Ranges = []keyRange{r}
				break
			}
		}
		n.Tables[k] = tp
	}
	return n
}

// finished returns a copy of s marked Finished.
func (s *snapState) finished() *snapState {
	n := s.clone()
	n.Finished = true
	return n
}

// mergeRanges joins ranges whose ends meet; ranges are disjoint, so a chain is found by
// following Hi to the next Lo.
func mergeRanges(rs []keyRange) []keyRange {
	if len(rs) < 2 {
		return rs
	}
	out := make([]keyRange, 0, len(rs))
	used := make([]bool, len(rs))
	// start from ranges no other range ends at
	for i := range rs {
		if used[i] {
			continue
		}
		isStart := true
		for j := range rs {
			if j != i && !used[j] && rs[j].Hi != nil && tupleEqual(rs[j].Hi, rs[i].Lo) {
				isStart = false
				break
			}
		}
		if !isStart {
			continue
		}
		cur := rs[i]
		used[i] = true
		for extended := true; extended && cur.Hi != nil; {
			extended = false
			for j := range rs {
				if !used[j] && tupleEqual(rs[j].Lo, cur.Hi) {
					cur.Hi = rs[j].Hi
					used[j] = true
					extended = true
					break
				}
			}
		}
		out = append(out, cur)
	}
	for i := range rs { // cycles cannot happen; keep anything left to be safe
		if !used[i] {
			out = append(out, rs[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Lo == nil && out[j].Lo != nil })
	return out
}

func (p *position) encode() change.Position {
	snap := p.Snap.encode()
	b := make([]byte, 0, 2+2+len(p.File)+4+2+len(p.GTID)+4+4+8+4+len(snap))
	b = append(b, posMagic, posVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.File)))
	b = append(b, p.File...)
	b = binary.BigEndian.AppendUint32(b, p.Pos)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.GTID)))
	b = append(b, p.GTID...)
	b = binary.BigEndian.AppendUint32(b, p.Skip)
	b = binary.BigEndian.AppendUint32(b, p.All)
	b = binary.BigEndian.AppendUint64(b, p.Epoch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(snap)))
	b = append(b, snap...)
	return b
}

func decodePosition(b []byte) (*position, error) {
	bad := func(what string) (*position, error) {
		return nil, fmt.Errorf("%w (%s)", ErrBadPosition, what)
	}
	if len(b) < 2 || b[0] != posMagic {
		return bad("magic")
	}
	version := b[1]
	if version < 1 || version > posVersion {
		return bad(fmt.Sprintf("version %d", b[1]))
	}
	r := posReader{b: b[2:]}
	p := &position{}
	var ok bool
	if p.File, ok = r.str16(); !ok {
		return bad("file")
	}
	if p.Pos, ok = r.u32(); !ok {
		return bad("offset")
	}
	if p.GTID, ok = r.str16(); !ok {
		return bad("gtid")
	}
	if p.Skip, ok = r.u32(); !ok {
		return bad("skip")
	}
	if version >= 2 {
		if p.All, ok = r.u32(); !ok {
			return bad("all")
		}
	}
	if version >= 3 {
		if p.Epoch, ok = r.u64(); !ok {
			return bad("epoch")
		}
		p.HasEpoch = true
	}
	n, ok := r.u32()
	if !ok || uint32(len(r.b)) != n {
		return bad("snapshot")
	}
	if n > 0 {
		snap, err := decodeSnapState(r.b)
		if err != nil {
			return bad("snapshot: " + err.Error())
		}
		p.Snap = snap
	}
	return p, nil
}

// posReader reads the big-endian fields of an encoded position in order.
type posReader struct{ b []byte }

// str16 reads a string after its 16-bit length.
func (r *posReader) str16() (string, bool) {
	if len(r.b) < 2 {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(r.b))
	if len(r.b) < 2+n {
		return "", false
	}
	s := string(r.b[2 : 2+n])
	r.b = r.b[2+n:]
	return s, true
}

func (r *posReader) u32() (uint32, bool) {
	if len(r.b) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, true
}

func (r *posReader) u64() (uint64, bool) {
	if len(r.b) < 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, true
}

// decodeSnapState decodes a position's snapshot state (JSON), moving the done tables of
// version 1, which sit among the others, to Done.
func decodeSnapState(b []byte) (*snapState, error) {
	s := &snapState{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if s.Tables == nil {
		s.Tables = map[string]*tableProgress{}
	}
	for k, v := range s.Tables { // version 1: done tables among the others
		if v == nil {
			delete(s.Tables, k)
		} else if v.Done {
			if s.Done == nil {
				s.Done = map[string]int64{}
			}
			s.Done[k] = v.Rows
			delete(s.Tables, k)
		}
	}
	return s, nil
}

// String describes the position for logs and errors.
func (p *position) String() string {
	s := fmt.Sprintf("%s:%d", p.File, p.Pos)
	if p.GTID != "" {
		s += " gtid " + p.GTID
	}
	if p.Skip > 0 || p.All > 0 {
		s += fmt.Sprintf(" +%d rows", p.Skip)
		if p.All > 0 {
			s += fmt.Sprintf(" (%d of any table)", p.All)
		}
	}
	if p.Snap != nil && !p.Snap.Finished {
		s += " (snapshot in progress)"
	}
	return s
}

// PositionProgress returns the snapshot progress a position of this source records: for each
// table whose snapshot is under way or done, the rows delivered and whether it is done (sorted
// by table), and whether the snapshot had finished. A position without a snapshot part
// (mode incremental) gives nil and false.
func PositionProgress(pos change.Position) ([]sdk.SnapshotProgress, bool, error) {
	p, err := decodePosition(pos)
	if err != nil {
		return nil, false, err
	}
	if p.Snap == nil {
		return nil, false, nil
	}
	var out []sdk.SnapshotProgress
	for name, tp := range p.Snap.Tables {
		out = append(out, sdk.SnapshotProgress{Table: name, RowsRead: tp.Rows})
	}
	for name, rows := range p.Snap.Done {
		out = append(out, sdk.SnapshotProgress{Table: name, RowsRead: rows, Done: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out, p.Snap.Finished, nil
}

// DescribePosition implements sdk.PositionDescriber: the binlog file:offset, the GTID set
// and how far into the transaction there, and whether a snapshot was under way.
func (s *Source) DescribePosition(_ context.Context, pos change.Position) (string, error) {
	p, err := decodePosition(pos)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}
