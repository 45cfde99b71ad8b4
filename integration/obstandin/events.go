package obstandin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Event encoding in the shape the OceanBase Binlog Service writes (oblogproxy
// src/binlog/binlog_converter/binlog_convert.cpp): v4 headers, CRC32 checksums, MySQL 5.7
// post-header lengths, v2 rows events, TABLE_MAP without optional metadata.

const (
	headerSize = replication.EventHeaderSize // 19
	// fdeServerVersion is what the format description names (the handshake's version).
	fdeServerVersion = "5.7.35-obs"
	// artificialFlag marks events that are not in the file (fake ROTATE, heartbeats).
	artificialFlag = 0x20
	stmtEndFlag    = 0x0001
)

// postHeaderLens are MySQL 5.7's post-header lengths, by event type - 1 (38 types).
var postHeaderLens = []byte{
	56, 13, 0, 8, 0, 18, 0, 4, 4, 4, 4, 18, 0, 0, 95, 0, 4, 26, 8, 0,
	0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 42, 42, 0, 18, 52, 0,
}

// rawEvent is an event without its final header fields: the store fills in size, log
// position and checksum when it appends the event to a file.
type rawEvent struct {
	typ   replication.EventType
	ts    uint32
	flags uint16
	body  []byte
}

// finish builds the complete event (header, body, CRC32) ending at endPos when written at
// offset endPos-size. With crc=false no checksum is appended.
func (e rawEvent) finish(serverID uint32, startPos uint32, crc bool) []byte {
	size := headerSize + len(e.body)
	if crc {
		size += 4
	}
	b := make([]byte, headerSize, size)
	binary.LittleEndian.PutUint32(b[0:], e.ts)
	b[4] = byte(e.typ)
	binary.LittleEndian.PutUint32(b[5:], serverID)
	binary.LittleEndian.PutUint32(b[9:], uint32(size))
	if startPos == 0 && e.flags&artificialFlag != 0 {
		binary.LittleEndian.PutUint32(b[13:], 0)
	} else {
		binary.LittleEndian.PutUint32(b[13:], startPos+uint32(size))
	}
	binary.LittleEndian.PutUint16(b[17:], e.flags)
	b = append(b, e.body...)
	if crc {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// withoutChecksum returns a stored (CRC32) event as sent to a client that asked for
// @master_binlog_checksum='NONE': no trailing checksum, and a format description that says OFF.
func withoutChecksum(ev []byte) []byte {
	out := append([]byte(nil), ev[:len(ev)-4]...)
	binary.LittleEndian.PutUint32(out[9:], uint32(len(out)))
	if replication.EventType(out[4]) == replication.FORMAT_DESCRIPTION_EVENT {
		out[len(out)-1] = byte(replication.BINLOG_CHECKSUM_ALG_OFF)
	}
	return out
}

func fdeEvent(ts uint32) rawEvent {
	b := binary.LittleEndian.AppendUint16(nil, 4)
	ver := make([]byte, 50)
	copy(ver, fdeServerVersion)
	b = append(b, ver...)
	b = binary.LittleEndian.AppendUint32(b, ts)
	b = append(b, headerSize)
	b = append(b, postHeaderLens...)
	b = append(b, byte(replication.BINLOG_CHECKSUM_ALG_CRC32))
	return rawEvent{typ: replication.FORMAT_DESCRIPTION_EVENT, ts: ts, body: b}
}

func previousGTIDsEvent(ts uint32, set *mysql.MysqlGTIDSet) rawEvent {
	return rawEvent{typ: replication.PREVIOUS_GTIDS_EVENT, ts: ts, body: set.Encode()}
}

func gtidEvent(ts uint32, sid [16]byte, gno int64, lastCommitted, seq int64) rawEvent {
	b := []byte{1} // commit flag
	b = append(b, sid[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2) // logical timestamps follow
	b = binary.LittleEndian.AppendUint64(b, uint64(lastCommitted))
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	return rawEvent{typ: replication.GTID_EVENT, ts: ts, body: b}
}

// queryEvent is a QUERY (BEGIN or DDL) with the status vars binlog_convert.cpp writes
// (2d1e503, 350-620): Q_FLAGS2_CODE 0, and Q_CHARSET_CODE with character_set_client and
// collation_connection 45 (utf8mb4_general_ci) and collation_server 83 (utf8mb3_bin). A reader
// decodes the statement by that charset (Canal does: without it, it reads the text as
// ISO-8859-1).
func queryEvent(ts uint32, schema, q string) rawEvent {
	status := []byte{0, 0, 0, 0, 0, 4, 45, 0, 45, 0, 83, 0} // Q_FLAGS2_CODE, Q_CHARSET_CODE
	b := make([]byte, 13)                                   // thread id, exec time, db len, error code, status vars len
	b[8] = byte(len(schema))
	binary.LittleEndian.PutUint16(b[11:], uint16(len(status)))
	b = append(b, status...)
	b = append(b, schema...)
	b = append(b, 0)
	b = append(b, q...)
	return rawEvent{typ: replication.QUERY_EVENT, ts: ts, body: b}
}

func xidEvent(ts uint32, xid uint64) rawEvent {
	return rawEvent{typ: replication.XID_EVENT, ts: ts, body: binary.LittleEndian.AppendUint64(nil, xid)}
}

func rotateEvent(ts uint32, next string, pos uint64, artificial bool) rawEvent {
	b := binary.LittleEndian.AppendUint64(nil, pos)
	b = append(b, next...)
	e := rawEvent{typ: replication.ROTATE_EVENT, ts: ts, body: b}
	if artificial {
		e.flags = artificialFlag
	}
	return e
}

func heartbeatEvent(file string) rawEvent {
	return rawEvent{typ: replication.HEARTBEAT_EVENT, flags: artificialFlag, body: []byte(file)}
}

// column is one column of a table as the converter writes it.
type column struct {
	typ  byte   // binlog type code as read from MariaDB
	meta uint16 // as go-mysql decodes it
	// conversions (from information_schema)
	floatToDouble bool // FLOAT with declared precision > 24
	textToJSON    bool // MariaDB JSON (LONGTEXT + json_valid check)
}

func (c column) outType() (byte, uint16) {
	switch {
	case c.floatToDouble && c.typ == mysql.MYSQL_TYPE_FLOAT:
		return mysql.MYSQL_TYPE_DOUBLE, 8
	case c.textToJSON && c.typ == mysql.MYSQL_TYPE_BLOB:
		return mysql.MYSQL_TYPE_JSON, 4
	}
	return c.typ, c.meta
}

func appendMeta(b []byte, typ byte, meta uint16) []byte {
	switch typ {
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_NEWDECIMAL:
		return append(b, byte(meta>>8), byte(meta))
	case mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_BIT:
		return binary.LittleEndian.AppendUint16(b, meta)
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_GEOMETRY,
		mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		return append(b, byte(meta))
	}
	return b
}

// table is a TABLE_MAP as read from MariaDB plus the conversions of its columns.
type table struct {
	id         uint64
	schema     string
	name       string
	cols       []column
	nullBitmap []byte
}

// tableMapEvent writes the TABLE_MAP: type codes, type metadata and null bits, no optional
// metadata (binlog_convert.cpp 1104-1131).
func (t *table) tableMapEvent(ts uint32) rawEvent {
	b := make([]byte, 6)
	putUint48(b, t.id)
	b = append(b, 1, 0) // flags
	b = append(b, byte(len(t.schema)))
	b = append(b, t.schema...)
	b = append(b, 0, byte(len(t.name)))
	b = append(b, t.name...)
	b = append(b, 0)
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(t.cols)))
	var meta []byte
	for _, c := range t.cols {
		typ, m := c.outType()
		b = append(b, typ)
		meta = appendMeta(meta, typ, m)
	}
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(meta)))
	b = append(b, meta...)
	b = append(b, t.nullBitmap...)
	return rawEvent{typ: replication.TABLE_MAP_EVENT, ts: ts, body: b}
}

func putUint48(b []byte, v uint64) {
	for i := 0; i < 6; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

func decimalSize(prec, scale int) int {
	intg := prec - scale
	return intg/9*4 + dig2bytes[intg%9] + scale/9*4 + dig2bytes[scale%9]
}

// valueLen is the size in a row image of one non-NULL value of the column.
func valueLen(typ byte, meta uint16, data []byte) (int, error) {
	need := func(n int) (int, error) {
		if n > len(data) {
			return 0, fmt.Errorf("row image too short for type %d", typ)
		}
		return n, nil
	}
	prefixed := func(lenBytes int) (int, error) {
		if lenBytes > len(data) {
			return 0, fmt.Errorf("row image too short for type %d", typ)
		}
		var n int
		for i := lenBytes - 1; i >= 0; i-- {
			n = n<<8 | int(data[i])
		}
		return need(lenBytes + n)
	}
	switch typ {
	case mysql.MYSQL_TYPE_NULL:
		return 0, nil
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_YEAR:
		return need(1)
	case mysql.MYSQL_TYPE_SHORT:
		return need(2)
	case mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_TIME:
		return need(3)
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_TIMESTAMP:
		return need(4)
	case mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_DATETIME:
		return need(8)
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return need(decimalSize(int(meta>>8), int(meta&0xff)))
	case mysql.MYSQL_TYPE_BIT:
		nbits := int(meta>>8)*8 + int(meta&0xff)
		return need((nbits + 7) / 8)
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return need(4 + (int(meta)+1)/2)
	case mysql.MYSQL_TYPE_DATETIME2:
		return need(5 + (int(meta)+1)/2)
	case mysql.MYSQL_TYPE_TIME2:
		return need(3 + (int(meta)+1)/2)
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		if meta < 256 {
			return prefixed(1)
		}
		return prefixed(2)
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_JSON:
		return prefixed(int(meta))
	case mysql.MYSQL_TYPE_STRING:
		length := int(meta)
		tp := byte(mysql.MYSQL_TYPE_STRING)
		if meta >= 256 {
			b0, b1 := byte(meta>>8), byte(meta)
			if b0&0x30 != 0x30 {
				length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				tp = b0 | 0x30
			} else {
				length = int(b1)
				tp = b0
			}
		}
		switch tp {
		case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
			return need(int(meta & 0xff))
		}
		if length < 256 {
			return prefixed(1)
		}
		return prefixed(2)
	}
	return 0, fmt.Errorf("unsupported column type %d in row image", typ)
}

func bitCount(bm []byte, n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if bm[i/8]&(1<<(i%8)) != 0 {
			c++
		}
	}
	return c
}

// image is one row image: its null bitmap and values, converted.
type rowsBody struct {
	present1, present2 []byte
	images             [][]byte // per row: one (write/delete) or two (update) converted images
}

// splitRows splits a MariaDB (v1) rows event body into rows and converts each image.
// update says whether images come in before/after pairs.
func (t *table) splitRows(body []byte, v2 bool, update bool) (*rowsBody, error) {
	pos := 8 // table id (6) + flags (2)
	if v2 {
		if len(body) < pos+2 {
			return nil, errors.New("short rows event")
		}
		pos += int(binary.LittleEndian.Uint16(body[pos:]))
	}
	n, _, k := mysql.LengthEncodedInt(body[pos:])
	pos += k
	if int(n) != len(t.cols) {
		return nil, fmt.Errorf("rows event of %s.%s has %d columns, table map %d", t.schema, t.name, n, len(t.cols))
	}
	bml := (int(n) + 7) / 8
	rb := &rowsBody{present1: body[pos : pos+bml]}
	pos += bml
	rb.present2 = rb.present1
	if update {
		rb.present2 = body[pos : pos+bml]
		pos += bml
	}
	for pos < len(body) {
		img, m, err := t.convertImage(body[pos:], rb.present1)
		if err != nil {
			return nil, err
		}
		pos += m
		rb.images = append(rb.images, img)
		if update {
			img, m, err := t.convertImage(body[pos:], rb.present2)
			if err != nil {
				return nil, err
			}
			pos += m
			rb.images = append(rb.images, img)
		}
	}
	return rb, nil
}

// convertImage reads one row image from data and returns it converted, and its input size.
func (t *table) convertImage(data []byte, present []byte) ([]byte, int, error) {
	cnt := bitCount(present, len(t.cols))
	nbl := (cnt + 7) / 8
	if len(data) < nbl {
		return nil, 0, errors.New("short row image")
	}
	nulls := data[:nbl]
	out := append([]byte(nil), nulls...)
	pos := nbl
	idx := 0
	for i, c := range t.cols {
		if present[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		isNull := nulls[idx/8]&(1<<(idx%8)) != 0
		idx++
		if isNull {
			continue
		}
		l, err := valueLen(c.typ, c.meta, data[pos:])
		if err != nil {
			return nil, 0, fmt.Errorf("%s.%s column %d: %w", t.schema, t.name, i+1, err)
		}
		v := data[pos : pos+l]
		pos += l
		switch {
		case c.floatToDouble && c.typ == mysql.MYSQL_TYPE_FLOAT:
			f := math.Float32frombits(binary.LittleEndian.Uint32(v))
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(float64(f)))
		case c.textToJSON && c.typ == mysql.MYSQL_TYPE_BLOB:
			lb := int(c.meta)
			text := v[lb:]
			j, err := JSONTextToBinary(text)
			if err != nil {
				return nil, 0, fmt.Errorf("%s.%s column %d: JSON: %w", t.schema, t.name, i+1, err)
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(len(j)))
			out = append(out, j...)
		default:
			out = append(out, v...)
		}
	}
	return out, pos, nil
}

// rowsEvent writes one v2 rows event (types 30/31/32) holding one row.
func (t *table) rowsEvent(ts uint32, typ replication.EventType, rb *rowsBody, images [][]byte) rawEvent {
	b := make([]byte, 6)
	putUint48(b, t.id)
	b = binary.LittleEndian.AppendUint16(b, stmtEndFlag)
	b = binary.LittleEndian.AppendUint16(b, 2) // extra data: none
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(t.cols)))
	b = append(b, rb.present1...)
	if typ == replication.UPDATE_ROWS_EVENTv2 {
		b = append(b, rb.present2...)
	}
	for _, img := range images {
		b = append(b, img...)
	}
	return rawEvent{typ: typ, ts: ts, body: b}
}
