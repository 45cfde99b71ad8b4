// Package canal is the "canal" serializer: Alibaba Canal's flat message (the JSON that
// Canal's FlatMessage class and Flink's canal-json format read), one row per message.
//
//	{"id":12,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"UPDATE",
//	 "es":1700000000000,"ts":1700000000123,"sql":"","sqlType":{"id":4,"name":12},
//	 "mysqlType":{"id":"int(11)","name":"varchar(32)"},"data":[{"id":"1","name":"new"}],
//	 "old":[{"name":"old"}]}
//
// Snapshot rows and inserts are INSERT; DDL is CREATE, ALTER, ERASE, TRUNCATE or QUERY with
// isDdl true and the statement in sql; heartbeats give no record. Values are strings as Canal
// writes them: binary data as ISO-8859-1 text, BIT as its unsigned integer. See
// docs/formats.md.
package canal

import (
	"context"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Name is the plugin's name.
const Name = "canal"

// Serializer is the "canal" serializer. It is safe for concurrent use.
type Serializer struct {
	sdk.UnimplementedSerializer
	tables *fmtkit.Cache[*table]
	hooks  fmtkit.Hooks // build time (ts) and batch id (id)
}

// New returns the "canal" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *Serializer {
	return &Serializer{tables: fmtkit.NewCache(buildTable)}
}

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info {
	return sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: "0.1.0",
		Summary: "Alibaba Canal flat message JSON (FlatMessage, Flink canal-json), one row per message."}
}

// Spec declares the configuration: the format has no options.
func (s *Serializer) Spec() sdk.Spec { return sdk.Spec{} }

// Configure checks that no option is set.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	var none struct{}
	return c.Decode(&none)
}

type table struct {
	cols []fmtkit.Col
	// head is `"database":..,"table":..,"pkNames":..,"isDdl":false,"type":"` up to the type.
	db, name, pkNames []byte
	// types is `"sqlType":{...},"mysqlType":{...}`.
	types []byte
}

func buildTable(t *change.Table) *table {
	tb := &table{cols: fmtkit.Cols(t)}
	tb.db = jsonw.AppendString(nil, t.Database)
	tb.name = jsonw.AppendString(nil, t.Name)
	if len(t.PrimaryKey) == 0 {
		tb.pkNames = []byte("null")
	} else {
		b := []byte{'['}
		for n, i := range t.PrimaryKey {
			if n > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, t.Columns[i].Name)
		}
		tb.pkNames = append(b, ']')
	}
	b := []byte(`"sqlType":{`)
	for i, c := range tb.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.Name...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(SQLType(c.Column)), 10)
	}
	b = append(b, `},"mysqlType":{`...)
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
	tb.types = append(b, '}')
	return tb
}

// java.sql.Types codes.
const (
	typeBit       = -7
	typeTinyint   = -6
	typeBigint    = -5
	typeBinary    = -2
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
	typeBlob      = 2004
	typeClob      = 2005
)

// SQLType returns the java.sql.Types code Canal gives a column: per MySQL type, with
// unsigned integers promoted one step (TINYINT to SMALLINT, SMALLINT to INTEGER, INT and
// MEDIUMINT to BIGINT, BIGINT to DECIMAL) as Canal's LogEventConvert does.
func SQLType(c *change.Column) int {
	t := strings.ToUpper(c.Type)
	switch t {
	case "TINYINT", "BOOL", "BOOLEAN":
		if c.Unsigned {
			return typeSmallint
		}
		return typeTinyint
	case "SMALLINT":
		if c.Unsigned {
			return typeInteger
		}
		return typeSmallint
	case "MEDIUMINT", "INT", "INTEGER":
		if c.Unsigned {
			return typeBigint
		}
		return typeInteger
	case "BIGINT":
		if c.Unsigned {
			return typeDecimal
		}
		return typeBigint
	case "FLOAT":
		return typeReal
	case "DOUBLE", "REAL":
		return typeDouble
	case "DECIMAL", "NUMERIC":
		return typeDecimal
	case "CHAR":
		return typeChar
	case "VARCHAR", "YEAR", "JSON":
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
		return typeBinary
	}
	return typeVarchar
}

var rules = fmtkit.TextRules{Latin1Bytes: true, BitNumber: true}

var types = [...]string{change.OpSnapshot: "INSERT", change.OpInsert: "INSERT", change.OpUpdate: "UPDATE", change.OpDelete: "DELETE"}

// Serialize appends one record per row change and DDL; heartbeats give none.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := fmtkit.StartBuf(len(changes), 1024)
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
	return out, nil
}

func (s *Serializer) appendHead(b []byte) []byte {
	b = append(b, `{"id":`...)
	return strconv.AppendUint(b, s.hooks.Next(), 10)
}

func (s *Serializer) appendTimes(b []byte, c *change.Change) []byte {
	b = append(b, `,"es":`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	b = append(b, `,"ts":`...)
	return strconv.AppendInt(b, s.hooks.Time().UnixMilli(), 10)
}

func (s *Serializer) appendRow(b []byte, c *change.Change) []byte {
	tb := s.tables.Get(c.Table)
	b = s.appendHead(b)
	b = append(b, `,"database":`...)
	if c.Database != "" && c.Database != c.Table.Database {
		b = jsonw.AppendString(b, c.Database)
	} else {
		b = append(b, tb.db...)
	}
	b = append(b, `,"table":`...)
	if c.TableName != "" && c.TableName != c.Table.Name {
		b = jsonw.AppendString(b, c.TableName)
	} else {
		b = append(b, tb.name...)
	}
	b = append(b, `,"pkNames":`...)
	b = append(b, tb.pkNames...)
	b = append(b, `,"isDdl":false,"type":"`...)
	b = append(b, types[c.Op]...)
	b = append(b, '"')
	b = s.appendTimes(b, c)
	b = append(b, `,"sql":"",`...)
	b = append(b, tb.types...)
	b = append(b, `,"data":[`...)
	b = appendImage(b, tb, c.Row(), nil)
	b = append(b, `],"old":`...)
	if c.Op == change.OpUpdate {
		b = append(b, '[')
		b = appendImage(b, tb, c.Before, c.After)
		b = append(b, ']')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

func (s *Serializer) appendDDL(b []byte, c *change.Change) []byte {
	b = s.appendHead(b)
	b = append(b, `,"database":`...)
	b = jsonw.AppendString(b, fmtkit.Database(c))
	b = append(b, `,"table":`...)
	b = jsonw.AppendString(b, fmtkit.TableName(c))
	b = append(b, `,"pkNames":null,"isDdl":true,"type":"`...)
	b = append(b, fmtkit.CanalDDLType(c.DDL)...)
	b = append(b, '"')
	b = s.appendTimes(b, c)
	b = append(b, `,"sql":`...)
	b = jsonw.AppendString(b, c.DDL)
	return append(b, `,"sqlType":null,"mysqlType":null,"data":null,"old":null}`...)
}

// appendImage appends row as a JSON object; with other set, only the columns whose value
// differs from other's (Canal's "old": the previous values of the changed columns).
func appendImage(b []byte, tb *table, row, other []change.Value) []byte {
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
		b = fmtkit.AppendText(b, c, v, rules)
	}
	return append(b, '}')
}
