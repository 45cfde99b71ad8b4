package oceanbase

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// WatermarkTable is the helper table of the snapshot hand-over.
const WatermarkTable = "ferry_watermark"

// chunkWork is one snapshot chunk: a key range of a table read between a low and a high
// watermark.
type chunkWork struct {
	id   string
	t    *table
	r    keyRange
	rows []*change.Change // set before the high watermark is written
	read time.Time
	// low names this read of the chunk in its rows' ids: the binlog transaction of its low
	// watermark (GTID, else file:offset; set by the stream goroutine), in mode full the run
	// and chunk number. A chunk read again after a restart gets another one.
	low string

	// owned by the stream goroutine
	open    bool
	changed map[string]struct{}

	done chan struct{}
}

// snapshotter plans chunks and runs the parallel readers.
type snapshotter struct {
	s      *Source
	full   bool // mode full: no watermarks, chunks go to ready
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	tasks chan *chunkWork
	ready chan *chunkWork
	errCh chan error

	mu          sync.Mutex
	works       map[string]*chunkWork
	pending     int
	plannerDone bool

	// owned by the stream goroutine
	open map[*change.Table][]*chunkWork

	seq      atomic.Int64
	progress map[string]*Progress
	progMu   sync.Mutex
}

// Progress is a table's snapshot progress.
type Progress struct {
	Table     string
	RowsDone  int64
	Estimated int64
	Done      bool
}

func (s *Source) startSnapshot(state *snapState) {
	ctx, cancel := context.WithCancel(context.Background())
	sn := &snapshotter{s: s, full: s.cfg.Mode == ModeFull, ctx: ctx, cancel: cancel,
		tasks: make(chan *chunkWork), ready: make(chan *chunkWork, s.cfg.SnapshotConcurrency),
		errCh: make(chan error, 1), works: map[string]*chunkWork{}, open: map[*change.Table][]*chunkWork{},
		progress: map[string]*Progress{}}
	var todo []*table
	for _, n := range s.cfg.tables {
		tb := s.tables[strings.ToLower(n.String())]
		tp := state.Tables[tb.name()]
		p := &Progress{Table: tb.name(), Estimated: tb.rows}
		if tp != nil {
			p.RowsDone, p.Done = tp.Rows, tp.Done
		}
		sn.progress[tb.name()] = p
		if tp == nil || !tp.Done {
			todo = append(todo, tb)
		}
	}
	s.snapper = sn
	sn.wg.Add(1)
	go sn.plan(todo, state)
	for i := 0; i < int(s.cfg.SnapshotConcurrency); i++ {
		sn.wg.Add(1)
		go sn.reader(i)
	}
}

func (sn *snapshotter) stop() {
	sn.cancel()
	sn.wg.Wait()
}

func (sn *snapshotter) fail(err error) {
	select {
	case sn.errCh <- err:
	default:
	}
	sn.cancel()
}

// plan produces the chunks of every table in key order. A table resumes after the
// contiguous prefix of its completed ranges; completed ranges beyond it are read again.
func (sn *snapshotter) plan(todo []*table, state *snapState) {
	defer sn.wg.Done()
	defer close(sn.tasks)
	for _, tb := range todo {
		var lo [][]byte
		if tp := state.Tables[tb.name()]; tp != nil {
			for _, r := range tp.Ranges {
				if r.Lo == nil {
					lo = r.Hi
				}
			}
		}
		if tb.chunkKey == nil || !chunkable(tb) {
			if lo != nil {
				continue // impossible: unchunked tables complete in one range
			}
			if !sn.send(&chunkWork{t: tb, r: keyRange{}}) {
				return
			}
			continue
		}
		for {
			hi, err := sn.boundary(tb, lo)
			if err != nil {
				sn.fail(fmt.Errorf("snapshot of %s: plan chunk after %s: %w", tb.name(), showKey(lo), err))
				return
			}
			if !sn.send(&chunkWork{t: tb, r: keyRange{Lo: lo, Hi: hi}}) {
				return
			}
			if hi == nil {
				break
			}
			lo = hi
		}
	}
	sn.mu.Lock()
	sn.plannerDone = true
	sn.mu.Unlock()
	if sn.full {
		return
	}
	sn.s.wakeup()
}

func (sn *snapshotter) send(w *chunkWork) bool {
	sn.mu.Lock()
	sn.pending++
	sn.mu.Unlock()
	select {
	case sn.tasks <- w:
		return true
	case <-sn.ctx.Done():
		return false
	}
}

// chunkable reports whether keyset pagination over the key compares in SQL as it sorts.
func chunkable(tb *table) bool {
	for _, i := range tb.chunkKey {
		switch tb.kinds[i] {
		case kEnum, kSet, kFloat32, kFloat64, kJSON:
			return false
		}
	}
	return true
}

// boundary returns the key of the chunk_size-th row after lo, nil when fewer rows remain.
func (sn *snapshotter) boundary(tb *table, lo [][]byte) ([][]byte, error) {
	cols := keyList(tb)
	q := "SELECT " + cols + " FROM " + qualified(tb.t.Database, tb.t.Name)
	if lo != nil {
		q += " WHERE " + keyCompare(tb, ">", lo)
	}
	q += " ORDER BY " + cols + " LIMIT 1 OFFSET " + strconv.FormatInt(sn.s.cfg.ChunkSize-1, 10)
	var out [][]byte
	err := retry(sn.ctx, func() error {
		rows, err := sn.s.db.QueryContext(sn.ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = nil
		if rows.Next() {
			raw := make([]sql.RawBytes, len(tb.chunkKey))
			dst := make([]any, len(raw))
			for i := range raw {
				dst[i] = &raw[i]
			}
			if err := rows.Scan(dst...); err != nil {
				return err
			}
			out = make([][]byte, len(raw))
			for i := range raw {
				out[i] = append([]byte{}, raw[i]...)
			}
		}
		return rows.Err()
	})
	return out, err
}

func keyList(tb *table) string {
	parts := make([]string, len(tb.chunkKey))
	for i, c := range tb.chunkKey {
		parts[i] = quoteIdent(tb.t.Columns[c].Name)
	}
	return strings.Join(parts, ", ")
}

// keyCompare renders "(k1, k2) op (v1, v2)" with literals that compare like the column.
func keyCompare(tb *table, op string, key [][]byte) string {
	lits := make([]string, len(key))
	for i, c := range tb.chunkKey {
		lits[i] = literal(tb.kinds[c], key[i])
	}
	if len(key) == 1 {
		return quoteIdent(tb.t.Columns[tb.chunkKey[0]].Name) + " " + op + " " + lits[0]
	}
	return "(" + keyList(tb) + ") " + op + " (" + strings.Join(lits, ", ") + ")"
}

func literal(k colKind, v []byte) string {
	switch k {
	case kInt, kUint, kDecimal, kYear:
		if isNumber(v) {
			return string(v)
		}
	case kBytes, kBinaryFixed, kBit:
		return "X'" + hex.EncodeToString(v) + "'"
	}
	return "_utf8mb4 X'" + hex.EncodeToString(v) + "'"
}

func isNumber(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for i, c := range v {
		if !(c >= '0' && c <= '9' || c == '.' || (c == '-' && i == 0)) {
			return false
		}
	}
	return true
}

func showKey(k [][]byte) string {
	if k == nil {
		return "the start"
	}
	parts := make([]string, len(k))
	for i := range k {
		parts[i] = strconv.Quote(string(k[i]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// selectList selects every column; FLOAT as DOUBLE so that its exact value arrives.
func selectList(tb *table) string {
	parts := make([]string, len(tb.t.Columns))
	for i, c := range tb.t.Columns {
		if tb.kinds[i] == kFloat32 {
			parts[i] = "(" + quoteIdent(c.Name) + " + 0e0)"
		} else {
			parts[i] = quoteIdent(c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

func (sn *snapshotter) reader(slot int) {
	defer sn.wg.Done()
	slotID := sn.s.pipeline + "/" + strconv.Itoa(slot)
	for w := range sn.tasks {
		w.id = sn.s.runID + "-" + strconv.FormatInt(sn.seq.Add(1), 10)
		w.done = make(chan struct{})
		if sn.full {
			if err := sn.readChunk(w); err != nil {
				sn.fail(err)
				return
			}
			select {
			case sn.ready <- w:
			case <-sn.ctx.Done():
				return
			}
			continue
		}
		sn.mu.Lock()
		sn.works[w.id] = w
		sn.mu.Unlock()
		err := sn.mark(slotID, w.id+":L")
		if err == nil {
			err = sn.readChunk(w)
		}
		if err == nil {
			err = sn.mark(slotID, w.id+":H")
		}
		if err != nil {
			sn.fail(err)
			return
		}
		select {
		case <-w.done:
		case <-sn.ctx.Done():
			return
		}
	}
}

// mark writes a watermark: one row per reader slot, updated in place.
func (sn *snapshotter) mark(slot, value string) error {
	q := "INSERT INTO " + qualified(sn.s.cfg.WatermarkDatabase, WatermarkTable) +
		" (slot, mark) VALUES (?, ?) ON DUPLICATE KEY UPDATE mark = VALUES(mark)"
	return retry(sn.ctx, func() error {
		_, err := sn.s.db.ExecContext(sn.ctx, q, slot, value)
		return err
	})
}

func (sn *snapshotter) readChunk(w *chunkWork) error {
	tb := w.t
	q := "SELECT " + selectList(tb) + " FROM " + qualified(tb.t.Database, tb.t.Name)
	var conds []string
	if w.r.Lo != nil {
		conds = append(conds, keyCompare(tb, ">", w.r.Lo))
	}
	if w.r.Hi != nil {
		conds = append(conds, keyCompare(tb, "<=", w.r.Hi))
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	if tb.chunkKey != nil && chunkable(tb) {
		q += " ORDER BY " + keyList(tb)
	}
	err := retry(sn.ctx, func() error {
		w.rows = w.rows[:0]
		w.read = time.Now().UTC()
		rows, err := sn.s.db.QueryContext(sn.ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := len(tb.t.Columns)
		raw := make([]sql.RawBytes, n)
		dst := make([]any, n)
		for i := range raw {
			dst[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(dst...); err != nil {
				return err
			}
			vals := make([]change.Value, n)
			for i := range raw {
				var b []byte
				if raw[i] != nil {
					b = raw[i]
				}
				v, err := fromText(&tb.t.Columns[i], tb.kinds[i], b)
				if err != nil {
					return fmt.Errorf("%s: %w", tb.name(), err)
				}
				vals[i] = v
			}
			w.rows = append(w.rows, &change.Change{Op: change.OpSnapshot, Table: tb.t, Database: tb.t.Database,
				TableName: tb.t.Name, After: vals})
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("snapshot of %s, chunk after %s: %w", tb.name(), showKey(w.r.Lo), err)
	}
	return nil
}

// retry runs f up to 5 times with backoff while the error looks transient.
func retry(ctx context.Context, f func() error) error {
	delay := 100 * time.Millisecond
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		if !transient(err) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay *= 2
	}
	return err
}

func transient(err error) bool {
	msg := err.Error()
	for _, s := range []string{"bad connection", "invalid connection", "broken pipe", "connection reset",
		"connection refused", "EOF", "i/o timeout", "Lock wait timeout", "Deadlock", "gone away"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// keyOf returns a row's key as a map key.
func keyOf(tb *table, row []change.Value) string {
	var b strings.Builder
	for _, i := range tb.key {
		if i >= len(row) {
			continue
		}
		k, n, s := row[i].Raw()
		b.WriteByte(byte(k))
		b.WriteString(strconv.FormatUint(n, 36))
		b.WriteByte(0)
		b.WriteString(s)
		b.WriteByte(0xff)
	}
	return b.String()
}

// track records, for each open chunk window of the change's table, the keys it touches.
// Called by the stream goroutine for every selected row change, in binlog order.
func (sn *snapshotter) track(tb *table, c *change.Change) {
	ws := sn.open[tb.t]
	if len(ws) == 0 {
		return
	}
	var keys []string
	if c.Before != nil {
		keys = append(keys, keyOf(tb, c.Before))
	}
	if c.After != nil {
		keys = append(keys, keyOf(tb, c.After))
	}
	for _, w := range ws {
		for _, k := range keys {
			w.changed[k] = struct{}{}
		}
	}
}

// handleWatermark reacts to a row of the watermark table.
func (s *Source) handleWatermark(ev *replication.RowsEvent) error {
	sn := s.snapper
	if sn == nil {
		return nil
	}
	markCol := s.wm.t.ColumnIndex("mark")
	for _, row := range ev.Rows {
		if markCol >= len(row) {
			continue
		}
		var mark string
		switch v := row[markCol].(type) {
		case string:
			mark = v
		case []byte:
			mark = string(v)
		default:
			continue
		}
		id, kind, ok := strings.Cut(mark, ":")
		if !ok {
			continue
		}
		sn.mu.Lock()
		w := sn.works[id]
		sn.mu.Unlock()
		if w == nil {
			continue // an update's before image, or another run's mark
		}
		switch kind {
		case "L":
			if !w.open {
				w.open = true
				w.low = s.txID()
				w.changed = map[string]struct{}{}
				// a chunk's window tracks changes of its table's current schema object
				sn.open[w.t.t] = append(sn.open[w.t.t], w)
			}
		case "H":
			if w.open && !containsWork(s.bl.tx.marks, w) {
				s.bl.tx.marks = append(s.bl.tx.marks, w)
			}
		}
	}
	return nil
}

func containsWork(ws []*chunkWork, w *chunkWork) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// emitChunk queues a chunk's rows, minus the keys changed inside its window, at its high
// watermark, and records the chunk as completed.
func (s *Source) emitChunk(w *chunkWork) {
	sn := s.snapper
	ws := sn.open[w.t.t]
	for i, x := range ws {
		if x == w {
			sn.open[w.t.t] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	s.snap = s.snap.withChunk(w.t.name(), w.r, int64(len(w.rows)-len(w.changed)))
	sn.mu.Lock()
	delete(sn.works, w.id)
	sn.pending--
	finished := sn.plannerDone && sn.pending == 0
	sn.mu.Unlock()
	if finished {
		s.snap = s.snap.finished()
	}
	p := s.resumePos()
	enc := p.encode()
	var kept []*change.Change
	for _, c := range w.rows {
		if _, changed := w.changed[keyOf(w.t, c.After)]; changed {
			continue
		}
		kept = append(kept, c)
	}
	s.queueSnapshotRows(w, kept, p, enc)
	sn.noteProgress(w.t.name(), int64(len(kept)), s.snap)
	close(w.done)
}

// queueSnapshotRows queues a chunk's rows. Their ids are snapshot:<db.table>:<key>@<read>,
// <read> naming this read of the chunk (chunkWork.low): a chunk read again after a restart
// (its rows were not covered by the checkpoint) may hold other content, and then carries
// other ids, while a row is only ever delivered again with its id from the same read.
func (s *Source) queueSnapshotRows(w *chunkWork, rows []*change.Change, p position, enc change.Position) {
	read := w.low
	if read == "" {
		read = w.id
	}
	for i, c := range rows {
		c.ID = "snapshot:" + w.t.name() + ":" + keyText(w.t, c.After) + "@" + read
		c.CommitTime = w.read
		c.Position = enc
		s.out = append(s.out, item{c: c, pos: p, noCut: i < len(rows)-1})
	}
}

func keyText(tb *table, row []change.Value) string {
	parts := make([]string, len(tb.key))
	for i, c := range tb.key {
		parts[i] = string(row[c].AppendText(nil, -1))
	}
	return strings.Join(parts, ",")
}

func (sn *snapshotter) noteProgress(name string, rows int64, st *snapState) {
	sn.progMu.Lock()
	defer sn.progMu.Unlock()
	p := sn.progress[name]
	if p == nil {
		return
	}
	p.RowsDone += rows
	if tp := st.Tables[name]; tp != nil {
		p.Done = tp.Done
	}
}

// Progress returns each selected table's snapshot progress (rows delivered / estimated).
func (s *Source) Progress() []Progress {
	s.progressMu.Lock()
	sn := s.snapper
	s.progressMu.Unlock()
	if sn == nil {
		return nil
	}
	sn.progMu.Lock()
	defer sn.progMu.Unlock()
	out := make([]Progress, 0, len(sn.progress))
	for _, n := range s.cfg.tables {
		if p := sn.progress[n.String()]; p != nil {
			out = append(out, *p)
		}
	}
	return out
}
