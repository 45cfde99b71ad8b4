package retention

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// The value of a record key is one source batch, encoded here (pebble keeps the bytes, their
// block checksums and the WAL's record checksums; this checksum covers the value once more
// end to end, so a record damaged anywhere between Append and Read is reported, never
// delivered):
//
//	crc32c (4, little endian, over the rest) | version (1) | appended at (varint ns) |
//	source position | tables | changes
//
// Strings and byte strings are a uvarint length and the bytes. A batch's table schemas are
// written once, and changes refer to them by index (0: none).

const codecVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt marks a record that fails its checksum or does not decode.
var ErrCorrupt = errors.New("retention: corrupt record")

type encoder struct {
	buf    []byte
	tables map[*change.Table]int
	order  []*change.Table
}

func (e *encoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) bytes(b []byte) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) uv(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) iv(v int64)  { e.buf = binary.AppendVarint(e.buf, v) }

func (e *encoder) ints(xs []int) {
	e.uv(uint64(len(xs)))
	for _, x := range xs {
		e.iv(int64(x))
	}
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.iv(t.Unix())
	e.uv(uint64(t.Nanosecond()))
}

func (e *encoder) values(vs []change.Value) {
	if vs == nil {
		e.uv(0)
		return
	}
	e.uv(uint64(len(vs)) + 1)
	for _, v := range vs {
		k, n, s := v.Raw()
		e.buf = append(e.buf, byte(k))
		e.uv(n)
		e.str(s)
	}
}

func (e *encoder) table(t *change.Table) {
	e.str(t.Tenant)
	e.str(t.Database)
	e.str(t.Name)
	e.uv(uint64(len(t.Columns)))
	for i := range t.Columns {
		c := &t.Columns[i]
		e.str(c.Name)
		e.str(c.Type)
		e.str(c.ColumnType)
		var flags byte
		if c.Nullable {
			flags |= 1
		}
		if c.Unsigned {
			flags |= 2
		}
		e.buf = append(e.buf, flags, byte(c.Generated))
		e.iv(c.Length)
		e.iv(int64(c.Precision))
		e.iv(int64(c.Scale))
		e.iv(int64(c.Fsp))
		e.str(c.Charset)
		e.uv(uint64(len(c.Elems)))
		for _, s := range c.Elems {
			e.str(s)
		}
	}
	e.ints(t.PrimaryKey)
	e.uv(uint64(len(t.UniqueKeys)))
	for _, k := range t.UniqueKeys {
		e.ints(k)
	}
	e.uv(t.Version)
}

// encodeBatch appends the record of one source batch to dst[:0] and returns it.
func encodeBatch(e *encoder, appended time.Time, src change.Position, changes []*change.Change) []byte {
	e.buf = append(e.buf[:0], 0, 0, 0, 0, codecVersion)
	e.iv(appended.UnixNano())
	e.bytes(src)
	if e.tables == nil {
		e.tables = make(map[*change.Table]int)
	}
	clear(e.tables)
	e.order = e.order[:0]
	for _, c := range changes {
		if c.Table != nil {
			if _, ok := e.tables[c.Table]; !ok {
				e.tables[c.Table] = len(e.order) + 1
				e.order = append(e.order, c.Table)
			}
		}
	}
	e.uv(uint64(len(e.order)))
	for _, t := range e.order {
		e.table(t)
	}
	e.uv(uint64(len(changes)))
	for _, c := range changes {
		e.str(c.ID)
		e.buf = append(e.buf, byte(c.Op))
		if c.Table != nil {
			e.uv(uint64(e.tables[c.Table]))
		} else {
			e.uv(0)
		}
		e.str(c.Database)
		e.str(c.TableName)
		e.values(c.Before)
		e.values(c.After)
		e.str(c.DDL)
		e.time(c.CommitTime)
		e.str(c.TxID)
		e.uv(uint64(c.TxSeq))
		e.uv(uint64(c.TxSize))
		e.bytes(c.Position)
		e.str(c.Topic)
		e.uv(uint64(len(c.Meta)))
		for k, v := range c.Meta {
			e.str(k)
			e.str(v)
		}
	}
	binary.LittleEndian.PutUint32(e.buf[:4], crc32.Checksum(e.buf[4:], castagnoli))
	return e.buf
}

// decoded is one record read back.
type decoded struct {
	appended time.Time
	src      change.Position
	changes  []*change.Change
}

type decoder struct {
	b   []byte
	err error
	// tables keeps one *Table per distinct schema across records, so that changes of one
	// schema share a pointer as they did when the source produced them (stages may cache by
	// it). Bounded: cleared when it grows past maxTables.
	tables map[string]*change.Table
}

const maxTables = 4096

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uv(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) iv(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) raw(what string) []byte {
	n := d.uv(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) str(what string) string { return string(d.raw(what)) }

func (d *decoder) count(what string) int {
	n := d.uv(what)
	if n > uint64(len(d.b))+1 { // every element takes at least one byte
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *decoder) ints(what string) []int {
	n := d.count(what)
	if n == 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = int(d.iv(what))
	}
	return out
}

func (d *decoder) time(what string) time.Time {
	if d.byte1(what) == 0 {
		return time.Time{}
	}
	sec := d.iv(what)
	nsec := d.uv(what)
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) values(what string) []change.Value {
	n := d.count(what)
	if n == 0 {
		return nil
	}
	out := make([]change.Value, n-1)
	for i := range out {
		k := change.Kind(d.byte1(what))
		v := d.uv(what)
		out[i] = change.FromRaw(k, v, d.str(what))
	}
	return out
}

func (d *decoder) table() *change.Table {
	start := d.b
	t := &change.Table{Tenant: d.str("table"), Database: d.str("table"), Name: d.str("table")}
	n := d.count("columns")
	if n > 0 {
		t.Columns = make([]change.Column, n)
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Name, c.Type, c.ColumnType = d.str("column"), d.str("column"), d.str("column")
		flags := d.byte1("column")
		c.Nullable, c.Unsigned = flags&1 != 0, flags&2 != 0
		c.Generated = change.Generated(d.byte1("column"))
		c.Length = d.iv("column")
		c.Precision, c.Scale, c.Fsp = int(d.iv("column")), int(d.iv("column")), int(d.iv("column"))
		c.Charset = d.str("column")
		if m := d.count("column"); m > 0 {
			c.Elems = make([]string, m)
			for j := range c.Elems {
				c.Elems[j] = d.str("column")
			}
		}
	}
	t.PrimaryKey = d.ints("key")
	if m := d.count("keys"); m > 0 {
		t.UniqueKeys = make([][]int, m)
		for j := range t.UniqueKeys {
			t.UniqueKeys[j] = d.ints("key")
		}
	}
	t.Version = d.uv("table")
	if d.err != nil {
		return nil
	}
	enc := string(start[:len(start)-len(d.b)])
	if old, ok := d.tables[enc]; ok {
		return old
	}
	if d.tables == nil || len(d.tables) >= maxTables {
		d.tables = make(map[string]*change.Table)
	}
	d.tables[enc] = t
	return t
}

// decodeBatch decodes a record value (which it does not keep).
func (d *decoder) decodeBatch(v []byte) (*decoded, error) {
	if len(v) < 5 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(v))
	}
	if got, want := crc32.Checksum(v[4:], castagnoli), binary.LittleEndian.Uint32(v[:4]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	if v[4] != codecVersion {
		return nil, fmt.Errorf("%w: version %d (this ferry reads %d)", ErrCorrupt, v[4], codecVersion)
	}
	// Strings are copied out (string conversions), so the value may be reused.
	d.b, d.err = v[5:], nil
	out := &decoded{}
	out.appended = time.Unix(0, d.iv("time")).UTC()
	if src := d.raw("position"); len(src) > 0 {
		out.src = append(change.Position(nil), src...)
	}
	nt := d.count("tables")
	tables := make([]*change.Table, nt)
	for i := range tables {
		tables[i] = d.table()
	}
	nc := d.count("changes")
	out.changes = make([]*change.Change, nc)
	for i := range out.changes {
		c := &change.Change{ID: d.str("change"), Op: change.Op(d.byte1("change"))}
		if ti := d.uv("change"); ti > 0 {
			if ti > uint64(len(tables)) {
				d.fail("table index")
				break
			}
			c.Table = tables[ti-1]
		}
		c.Database, c.TableName = d.str("change"), d.str("change")
		c.Before = d.values("before")
		c.After = d.values("after")
		c.DDL = d.str("ddl")
		c.CommitTime = d.time("commit time")
		c.TxID = d.str("tx")
		c.TxSeq, c.TxSize = uint32(d.uv("tx")), uint32(d.uv("tx"))
		if p := d.raw("position"); len(p) > 0 {
			c.Position = append(change.Position(nil), p...)
		}
		c.Topic = d.str("topic")
		if m := d.count("meta"); m > 0 {
			c.Meta = make(map[string]string, m)
			for j := 0; j < m; j++ {
				k := d.str("meta")
				c.Meta[k] = d.str("meta")
			}
		}
		out.changes[i] = c
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("length")
	}
	if d.err != nil {
		return nil, d.err
	}
	return out, nil
}
