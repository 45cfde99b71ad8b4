// Package dataworks is the "dataworks" serializer: the DataWorks 2.0 JSON message
// ({schema, payload, extend, version}). Snapshot rows and inserts are INSERT, deletes
// DELETE, heartbeats MHEARTBEAT and DDL the statement's verb (CREATE, ALTER, DROP, TRUNCATE,
// RENAME or QUERY, statement in payload.ddl). An update is sent as a pair of messages:
// UPDATE_BEFOR with the before image, then UPDATE_AFTER with both images. See
// docs/formats.md for the type normalization.
package dataworks

import (
	"context"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Name is the plugin's name.
const Name = "dataworks"

// Serializer is the "dataworks" serializer. After Configure it is safe for concurrent use.
type Serializer struct {
	cfg    config
	tables *fmtkit.Cache[*table]
	hooks  fmtkit.Hooks // systemTime
	// sizer sizes each batch's buffer by what the previous ones needed.
	sizer fmtkit.Sizer
}

type config struct {
	BusinessName string `json:"business_name"`
	DBVersion    string `json:"db_version"`
}

// New returns the "dataworks" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *Serializer {
	s := &Serializer{}
	s.tables = fmtkit.NewCache(s.buildTable)
	return s
}

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info {
	return sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: "0.1.0",
		Summary: "DataWorks 2.0 JSON messages (schema, payload, extend.businessName)."}
}

// Spec declares the configuration.
func (s *Serializer) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "business_name", Type: sdk.TypeString, Required: true,
			Doc: "Business-system identifier sent as extend.businessName: 1 to 20 characters."},
		{Name: "db_version", Type: sdk.TypeString, Default: "",
			Doc: "Database version sent as schema.source.dbVersion (for example 4.2.1)."},
	}}
}

// Configure decodes and checks the configuration.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(cfg.BusinessName); n < 1 || n > 20 {
		return &sdk.AttributeError{Attribute: "business_name",
			Summary: "must be 1 to 20 characters, not " + strconv.Itoa(n), Detail: "DataWorks identifies the business system by it"}
	}
	s.cfg = cfg
	return nil
}

// Column types of DataWorks.
const (
	tBoolean = "BOOLEAN"
	tDouble  = "DOUBLE"
	tDate    = "DATE"
	tBytes   = "BYTES"
	tLong    = "LONG"
	tString  = "STRING"
)

// ColumnType normalizes a MySQL column to a DataWorks type: integers, YEAR and BIT(n>1) are
// LONG (BIGINT UNSIGNED is STRING: it does not fit a Java long), FLOAT and DOUBLE DOUBLE,
// DATE, DATETIME and TIMESTAMP DATE (epoch ms), BIT(1) BOOLEAN, binary types BYTES (Base64),
// everything else (DECIMAL, TIME, text, JSON, ENUM, SET) STRING.
func ColumnType(c *change.Column) string {
	switch strings.ToUpper(c.Type) {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "YEAR":
		return tLong
	case "BIGINT":
		if c.Unsigned {
			return tString
		}
		return tLong
	case "BOOL", "BOOLEAN":
		return tBoolean
	case "BIT":
		if fmtkit.BitWidth(c) == 1 {
			return tBoolean
		}
		return tLong
	case "FLOAT", "DOUBLE", "REAL":
		return tDouble
	case "DATE", "DATETIME", "TIMESTAMP":
		return tDate
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
		return tBytes
	}
	return tString
}

type table struct {
	cols  []fmtkit.Col
	types []string
	// schema is `{"schema":{...},"payload":{` for the table.
	schema []byte
}

func (s *Serializer) buildTable(t *change.Table) *table {
	tb := &table{cols: fmtkit.Cols(t)}
	b := []byte(`{"schema":{"dataColumn":[`)
	for i := range tb.cols {
		if i > 0 {
			b = append(b, ',')
		}
		typ := ColumnType(tb.cols[i].Column)
		tb.types = append(tb.types, typ)
		b = append(b, `{"name":`...)
		b = append(b, tb.cols[i].Name...)
		b = append(b, `,"type":"`...)
		b = append(b, typ...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"primaryKey":`...)
	if len(t.PrimaryKey) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for n, i := range t.PrimaryKey {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, tb.cols[i].Name...)
		}
		b = append(b, ']')
	}
	b = s.appendSource(b, t.Tenant, t.Database, t.Name)
	tb.schema = append(b, `},"payload":{`...)
	return tb
}

func (s *Serializer) appendSource(b []byte, tenant, db, name string) []byte {
	b = append(b, `,"source":{"dbType":"`...)
	if tenant != "" {
		b = append(b, "OceanBase"...)
	} else {
		b = append(b, "MySQL"...)
	}
	b = append(b, `","dbVersion":`...)
	b = jsonw.AppendString(b, s.cfg.DBVersion)
	b = append(b, `,"dbName":`...)
	b = jsonw.AppendString(b, db)
	b = append(b, `,"schemaName":`...)
	b = jsonw.AppendString(b, db)
	b = append(b, `,"tableName":`...)
	b = jsonw.AppendString(b, name)
	return append(b, '}')
}

// Serialize appends one record per change, two for updates.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := s.sizer.Start(len(changes), 1536)
	startCap, first := cap(buf), len(out)
	emit := func(i, start int) {
		out = append(out, sdk.Record{Change: i, Value: buf[start:len(buf):len(buf)]})
	}
	for i, c := range changes {
		start := len(buf)
		switch {
		case c.Op.IsRow() && c.Table != nil:
			tb := s.tables.Get(c.Table)
			switch c.Op {
			case change.OpUpdate:
				buf = s.appendRow(buf, tb, c, "UPDATE_BEFOR", c.Before, nil)
				emit(i, start)
				start = len(buf)
				buf = s.appendRow(buf, tb, c, "UPDATE_AFTER", c.Before, c.After)
			case change.OpDelete:
				buf = s.appendRow(buf, tb, c, "DELETE", c.Before, nil)
			default:
				buf = s.appendRow(buf, tb, c, "INSERT", nil, c.After)
			}
		case c.Op == change.OpDDL || c.Op == change.OpHeartbeat:
			buf = s.appendOther(buf, c)
		default:
			continue
		}
		emit(i, start)
	}
	s.sizer.Finish(buf, startCap, len(changes), out[first:])
	return out, nil
}

func (s *Serializer) appendRow(b []byte, tb *table, c *change.Change, op string, before, after []change.Value) []byte {
	b = append(b, tb.schema...)
	b = append(b, `"before":`...)
	b = appendImage(b, tb, before)
	b = append(b, `,"after":`...)
	b = appendImage(b, tb, after)
	return s.appendTail(b, c, op)
}

func (s *Serializer) appendOther(b []byte, c *change.Change) []byte {
	b = append(b, `{"schema":{"dataColumn":[],"primaryKey":null`...)
	tenant := c.Meta[change.MetaTenant]
	if c.Table != nil {
		tenant = c.Table.Tenant
	}
	b = s.appendSource(b, tenant, fmtkit.Database(c), fmtkit.TableName(c))
	b = append(b, `},"payload":{"before":null,"after":null,`...)
	op := "MHEARTBEAT"
	if c.Op == change.OpDDL {
		op = fmtkit.DDLType(c.DDL)
		b = append(b, `"ddl":`...)
		b = jsonw.AppendString(b, c.DDL)
		b = append(b, ',')
	}
	return s.appendTail(b[:len(b)-1], c, op)
}

func (s *Serializer) appendTail(b []byte, c *change.Change, op string) []byte {
	b = append(b, `,"sequenceId":`...)
	b = jsonw.AppendString(b, c.ID)
	b = append(b, `,"scn":`...)
	b = jsonw.AppendString(b, c.TxID)
	b = append(b, `,"op":"`...)
	b = append(b, op...)
	ms := fmtkit.Millis(c.CommitTime)
	b = append(b, `","timestamp":{"eventTime":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"systemTime":`...)
	b = strconv.AppendInt(b, s.hooks.Time().UnixMilli(), 10)
	b = append(b, `,"checkpointTime":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `}},"extend":{"businessName":`...)
	b = jsonw.AppendString(b, s.cfg.BusinessName)
	return append(b, `},"version":"1.0.0"}`...)
}

func appendImage(b []byte, tb *table, row []change.Value) []byte {
	if row == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"dataColumn":{`...)
	for i := range tb.cols {
		if i > 0 {
			b = append(b, ',')
		}
		c := &tb.cols[i]
		b = append(b, c.Name...)
		b = append(b, ':')
		v := change.Null
		if i < len(row) {
			v = row[i]
		}
		b = appendValue(b, c, tb.types[i], v)
	}
	return append(b, `}}`...)
}

func appendValue(b []byte, c *fmtkit.Col, typ string, v change.Value) []byte {
	k := v.Kind()
	switch {
	case k == change.KindNull:
		return append(b, "null"...)
	case typ == tLong && (k == change.KindInt):
		return strconv.AppendInt(b, v.Int(), 10)
	case typ == tLong && (k == change.KindUint || k == change.KindBit || k == change.KindYear):
		return strconv.AppendUint(b, v.Uint(), 10)
	case typ == tDouble && (k == change.KindFloat32 || k == change.KindFloat64):
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return fmtkit.AppendFloat(b, v)
	case typ == tBoolean && (k == change.KindBit || k == change.KindUint || k == change.KindInt):
		return jsonw.AppendBool(b, v.Uint() != 0)
	case typ == tDate && (k == change.KindDate || k == change.KindDateTime || k == change.KindTimestamp):
		ms, ok := fmtkit.UTCMillis(v)
		if !ok {
			return append(b, "null"...) // zero date
		}
		return strconv.AppendInt(b, ms, 10)
	}
	return fmtkit.AppendText(b, c, v, fmtkit.TextRules{BitNumber: true})
}

// ExactValues tells the host that the records' values need no compacting copy: they share
// one buffer sized by the Sizer, compacted by Finish when it grew (sdk.ExactValues).
func (s *Serializer) ExactValues() bool { return true }
