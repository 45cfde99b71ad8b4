// Package canal is the "canal" serializer: Alibaba Canal's flat message (the JSON that
// Canal's FlatMessage class and Flink's canal-json format read), one row per message, as
// Canal 1.1.7's MQ producers write it (fastjson2 with WriteNulls: members in alphabetical
// order, nulls written).
//
//	{"data":[{"id":"1","name":"new"}],"database":"shop","es":1700000000000,"gtid":"","id":12,
//	 "isDdl":false,"mysqlType":{"id":"int(11)","name":"varchar(32)"},"old":[{"name":"old"}],
//	 "pkNames":["id"],"sql":"","sqlType":{"id":4,"name":12},"table":"orders",
//	 "ts":1700000000123,"type":"UPDATE"}
//
// Snapshot rows and inserts are INSERT; DDL is CREATE, ALTER, ERASE, TRUNCATE, RENAME,
// CINDEX, DINDEX or QUERY with isDdl true and the statement in sql; heartbeats give no
// record. Values are strings as Canal's binlog parser (LogEventConvert) writes them: binary
// data as ISO-8859-1 text, BIT as its unsigned integer, ENUM as its index and SET as its bit
// mask (enum_set = "text" writes the member names), FLOAT and DOUBLE in Java's
// Float.toString / Double.toString form. sqlType follows LogEventConvert too, value by value
// (an UNSIGNED integer is promoted only when its value does not fit the signed type). See
// docs/formats.md.
package canal

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/javafmt"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Name is the plugin's name.
const Name = "canal"

// Serializer is the "canal" serializer. It is safe for concurrent use.
type Serializer struct {
	tables *fmtkit.Cache[*table]
	hooks  fmtkit.Hooks // build time (ts) and batch id (id)
	opts   Options
	// sizer sizes each batch's buffer by what the previous ones needed.
	sizer fmtkit.Sizer
}

// Options are the format's settings.
type Options struct {
	// EnumSet is how ENUM and SET values are written: "number" (the ENUM index and the SET
	// bit mask, as Canal 1.1.7) or "text" (the member names).
	EnumSet string `json:"enum_set"`
}

// Values of Options.EnumSet.
const (
	EnumSetNumber = "number"
	EnumSetText   = "text"
)

// New returns the "canal" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *Serializer {
	return &Serializer{tables: fmtkit.NewCache(buildTable), opts: defaults()}
}

// defaults is the configuration with every attribute at its Spec default (the defaults are
// written once, in Spec).
func defaults() Options {
	var o Options
	if err := (*Serializer)(nil).Spec().DecodeDefaults(&o); err != nil {
		panic(err) // the Spec's own defaults: TestDefaultsFromSpec proves they decode
	}
	return o
}

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info {
	return sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: "0.1.0",
		Summary: "Alibaba Canal flat message JSON (FlatMessage, Flink canal-json), one row per message."}
}

// Spec declares the configuration.
func (s *Serializer) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "enum_set", Type: sdk.TypeString, Default: EnumSetNumber, Enum: []string{EnumSetNumber, EnumSetText},
			Doc: `ENUM and SET values: number (the ENUM's 1-based index and the SET's bit mask as decimal text, "2", "5", as Canal 1.1.7's binlog parser sends them) or text (the member names, "paid", "a,c").`},
	}}
}

// Configure decodes and checks the configuration.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	o := defaults()
	if err := c.Decode(&o); err != nil {
		return err
	}
	switch o.EnumSet {
	case EnumSetNumber, EnumSetText:
	default:
		return &sdk.AttributeError{Attribute: "enum_set", Summary: "unknown mode " + strconv.Quote(o.EnumSet),
			Detail: `use "number" or "text"`}
	}
	s.opts = o
	return nil
}

type table struct {
	cols              []fmtkit.Col
	db, name, pkNames []byte
	// types holds each column's sqlType for a non-NULL value, and nullTypes for NULL;
	// dynamic lists the columns whose code depends on the value (UNSIGNED integers), for
	// which the row's value decides. sqlType is `"sqlType":{...}` when no column's code
	// varies (nothing dynamic, no NULL-dependent code), else nil.
	types, nullTypes []int
	dynamic          bool
	sqlType          []byte
	// mysqlType is `"mysqlType":{...}`.
	mysqlType []byte
}

func buildTable(t *change.Table) *table {
	tb := &table{cols: fmtkit.Cols(t)}
	tb.db = jsonw.AppendString(nil, t.Database)
	tb.name = jsonw.AppendString(nil, t.Name)
	// pkNames: the primary-key columns in column order (Canal adds a column's name when its
	// isKey is set, walking the row's columns)
	var pk []byte
	for i := range t.Columns {
		if !slices.Contains(t.PrimaryKey, i) {
			continue
		}
		if pk == nil {
			pk = append(pk, '[')
		} else {
			pk = append(pk, ',')
		}
		pk = jsonw.AppendString(pk, t.Columns[i].Name)
	}
	if pk == nil {
		tb.pkNames = []byte("null")
	} else {
		tb.pkNames = append(pk, ']')
	}
	tb.types = make([]int, len(tb.cols))
	tb.nullTypes = make([]int, len(tb.cols))
	varies := false
	for i := range tb.cols {
		c := tb.cols[i].Column
		tb.types[i], tb.nullTypes[i] = SQLType(c), nullSQLType(c)
		if promotable(c) {
			tb.dynamic = true
		}
		if tb.types[i] != tb.nullTypes[i] {
			varies = true
		}
	}
	if !tb.dynamic && !varies {
		tb.sqlType = appendSQLType(nil, tb, nil)
	}
	b := []byte(`"mysqlType":{`)
	for i, c := range tb.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.Name...)
		b = append(b, ':')
		ct := c.ColumnType
		if ct == "" {
			ct = strings.ToLower(c.Type)
		}
		b = jsonw.AppendString(b, ct)
	}
	tb.mysqlType = append(b, '}')
	return tb
}

// appendSQLType appends `"sqlType":{...}` for row (nil: the non-NULL codes).
func appendSQLType(b []byte, tb *table, row []change.Value) []byte {
	b = append(b, `"sqlType":{`...)
	for i := range tb.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, tb.cols[i].Name...)
		b = append(b, ':')
		code := tb.types[i]
		if row != nil {
			code = valueSQLType(tb.cols[i].Column, code, tb.nullTypes[i], at(row, i))
		}
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, '}')
}

func at(row []change.Value, i int) change.Value {
	if i < len(row) {
		return row[i]
	}
	return change.Null
}

// java.sql.Types codes.
const (
	typeBit       = -7
	typeTinyint   = -6
	typeBigint    = -5
	typeChar      = 1
	typeDecimal   = 3
	typeInteger   = 4
	typeSmallint  = 5
	typeReal      = 7
	typeDouble    = 8
	typeVarchar   = 12
	typeDate      = 91
	typeTime      = 92
	typeTimestamp = 93
	typeOther     = 1111
	typeBlob      = 2004
	typeClob      = 2005
)

// SQLType returns the java.sql.Types code Canal's LogEventConvert gives a non-NULL value of
// the column, before the promotion of UNSIGNED integers (see valueSQLType): the code of the
// column's binlog type (TINYINT -6, SMALLINT 5, MEDIUMINT and INT 4, BIGINT -5, FLOAT 7,
// DOUBLE 8, DECIMAL 3, CHAR 1, VARCHAR, YEAR and MySQL JSON 12, DATE 91, TIME 92, DATETIME
// and TIMESTAMP 93, ENUM 4, SET and BIT -7), binary strings, BLOBs and spatial types BLOB
// 2004, the TEXT family (MariaDB's JSON, a LONGTEXT, included) CLOB 2005.
func SQLType(c *change.Column) int {
	t := strings.ToUpper(c.Type)
	switch t {
	case "TINYINT", "BOOL", "BOOLEAN":
		return typeTinyint
	case "SMALLINT":
		return typeSmallint
	case "MEDIUMINT", "INT", "INTEGER":
		return typeInteger
	case "BIGINT":
		return typeBigint
	case "FLOAT":
		return typeReal
	case "DOUBLE", "REAL":
		return typeDouble
	case "DECIMAL", "NUMERIC":
		return typeDecimal
	case "CHAR":
		return typeChar
	case "VARCHAR", "YEAR":
		return typeVarchar
	case "JSON":
		if isMariaDBJSON(c) {
			return typeClob
		}
		return typeVarchar
	case "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT":
		return typeClob
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB":
		return typeBlob
	case "DATE":
		return typeDate
	case "TIME":
		return typeTime
	case "DATETIME", "TIMESTAMP":
		return typeTimestamp
	case "ENUM":
		return typeInteger
	case "SET", "BIT":
		return typeBit
	case "GEOMETRY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "GEOMCOLLECTION":
		return typeBlob
	}
	return typeVarchar
}

// nullSQLType is the code Canal gives a NULL of the column: the binlog type's code without
// a value (RowsLogBuffer.mysqlToJavaType), binary ones made BLOB or CLOB as for values. It
// differs from SQLType for SET (BINARY, made BLOB 2004) and MySQL's JSON (no mapping: OTHER
// 1111).
func nullSQLType(c *change.Column) int {
	switch strings.ToUpper(c.Type) {
	case "SET":
		return typeBlob
	case "JSON":
		if isMariaDBJSON(c) {
			return typeClob
		}
		return typeOther
	}
	return SQLType(c)
}

// isMariaDBJSON reports a MariaDB JSON column: a LONGTEXT with a json_valid check, which
// the source names JSON while its column type stays "longtext".
func isMariaDBJSON(c *change.Column) bool {
	return strings.HasPrefix(strings.ToLower(c.ColumnType), "longtext")
}

// promotable reports an UNSIGNED integer column whose code depends on the value.
func promotable(c *change.Column) bool {
	if !c.Unsigned {
		return false
	}
	switch strings.ToUpper(c.Type) {
	case "TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT":
		return true
	}
	return false // MEDIUMINT UNSIGNED stays INTEGER whatever its value
}

// valueSQLType returns the code of one value: NULL's code for NULL; for an UNSIGNED
// TINYINT, SMALLINT, INT or BIGINT whose value does not fit the signed type (Canal reads it
// as a negative number and corrects it), the next wider code (SMALLINT 5, INTEGER 4, BIGINT
// -5, DECIMAL 3), as LogEventConvert does; else the column's code.
func valueSQLType(c *change.Column, code, nullCode int, v change.Value) int {
	if v.IsNull() {
		return nullCode
	}
	if !c.Unsigned || v.Kind() != change.KindUint {
		return code
	}
	u := v.Uint()
	switch strings.ToUpper(c.Type) {
	case "TINYINT":
		if u > math.MaxInt8 {
			return typeSmallint
		}
	case "SMALLINT":
		if u > math.MaxInt16 {
			return typeInteger
		}
	case "INT", "INTEGER":
		if u > math.MaxInt32 {
			return typeBigint
		}
	case "BIGINT":
		if u > math.MaxInt64 {
			return typeDecimal
		}
	}
	return code
}

var rules = fmtkit.TextRules{Latin1Bytes: true, BitNumber: true}

var types = [...]string{change.OpSnapshot: "INSERT", change.OpInsert: "INSERT", change.OpUpdate: "UPDATE", change.OpDelete: "DELETE"}

// Serialize appends one record per row change and DDL; heartbeats give none.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := s.sizer.Start(len(changes), 1024)
	startCap, first := cap(buf), len(out)
	for i, c := range changes {
		start := len(buf)
		switch {
		case c.Op.IsRow() && c.Table != nil:
			buf = s.appendRow(buf, c)
		case c.Op == change.OpDDL:
			buf = s.appendDDL(buf, c)
		default:
			continue
		}
		out = append(out, sdk.Record{Change: i, Value: buf[start:len(buf):len(buf)]})
	}
	s.sizer.Finish(buf, startCap, len(changes), out[first:])
	return out, nil
}

// Members are written in Canal's order, alphabetical (fastjson2 sorts a bean's properties
// by name): data, database, es, gtid, id, isDdl, mysqlType, old, pkNames, sql, sqlType,
// table, ts, type.

func (s *Serializer) appendRow(b []byte, c *change.Change) []byte {
	tb := s.tables.Get(c.Table)
	row := c.Row()
	b = append(b, `{"data":[`...)
	b = s.appendImage(b, tb, row, nil)
	b = append(b, `],"database":`...)
	if c.Database != "" && c.Database != c.Table.Database {
		b = jsonw.AppendString(b, c.Database)
	} else {
		b = append(b, tb.db...)
	}
	b = s.appendMid(b, c, false)
	b = append(b, tb.mysqlType...)
	b = append(b, `,"old":`...)
	if c.Op == change.OpUpdate {
		b = append(b, '[')
		b = s.appendImage(b, tb, c.Before, c.After)
		b = append(b, ']')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"pkNames":`...)
	b = append(b, tb.pkNames...)
	b = append(b, `,"sql":"",`...)
	if tb.sqlType != nil {
		b = append(b, tb.sqlType...)
	} else {
		b = appendSQLType(b, tb, row)
	}
	b = append(b, `,"table":`...)
	if c.TableName != "" && c.TableName != c.Table.Name {
		b = jsonw.AppendString(b, c.TableName)
	} else {
		b = append(b, tb.name...)
	}
	b = s.appendTail(b, types[c.Op])
	return b
}

// appendMid appends `,"es":..,"gtid":"","id":..,"isDdl":..,` up to mysqlType. gtid is
// empty as with Canal's default canal.instance.gtidon=false (with it on, Canal sends the
// whole GTID set executed so far, which ferry does not track per change).
func (s *Serializer) appendMid(b []byte, c *change.Change, ddl bool) []byte {
	b = append(b, `,"es":`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	b = append(b, `,"gtid":"","id":`...)
	b = strconv.AppendUint(b, s.hooks.Next(), 10)
	if ddl {
		return append(b, `,"isDdl":true,`...)
	}
	return append(b, `,"isDdl":false,`...)
}

func (s *Serializer) appendTail(b []byte, typ string) []byte {
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, s.hooks.Time().UnixMilli(), 10)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	return append(b, `"}`...)
}

func (s *Serializer) appendDDL(b []byte, c *change.Change) []byte {
	b = append(b, `{"data":null,"database":`...)
	b = jsonw.AppendString(b, fmtkit.Database(c))
	b = s.appendMid(b, c, true)
	b = append(b, `"mysqlType":null,"old":null,"pkNames":null,"sql":`...)
	b = jsonw.AppendString(b, c.DDL)
	b = append(b, `,"sqlType":null,"table":`...)
	b = jsonw.AppendString(b, fmtkit.TableName(c))
	return s.appendTail(b, DDLType(c.DDL))
}

// appendImage appends row as a JSON object; with other set, only the columns whose value
// differs from other's (Canal's "old": the previous values of the changed columns).
func (s *Serializer) appendImage(b []byte, tb *table, row, other []change.Value) []byte {
	b = append(b, '{')
	first := true
	for i := range tb.cols {
		v := change.Null
		if i < len(row) {
			v = row[i]
		}
		if other != nil && i < len(other) && v.Equal(other[i]) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		c := &tb.cols[i]
		b = append(b, c.Name...)
		b = append(b, ':')
		b = s.appendValue(b, c, v)
	}
	return append(b, '}')
}

// appendValue writes one value as Canal does: FLOAT and DOUBLE in Java's text
// (String.valueOf), ENUM and SET per enum_set, the rest by the common text rules (binary as
// ISO-8859-1, BIT as its number).
func (s *Serializer) appendValue(b []byte, c *fmtkit.Col, v change.Value) []byte {
	switch v.Kind() {
	case change.KindFloat32:
		b = append(b, '"')
		b = javafmt.AppendFloat(b, v.Float32())
		return append(b, '"')
	case change.KindFloat64:
		b = append(b, '"')
		b = javafmt.AppendDouble(b, v.Float())
		return append(b, '"')
	case change.KindEnum, change.KindSet:
		if s.opts.EnumSet == EnumSetNumber {
			b = append(b, '"')
			b = strconv.AppendUint(b, v.Uint(), 10)
			return append(b, '"')
		}
	}
	return fmtkit.AppendText(b, c, v, rules)
}

// ExactValues tells the host that the records' values need no compacting copy: they share
// one buffer sized by the Sizer, compacted by Finish when it grew (sdk.ExactValues).
func (s *Serializer) ExactValues() bool { return true }
