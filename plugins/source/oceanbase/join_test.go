package oceanbase

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// encodeV1 writes a position the way version 1 of the source did (no "all" count).
func encodeV1(p position, snapJSON []byte) []byte {
	b := []byte{posMagic, 1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.File)))
	b = append(b, p.File...)
	b = binary.BigEndian.AppendUint32(b, p.Pos)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.GTID)))
	b = append(b, p.GTID...)
	b = binary.BigEndian.AppendUint32(b, p.Skip)
	b = binary.BigEndian.AppendUint32(b, uint32(len(snapJSON)))
	return append(b, snapJSON...)
}

func TestPositionVersion1StillDecodes(t *testing.T) {
	// A finished snapshot as version 1 wrote it: done tables inside "tables".
	old := []byte(`{"tables":{"d.a":{"done":true,"rows":20000},"d.b":{"ranges":[{"hi":["MTA="]},{"lo":["MjA="],"hi":["MzA="]}],"rows":10}},"finished":true}`)
	p, err := decodePosition(encodeV1(position{File: "mysql-bin.000003", Pos: 99, GTID: "0-1-5", Skip: 4}, old))
	if err != nil {
		t.Fatal(err)
	}
	if p.File != "mysql-bin.000003" || p.Pos != 99 || p.GTID != "0-1-5" || p.Skip != 4 || p.All != 0 {
		t.Fatalf("binlog part: %+v", p)
	}
	if !p.Snap.isDone("d.a") || p.Snap.rows("d.a") != 20000 || p.Snap.Tables["d.a"] != nil {
		t.Fatalf("done table not normalised: %+v", p.Snap)
	}
	if p.Snap.isDone("d.b") || p.Snap.rows("d.b") != 10 || !p.Snap.Finished {
		t.Fatalf("state: %+v", p.Snap)
	}
	r := p.Snap.resumable()
	if len(r.Tables["d.b"].Ranges) != 1 || r.Tables["d.b"].Ranges[0].Lo != nil || !r.isDone("d.a") {
		t.Fatalf("resumable: %+v", r.Tables["d.b"])
	}
	// version 2 round trip keeps the all count and the done map
	p.All = 17
	q, err := decodePosition(p.encode())
	if err != nil || q.All != 17 || q.Skip != 4 || q.Snap.Done["d.a"] != 20000 || !q.Snap.Finished {
		t.Fatalf("v2 round trip: %+v %v", q, err)
	}
	if !bytes.Contains(p.encode(), []byte(`"done":{"d.a":20000}`)) {
		t.Fatalf("done tables are not kept compactly: %s", p.Snap.encode())
	}
}

func TestSnapStateJoinAndForget(t *testing.T) {
	st := (&snapState{Tables: map[string]*tableProgress{}}).withChunk("d.a", keyRange{}, 3).finished()
	if !st.Finished || !st.isDone("d.a") || len(st.Tables) != 0 {
		t.Fatalf("%+v", st)
	}
	// a table added later re-opens the state; the finished one stays known
	st2 := st.reopened().withChunk("d.b", keyRange{Hi: [][]byte{[]byte("5")}}, 5)
	if st2.Finished || !st2.isDone("d.a") || st2.rows("d.b") != 5 || st2.isDone("d.b") {
		t.Fatalf("%+v", st2)
	}
	if !st.Finished || st.known("d.b") {
		t.Fatal("states are shared by positions and must not change")
	}
	st3 := st2.withChunk("d.b", keyRange{Lo: [][]byte{[]byte("5")}}, 7)
	if !st3.isDone("d.b") || st3.rows("d.b") != 12 || st3.Tables["d.b"] != nil {
		t.Fatalf("%+v", st3)
	}
	st4 := st3.without("d.a")
	if st4.known("d.a") || !st3.known("d.a") || !st4.isDone("d.b") {
		t.Fatalf("without: %+v", st4)
	}
}

func TestSelectionWants(t *testing.T) {
	sel, err := parseSelection(sdk.TableSelection{Include: []string{"db.join_*", "db.keep_x", "db.ferry_watermark"},
		Exclude: []string{"db.join_skip*", "db.keep_*"}})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]bool{"join_a": true, "JOIN_B": true, "join_skip1": false, "keep_x": true,
		"keep_y": false, "other": false, "ferry_watermark": false} {
		if got := sel.wants(tableName{DB: "db", Name: n}); got != want {
			t.Errorf("%s: %v, want %v", n, got, want)
		}
	}
	if sel.wants(tableName{DB: "mysql", Name: "join_a"}) {
		t.Error("system schema selected")
	}
	if _, err := parseSelection(sdk.TableSelection{Include: []string{"nodot"}}); err == nil {
		t.Error("bad name accepted")
	}
	if _, err := parseSelection(sdk.TableSelection{Include: []string{"db.t?"}}); err == nil {
		t.Error("? accepted")
	}
}

func TestClassifyRenameTargets(t *testing.T) {
	i := classifyQuery("db", "RENAME TABLE other TO join_y, x.a TO x.join_z")
	if len(i.renamedTo) != 2 || i.renamedTo[0] != (tableName{"db", "join_y"}) || i.renamedTo[1] != (tableName{"x", "join_z"}) {
		t.Fatalf("%+v", i)
	}
	for _, q := range []string{"ALTER TABLE other RENAME TO join_y", "ALTER TABLE other RENAME join_y", "ALTER TABLE `other` ADD c INT, RENAME AS `join_y`"} {
		i = classifyQuery("db", q)
		if len(i.renamed) != 1 || len(i.renamedTo) != 1 || i.renamedTo[0] != (tableName{"db", "join_y"}) {
			t.Fatalf("%s: %+v", q, i)
		}
		found := false
		for _, n := range i.tables {
			found = found || n == (tableName{"db", "join_y"})
		}
		if !found {
			t.Fatalf("%s: target not among tables: %+v", q, i)
		}
	}
	if i = classifyQuery("db", "ALTER TABLE t RENAME COLUMN a TO b"); len(i.renamedTo) != 0 {
		t.Fatalf("%+v", i)
	}
	if !startsTransaction("CREATE TABLE `t` (id INT) START TRANSACTION") || startsTransaction("CREATE TABLE t (id INT)") {
		t.Fatal("startsTransaction")
	}
}

func TestReaderMemoryConfig(t *testing.T) {
	s := New()
	base := map[string]any{"address": "h:1", "user": "u", "tables": []string{"d.t"}}
	cfg := func(extra map[string]any) sdk.Config {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return sdk.NewConfig(b)
	}
	if err := s.Configure(context.Background(), cfg(nil)); err != nil || s.cfg.ReaderMemory != 64<<20 {
		t.Fatalf("default: %d %v", s.cfg.ReaderMemory, err)
	}
	if err := s.Configure(context.Background(), cfg(map[string]any{"reader_memory": "2MiB"})); err != nil || s.cfg.ReaderMemory != 2<<20 {
		t.Fatalf("2MiB: %d %v", s.cfg.ReaderMemory, err)
	}
	if err := s.Configure(context.Background(), cfg(map[string]any{"reader_memory": 1 << 19})); err == nil {
		t.Fatal("512KiB accepted")
	}
	a, ok := spec().Attribute("reader_memory")
	if !ok || a.Type != sdk.TypeSize || a.Default != "64MiB" || a.Min == nil || *a.Min != 1<<20 {
		t.Fatalf("spec: %+v", a)
	}
	if err := spec().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestMemBudgetAdmission(t *testing.T) {
	m := newMemBudget(100)
	var waits atomic.Int32
	waiting := make(chan struct{}, 1)
	m.onWait = func() {
		waits.Add(1)
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	ctx := context.Background()
	if err := m.admitEvent(ctx, 60); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = m.admitEvent(ctx, 60) // does not fit until the first is decoded
		close(done)
	}()
	select {
	case <-waiting: // the second admission waits for room
	case <-done:
	}
	select {
	case <-done:
		t.Fatal("admitted over the limit")
	default:
	}
	m.eventDone(60)
	<-done
	if st := m.stats(); st.Events != 60 || st.Peak != 60 || waits.Load() == 0 {
		t.Fatalf("%+v waits %d", st, waits.Load())
	}
	// an event larger than the whole budget is admitted alone
	m.eventDone(60)
	if err := m.admitEvent(ctx, 500); err != nil || m.stats().Events != 500 {
		t.Fatal("oversized event not admitted alone")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.admitEvent(cctx, 1); err == nil {
		t.Fatal("admitted past a full budget")
	}
	// decoded changes count too
	m.eventDone(500)
	m.addQueued(90)
	if m.mayDecode() != true || m.admitEvent(cctx, 20) == nil {
		t.Fatal("queued bytes not counted")
	}
	m.addQueued(20)
	if m.mayDecode() {
		t.Fatal("over the limit, still decoding")
	}
}

// memTestSource is a source in mode incremental whose binlog events come from evs instead of a
// server, and whose reader_memory is limit bytes.
func memTestSource(t *testing.T, limit int64, evs []*replication.BinlogEvent) (*Source, *atomic.Bool, context.CancelFunc) {
	t.Helper()
	s := New()
	s.cfg = defaultConfig()
	s.cfg.Mode = ModeIncremental
	s.cfg.BatchSize = 64
	s.cfg.HeartbeatInterval = sdk.Duration(time.Hour)
	tb, err := s.replay("shop", mysql8Table, tableName{DB: "shop", Name: "orders"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.tables = map[string]*table{"shop.orders": tb}
	s.names = map[string]tableName{"shop.orders": {DB: "shop", Name: "orders"}}
	s.opened = true
	s.wake = make(chan struct{}, 1)
	s.readSem = make(chan struct{}, 1)
	s.mem = newMemBudget(limit)
	s.mem.onWait = s.wakeup
	gset, _ := mysql.ParseMysqlGTIDSet("")
	ctx, cancel := context.WithCancel(context.Background())
	s.bl = &binlog{file: "binlog.000001", pos: 4, gset: gset, cancel: cancel, done: make(chan struct{}),
		evCh: make(chan evOrErr, evChanCap)}
	var exhausted atomic.Bool
	i := 0
	go receive(ctx, s.bl, s.mem, func(ctx context.Context) (*replication.BinlogEvent, error) {
		if i < len(evs) {
			i++
			return evs[i-1], nil
		}
		exhausted.Store(true)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	t.Cleanup(cancel)
	return s, &exhausted, cancel
}

// orderEvents builds MySQL 8 events: txs transactions of rowsPerTx inserts each (rowsPerEvent
// rows per WRITE_ROWS event, names of nameLen bytes), ids counting from 1.
func orderEvents(t *testing.T, txs, rowsPerTx, rowsPerEvent, nameLen int) []*replication.BinlogEvent {
	t.Helper()
	p := testParser()
	var eb evb
	eb.pos = 4
	ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
	raw := [][]byte{eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription())}
	id := int64(0)
	name := strings.Repeat("n", nameLen)
	for x := 0; x < txs; x++ {
		raw = append(raw, eb.event(replication.GTID_EVENT, ts, gtidEvent(int64(x+1))),
			eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN")))
		for r := 0; r < rowsPerTx; r += rowsPerEvent {
			var rows []rowVals
			for k := r; k < r+rowsPerEvent && k < rowsPerTx; k++ {
				id++
				rows = append(rows, rowVals{id: id, qty: 1, price: decimal10_2(1, 0, false), name: name,
					created: datetime2ms(2024, 1, 1, 0, 0, 0, 0), status: 1})
			}
			raw = append(raw, eb.event(replication.TABLE_MAP_EVENT, ts, tableMap()),
				eb.event(replication.WRITE_ROWS_EVENTv2, ts, rowsEvent(rows...)))
		}
		raw = append(raw, eb.event(replication.XID_EVENT, ts, xid(uint64(x+1))))
	}
	out := make([]*replication.BinlogEvent, len(raw))
	for i, data := range raw {
		ev, err := p.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

// TestReaderMemoryBound: a reader that only reads when the receiving side is blocked by the
// budget (or has nothing more) sees every change in order, while the bytes buffered — events
// not decoded plus changes not handed over — never exceed reader_memory by more than one
// decoding step adds. Without the budget, the 4096-slot event channel alone would take all
// events (about 6 MiB here) at once.
func TestReaderMemoryBound(t *testing.T) {
	const limit = 256 << 10
	cases := []struct {
		name                                  string
		txs, rowsPerTx, rowsPerEvent, nameLen int
		wantSpill                             bool
	}{
		{"small transactions", 400, 40, 20, 100, false},
		// one transaction holds ~5 times the budget: its rows are delivered before its commit
		{"one long transaction", 1, 8000, 20, 120, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				evs := orderEvents(t, tc.txs, tc.rowsPerTx, tc.rowsPerEvent, tc.nameLen)
				var logBytes int64
				for _, ev := range evs {
					logBytes += int64(ev.Header.EventSize)
				}
				s, exhausted, _ := memTestSource(t, limit, evs)
				want := tc.txs * tc.rowsPerTx
				var got []*change.Change
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for len(got) < want {
					// slow reader: read only once the receiving side waits for room or is done
					synctest.Wait()
					if !s.mem.receiverWaiting() && !exhausted.Load() {
						t.Fatalf("receiver neither blocked nor done; stats %+v", s.ReaderMemory())
					}
					b, err := s.Read(ctx)
					if err != nil {
						t.Fatalf("Read after %d changes: %v (stats %+v)", len(got), err, s.ReaderMemory())
					}
					got = append(got, b.Changes...)
				}
				// The rows may all have been handed over before the transaction's commit event
				// was decoded (a spilled transaction): let Read consume what is left.
				for i := 0; i < 20 && (s.ReaderMemory().Events != 0 || s.ReaderMemory().Queued != 0); i++ {
					rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
					if b, err := s.Read(rctx); err == nil {
						for _, c := range b.Changes {
							if c.Op != change.OpHeartbeat {
								got = append(got, c)
							}
						}
					}
					rcancel()
				}
				spilled := 0
				for i, c := range got {
					if c.Op != change.OpInsert || c.After[0].Int() != int64(i+1) {
						t.Fatalf("change %d: %s id %v: lost or reordered", i, c.Op, c.After[0])
					}
					if c.TxSize == 0 {
						spilled++
					}
				}
				st := s.ReaderMemory()
				t.Logf("%d log bytes in %d events; stats %+v; %d changes delivered before their commit", logBytes, len(evs), st, spilled)
				if logBytes < 4*limit {
					t.Fatalf("the test needs more log than the budget (%d bytes)", logBytes)
				}
				if st.Peak > st.Limit+st.MaxGrowth {
					t.Errorf("peak %d over limit %d + one step's growth %d", st.Peak, st.Limit, st.MaxGrowth)
				}
				if st.MaxGrowth > 64<<10 {
					t.Errorf("one decoding step added %d bytes (a rows event here is under 3 KiB)", st.MaxGrowth)
				}
				if st.Peak < st.Limit/2 {
					t.Errorf("peak %d: the budget was never used up, the test proves nothing", st.Peak)
				}
				if tc.wantSpill != (spilled > 0) {
					t.Errorf("%d changes delivered before their commit, want spill %v", spilled, tc.wantSpill)
				}
				if st.Queued != 0 || st.Events != 0 {
					t.Errorf("bytes still counted after everything was read: %+v", st)
				}
			})
		})
	}
}

// A position inside a transaction counts every row change, so resuming skips exactly what
// was delivered even when the selection changed in between.
func TestResumeInsideTransactionAfterSelectionChange(t *testing.T) {
	evs := orderEvents(t, 1, 10, 2, 10)
	s, _, _ := memTestSource(t, 64<<20, evs)
	s.cfg.BatchSize = 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s.Read(ctx)
	if err != nil || len(b.Changes) != 4 {
		t.Fatalf("%v %v", b, err)
	}
	p, err := decodePosition(b.Position)
	if err != nil || p.Skip != 4 || p.All != 4 {
		t.Fatalf("position %+v %v", p, err)
	}
	// resume: the same rows, but a row-count that ignores selection would be wrong if the
	// first skip rows were counted differently; here every row counts, so 4 are skipped.
	s2, _, _ := memTestSource(t, 64<<20, evs)
	s2.bl.nextSkip, s2.bl.nextAll = 0, p.All // as if no row of the transaction was selected before
	var rest []*change.Change
	for len(rest) < 6 {
		b, err := s2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, b.Changes...)
	}
	if rest[0].After[0].Int() != 5 || rest[0].TxSeq != 5 || rest[0].ID != fmt.Sprintf("%s#5", rest[0].TxID) {
		t.Fatalf("resumed at %v seq %d id %s", rest[0].After[0], rest[0].TxSeq, rest[0].ID)
	}
}
