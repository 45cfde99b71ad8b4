package oceanbase

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Binlog events as a MySQL 8.0 server — and the OceanBase Binlog Service, which emulates one —
// sends them: GTID events, QUERY BEGIN, a TABLE_MAP without optional metadata (no column
// names, no signedness), v2 rows events and XID. They are built here byte for byte, parsed by
// go-mysql's BinlogParser as the replication client would, and decoded by the source with a
// schema that comes from SQL (a CREATE TABLE statement), never from the log.

const mysql8Table = "CREATE TABLE orders (id BIGINT NOT NULL, qty INT UNSIGNED, price DECIMAL(10,2), " +
	"name VARCHAR(32) CHARACTER SET utf8mb4, created DATETIME(3), status ENUM('new','paid'), PRIMARY KEY (id))"

type evb struct {
	pos uint32
}

// event wraps body in a v4 header (no checksum: the format description says OFF).
func (b *evb) event(typ replication.EventType, ts uint32, body []byte) []byte {
	size := uint32(19 + len(body))
	b.pos += size
	h := make([]byte, 19)
	binary.LittleEndian.PutUint32(h[0:], ts)
	h[4] = byte(typ)
	binary.LittleEndian.PutUint32(h[5:], 1) // server id
	binary.LittleEndian.PutUint32(h[9:], size)
	binary.LittleEndian.PutUint32(h[13:], b.pos)
	return append(h, body...)
}

func formatDescription() []byte {
	var body bytes.Buffer
	binary.Write(&body, binary.LittleEndian, uint16(4))
	ver := make([]byte, 50)
	copy(ver, "8.0.32")
	body.Write(ver)
	binary.Write(&body, binary.LittleEndian, uint32(0))
	body.WriteByte(19)
	// Post-header lengths of MySQL 8.0, by event type - 1.
	lens := make([]byte, 41)
	lens[replication.QUERY_EVENT-1] = 13
	lens[replication.TABLE_MAP_EVENT-1] = 8
	lens[replication.WRITE_ROWS_EVENTv2-1] = 10
	lens[replication.UPDATE_ROWS_EVENTv2-1] = 10
	lens[replication.DELETE_ROWS_EVENTv2-1] = 10
	lens[replication.GTID_EVENT-1] = 42
	lens[replication.ROTATE_EVENT-1] = 8
	lens[replication.FORMAT_DESCRIPTION_EVENT-1] = 98
	body.Write(lens)
	body.WriteByte(byte(replication.BINLOG_CHECKSUM_ALG_OFF))
	body.Write([]byte{0, 0, 0, 0})
	return body.Bytes()
}

var sid = []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x26}

func gtidEvent(gno int64) []byte {
	b := []byte{1}
	b = append(b, sid...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2) // logical timestamps follow
	b = binary.LittleEndian.AppendUint64(b, uint64(gno-1))
	return binary.LittleEndian.AppendUint64(b, uint64(gno))
}

func queryEvent(schema, q string) []byte {
	b := make([]byte, 13)
	b[8] = byte(len(schema))
	b = append(b, schema...)
	b = append(b, 0)
	return append(b, q...)
}

const tableID = 77

func tableMap() []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint32(b, tableID)
	b = append(b, 1, 0) // flags
	b = append(b, 4)
	b = append(b, "shop"...)
	b = append(b, 0, 6)
	b = append(b, "orders"...)
	b = append(b, 0)
	b = append(b, 6) // column count
	b = append(b, mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_NEWDECIMAL,
		mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_STRING)
	meta := []byte{10, 2, 128, 0, 3, mysql.MYSQL_TYPE_ENUM, 1} // decimal(10,2), varchar 128 bytes, fsp 3, enum of 1 byte
	b = append(b, byte(len(meta)))
	b = append(b, meta...)
	return append(b, 0b111110) // nullable columns; no optional metadata follows
}

// decimal10_2 encodes a DECIMAL(10,2) the way MySQL stores it (4 bytes of integer digits, 1 of
// fraction, sign in the top bit).
func decimal10_2(intPart uint32, frac byte, neg bool) []byte {
	b := binary.BigEndian.AppendUint32(nil, intPart)
	b = append(b, frac)
	b[0] ^= 0x80
	if neg {
		for i := range b {
			b[i] = ^b[i]
		}
	}
	return b
}

// datetime2ms encodes a DATETIME(3).
func datetime2ms(y, mo, d, h, mi, s, ms int) []byte {
	ym := uint64(y*13 + mo)
	packed := ym<<22 | uint64(d)<<17 | uint64(h)<<12 | uint64(mi)<<6 | uint64(s)
	packed += 0x8000000000
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, packed)
	out := append([]byte(nil), b[3:]...)
	return binary.BigEndian.AppendUint16(out, uint16(ms*10))
}

type rowVals struct {
	id      int64
	qty     uint32
	price   []byte
	name    string
	created []byte
	status  byte
	nulls   byte // bitmap of NULL columns
}

func (r rowVals) encode() []byte {
	b := []byte{r.nulls}
	b = binary.LittleEndian.AppendUint64(b, uint64(r.id))
	if r.nulls&0b10 == 0 {
		b = binary.LittleEndian.AppendUint32(b, r.qty)
	}
	if r.nulls&0b100 == 0 {
		b = append(b, r.price...)
	}
	if r.nulls&0b1000 == 0 {
		b = append(b, byte(len(r.name)))
		b = append(b, r.name...)
	}
	if r.nulls&0b10000 == 0 {
		b = append(b, r.created...)
	}
	if r.nulls&0b100000 == 0 {
		b = append(b, r.status)
	}
	return b
}

func rowsEvent(images ...rowVals) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint32(b, tableID)
	b = append(b, 1, 0) // flags: end of statement
	b = append(b, 2, 0) // v2 extra data: none
	b = append(b, 6)    // column count
	b = append(b, 0x3f) // columns present
	return appendRows(b, images)
}

func updateEvent(before, after rowVals) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint32(b, tableID)
	b = append(b, 1, 0, 2, 0, 6, 0x3f, 0x3f)
	return appendRows(b, []rowVals{before, after})
}

func appendRows(b []byte, images []rowVals) []byte {
	for _, r := range images {
		b = append(b, r.encode()...)
	}
	return b
}

func xid(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

func TestMySQL8EventsDecodeWithSchemaFromSQL(t *testing.T) {
	s := newMySQL8Source(t)
	tb := s.tables["shop.orders"]
	s.bl = &binlog{file: "binlog.000007", pos: 4}
	gset, _ := mysql.ParseMysqlGTIDSet("")
	s.bl.gset = gset

	p := testParser()

	var eb evb
	eb.pos = 4
	ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
	a := rowVals{id: 1, qty: 4294967295, price: decimal10_2(12345, 67, false), name: "héllo",
		created: datetime2ms(2024, 2, 29, 23, 59, 58, 125), status: 2}
	b := rowVals{id: 2, price: decimal10_2(3, 5, true), nulls: 0b111010} // qty, name, created, status NULL
	a2 := a
	a2.name, a2.status = "bye", 1
	raw := [][]byte{
		eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()),
		eb.event(replication.PREVIOUS_GTIDS_EVENT, ts, previousGTIDs(1, 41)),
		eb.event(replication.GTID_EVENT, ts, gtidEvent(41)),
		eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN")),
		eb.event(replication.TABLE_MAP_EVENT, ts, tableMap()),
		eb.event(replication.WRITE_ROWS_EVENTv2, ts, rowsEvent(a, b)),
		eb.event(replication.XID_EVENT, ts, xid(9)),
		eb.event(replication.GTID_EVENT, ts+1, gtidEvent(42)),
		eb.event(replication.QUERY_EVENT, ts+1, queryEvent("shop", "BEGIN")),
		eb.event(replication.TABLE_MAP_EVENT, ts+1, tableMap()),
		eb.event(replication.UPDATE_ROWS_EVENTv2, ts+1, updateEvent(a, a2)),
		eb.event(replication.TABLE_MAP_EVENT, ts+1, tableMap()), // one per statement, as MySQL writes
		eb.event(replication.DELETE_ROWS_EVENTv2, ts+1, rowsEvent(b)),
		eb.event(replication.XID_EVENT, ts+1, xid(10)),
	}
	for _, data := range raw {
		ev, err := p.Parse(data)
		if err != nil {
			t.Fatalf("parse %x: %v", data[4], err)
		}
		if tm, ok := ev.Event.(*replication.TableMapEvent); ok && tm.ColumnName != nil {
			t.Fatal("the TABLE_MAP carries column names; it must not, to test the schema-from-SQL path")
		}
		if err := s.handle(context.Background(), ev); err != nil {
			t.Fatalf("handle %v: %v", ev.Header.EventType, err)
		}
	}

	if len(s.out) != 4 {
		t.Fatalf("%d changes, want 4", len(s.out))
	}
	text := func(vs []change.Value) string {
		var parts []string
		for i, v := range vs {
			parts = append(parts, v.Kind().String()+":"+string(v.AppendText(nil, tb.t.Columns[i].Fsp)))
		}
		return strings.Join(parts, " ")
	}
	want := []struct {
		op            change.Op
		before, after string
		gtid          string
		seq           uint32
	}{
		{change.OpInsert, "", "int:1 uint:4294967295 decimal:12345.67 string:héllo datetime:2024-02-29 23:59:58.125 enum:paid",
			"3e11fa47-71ca-11e1-9e33-c80aa9429526:41", 1},
		{change.OpInsert, "", "int:2 null: decimal:-3.05 null: null: null:", "3e11fa47-71ca-11e1-9e33-c80aa9429526:41", 2},
		{change.OpUpdate, "int:1 uint:4294967295 decimal:12345.67 string:héllo datetime:2024-02-29 23:59:58.125 enum:paid",
			"int:1 uint:4294967295 decimal:12345.67 string:bye datetime:2024-02-29 23:59:58.125 enum:new",
			"3e11fa47-71ca-11e1-9e33-c80aa9429526:42", 1},
		{change.OpDelete, "int:2 null: decimal:-3.05 null: null: null:", "", "3e11fa47-71ca-11e1-9e33-c80aa9429526:42", 2},
	}
	for i, w := range want {
		c := s.out[i].c
		if c.Op != w.op || text(c.Before) != w.before || text(c.After) != w.after {
			t.Errorf("change %d: %s\n before %s\n after  %s", i, c.Op, text(c.Before), text(c.After))
		}
		if c.TxID != w.gtid || c.TxSeq != w.seq || c.ID != w.gtid+"#"+string(rune('0'+w.seq)) {
			t.Errorf("change %d: tx %q seq %d id %q", i, c.TxID, c.TxSeq, c.ID)
		}
		if c.Table != tb.t || c.Table.Tenant != "" {
			t.Errorf("change %d: schema %v", i, c.Table)
		}
		if c.Meta[change.MetaGTID] != w.gtid || c.Meta[change.MetaBinlogFile] != "binlog.000007" {
			t.Errorf("change %d: meta %v", i, c.Meta)
		}
		if len(c.Position) == 0 {
			t.Errorf("change %d: no position", i)
		}
	}
	if got := s.out[0].c.CommitTime.Unix(); got != int64(ts) || s.out[2].c.CommitTime.Unix() != int64(ts+1) {
		t.Errorf("commit times %v %v", s.out[0].c.CommitTime, s.out[2].c.CommitTime)
	}
	// After the last XID the resume position holds the file's PREVIOUS_GTIDS and both
	// transactions' GTIDs: the full set, never one with a gap.
	if g := s.bl.resume.GTID; g != "3e11fa47-71ca-11e1-9e33-c80aa9429526:1-42" {
		t.Errorf("resume GTID set %q", g)
	}
}

// testParser parses binlog events as the source's syncer does (MySQL flavor, DECIMAL as
// text, UTC, rows left undecoded until handled: deferRows). Temporal values come as text
// here (the syncer has ParseTime): fromLog takes both.
func testParser() *replication.BinlogParser {
	p := replication.NewBinlogParser()
	p.SetFlavor(mysql.MySQLFlavor)
	p.SetUseDecimal(false)
	p.SetParseTime(false)
	p.SetTimestampStringLocation(time.UTC)
	p.SetRowsEventDecodeFunc(deferRows)
	return p
}

// TestDeferredRowsDecodeAsTheClientDoes: a rows event parsed with deferRows holds its packet
// undecoded (counted by its size), and decodeDeferred gives the rows go-mysql's own decoder
// gives; a decoded event is left as it is.
func TestDeferredRowsDecodeAsTheClientDoes(t *testing.T) {
	var eb evb
	eb.pos = 4
	ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
	a := rowVals{id: 1, qty: 4294967295, price: decimal10_2(12345, 67, false), name: "héllo",
		created: datetime2ms(2024, 2, 29, 23, 59, 58, 125), status: 2}
	b := rowVals{id: 2, price: decimal10_2(3, 5, true), nulls: 0b111010}
	raw := [][]byte{
		eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()),
		eb.event(replication.TABLE_MAP_EVENT, ts, tableMap()),
		eb.event(replication.UPDATE_ROWS_EVENTv2, ts, updateEvent(a, b)),
	}
	deferred, eager := testParser(), testParser()
	eager.SetRowsEventDecodeFunc(nil)
	var d, e *replication.BinlogEvent
	for _, data := range raw {
		var err error
		if d, err = deferred.Parse(data); err != nil {
			t.Fatal(err)
		}
		if e, err = eager.Parse(data); err != nil {
			t.Fatal(err)
		}
	}
	dr, er := d.Event.(*replication.RowsEvent), e.Event.(*replication.RowsEvent)
	if !isDeferred(dr) || isDeferred(er) {
		t.Fatalf("deferred %v, eager %v", isDeferred(dr), isDeferred(er))
	}
	if got, want := eventMemory(d), int64(d.Header.EventSize)+eventOverhead; got != want {
		t.Errorf("an undecoded rows event counts %d bytes, want %d (its size and the parsed structures)", got, want)
	}
	if eventMemory(e) <= 2*int64(e.Header.EventSize) {
		t.Errorf("a decoded rows event counts %d bytes, its size is %d", eventMemory(e), e.Header.EventSize)
	}
	if err := decodeDeferred(dr); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dr.Rows, er.Rows) || dr.Table.TableID != er.Table.TableID {
		t.Fatalf("deferred rows %v, go-mysql's %v", dr.Rows, er.Rows)
	}
	if len(dr.Rows) != 2 || isDeferred(dr) {
		t.Fatalf("rows %v", dr.Rows)
	}
	before := er.Rows
	if err := decodeDeferred(er); err != nil || !reflect.DeepEqual(er.Rows, before) {
		t.Fatalf("a decoded event changed: %v %v", er.Rows, err)
	}
}
