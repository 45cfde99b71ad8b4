package oceanbase

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	gosql "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// WatermarkTable is the helper table of the snapshot hand-over.
const WatermarkTable = "ferry_watermark"

// chunkWork is one snapshot chunk: a key range of a table read between a low and a high
// watermark.
type chunkWork struct {
	id    string
	t     *table
	epoch uint64 // the table's snapshot epoch when planned (stale once it was cancelled)
	r     keyRange
	rows  []*change.Change // set before the high watermark is written
	// readT is the schema the rows were read with: t, or the catalog's when t's columns no
	// longer exist (the stream lags behind DDL). At the high watermark the rows are kept
	// only if it equals the stream's schema of that moment; else the chunk is read again.
	readT *table
	read  time.Time
	// low names this read of the chunk in its rows' ids: the binlog transaction of its low
	// watermark (GTID, else file:offset; set by the stream goroutine), in mode full the run
	// and chunk number. A chunk read again after a restart gets another one.
	low string

	// owned by the stream goroutine
	open    bool
	changed map[string]struct{}

	done chan struct{}
}

// planItem is a table waiting to be planned: its chunks start after lo.
type planItem struct {
	tb    *table
	lo    [][]byte
	epoch uint64
}

// snapshotter plans chunks and runs the parallel readers. It lives as long as the source:
// tables are queued when the source opens, when SetTables adds them and when DDL makes a
// selected table appear; the planner waits for more when the queue is empty.
type snapshotter struct {
	s    *Source
	full bool // mode full: no watermarks, chunks go to ready
	// cancel stops the planner and the readers (their context); done is closed then.
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup

	tasks chan *chunkWork
	ready chan *chunkWork
	errCh chan error
	more  chan struct{} // a table was queued

	mu       sync.Mutex
	works    map[string]*chunkWork
	queue    []planItem
	planning bool // the planner is producing a table's chunks
	pending  int  // chunks planned and not delivered (or dropped) yet
	epoch    map[string]uint64

	// owned by the stream goroutine: the open chunk windows by table (windowKey). Keyed by
	// name, not by schema object: DDL the stream replays (an ALTER, a CREATE of a table that
	// joined at a restart or by SetTables while the stream lagged) gives the table a new
	// schema object while its chunks, planned with the old one, are open or not yet open; their
	// windows must still see the table's changes.
	open map[string][]*chunkWork

	seq atomic.Int64
}

// Progress is a table's snapshot progress.
type Progress struct {
	Table     string
	RowsDone  int64
	Estimated int64
	Done      bool
}

// ensureSnapshotter starts the planner and the readers once.
func (s *Source) ensureSnapshotter() *snapshotter {
	if s.snapper != nil {
		return s.snapper
	}
	ctx, cancel := context.WithCancel(context.Background())
	sn := &snapshotter{s: s, full: s.cfg.Mode == ModeFull, cancel: cancel, done: ctx.Done(),
		tasks: make(chan *chunkWork), ready: make(chan *chunkWork, s.cfg.SnapshotConcurrency),
		errCh: make(chan error, 1), more: make(chan struct{}, 1), works: map[string]*chunkWork{},
		epoch: map[string]uint64{}, open: map[string][]*chunkWork{}}
	s.snapper = sn
	sn.wg.Add(1)
	go sn.plan(ctx)
	for i := 0; i < int(s.cfg.SnapshotConcurrency); i++ {
		sn.wg.Add(1)
		go sn.reader(ctx, i)
	}
	return sn
}

// snapshotTable queues tb's snapshot: it continues after the completed prefix the state
// holds for it (a resumed table), else from the start. Called by the stream goroutine (or
// Open, or SetTables holding the stream).
func (s *Source) snapshotTable(tb *table) {
	name := tb.name()
	s.snap = s.snap.reopened()
	var lo [][]byte
	if tp := s.snap.Tables[name]; tp != nil {
		for _, r := range tp.Ranges {
			if r.Lo == nil {
				lo = r.Hi
			}
		}
	}
	sn := s.ensureSnapshotter()
	sn.mu.Lock()
	sn.epoch[name]++
	sn.queue = append(sn.queue, planItem{tb: tb, lo: lo, epoch: sn.epoch[name]})
	sn.mu.Unlock()
	select {
	case sn.more <- struct{}{}:
	default:
	}
	s.setProgress(Progress{Table: name, RowsDone: s.snap.rows(name), Estimated: tb.rows})
	s.log.Info("snapshot of table queued", "table", name, "rows_estimated", tb.rows, "rows_done", s.snap.rows(name))
}

// cancelSnapshot forgets table name's snapshot (the table left the selection or was
// dropped): its queued and planned chunks are dropped, and the state no longer has it.
func (s *Source) cancelSnapshot(name string) {
	if sn := s.snapper; sn != nil {
		sn.mu.Lock()
		sn.epoch[name]++
		q := sn.queue[:0]
		for _, it := range sn.queue {
			if it.tb.name() != name {
				q = append(q, it)
			}
		}
		sn.queue = q
		sn.mu.Unlock()
	}
	if s.snap != nil {
		s.snap = s.snap.without(name)
	}
	s.progressMu.Lock()
	delete(s.prog, name)
	for i, n := range s.progOrder {
		if n == name {
			s.progOrder = append(s.progOrder[:i:i], s.progOrder[i+1:]...)
			break
		}
	}
	s.progressMu.Unlock()
}

// current reports whether chunk w belongs to its table's current snapshot.
func (sn *snapshotter) current(w *chunkWork) bool {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return sn.epoch[w.t.name()] == w.epoch
}

// drained reports whether nothing is queued, planned or waiting to be delivered.
func (sn *snapshotter) drained() bool {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return len(sn.queue) == 0 && !sn.planning && sn.pending == 0
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

// plan produces the chunks of each queued table in key order, then waits for more tables.
func (sn *snapshotter) plan(ctx context.Context) {
	defer sn.wg.Done()
	for {
		sn.mu.Lock()
		if len(sn.queue) == 0 {
			sn.planning = false
			sn.mu.Unlock()
			if !sn.full {
				sn.s.wakeup() // the stream goroutine may mark the snapshot finished
			}
			select {
			case <-sn.more:
				continue
			case <-ctx.Done():
				return
			}
		}
		it := sn.queue[0]
		sn.queue = sn.queue[1:]
		sn.planning = true
		sn.mu.Unlock()
		if !sn.planTable(ctx, it) {
			return
		}
	}
}

// planTable sends the chunks of one table; a table resumes after the contiguous prefix of its
// completed ranges (completed ranges beyond it are read again). It stops early when the
// table's snapshot is cancelled. False: the snapshotter stops.
func (sn *snapshotter) planTable(ctx context.Context, it planItem) bool {
	tb, lo := it.tb, it.lo
	valid := func() bool {
		sn.mu.Lock()
		defer sn.mu.Unlock()
		return sn.epoch[tb.name()] == it.epoch
	}
	if tb.chunkKey == nil || !chunkable(tb) {
		if lo != nil || !valid() {
			return true // unchunked tables complete in one range
		}
		return sn.send(ctx, &chunkWork{t: tb, epoch: it.epoch, r: keyRange{}})
	}
	for valid() {
		hi, err := sn.boundary(ctx, tb, lo)
		if err != nil {
			if !valid() {
				return true // cancelled (dropped, removed) meanwhile
			}
			sn.fail(fmt.Errorf("snapshot of %s: plan chunk after %s: %w", tb.name(), showKey(lo), err))
			return false
		}
		if !sn.send(ctx, &chunkWork{t: tb, epoch: it.epoch, r: keyRange{Lo: lo, Hi: hi}}) {
			return false
		}
		if hi == nil {
			break
		}
		lo = hi
	}
	return true
}

func (sn *snapshotter) send(ctx context.Context, w *chunkWork) bool {
	sn.mu.Lock()
	sn.pending++
	sn.mu.Unlock()
	select {
	case sn.tasks <- w:
		return true
	case <-ctx.Done():
		return false
	}
}

// chunkable reports whether keyset pagination over the key compares in SQL as it sorts.
func chunkable(tb *table) bool {
	for _, i := range tb.chunkKey {
		if !chunkableKind(tb.kinds[i]) {
			return false
		}
	}
	return true
}

// chunkableKind: ENUM and SET sort by index but compare as strings, FLOAT's text is not its
// stored value, JSON has no SQL order.
func chunkableKind(k colKind) bool {
	switch k {
	case kEnum, kSet, kFloat32, kFloat64, kJSON:
		return false
	}
	return true
}

// boundary returns the key of the chunk_size-th row after lo, nil when fewer rows remain.
func (sn *snapshotter) boundary(ctx context.Context, tb *table, lo [][]byte) ([][]byte, error) {
	cols := keyList(tb)
	q := "SELECT " + cols + " FROM " + qualified(tb.t.Database, tb.t.Name)
	if lo != nil {
		q += " WHERE " + keyCompare(tb, ">", lo)
	}
	q += " ORDER BY " + cols + " LIMIT 1 OFFSET " + strconv.FormatInt(sn.s.cfg.ChunkSize-1, 10)
	var out [][]byte
	err := retry(ctx, sn.s.log, "chunk boundary of "+tb.name(), func() error {
		out = nil
		rows, err := sn.s.db.QueryContext(ctx, q)
		if isNoSuchTable(err) {
			return nil // dropped: no more rows (the stream sees the DROP)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
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

func (sn *snapshotter) reader(ctx context.Context, slot int) {
	defer sn.wg.Done()
	slotID := sn.s.pipeline + "/" + strconv.Itoa(slot)
	for {
		var w *chunkWork
		select {
		case w = <-sn.tasks:
		case <-ctx.Done():
			return
		}
		w.id = sn.s.runID + "-" + strconv.FormatInt(sn.seq.Add(1), 10)
		w.done = make(chan struct{})
		if sn.full {
			if err := sn.readChunk(ctx, w); err != nil && sn.current(w) {
				sn.fail(err)
				return
			}
			select {
			case sn.ready <- w:
			case <-ctx.Done():
				return
			}
			continue
		}
		sn.mu.Lock()
		sn.works[w.id] = w
		sn.mu.Unlock()
		err := sn.mark(ctx, slotID, w.id+":L")
		if err == nil {
			if err = sn.readChunk(ctx, w); err != nil && !sn.current(w) {
				// the table left the selection meanwhile: the chunk is dropped at its high mark
				w.rows, err = nil, nil
			}
		}
		if err == nil {
			err = sn.mark(ctx, slotID, w.id+":H")
		}
		if err != nil {
			sn.fail(err)
			return
		}
		select {
		case <-w.done:
		case <-ctx.Done():
			return
		}
	}
}

// mark writes a watermark: one row per reader slot, updated in place.
func (sn *snapshotter) mark(ctx context.Context, slot, value string) error {
	q := "INSERT INTO " + qualified(sn.s.cfg.WatermarkDatabase, WatermarkTable) +
		" (slot, mark) VALUES (?, ?) ON DUPLICATE KEY UPDATE mark = VALUES(mark)"
	return retry(ctx, sn.s.log, "watermark write", func() error {
		_, err := sn.s.db.ExecContext(ctx, q, slot, value)
		return err
	})
}

func (sn *snapshotter) readChunk(ctx context.Context, w *chunkWork) error {
	w.readT = w.t
	err := sn.readChunkWith(ctx, w)
	if isUnknownColumn(err) {
		// the table has other columns than the stream knows now (the stream lags behind DDL):
		// read with the catalog's, and let the high watermark decide whether they are right
		tb, lerr := loadTable(ctx, sn.s.db, sn.s.cfg.tenant, tableName{DB: w.t.t.Database, Name: w.t.t.Name}, w.t.t.Version)
		if lerr != nil {
			if isNoTable(lerr) {
				w.rows = w.rows[:0]
				return nil // dropped: the stream sees the DROP
			}
			return fmt.Errorf("snapshot of %s: %w", w.t.name(), lerr)
		}
		w.readT = tb
		err = sn.readChunkWith(ctx, w)
	}
	return err
}

// isUnknownColumn reports MySQL error 1054 (unknown column).
func isUnknownColumn(err error) bool {
	var me *gosql.MySQLError
	return errors.As(err, &me) && me.Number == 1054
}

func (sn *snapshotter) readChunkWith(ctx context.Context, w *chunkWork) error {
	tb := w.readT
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
	err := retry(ctx, sn.s.log, "snapshot chunk of "+tb.name(), func() error {
		w.rows = w.rows[:0]
		w.read = time.Now().UTC()
		rows, err := sn.s.db.QueryContext(ctx, q)
		if isNoSuchTable(err) {
			return nil // dropped: the chunk is empty (the stream sees the DROP)
		}
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

// retry runs f up to 8 times with backoff (100 ms doubling to 5 s, about 11 s in all: an
// OceanBase leader switch takes seconds) while the error looks transient. Each retry is
// logged with what is retried.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	delay := 100 * time.Millisecond
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		if !transient(err) || attempt == 7 {
			return err
		}
		log.Warn("transient error, retrying", "op", what, "attempt", attempt+1, "delay", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 5*time.Second)
	}
	return err
}

// isNoSuchTable reports MySQL error 1146 (ER_NO_SUCH_TABLE).
func isNoSuchTable(err error) bool {
	var me *gosql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}

// obTransient lists OceanBase's error codes (MySQL mode; some clients print them negative)
// that a retry may get past: 4012 timeout (also a statement cut short by a leader switch),
// 4038 not master (leader switch), 6002 transaction rolled back by the server (leader
// change), 4023 EAGAIN-style retry, 6005 lock conflict retry.
var obTransient = map[int]bool{4012: true, 4038: true, 6002: true, 4023: true, 6005: true}

func transient(err error) bool {
	if err == nil {
		return false
	}
	var perm interface{ Permanent() bool }
	if errors.As(err, &perm) && perm.Permanent() {
		return false
	}
	var me *gosql.MySQLError
	if errors.As(err, &me) && (obTransient[int(me.Number)] || obTransient[-int(int16(me.Number))]) {
		return true
	}
	msg := err.Error()
	for _, code := range []string{"4012", "4038", "6002"} {
		if strings.Contains(msg, "Error "+code+" ") || strings.Contains(msg, "Error -"+code) || strings.Contains(msg, "ERROR -"+code) {
			return true
		}
	}
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "not master") || strings.Contains(lower, "leader") && strings.Contains(lower, "switch") {
		return true
	}
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

// track records, for each open chunk window of the change's table (name: its windowKey, the
// key of s.tables), the keys it touches. Called by the stream goroutine for every selected
// row change, in binlog order, whatever schema object decoded it.
func (sn *snapshotter) track(name string, tb *table, c *change.Change) {
	ws := sn.open[name]
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
				// the window tracks every change of the table from here to the high mark,
				// whatever schema object decodes it (see snapshotter.open)
				k := windowKey(w.t)
				sn.open[k] = append(sn.open[k], w)
			}
		case "H":
			if w.open && !containsWork(s.bl.tx.marks, w) {
				s.bl.tx.marks = append(s.bl.tx.marks, w)
			}
		}
	}
	return nil
}

// windowKey names a table's chunk windows: its lower-case "db.table", as s.tables keys it.
// A table dropped and created again under the name shares the key with the chunks of its
// cancelled snapshot; those only lose keys and are dropped at their high mark anyway.
func windowKey(tb *table) string { return strings.ToLower(tb.name()) }

func containsWork(ws []*chunkWork, w *chunkWork) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// emitChunk queues a chunk's rows, minus the keys changed inside its window, at its high
// watermark, and records the chunk as completed. A chunk of a table whose snapshot was
// cancelled meanwhile (removed from the selection, dropped) is dropped.
func (s *Source) emitChunk(w *chunkWork) {
	sn := s.snapper
	k := windowKey(w.t)
	ws := sn.open[k]
	for i, x := range ws {
		if x == w {
			sn.open[k] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(sn.open[k]) == 0 {
		delete(sn.open, k)
	}
	sn.mu.Lock()
	delete(sn.works, w.id)
	current := sn.epoch[w.t.name()] == w.epoch
	again := current && !s.sameAsStream(w)
	if !again {
		sn.pending--
	}
	finished := len(sn.queue) == 0 && !sn.planning && sn.pending == 0
	sn.mu.Unlock()
	defer close(w.done)
	if again {
		// Read with other columns than the stream has at the high watermark (DDL between the
		// read and the mark, or a read with a schema the stream had not reached yet): read it
		// again with the stream's schema. It stays pending.
		nw := &chunkWork{t: s.tables[k], epoch: w.epoch, r: w.r}
		go func() {
			select {
			case sn.tasks <- nw:
			case <-sn.done:
			}
		}()
		return
	}
	var kept []*change.Change
	if current {
		for _, c := range w.rows {
			if _, changed := w.changed[keyOf(w.t, c.After)]; changed {
				continue
			}
			kept = append(kept, c)
		}
		s.snap = s.snap.withChunk(w.t.name(), w.r, int64(len(kept)))
	}
	if finished && !s.snap.Finished {
		s.snap = s.snap.finished()
	}
	if !current {
		return
	}
	p := s.resumePos()
	enc := p.encode()
	s.queueSnapshotRows(w, kept, p, enc, finished)
	s.noteProgress(w.t.name())
}

// sameAsStream reports whether chunk w was read with the stream's current schema of its table
// (then its rows take the stream's schema object).
func (s *Source) sameAsStream(w *chunkWork) bool {
	cur := s.tables[windowKey(w.t)]
	if cur == nil {
		return true // the table is gone: nothing to re-read (its snapshot is cancelled)
	}
	rt := w.readT
	if rt == nil {
		rt = w.t
	}
	if cur != rt && !decodesAlike(cur, rt) {
		return false
	}
	for _, c := range w.rows {
		c.Table = cur.t
	}
	w.t = cur // keys and ids of the rows by the schema they carry
	return true
}

// decodesAlike reports whether rows read with schema b have the values schema a would read:
// the same columns in the same order, decoded alike (a wider VARCHAR, a new default or
// comment, another key change nothing).
func decodesAlike(a, b *table) bool {
	if len(a.t.Columns) != len(b.t.Columns) {
		return false
	}
	for i := range a.t.Columns {
		x, y := &a.t.Columns[i], &b.t.Columns[i]
		if !strings.EqualFold(x.Name, y.Name) || a.kinds[i] != b.kinds[i] || x.Unsigned != y.Unsigned ||
			x.Fsp != y.Fsp || x.Scale != y.Scale || !slices.Equal(x.Elems, y.Elems) {
			return false
		}
	}
	return true
}

// queueSnapshotRows queues a chunk's rows. Their ids are snapshot:<db.table>:<key>@<read>,
// <read> naming this read of the chunk (chunkWork.low): a chunk read again after a restart
// (its rows were not covered by the checkpoint) may hold other content, and then carries
// other ids, while a row is only ever delivered again with its id from the same read.
//
// finished says the chunk completes the whole snapshot. The rows share one Meta: the binlog
// coordinates of the hand-over point (mode both) and the tenant; the first and last rows get
// their snapshot marks (markSnapshot).
func (s *Source) queueSnapshotRows(w *chunkWork, rows []*change.Change, p position, enc change.Position, finished bool) {
	read := w.low
	if read == "" {
		read = w.id
	}
	meta := map[string]string{}
	if p.File != "" {
		meta[change.MetaBinlogFile] = p.File
		meta[change.MetaBinlogPos] = strconv.FormatUint(uint64(p.Pos), 10)
	}
	if w.t.t.Tenant != "" {
		meta[change.MetaTenant] = w.t.t.Tenant
	}
	for _, c := range rows {
		c.Meta = meta
	}
	s.markSnapshot(w, rows, finished)
	var bytes int64
	for i, c := range rows {
		c.ID = "snapshot:" + w.t.name() + ":" + keyText(w.t, c.After) + "@" + read
		c.CommitTime = w.read
		c.Position = enc
		n := itemSize(c)
		bytes += n
		s.out = append(s.out, item{c: c, pos: p, noCut: i < len(rows)-1, size: n})
	}
	if s.mem != nil {
		s.mem.addQueued(bytes)
	}
}

// markSnapshot sets change.MetaSnapshot on the first and last rows of a chunk where they
// are the first or last snapshot row overall (since the snapshot began: at the start, a table
// joining, a re-snapshot) or of their table. A table's first row is the first one handed over
// for it (chunks complete in any order), its last the last row of the chunk that completes it;
// the snapshot's last row is the last of the chunk that completes it. When that chunk is empty
// (the rows a chunk read all changed in its window, or the table's last range holds none)
// the mark has nowhere to go: the last row went out before, unmarked.
func (s *Source) markSnapshot(w *chunkWork, rows []*change.Change, finished bool) {
	name := w.t.name()
	defer func() {
		if finished {
			s.snapBegun, s.snapFirstOf = false, nil
		}
	}()
	if len(rows) == 0 {
		return
	}
	firstAll := !s.snapBegun
	firstTable := s.snapFirstOf[name] != w.epoch+1
	lastTable := s.snap != nil && s.snap.isDone(name)
	if s.snapFirstOf == nil {
		s.snapFirstOf = map[string]uint64{}
	}
	s.snapBegun, s.snapFirstOf[name] = true, w.epoch+1
	mark := func(c *change.Change, m string) {
		if m == "" {
			return
		}
		c.Meta = maps.Clone(c.Meta)
		c.Meta[change.MetaSnapshot] = m
	}
	if len(rows) == 1 {
		mark(rows[0], change.SnapshotMark(firstAll, finished, firstTable, lastTable))
		return
	}
	mark(rows[0], change.SnapshotMark(firstAll, false, firstTable, false))
	mark(rows[len(rows)-1], change.SnapshotMark(false, finished, false, lastTable))
}

func keyText(tb *table, row []change.Value) string {
	parts := make([]string, len(tb.key))
	for i, c := range tb.key {
		parts[i] = string(row[c].AppendText(nil, -1))
	}
	return strings.Join(parts, ",")
}

// setProgress records (or resets) a table's progress entry.
func (s *Source) setProgress(p Progress) {
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	if s.prog == nil {
		s.prog = map[string]*Progress{}
	}
	if _, ok := s.prog[p.Table]; !ok {
		s.progOrder = append(s.progOrder, p.Table)
	}
	s.prog[p.Table] = &p
}

// noteProgress copies a table's rows and done flag from the current state.
func (s *Source) noteProgress(name string) {
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	p := s.prog[name]
	if p == nil {
		return
	}
	p.RowsDone = s.snap.rows(name)
	done := s.snap.isDone(name)
	if done && !p.Done {
		s.log.Info("snapshot of table done", "table", name, "rows", p.RowsDone)
	}
	p.Done = done
}

// Progress returns the snapshot progress of each selected table that has a snapshot (rows
// delivered, across restarts, and the catalog's estimate), in the order the tables joined.
func (s *Source) Progress() []Progress {
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	if len(s.prog) == 0 {
		return nil
	}
	out := make([]Progress, 0, len(s.progOrder))
	for _, n := range s.progOrder {
		if p := s.prog[n]; p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// SnapshotProgress implements sdk.ProgressReporter.
func (s *Source) SnapshotProgress(context.Context) ([]sdk.SnapshotProgress, error) {
	ps := s.Progress()
	if ps == nil {
		return nil, nil
	}
	out := make([]sdk.SnapshotProgress, len(ps))
	for i, p := range ps {
		out[i] = sdk.SnapshotProgress{Table: p.Table, RowsRead: p.RowsDone, RowsEstimated: p.Estimated, Done: p.Done}
	}
	return out, nil
}
