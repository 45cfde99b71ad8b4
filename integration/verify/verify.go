package verify

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// Message properties the verifier reads (docs/sinks/rocketmq.md): nothing else of ferry.
const (
	PropID       = "ferry_id"
	PropDB       = "ferry_db"
	PropTable    = "ferry_table"
	PropCommitMs = "ferry_commit_ms"
	PropOp       = "ferry_op"
)

// Table is one source table under test.
type Table struct {
	DB, Name string
	Key      []string // key columns (their values, joined by "/", name a key)
	// Version is the per-key version column: incremented by every insert and update of the
	// key (see Workload); a delete counts as one more version (the row's version + 1) and a
	// re-insert takes the next. "" disables the version checks (order, gaps).
	Version string
	// Columns compared between the table and the last message state; nil means all columns of
	// the table.
	Columns []string
	// Check, when set, checks each message's row on its own (values in their columns) and
	// returns what is wrong with it, "" when nothing is; each finding counts as a wrong value.
	Check func(row map[string]string) string
	// Initial is the logical version of each key when the pipeline started (0 or missing: the
	// key did not exist). With it, the first event of a key must continue from there (a snapshot
	// row at that version, or the next change). Nil: the first event of a key is not checked.
	Initial map[string]int64
}

func (t Table) String() string { return t.DB + "." + t.Name }

// Summary is the verdict over all tables.
type Summary struct {
	Written          int64         // changes the workload committed (plus rows present before the start), as told by the caller
	Messages         int           // row messages read (copies included)
	Delivered        int           // distinct row changes (distinct ferry_id)
	Lost             int           // changes missing: version gaps, final rows missing or stale
	Ghosts           int           // keys whose last state the table does not have
	OrderViolations  int           // a key's change older than one already seen, or a key on two queues
	Duplicates       int           // messages whose ferry_id was seen before
	DupMismatch      int           // duplicates whose content differs from the original
	MaxDupWindow     int           // most messages of the queue between an original and its copy
	MaxDupWindowTime time.Duration // longest store-time span between an original and its copy
	RepeatSnapshot   int           // snapshot rows equal to the key's current state (DBLog hand-over), allowed
	DecodeErrors     int
	WrongValues      int      // messages whose row a Table.Check refused
	Skipped          int      // messages without a row state (heartbeats, DDL, DataWorks UPDATE_BEFOR)
	Problems         []string // examples, up to 8 per kind

	kinds map[string]int
}

// OK says whether the guarantees held: nothing lost, no ghost, no reordering, every duplicate
// a faithful copy, every message readable.
func (s Summary) OK() bool {
	return s.Lost == 0 && s.Ghosts == 0 && s.OrderViolations == 0 && s.DupMismatch == 0 && s.DecodeErrors == 0 && s.WrongValues == 0
}

// problem keeps up to 8 examples of each kind of problem.
func (s *Summary) problem(kind, format string, args ...any) {
	if s.kinds == nil {
		s.kinds = map[string]int{}
	}
	s.kinds[kind]++
	if s.kinds[kind] <= 8 {
		s.Problems = append(s.Problems, kind+": "+fmt.Sprintf(format, args...))
	}
}

func (s Summary) String() string {
	return fmt.Sprintf("written %d, messages %d, delivered %d, lost %d, ghosts %d, order violations %d, duplicates %d (mismatched %d), largest duplicate window %d msgs / %v, repeated snapshot rows %d, decode errors %d, wrong values %d",
		s.Written, s.Messages, s.Delivered, s.Lost, s.Ghosts, s.OrderViolations, s.Duplicates, s.DupMismatch,
		s.MaxDupWindow, s.MaxDupWindowTime.Round(time.Millisecond), s.RepeatSnapshot, s.DecodeErrors, s.WrongValues)
}

type keyState struct {
	queue   string
	version int64 // logical version of the last event
	row     map[string]string
	deleted bool
	seen    bool
}

type original struct {
	ev     Event
	queue  string
	offset int64
	at     time.Time
}

func queueOf(m harness.Received) string {
	return fmt.Sprintf("%s/%s/%d", m.Properties["__topic"], m.BrokerName, m.QueueID)
}

// Check compares msgs (all messages of the topics, in any order: they are sorted per queue)
// with the current contents of the tables in db.
func Check(ctx context.Context, db *sql.DB, format string, tables []Table, msgs []harness.Received) (Summary, error) {
	contents := map[string]map[string]map[string]string{}
	for _, t := range tables {
		rows, err := readTable(ctx, db, t)
		if err != nil {
			return Summary{}, err
		}
		contents[t.String()] = rows
	}
	return Compare(format, tables, msgs, contents), nil
}

// Compare is Check with the tables' contents given: table ("db.name") → key → column → value.
func Compare(format string, tables []Table, msgs []harness.Received, contents map[string]map[string]map[string]string) Summary {
	msgs = append([]harness.Received(nil), msgs...)
	SortMessages(msgs)
	c := &comparison{format: format, byName: map[string]*Table{}, states: map[string]map[string]*keyState{}, origs: map[string]original{}}
	for i := range tables {
		c.byName[tables[i].String()] = &tables[i]
	}
	for _, t := range tables {
		c.states[t.String()] = map[string]*keyState{}
	}
	for _, m := range msgs {
		c.message(m)
	}
	for _, t := range tables {
		c.finalState(t, contents[t.String()])
	}
	return c.s
}

// comparison is Compare's state: the summary so far, the first copy of each change id, and
// each key's state per table.
type comparison struct {
	s      Summary
	format string
	byName map[string]*Table
	states map[string]map[string]*keyState
	origs  map[string]original
}

// message checks one message (in queue order): readable, a copy faithful to its original,
// and a change that continues its key's history.
func (c *comparison) message(m harness.Received) {
	s := &c.s
	ev, err := Decode(c.format, m.Body)
	if err != nil {
		s.DecodeErrors++
		s.problem("decode", "decode %s offset %d: %v", queueOf(m), m.QueueOffset, err)
		return
	}
	if ev.Skip {
		s.Skipped++
		return
	}
	if ev.Op == "insert" && m.Properties[PropOp] == "snapshot" {
		ev.Op = "snapshot" // formats without a snapshot marker (canal, dataworks, shareplex)
	}
	name := m.Properties[PropDB] + "." + m.Properties[PropTable]
	t := c.byName[name]
	if t == nil {
		s.Skipped++
		return
	}
	s.Messages++
	id := m.Properties[PropID]
	q := queueOf(m)
	if id == "" {
		s.DecodeErrors++
		s.problem("decode", "message without %s at %s offset %d", PropID, q, m.QueueOffset)
		return
	}
	if c.faithfulCopy(id, q, m, ev) {
		return
	}
	if t.Check != nil {
		if p := t.Check(ev.Row); p != "" {
			s.WrongValues++
			s.problem("wrong-value", "%s %s %s at %s offset %d: %s", name, ev.Op, id, q, m.QueueOffset, p)
		}
	}
	key := keyOf(t.Key, ev.Row)
	st := c.states[name][key]
	if st == nil {
		st = &keyState{queue: q}
		c.states[name][key] = st
	}
	if st.queue != q {
		s.OrderViolations++
		s.problem("order", "%s key %s on queues %s and %s", name, key, st.queue, q)
	}
	if t.Version != "" && !c.nextVersion(t, name, key, q, m, ev, st) {
		return
	}
	st.seen = true
	st.deleted = ev.Op == "delete"
	st.row = ev.Row
}

// faithfulCopy records the first message of change id, and says whether m is a later copy
// of it with the same content (nothing more to check). A copy with other content is a
// violation and goes on to the per-key checks as a change of its own.
func (c *comparison) faithfulCopy(id, q string, m harness.Received, ev Event) bool {
	s := &c.s
	o, dup := c.origs[id]
	if !dup {
		c.origs[id] = original{ev: ev, queue: q, offset: m.QueueOffset, at: m.StoredAt}
		s.Delivered++
		return false
	}
	s.Duplicates++
	if o.queue == q {
		if w := int(m.QueueOffset - o.offset - 1); w > s.MaxDupWindow {
			s.MaxDupWindow = w
		}
	} else {
		s.problem("duplicate", "duplicate of %s on queue %s, original on %s", id, q, o.queue)
	}
	if d := m.StoredAt.Sub(o.at); d > s.MaxDupWindowTime {
		s.MaxDupWindowTime = d
	}
	if o.ev.Op == ev.Op && sameRow(o.ev.Row, ev.Row, nil) {
		return true
	}
	s.DupMismatch++
	s.problem("duplicate-mismatch", "duplicate %s differs: %s %v, original %s %v", id, ev.Op, ev.Row, o.ev.Op, o.ev.Row)
	return false
}

// nextVersion checks that ev's version continues key's history (st): the next version, or
// a repeated snapshot row of the current state; a gap counts as lost changes. It sets the
// key's version and says whether ev becomes the key's state (false for an unreadable or
// older version).
func (c *comparison) nextVersion(t *Table, name, key, q string, m harness.Received, ev Event, st *keyState) bool {
	s := &c.s
	v, err := strconv.ParseInt(ev.Row[t.Version], 10, 64)
	if err != nil {
		s.DecodeErrors++
		s.problem("decode", "%s key %s: version %q: %v", name, key, ev.Row[t.Version], err)
		return false
	}
	if ev.Op == "delete" {
		v++
	}
	prev, have := st.version, st.seen
	if !have {
		if t.Initial != nil {
			prev, have = t.Initial[key], true
			if ev.Op == "snapshot" && v == prev {
				have = false // the snapshot row of the start state
			}
		}
	}
	if have {
		switch {
		case v == prev+1:
		case v == prev && ev.Op == "snapshot" && !st.deleted && sameRow(st.row, ev.Row, t.Columns):
			s.RepeatSnapshot++
		case v <= prev:
			s.OrderViolations++
			s.problem("order", "%s key %s: %s version %d after version %d (queue %s offset %d)", name, key, ev.Op, v, prev, q, m.QueueOffset)
			return false // keep the newer state
		default:
			s.Lost += int(v - prev - 1)
			s.problem("lost", "%s key %s: %s version %d follows version %d: %d change(s) missing (queue %s offset %d)", name, key, ev.Op, v, prev, v-prev-1, q, m.QueueOffset)
		}
	}
	st.version = v
	return true
}

// finalState compares the table's rows with the last state delivered of each key.
func (c *comparison) finalState(t Table, rows map[string]map[string]string) {
	s := &c.s
	st := c.states[t.String()]
	for key, row := range rows {
		k := st[key]
		switch {
		case k == nil || !k.seen:
			s.Lost++
			s.problem("lost", "%s key %s: in the table %v, never delivered", t, key, row)
		case k.deleted:
			s.Lost++
			s.problem("lost", "%s key %s: in the table %v, last message a delete", t, key, row)
		case !sameRow(row, k.row, t.Columns):
			s.Lost++
			s.problem("lost", "%s key %s: table %v, last message %v", t, key, row, k.row)
		}
	}
	for key, k := range st {
		if k.seen && !k.deleted && rows[key] == nil {
			s.Ghosts++
			s.problem("ghost", "%s key %s: last message %v, not in the table", t, key, k.row)
		}
	}
}

func keyOf(cols []string, row map[string]string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = row[c]
	}
	return strings.Join(parts, "/")
}

// sameRow compares the given columns (all columns of want when nil).
func sameRow(want, got map[string]string, cols []string) bool {
	if cols == nil {
		if len(want) != len(got) {
			return false
		}
		for c, v := range want {
			if g, ok := got[c]; !ok || g != v {
				return false
			}
		}
		return true
	}
	for _, c := range cols {
		if want[c] != got[c] {
			return false
		}
	}
	return true
}

func readTable(ctx context.Context, db *sql.DB, t Table) (map[string]map[string]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM `%s`.`%s`", t.DB, t.Name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out[keyOf(t.Key, row)] = row
	}
	return out, rows.Err()
}

// Until re-checks the messages c has received every interval until the check passes and
// no new message arrived for quiet, or ctx ends; it returns the last summary. The caller
// stops writing before calling it.
func Until(ctx context.Context, c *Consumer, db *sql.DB, format string, tables []Table, quiet time.Duration) (Summary, error) {
	var last Summary
	for {
		if c.Quiet() >= quiet {
			s, err := Check(ctx, db, format, tables, c.Messages())
			if err != nil && ctx.Err() == nil {
				return s, err
			}
			if err == nil {
				last = s
				if s.OK() {
					return s, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("verifier did not pass before the deadline (%d messages read): %s", c.Count(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Row renders a summary as one row of the scenario table.
func (s Summary) Row(name string) string {
	return fmt.Sprintf("| %-22s | %9d | %9d | %4d | %5d | %5d | %10d | %11s |", name, s.Written, s.Delivered, s.Lost,
		s.OrderViolations, s.Duplicates, s.MaxDupWindow, s.MaxDupWindowTime.Round(time.Millisecond))
}

// Header is the header of the scenario table.
func Header() string {
	return "| scenario               |   written | delivered | lost | order |  dups | dup window | dup span    |\n" +
		"|------------------------|-----------|-----------|------|-------|-------|------------|-------------|"
}

// Latencies returns store time − ferry_commit_ms of every first copy of a change message
// (snapshot rows excluded), sorted.
func Latencies(msgs []harness.Received) []time.Duration {
	seen := map[string]bool{}
	var out []time.Duration
	for _, m := range msgs {
		id := m.Properties[PropID]
		ms, err := strconv.ParseInt(m.Properties[PropCommitMs], 10, 64)
		if id == "" || err != nil || seen[id] || m.Properties[PropOp] == "snapshot" {
			continue
		}
		seen[id] = true
		out = append(out, m.StoredAt.Sub(time.UnixMilli(ms)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Percentile of sorted durations (p in 0..100).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}
