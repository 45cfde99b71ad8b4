package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
)

// Conversions between the SDK's types and the wire messages. They run once per event on the
// hot path, so they use no reflection, allocate each message's changes and values in a few
// slabs, write row values as parallel arrays with one text buffer per message (Values), and
// otherwise do not copy strings: a message built by an encoder aliases the strings and bytes
// of what it was built from (it is only read, by proto.Marshal, before it is dropped), and
// what is decoded from a message aliases that message's byte fields (allocations made by
// proto.Unmarshal that nothing writes afterwards).

// bytesOf returns s's bytes without copying. The result must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf returns b as a string without copying. b must not be modified afterwards.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// maxStreamTables bounds the table definitions a stream direction remembers; past it both
// sides forget them all (reset_tables) and definitions are sent again when used.
const maxStreamTables = 1024

type tableKey struct {
	t       *change.Table
	version uint64
}

// tableEncoder assigns ids to the tables that the changes sent on one stream direction refer
// to, so that each schema is sent once. It is not safe for concurrent use: messages must be
// sent in the order they were encoded.
type tableEncoder struct {
	ids    map[tableKey]uint64
	next   uint64
	forced bool // the next message must reset: a message with definitions was lost
}

// begin starts a message; it reports whether the receiver must forget earlier definitions.
func (e *tableEncoder) begin() (reset bool) {
	if e.ids == nil {
		e.ids = make(map[tableKey]uint64)
	}
	if e.forced || len(e.ids) >= maxStreamTables {
		clear(e.ids)
		e.forced = false
		return true
	}
	return false
}

// forget is called when the message last encoded was not sent: the receiver may lack its
// definitions, so the next message resets the stream's tables.
func (e *tableEncoder) forget() { e.forced = true }

// ref returns t's id (0 for nil), appending its definition to defs when it is new.
func (e *tableEncoder) ref(t *change.Table, defs *[]*pb.Table) uint64 {
	if t == nil {
		return 0
	}
	k := tableKey{t, t.Version}
	if id, ok := e.ids[k]; ok {
		return id
	}
	e.next++
	e.ids[k] = e.next
	*defs = append(*defs, tableToPB(t, e.next))
	return e.next
}

// changes encodes changes, appending the definitions of new tables to defs and their row
// values to vals.
func (e *tableEncoder) changes(cs []*change.Change, defs *[]*pb.Table, vals *pb.Values) []*pb.Change {
	nv, nt := 0, 0
	for _, c := range cs {
		nv += len(c.Before) + len(c.After)
		nt += textSize(c.Before) + textSize(c.After)
	}
	vals.Kinds = slices.Grow(vals.Kinds, nv)
	vals.N = slices.Grow(vals.N, nv)
	vals.Sizes = slices.Grow(vals.Sizes, nv)
	vals.Text = slices.Grow(vals.Text, nt)
	msgs := make([]pb.Change, len(cs))
	out := make([]*pb.Change, len(cs))
	for i, c := range cs {
		m := &msgs[i]
		out[i] = m
		e.change(c, m, defs, vals)
	}
	return out
}

func textSize(vs []change.Value) int {
	n := 0
	for _, v := range vs {
		_, _, s := v.Raw()
		n += len(s)
	}
	return n
}

// change fills m from c and appends c's values to vals.
func (e *tableEncoder) change(c *change.Change, m *pb.Change, defs *[]*pb.Table, vals *pb.Values) {
	m.Id = bytesOf(c.ID)
	m.Op = uint32(c.Op)
	m.TableId = e.ref(c.Table, defs)
	if c.Table != nil && c.Database == c.Table.Database && c.TableName == c.Table.Name {
		m.NamesFromTable = true
	} else {
		m.Database = bytesOf(c.Database)
		m.TableName = bytesOf(c.TableName)
	}
	m.Before = appendValues(vals, c.Before)
	m.After = appendValues(vals, c.After)
	m.Ddl = bytesOf(c.DDL)
	m.CommitSec, m.CommitNsec = timeToPB(c.CommitTime)
	m.TxId = bytesOf(c.TxID)
	m.TxSeq = c.TxSeq
	m.TxSize = c.TxSize
	m.Position = c.Position
	m.Topic = bytesOf(c.Topic)
	if len(c.Meta) > 0 {
		props := make([]pb.Property, len(c.Meta))
		m.Meta = make([]*pb.Property, 0, len(c.Meta))
		for k, v := range c.Meta {
			p := &props[len(m.Meta)]
			p.Key, p.Value = bytesOf(k), bytesOf(v)
			m.Meta = append(m.Meta, p)
		}
	}
}

// appendValues appends a row image to vals and returns its length.
func appendValues(vals *pb.Values, row []change.Value) uint32 {
	for _, v := range row {
		k, n, s := v.Raw()
		vals.Kinds = append(vals.Kinds, byte(k))
		vals.N = append(vals.N, n)
		vals.Sizes = append(vals.Sizes, uint32(len(s)))
		vals.Text = append(vals.Text, s...)
	}
	return uint32(len(row))
}

func timeToPB(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

func timeFromPB(sec int64, nsec int32) time.Time { return time.Unix(sec, int64(nsec)).UTC() }

func tableToPB(t *change.Table, id uint64) *pb.Table {
	m := &pb.Table{
		Id:         id,
		Tenant:     t.Tenant,
		Database:   t.Database,
		Name:       t.Name,
		Columns:    make([]*pb.Column, len(t.Columns)),
		PrimaryKey: indexesToPB(t.PrimaryKey),
		Version:    t.Version,
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		m.Columns[i] = &pb.Column{
			Name: c.Name, Type: c.Type, ColumnType: c.ColumnType, Nullable: c.Nullable,
			Unsigned: c.Unsigned, Length: c.Length, Precision: int32(c.Precision),
			Scale: int32(c.Scale), Fsp: int32(c.Fsp), Charset: c.Charset, Elems: c.Elems,
			Generated: uint32(c.Generated),
		}
	}
	if t.UniqueKeys != nil {
		m.UniqueKeys = make([]*pb.Key, len(t.UniqueKeys))
		for i, uk := range t.UniqueKeys {
			m.UniqueKeys[i] = &pb.Key{Columns: indexesToPB(uk)}
		}
	}
	return m
}

func indexesToPB(idx []int) []uint32 {
	if idx == nil {
		return nil
	}
	out := make([]uint32, len(idx))
	for i, v := range idx {
		out[i] = uint32(v)
	}
	return out
}

func indexesFromPB(idx []uint32) []int {
	if idx == nil {
		return nil
	}
	out := make([]int, len(idx))
	for i, v := range idx {
		out[i] = int(v)
	}
	return out
}

func tableFromPB(m *pb.Table) *change.Table {
	t := &change.Table{
		Tenant:     m.Tenant,
		Database:   m.Database,
		Name:       m.Name,
		Columns:    make([]change.Column, len(m.Columns)),
		PrimaryKey: indexesFromPB(m.PrimaryKey),
		Version:    m.Version,
	}
	for i, c := range m.Columns {
		t.Columns[i] = change.Column{
			Name: c.Name, Type: c.Type, ColumnType: c.ColumnType, Nullable: c.Nullable,
			Unsigned: c.Unsigned, Length: c.Length, Precision: int(c.Precision),
			Scale: int(c.Scale), Fsp: int(c.Fsp), Charset: c.Charset, Elems: c.Elems,
			Generated: change.Generated(c.Generated),
		}
	}
	if m.UniqueKeys != nil {
		t.UniqueKeys = make([][]int, len(m.UniqueKeys))
		for i, uk := range m.UniqueKeys {
			t.UniqueKeys[i] = indexesFromPB(uk.Columns)
		}
	}
	return t
}

// tableDecoder resolves the table ids of one stream direction. Not safe for concurrent use:
// messages must be decoded in the order they were received.
type tableDecoder struct {
	tables map[uint64]*change.Table
}

// define records a message's table definitions.
func (d *tableDecoder) define(defs []*pb.Table, reset bool) {
	if d.tables == nil {
		d.tables = make(map[uint64]*change.Table)
	}
	if reset {
		clear(d.tables)
	}
	for _, m := range defs {
		d.tables[m.Id] = tableFromPB(m)
	}
}

func (d *tableDecoder) table(id uint64) (*change.Table, error) {
	if id == 0 {
		return nil, nil
	}
	t, ok := d.tables[id]
	if !ok {
		return nil, fmt.Errorf("protocol error: change refers to undefined table %d", id)
	}
	return t, nil
}

// changes decodes changes whose tables were defined and whose values are in vals.
func (d *tableDecoder) changes(ms []*pb.Change, vals *pb.Values) ([]*change.Change, error) {
	nv := 0
	for _, m := range ms {
		nv += int(m.Before) + int(m.After)
	}
	r, err := newValueReader(vals, nv)
	if err != nil {
		return nil, err
	}
	cs := make([]change.Change, len(ms))
	out := make([]*change.Change, len(ms))
	slab := make([]change.Value, nv)
	for i, m := range ms {
		c := &cs[i]
		out[i] = c
		if err := d.change(m, c, &r, &slab); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *tableDecoder) change(m *pb.Change, c *change.Change, r *valueReader, slab *[]change.Value) error {
	t, err := d.table(m.TableId)
	if err != nil {
		return err
	}
	c.ID = stringOf(m.Id)
	c.Op = change.Op(m.Op)
	c.Table = t
	if m.NamesFromTable && t != nil {
		c.Database, c.TableName = t.Database, t.Name
	} else {
		c.Database, c.TableName = stringOf(m.Database), stringOf(m.TableName)
	}
	if c.Before, err = r.read(m.Before, slab); err != nil {
		return err
	}
	if c.After, err = r.read(m.After, slab); err != nil {
		return err
	}
	c.DDL = stringOf(m.Ddl)
	c.CommitTime = timeFromPB(m.CommitSec, m.CommitNsec)
	c.TxID = stringOf(m.TxId)
	c.TxSeq = m.TxSeq
	c.TxSize = m.TxSize
	c.Position = m.Position
	c.Topic = stringOf(m.Topic)
	if len(m.Meta) > 0 {
		c.Meta = make(map[string]string, len(m.Meta))
		for _, p := range m.Meta {
			c.Meta[stringOf(p.Key)] = stringOf(p.Value)
		}
	}
	return nil
}

// valueReader reads the values of a Values message in order. Decoded text aliases
// vals.Text.
type valueReader struct {
	vals *pb.Values
	next int // index of the next value
	off  int // offset of its text
}

// newValueReader checks that vals holds (at least) n consistent values.
func newValueReader(vals *pb.Values, n int) (valueReader, error) {
	if n == 0 {
		return valueReader{}, nil
	}
	if vals == nil || len(vals.Kinds) < n || len(vals.N) < n || len(vals.Sizes) < n {
		return valueReader{}, errors.New("protocol error: fewer values than the changes have")
	}
	total := 0
	for _, sz := range vals.Sizes[:n] {
		total += int(sz)
	}
	if total > len(vals.Text) {
		return valueReader{}, errors.New("protocol error: value text is short")
	}
	return valueReader{vals: vals}, nil
}

// read takes n values, from the front of *slab; the result's capacity is its length, so
// appending to it cannot overwrite the next row. n == 0 gives nil.
func (r *valueReader) read(n uint32, slab *[]change.Value) ([]change.Value, error) {
	if n == 0 {
		return nil, nil
	}
	if int(n) > len(*slab) {
		return nil, errors.New("protocol error: more values than announced")
	}
	out := (*slab)[:n:n]
	*slab = (*slab)[n:]
	v := r.vals
	for i := range out {
		j := r.next + i
		end := r.off + int(v.Sizes[j])
		out[i] = change.FromRaw(change.Kind(v.Kinds[j]), v.N[j], stringOf(v.Text[r.off:end:end]))
		r.off = end
	}
	r.next += int(n)
	return out, nil
}

// skip advances past n values.
func (r *valueReader) skip(n uint32) {
	for _, sz := range r.vals.Sizes[r.next : r.next+int(n)] {
		r.off += int(sz)
	}
	r.next += int(n)
}

// sameChange reports whether c still equals the message it was decoded from (t being the
// table m refers to, and r positioned at m's values), so that a filter's reply can name it by
// index instead of sending it. r is advanced past m's values.
func sameChange(c *change.Change, m *pb.Change, t *change.Table, r *valueReader) bool {
	same := sameValues(c.Before, r, m.Before)
	same = sameValues(c.After, r, m.After) && same
	db, name := string(m.Database), string(m.TableName)
	if m.NamesFromTable && t != nil {
		db, name = t.Database, t.Name
	}
	if !same || c.ID != string(m.Id) || uint32(c.Op) != m.Op || c.Table != t ||
		c.Database != db || c.TableName != name ||
		c.DDL != string(m.Ddl) || c.TxID != string(m.TxId) || c.TxSeq != m.TxSeq ||
		c.TxSize != m.TxSize || c.Topic != string(m.Topic) ||
		!bytes.Equal(c.Position, m.Position) || len(c.Meta) != len(m.Meta) {
		return false
	}
	if sec, nsec := timeToPB(c.CommitTime); sec != m.CommitSec || nsec != m.CommitNsec {
		return false
	}
	for _, p := range m.Meta {
		if v, ok := c.Meta[string(p.Key)]; !ok || v != string(p.Value) {
			return false
		}
	}
	return true
}

// sameValues compares vs with the next n values of r, and advances r past them.
func sameValues(vs []change.Value, r *valueReader, n uint32) bool {
	v := r.vals
	same := len(vs) == int(n)
	for i := 0; i < int(n); i++ {
		j := r.next + i
		end := r.off + int(v.Sizes[j])
		if same {
			k, num, s := vs[i].Raw()
			same = byte(k) == v.Kinds[j] && num == v.N[j] && s == string(v.Text[r.off:end])
		}
		r.off = end
	}
	r.next += int(n)
	return same
}

// recordsToPB encodes records.
func recordsToPB(rs []sdk.Record) []*pb.Record {
	np := 0
	for i := range rs {
		np += len(rs[i].Properties)
	}
	msgs := make([]pb.Record, len(rs))
	out := make([]*pb.Record, len(rs))
	props := make([]pb.Property, np)
	pptrs := make([]*pb.Property, np)
	for i := range pptrs {
		pptrs[i] = &props[i]
	}
	for i := range rs {
		r := &rs[i]
		m := &msgs[i]
		out[i] = m
		m.Change = uint32(r.Change)
		m.Topic = bytesOf(r.Topic)
		m.Key = bytesOf(r.Key)
		m.Value = r.Body() // whole: a plugin's records carry no Head
		if len(r.Properties) > 0 {
			m.Properties = pptrs[:len(r.Properties):len(r.Properties)]
			pptrs = pptrs[len(r.Properties):]
			for j, p := range r.Properties {
				m.Properties[j].Key = bytesOf(p.Key)
				m.Properties[j].Value = bytesOf(p.Value)
			}
		}
		m.Hash = r.Hash
		m.ChangeId = bytesOf(r.ChangeID)
		m.Op = uint32(r.Op)
		m.Database = bytesOf(r.Database)
		m.Table = bytesOf(r.Table)
		m.CommitSec, m.CommitNsec = timeToPB(r.CommitTime)
		m.Position = r.Position
	}
	return out
}

// recordsFromPB appends the decoded records to out.
func recordsFromPB(ms []*pb.Record, out []sdk.Record) []sdk.Record {
	np := 0
	for _, m := range ms {
		np += len(m.Properties)
	}
	props := make([]sdk.Property, np)
	out = growRecords(out, len(ms))
	base := len(out)
	out = out[:base+len(ms)]
	for i, m := range ms {
		r := &out[base+i]
		*r = sdk.Record{
			Change:     int(m.Change),
			Topic:      stringOf(m.Topic),
			Key:        stringOf(m.Key),
			Value:      m.Value,
			Hash:       m.Hash,
			ChangeID:   stringOf(m.ChangeId),
			Op:         change.Op(m.Op),
			Database:   stringOf(m.Database),
			Table:      stringOf(m.Table),
			CommitTime: timeFromPB(m.CommitSec, m.CommitNsec),
			Position:   m.Position,
		}
		if len(m.Properties) > 0 {
			r.Properties = props[:len(m.Properties):len(m.Properties)]
			props = props[len(m.Properties):]
			for j, p := range m.Properties {
				r.Properties[j] = sdk.Property{Key: stringOf(p.Key), Value: stringOf(p.Value)}
			}
		}
	}
	return out
}

func growRecords(rs []sdk.Record, n int) []sdk.Record {
	if cap(rs)-len(rs) >= n {
		return rs
	}
	grown := make([]sdk.Record, len(rs), len(rs)+n)
	copy(grown, rs)
	return grown
}
