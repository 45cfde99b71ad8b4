package obstandin

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// The encoder's events, decoded by go-mysql's BinlogParser (what ferry's source uses).

func testTable() *table {
	return &table{id: 91, schema: "ferry_obs_u", name: "t", nullBitmap: []byte{0b1110},
		cols: []column{
			{typ: mysql.MYSQL_TYPE_LONG},
			{typ: mysql.MYSQL_TYPE_FLOAT, meta: 4, floatToDouble: true},
			{typ: mysql.MYSQL_TYPE_BLOB, meta: 4, textToJSON: true},
			{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 20},
		}}
}

// mariaImage is a row image as MariaDB logs it: INT, FLOAT (4 bytes), LONGTEXT, VARCHAR.
func mariaImage(id int32, f float32, jsonText string, s []byte, nulls byte) []byte {
	b := []byte{nulls}
	b = binary.LittleEndian.AppendUint32(b, uint32(id))
	if nulls&2 == 0 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	if nulls&4 == 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(jsonText)))
		b = append(b, jsonText...)
	}
	if nulls&8 == 0 {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

func parseAll(t *testing.T, evs ...rawEvent) []*replication.BinlogEvent {
	t.Helper()
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(true)
	p.SetUseDecimal(true)
	var out []*replication.BinlogEvent
	pos := uint32(4)
	for _, e := range append([]rawEvent{fdeEvent(1)}, evs...) {
		raw := e.finish(7, pos, true)
		pos += uint32(len(raw))
		ev, err := p.Parse(raw)
		if err != nil {
			t.Fatalf("parse %s: %v", e.typ, err)
		}
		out = append(out, ev)
	}
	return out[1:]
}

func TestEncoderRowsDecodeWithGoMySQL(t *testing.T) {
	tb := testTable()
	doc := `{"b": [1, -2, 70000, -3000000000, 18446744073709551615, 2.5, "é\"\\n", true, false, null], "a": {"": {}, "x": []}}`
	body := make([]byte, 8)
	putUint48(body, tb.id)
	body = append(body, 4) // column count
	body = append(body, 0x0f)
	body = append(body, mariaImage(1, 1.5, doc, []byte("caf\xe9"), 0)...)
	body = append(body, mariaImage(2, 0, "", nil, 0b1110)...)
	rb, err := tb.splitRows(body, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.images) != 2 {
		t.Fatalf("%d images", len(rb.images))
	}
	evs := parseAll(t, tb.tableMapEvent(2), tb.rowsEvent(2, replication.WRITE_ROWS_EVENTv2, rb, rb.images[:1]),
		tb.tableMapEvent(2), tb.rowsEvent(2, replication.WRITE_ROWS_EVENTv2, rb, rb.images[1:]))
	tm := evs[0].Event.(*replication.TableMapEvent)
	if !reflect.DeepEqual(tm.ColumnType, []byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_VARCHAR}) {
		t.Errorf("types %v", tm.ColumnType)
	}
	if tm.ColumnName != nil || tm.SignednessBitmap != nil {
		t.Errorf("optional metadata present")
	}
	r := evs[1].Event.(*replication.RowsEvent)
	if evs[1].Header.EventType != replication.WRITE_ROWS_EVENTv2 || len(r.Rows) != 1 {
		t.Fatalf("%s with %d rows", evs[1].Header.EventType, len(r.Rows))
	}
	row := r.Rows[0]
	if row[0] != int32(1) || row[1] != float64(1.5) || asString(row[3]) != "caf\xe9" {
		t.Errorf("row %#v", row)
	}
	var got, want any
	js := asString(row[2])
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("go-mysql's JSON %q: %v", row[2], err)
	}
	_ = json.Unmarshal([]byte(doc), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON\n got %s\nwant %s", row[2], doc)
	}
	if !strings.Contains(js, "18446744073709551615") || !strings.Contains(js, "-3000000000") {
		t.Errorf("big integers lost: %s", row[2])
	}
	if r2 := evs[3].Event.(*replication.RowsEvent).Rows[0]; r2[0] != int32(2) || r2[1] != nil || r2[2] != nil || r2[3] != nil {
		t.Errorf("NULL row %#v", r2)
	}
}

func TestEncoderLargeJSON(t *testing.T) {
	// > 64 KiB forces the large object/array format
	var sb strings.Builder
	sb.WriteString(`{"k": [`)
	for i := 0; i < 9000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"abcdefgh"`)
	}
	sb.WriteString(`], "n": 1}`)
	tb := &table{id: 5, schema: "s", name: "t", nullBitmap: []byte{0}, cols: []column{{typ: mysql.MYSQL_TYPE_BLOB, meta: 4, textToJSON: true}}}
	body := make([]byte, 8)
	putUint48(body, 5)
	body = append(body, 1, 1, 0)
	body = binary.LittleEndian.AppendUint32(body, uint32(sb.Len()))
	body = append(body, sb.String()...)
	rb, err := tb.splitRows(body, false, false)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseAll(t, tb.tableMapEvent(1), tb.rowsEvent(1, replication.WRITE_ROWS_EVENTv2, rb, rb.images))
	var got, want any
	if err := json.Unmarshal([]byte(asString(evs[1].Event.(*replication.RowsEvent).Rows[0][0])), &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(sb.String()), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("large JSON differs")
	}
}

func TestEncoderUpdateAndChecksumOff(t *testing.T) {
	tb := testTable()
	body := make([]byte, 8)
	putUint48(body, tb.id)
	body = append(body, 4, 0x0f, 0x0f)
	body = append(body, mariaImage(1, 2.25, `[1]`, []byte("a"), 0)...)
	body = append(body, mariaImage(1, 3.5, `{"a": 1}`, []byte("b"), 0)...)
	rb, err := tb.splitRows(body, false, true)
	if err != nil {
		t.Fatal(err)
	}
	// sent with @master_binlog_checksum='NONE': no checksum, format description says OFF
	p := replication.NewBinlogParser()
	pos := uint32(4)
	for i, e := range []rawEvent{fdeEvent(1), tb.tableMapEvent(1), tb.rowsEvent(1, replication.UPDATE_ROWS_EVENTv2, rb, rb.images)} {
		raw := withoutChecksum(e.finish(7, pos, true))
		pos += uint32(len(raw))
		ev, err := p.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && ev.Event.(*replication.FormatDescriptionEvent).ChecksumAlgorithm != replication.BINLOG_CHECKSUM_ALG_OFF {
			t.Errorf("checksum not off")
		}
		if i == 2 {
			rows := ev.Event.(*replication.RowsEvent).Rows
			if len(rows) != 2 || rows[0][1] != float64(2.25) || rows[1][1] != float64(3.5) || rows[1][3] != "b" {
				t.Errorf("update rows %#v", rows)
			}
		}
	}
}

func TestValueLen(t *testing.T) {
	cases := []struct {
		typ  byte
		meta uint16
		data []byte
		want int
	}{
		{mysql.MYSQL_TYPE_NEWDECIMAL, 10<<8 | 2, make([]byte, 10), 5},
		{mysql.MYSQL_TYPE_NEWDECIMAL, 65<<8 | 30, make([]byte, 40), 30},
		{mysql.MYSQL_TYPE_DATETIME2, 6, make([]byte, 9), 8},
		{mysql.MYSQL_TYPE_TIMESTAMP2, 0, make([]byte, 9), 4},
		{mysql.MYSQL_TYPE_TIME2, 3, make([]byte, 9), 5},
		{mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 2, make([]byte, 9), 2},
		{mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_SET)<<8 | 1, make([]byte, 9), 1},
		{mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_STRING)<<8 | 40, []byte{3, 'a', 'b', 'c'}, 4},
		{mysql.MYSQL_TYPE_VARCHAR, 300, []byte{2, 0, 'a', 'b'}, 4},
		{mysql.MYSQL_TYPE_BIT, 1<<8 | 1, make([]byte, 4), 2},
		{mysql.MYSQL_TYPE_BLOB, 2, []byte{1, 0, 'x'}, 3},
	}
	for _, c := range cases {
		got, err := valueLen(c.typ, c.meta, c.data)
		if err != nil || got != c.want {
			t.Errorf("valueLen(%d, %#x) = %d, %v; want %d", c.typ, c.meta, got, err, c.want)
		}
	}
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
}
