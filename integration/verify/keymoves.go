package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// MoveWorkload changes primary keys: each worker owns pairs of keys (a, b) and repeats
//
//	UPDATE t SET id = b, ver = next WHERE id = a   -- the row moves from key a to key b
//	INSERT INTO t (id, ver) VALUES (a, next)       -- key a is used again at once
//	UPDATE t SET ver = next WHERE id = b           -- a plain update of the moved row
//	DELETE FROM t WHERE id = b                     -- key b is free again
//
// so that the old key's stream must show the row leaving before the re-insert, and the
// new key's stream the row arriving. ver is unique per worker and increases with each
// statement, so every row image names the statement that wrote it.
type MoveWorkload struct {
	DB      *sql.DB
	Table   string // in DB's default database
	Workers int    // concurrent connections (default 4)
	Pairs   int    // key pairs per worker (default 4)
	Rounds  int    // rounds per pair (default 10)

	mu    sync.Mutex
	moves []Move
	stmts int
}

// Move is one committed key change.
type Move struct {
	From, To            string // keys
	BeforeVer, AfterVer string
}

// Statements returns how many statements committed; Moves the committed key changes.
func (w *MoveWorkload) Statements() int { w.mu.Lock(); defer w.mu.Unlock(); return w.stmts }

// Moves returns the committed key changes.
func (w *MoveWorkload) Moves() []Move {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Move(nil), w.moves...)
}

func (w *MoveWorkload) defaults() {
	if w.Workers <= 0 {
		w.Workers = 4
	}
	if w.Pairs <= 0 {
		w.Pairs = 4
	}
	if w.Rounds <= 0 {
		w.Rounds = 10
	}
}

// CreateTable creates the table and the first row of each pair (at key a).
func (w *MoveWorkload) CreateTable(ctx context.Context) error {
	w.defaults()
	if _, err := w.DB.ExecContext(ctx, fmt.Sprintf("CREATE TABLE `%s` (id INT PRIMARY KEY, ver BIGINT NOT NULL)", w.Table)); err != nil {
		return err
	}
	return nil
}

func (w *MoveWorkload) keys(worker, pair int) (a, b int) {
	a = 1 + 2*(worker*w.Pairs+pair)
	return a, a + 1
}

// Run runs the workers to the end and returns the first error.
func (w *MoveWorkload) Run(ctx context.Context) error {
	w.defaults()
	errs := make(chan error, w.Workers)
	var wg sync.WaitGroup
	for k := 0; k < w.Workers; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			errs <- w.worker(ctx, k)
		}(k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *MoveWorkload) worker(ctx context.Context, k int) error {
	ver := int64(k) * 1_000_000
	exec := func(q string, args ...any) error {
		res, err := w.DB.ExecContext(ctx, fmt.Sprintf(q, "`"+w.Table+"`"), args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%s %v: %d rows", q, args, n)
		}
		w.mu.Lock()
		w.stmts++
		w.mu.Unlock()
		return nil
	}
	for p := 0; p < w.Pairs; p++ {
		a, _ := w.keys(k, p)
		ver++
		if err := exec("INSERT INTO %s (id, ver) VALUES (?, ?)", a, ver); err != nil {
			return err
		}
	}
	cur := make([]int64, w.Pairs) // ver of the row at key a
	for p := range cur {
		cur[p] = int64(k)*1_000_000 + int64(p) + 1
	}
	for r := 0; r < w.Rounds; r++ {
		for p := 0; p < w.Pairs; p++ {
			a, b := w.keys(k, p)
			ver++
			if err := exec("UPDATE %s SET id = ?, ver = ? WHERE id = ?", b, ver, a); err != nil {
				return err
			}
			w.mu.Lock()
			w.moves = append(w.moves, Move{From: strconv.Itoa(a), To: strconv.Itoa(b),
				BeforeVer: strconv.FormatInt(cur[p], 10), AfterVer: strconv.FormatInt(ver, 10)})
			w.mu.Unlock()
			ver++
			if err := exec("INSERT INTO %s (id, ver) VALUES (?, ?)", a, ver); err != nil {
				return err
			}
			cur[p] = ver
			ver++
			if err := exec("UPDATE %s SET ver = ? WHERE id = ?", ver, b); err != nil {
				return err
			}
			if err := exec("DELETE FROM %s WHERE id = ?", b); err != nil {
				return err
			}
		}
	}
	return nil
}

// MoveSummary is the outcome of CheckMoves.
type MoveSummary struct {
	Messages, Keys, Moves int
	// RepeatSnapshot counts snapshot rows equal to the state the key holds: a snapshot read
	// again after a restart whose checkpoint predates its end (allowed, as in Check).
	RepeatSnapshot int
	Violations     []string
}

// OK reports whether no check failed.
func (s MoveSummary) OK() bool { return len(s.Violations) == 0 }

func (s *MoveSummary) problem(format string, args ...any) {
	if len(s.Violations) < 20 {
		s.Violations = append(s.Violations, fmt.Sprintf(format, args...))
	} else if len(s.Violations) == 20 {
		s.Violations = append(s.Violations, "...")
	}
}

type seen struct {
	m harness.Received
	e Event
}

// CheckMoves checks the messages of a MoveWorkload table against the final table contents
// (key -> ver) and the committed moves:
//   - each key stays on one queue, and replaying its stream in queue order never inserts a
//     key that is present, nor updates or deletes one that is absent, and ends in the
//     table's state (so after a move the old key's stream shows the delete before the
//     re-insert, and no key ends in the wrong state);
//   - for every move, the old key's stream has the delete of the old row and the new key's
//     stream the insert of the new row, and the broker stored the delete no later than the
//     insert (the old key's consumer sees the row leave before the new key's sees it arrive);
//   - for the Debezium formats, the insert carries __debezium.oldkey and the delete
//     __debezium.newkey naming the other key.
//
// Copies of a ferry_id already seen are left out (duplicates are the general verifier's).
func CheckMoves(format string, msgs []harness.Received, table map[string]string, moves []Move) MoveSummary {
	var s MoveSummary
	ms := append([]harness.Received(nil), msgs...)
	SortMessages(ms)
	perKey := s.keyStreams(format, ms)
	s.Keys = len(perKey)
	keys := make([]string, 0, len(perKey))
	for k := range perKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.replayKey(k, perKey[k], table)
	}
	for k, v := range table {
		if _, ok := perKey[k]; !ok {
			s.problem("key %s (ver %s) in the table, no message", k, v)
		}
	}
	for _, mv := range moves {
		s.checkMove(format, mv, perKey)
	}
	return s
}

// keyStreams decodes the messages (in queue order) into each key's stream, leaving out
// copies of a ferry_id already seen; a key on two queues is a violation.
func (s *MoveSummary) keyStreams(format string, ms []harness.Received) map[string][]seen {
	ids := map[string]bool{}
	perKey := map[string][]seen{}
	queue := map[string]string{}
	for _, m := range ms {
		e, err := Decode(format, m.Body)
		if err != nil {
			s.problem("decode: %v", err)
			continue
		}
		if e.Skip { // before the id: DataWorks' UPDATE_BEFOR shares its UPDATE_AFTER's id
			continue
		}
		if id := m.Properties[PropID]; id != "" {
			if ids[id] {
				continue
			}
			ids[id] = true
		}
		s.Messages++
		k := e.Row["id"]
		q := queueOf(m)
		if p, ok := queue[k]; ok && p != q {
			s.problem("key %s on queues %s and %s", k, p, q)
		}
		queue[k] = q
		perKey[k] = append(perKey[k], seen{m: m, e: e})
	}
	return perKey
}

// replayKey replays key k's stream: never an insert of a present key, nor an update or
// delete of an absent one, and the end is the table's state.
func (s *MoveSummary) replayKey(k string, stream []seen, table map[string]string) {
	state, present := "", false
	for _, x := range stream {
		ver := x.e.Row["ver"]
		op := x.e.Op
		if op == "insert" && x.m.Properties[PropOp] == "snapshot" {
			op = "snapshot" // formats without a snapshot marker
		}
		if op == "snapshot" && present && state == ver {
			s.RepeatSnapshot++
			continue
		}
		switch op {
		case "snapshot", "insert":
			if present {
				s.problem("key %s: %s of ver %s while the key holds ver %s (its earlier row never left, or left later)", k, x.e.Op, ver, state)
			}
			state, present = ver, true
		case "update":
			if !present {
				s.problem("key %s: update to ver %s of an absent key", k, ver)
			}
			state, present = ver, true
		case "delete":
			if !present || state != ver {
				s.problem("key %s: delete of ver %s, key holds %q (present %v)", k, ver, state, present)
			}
			state, present = "", false
		}
	}
	if want, ok := table[k]; ok != present || want != state {
		s.problem("key %s ends as %q (present %v), table has %q (present %v)", k, state, present, want, ok)
	}
}

// checkMove checks one committed move: the old key's delete stored no later than the new
// key's insert, and for the Debezium formats the headers naming the other key.
func (s *MoveSummary) checkMove(format string, mv Move, perKey map[string][]seen) {
	s.Moves++
	del := findChange(perKey[mv.From], "delete", mv.BeforeVer)
	ins := findChange(perKey[mv.To], "insert", mv.AfterVer)
	switch {
	case del == nil:
		s.problem("move %s->%s (ver %s): no delete of the old key", mv.From, mv.To, mv.AfterVer)
	case ins == nil:
		s.problem("move %s->%s (ver %s): no insert of the new key", mv.From, mv.To, mv.AfterVer)
	case del.m.StoredAt.After(ins.m.StoredAt):
		s.problem("move %s->%s (ver %s): the new key's insert was stored at %s, before the old key's delete at %s",
			mv.From, mv.To, mv.AfterVer, ins.m.StoredAt.Format("15:04:05.000"), del.m.StoredAt.Format("15:04:05.000"))
	}
	if strings.HasPrefix(format, "debezium") && del != nil && ins != nil {
		if got := debeziumKeyHeader(format, del.m.Properties["__debezium.newkey"]); got != mv.To {
			s.problem("move %s->%s: __debezium.newkey of the delete names %q", mv.From, mv.To, got)
		}
		if got := debeziumKeyHeader(format, ins.m.Properties["__debezium.oldkey"]); got != mv.From {
			s.problem("move %s->%s: __debezium.oldkey of the insert names %q", mv.From, mv.To, got)
		}
	}
}

// findChange returns the first change of a key's stream with operation op and version ver.
func findChange(stream []seen, op, ver string) *seen {
	for i := range stream {
		x := &stream[i]
		if x.e.Op == op && x.e.Row["ver"] == ver {
			return x
		}
	}
	return nil
}

// debeziumKeyHeader reads the id of a Debezium key JSON header ({"id":..}, or with schemas
// {"schema":..,"payload":{"id":..}} in the "debezium" format).
func debeziumKeyHeader(format, v string) string {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return ""
	}
	if format == "debezium" {
		if _, ok := m["schema"]; !ok {
			return ""
		}
		m = obj(m["payload"])
	}
	return Str(m["id"])
}

// ReadVersions returns key -> ver of a MoveWorkload table.
func ReadVersions(ctx context.Context, db *sql.DB, table string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT id, ver FROM `%s`", table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, ver string
		if err := rows.Scan(&id, &ver); err != nil {
			return nil, err
		}
		out[id] = ver
	}
	return out, rows.Err()
}
