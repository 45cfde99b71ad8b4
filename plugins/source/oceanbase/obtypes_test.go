package oceanbase

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// The OceanBase Binlog Service logs FLOAT(p > 24) columns (information_schema: DATA_TYPE
// float, COLUMN_TYPE float(30,10)) as DOUBLE, and copies character columns' bytes in the
// column's charset. A TABLE_MAP and rows event of that shape must decode to the values a
// snapshot reads for the same row (FLOAT as `col + 0e0`, strings as utf8mb4 text).

const obTableID = 91

func obTable() *table {
	t := &change.Table{Database: "shop", Name: "m", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "BIGINT", ColumnType: "bigint(20)"},
		{Name: "f", Type: "FLOAT", ColumnType: "float(30,10)", Nullable: true, Precision: 30, Scale: 10},
		{Name: "g", Type: "VARCHAR", ColumnType: "varchar(20)", Nullable: true, Length: 20, Charset: "gbk"},
		{Name: "l", Type: "VARCHAR", ColumnType: "varchar(20)", Nullable: true, Length: 20, Charset: "latin1"},
		{Name: "u", Type: "VARCHAR", ColumnType: "varchar(20)", Nullable: true, Length: 20, Charset: "utf16"},
	}}
	return newTable(t, 0)
}

func obTableMap() []byte {
	b := binary.LittleEndian.AppendUint32(nil, obTableID)
	b = append(b, 0, 0, 1, 0) // rest of the table id, flags
	b = append(b, 4)
	b = append(b, "shop"...)
	b = append(b, 0, 1, 'm', 0)
	b = append(b, 5, mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_VARCHAR,
		mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VARCHAR)
	meta := []byte{8, 40, 0, 20, 0, 80, 0} // double size 8; varchar max bytes
	b = append(b, byte(len(meta)))
	b = append(b, meta...)
	return append(b, 0b11110) // nullable; no optional metadata (the Binlog Service writes none)
}

type obRow struct {
	id      int64
	f       float64
	g, l, u []byte
}

func obRowsEvent(rows ...obRow) []byte {
	b := binary.LittleEndian.AppendUint32(nil, obTableID)
	b = append(b, 0, 0, 1, 0, 2, 0, 5, 0x1f)
	for _, r := range rows {
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.id))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.f))
		for _, s := range [][]byte{r.g, r.l, r.u} {
			b = append(b, byte(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

func TestBinlogServiceFloatAsDoubleAndCharsets(t *testing.T) {
	s := New()
	s.flavor, s.gtidMode = mysql.MySQLFlavor, true
	tb := obTable()
	s.tables = map[string]*table{"shop.m": tb}
	s.bl = &binlog{file: "mysql-bin.000001", pos: 4, gsetFull: true}
	s.bl.gset, _ = mysql.ParseMysqlGTIDSet("")
	p := testParser()
	eb := evb{pos: 4}
	ts := uint32(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Unix())

	single := float64(float32(3.14159)) // what a single-precision FLOAT holds, widened
	rows := []obRow{
		{id: 1, f: single, g: []byte{0xd6, 0xd0, 0xce, 0xc4}, l: []byte("caf\xe9 \x80"), u: []byte{0xd8, 0x34, 0xdd, 0x1e, 0x00, 0xe9}},
		{id: 2, f: 0.1, g: []byte{}, l: []byte("\x81\xff"), u: []byte{0x4e, 0x2d}}, // 0.1: no float32 holds it
	}
	// the snapshot's text for the same rows: `f + 0e0` printed by the server, strings in utf8mb4
	snapshot := [][]string{
		{"1", strconv.FormatFloat(single, 'g', -1, 64), "中文", "café €", "𝄞é"},
		{"2", "0.1", "", "\u0081ÿ", "中"},
	}
	for _, data := range [][]byte{
		eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()),
		eb.event(replication.GTID_EVENT, ts, gtidEvent(7)),
		eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN")),
		eb.event(replication.TABLE_MAP_EVENT, ts, obTableMap()), // one TABLE_MAP per row, as the Binlog Service writes
		eb.event(replication.WRITE_ROWS_EVENTv2, ts, obRowsEvent(rows[0])),
		eb.event(replication.TABLE_MAP_EVENT, ts, obTableMap()),
		eb.event(replication.WRITE_ROWS_EVENTv2, ts, obRowsEvent(rows[1])),
		eb.event(replication.XID_EVENT, ts, xid(1)),
	} {
		ev, err := p.Parse(data)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if err := s.handle(context.Background(), ev); err != nil {
			t.Fatalf("handle %v: %v", ev.Header.EventType, err)
		}
	}
	if len(s.out) != 2 {
		t.Fatalf("%d changes, want 2", len(s.out))
	}
	for i, it := range s.out {
		for j, col := range tb.t.Columns {
			want, err := fromText(&tb.t.Columns[j], tb.kinds[j], []byte(snapshot[i][j]))
			if err != nil {
				t.Fatal(err)
			}
			got := it.c.After[j]
			if got.Kind() != want.Kind() || string(got.AppendText(nil, 0)) != string(want.AppendText(nil, 0)) {
				t.Errorf("row %d %s: binlog %s %q, snapshot %s %q", i+1, col.Name, got.Kind(), got.AppendText(nil, 0),
					want.Kind(), want.AppendText(nil, 0))
			}
		}
	}
	if f := s.out[0].c.After[1]; f.Kind() != change.KindFloat32 || float64(f.Float32()) != single {
		t.Errorf("single-precision value: %v", f)
	}
	if f := s.out[1].c.After[1]; f.Float() != 0.1 {
		t.Errorf("double value 0.1 came out as %v (rounded)", f)
	}
}

// An unknown character set is an error naming the column, never a silent mis-decode.
func TestBinlogStringUnknownCharset(t *testing.T) {
	c := change.Column{Name: "x", Type: "VARCHAR", ColumnType: "varchar(5)", Charset: "swe7"}
	_, err := fromLog(&c, kString, "abc")
	if err == nil || !strings.Contains(err.Error(), "column x") || !strings.Contains(err.Error(), "swe7") {
		t.Fatalf("err = %v", err)
	}
	c.Charset = "utf8mb4"
	if v, err := fromLog(&c, kString, "héllo"); err != nil || v.Str() != "héllo" {
		t.Fatalf("utf8mb4: %v %v", v, err)
	}
	c.Charset = "gbk"
	if v, err := fromLog(&c, kString, "\x81"); err == nil {
		t.Fatalf("invalid gbk bytes decoded without error: %q", v.Str())
	}
	c.Charset = "utf16"
	if v, err := fromLog(&c, kString, "\xff\xfd"); err != nil || v.Str() != "\ufffd" {
		t.Fatalf("a real U+FFFD in utf16: %q %v", v.Str(), err)
	}
}
