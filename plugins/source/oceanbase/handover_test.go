package oceanbase

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// handoverSource is a source in mode both over shop.orders (mysql8Table) with a snapshotter
// that has no readers: the test plays the binlog, chunk by hand.
func handoverSource(t *testing.T) *Source {
	t.Helper()
	s := New()
	s.cfg = defaultConfig()
	s.cfg.Mode = ModeBoth
	tb, err := s.replay("shop", mysql8Table, tableName{DB: "shop", Name: "orders"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := s.replay("shop", "CREATE TABLE ferry_watermark (slot VARCHAR(191) NOT NULL PRIMARY KEY, "+
		"mark VARCHAR(191) NOT NULL, updated TIMESTAMP(6) NOT NULL)", tableName{DB: "shop", Name: WatermarkTable}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.tables = map[string]*table{"shop.orders": tb}
	s.names = map[string]tableName{"shop.orders": {DB: "shop", Name: "orders"}}
	s.lastVersion = map[string]uint64{"shop.orders": 1}
	s.wm, s.wmKey = wm, "shop.ferry_watermark"
	s.mem = newMemBudget(64 << 20)
	s.snap = &snapState{Tables: map[string]*tableProgress{}}
	gset, _ := mysql.ParseMysqlGTIDSet("")
	s.bl = &binlog{file: "binlog.000001", pos: 4, gset: gset}
	s.snapper = &snapshotter{s: s, works: map[string]*chunkWork{}, epoch: map[string]uint64{},
		open: map[string][]*chunkWork{}}
	return s
}

// TestHandoverAcrossDDL: the stream replays DDL of a table whose snapshot chunk is read with
// the schema object the chunk was planned with — a table added while ferry was stopped and
// altered after the saved position (the stream replays the ALTER after Open read the catalog),
// or a table joining by SetTables while the stream lags behind an ALTER of it. Changes of the
// table inside the chunk's window decode with the replayed schema object; they must still
// remove their keys from the chunk, else the chunk's row (read before the change) is
// delivered after it: a stale snapshot row over a newer change.
func TestHandoverAcrossDDL(t *testing.T) {
	for _, ddlInWindow := range []bool{false, true} {
		name := "DDL before the low watermark"
		if ddlInWindow {
			name = "DDL inside the window"
		}
		t.Run(name, func(t *testing.T) {
			s := handoverSource(t)
			planned := s.tables["shop.orders"]
			sn := s.snapper
			// one chunk of the whole table, planned (and read) with the schema known at the
			// join: it read row 1 before the update below
			stale := make([]change.Value, len(planned.t.Columns))
			stale[0], stale[3] = change.NewInt(1), change.NewString("stale")
			w := &chunkWork{id: "run-1", t: planned, epoch: 1, rows: []*change.Change{{Op: change.OpSnapshot,
				Table: planned.t, Database: "shop", TableName: "orders", After: stale}}, done: make(chan struct{})}
			sn.works[w.id], sn.epoch["shop.orders"], sn.pending = w, 1, 1

			p := testParser()
			var eb evb
			eb.pos = 4
			ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
			handle := func(ev *replication.BinlogEvent) {
				t.Helper()
				if err := s.handle(context.Background(), ev); err != nil {
					t.Fatalf("handle %T: %v", ev.Event, err)
				}
			}
			parsed := func(typ replication.EventType, body []byte) {
				t.Helper()
				ev, err := p.Parse(eb.event(typ, ts, body))
				if err != nil {
					t.Fatal(err)
				}
				handle(ev)
			}
			header := func(typ replication.EventType) *replication.EventHeader {
				eb.pos += 100
				return &replication.EventHeader{Timestamp: ts, EventType: typ, ServerID: 1, LogPos: eb.pos}
			}
			mark := func(rows ...[]any) {
				t.Helper()
				wmTable := &replication.TableMapEvent{Schema: []byte("shop"), Table: []byte(WatermarkTable)}
				handle(&replication.BinlogEvent{Header: header(replication.UPDATE_ROWS_EVENTv2),
					Event: &replication.RowsEvent{Table: wmTable, Rows: rows}})
				handle(&replication.BinlogEvent{Header: header(replication.XID_EVENT), Event: &replication.XIDEvent{}})
			}
			alter := func() {
				t.Helper()
				// a schema change that keeps the TABLE_MAP's column types
				handle(&replication.BinlogEvent{Header: header(replication.QUERY_EVENT), Event: &replication.QueryEvent{
					Schema: []byte("shop"), Query: []byte("ALTER TABLE orders MODIFY name VARCHAR(40) CHARACTER SET utf8mb4")}})
				if s.tables["shop.orders"] == planned {
					t.Fatal("the ALTER did not make a new schema object; the test needs one")
				}
			}

			parsed(replication.FORMAT_DESCRIPTION_EVENT, formatDescription())
			if !ddlInWindow {
				alter()
			}
			mark([]any{"p/0", "run-0:H", nil}, []any{"p/0", "run-1:L", nil})
			if ddlInWindow {
				alter()
			}
			// inside the window: row 1 changes (the chunk's read did not see it)
			a := rowVals{id: 1, qty: 1, price: decimal10_2(1, 0, false), name: "old", created: datetime2ms(2024, 1, 1, 0, 0, 0, 0), status: 1}
			a2 := a
			a2.name = "new"
			parsed(replication.GTID_EVENT, gtidEvent(7))
			parsed(replication.QUERY_EVENT, queryEvent("shop", "BEGIN"))
			parsed(replication.TABLE_MAP_EVENT, tableMap())
			parsed(replication.UPDATE_ROWS_EVENTv2, updateEvent(a, a2))
			parsed(replication.XID_EVENT, xid(7))
			mark([]any{"p/0", "run-1:L", nil}, []any{"p/0", "run-1:H", nil})

			select {
			case <-w.done:
			default:
				t.Fatal("the chunk was not emitted at its high watermark")
			}
			var got []string
			for _, it := range s.out {
				c := it.c
				row := c.After
				got = append(got, c.Op.String()+" "+row[3].Str())
			}
			if len(got) != 1 || got[0] != "update new" {
				t.Fatalf("delivered %q, want only the update: the chunk's row of key 1 was read before it", got)
			}
			if len(sn.open) != 0 {
				t.Errorf("windows left open: %v", sn.open)
			}
			if !s.snap.isDone("shop.orders") {
				t.Errorf("chunk not recorded: %+v", s.snap)
			}
		})
	}
}
