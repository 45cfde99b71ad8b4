// Package oms implements OceanBase Migration Service's Default message format and its
// DefaultExtendColumnType variant (Default plus a "__light_type" member in each row image).
package oms

import (
	"context"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Version is the version of the Default serializers.
const Version = "0.1.0"

// Serializer writes the Default format. After Configure it is safe for concurrent use.
type Serializer struct {
	info      sdk.Info
	lightType bool
	cfg       config
	tables    *fmtkit.Cache[*table]
	// Hooks supply the sequence of storeDataSequence (tests make it deterministic).
	Hooks fmtkit.Hooks
	// sizer sizes each batch's buffer by what the previous ones needed.
	sizer fmtkit.Sizer
}

type config struct {
	SourceIdentity string `json:"source_identity"`
	DBType         string `json:"db_type"`
	ClusterID      string `json:"cluster_id"`
}

// defaults is the configuration with every attribute at its Spec default (the defaults are
// written once, in Spec).
func defaults() config {
	var c config
	if err := (*Serializer)(nil).Spec().DecodeDefaults(&c); err != nil {
		panic(err) // the Spec's own defaults: TestDefaultsFromSpec proves they decode
	}
	return c
}

// New returns a Default serializer; lightType adds "__light_type" (DefaultExtendColumnType).
func New(info sdk.Info, lightType bool) *Serializer {
	s := &Serializer{info: info, lightType: lightType, cfg: defaults()}
	s.tables = fmtkit.NewCache(s.buildTable)
	return s
}

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info { return s.info }

// Spec declares the configuration.
func (s *Serializer) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "source_identity", Type: sdk.TypeString, Default: "",
			Doc: "Value of allMetaData.source_identity, usually the pipeline name (null when empty)."},
		{Name: "db_type", Type: sdk.TypeString, Default: "auto", Enum: []string{"auto", "OB_MYSQL", "MYSQL"},
			Doc: "allMetaData.dbType: auto gives OB_MYSQL for tables of an OceanBase tenant and MYSQL otherwise."},
		{Name: "cluster_id", Type: sdk.TypeString, Default: "",
			Doc: "Value of allMetaData.clusterId (null when empty)."},
	}}
}

// Configure decodes the configuration.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	cfg := defaults()
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	switch cfg.DBType {
	case "auto", "OB_MYSQL", "MYSQL":
	default:
		return &sdk.AttributeError{Attribute: "db_type", Summary: "unknown database type " + strconv.Quote(cfg.DBType),
			Detail: `use "auto", "OB_MYSQL" or "MYSQL"`}
	}
	s.cfg = cfg
	return nil
}

type table struct {
	cols      []fmtkit.Col
	keys      []int
	keyNames  []byte // "id\u0001k2" as a JSON string
	lightType []byte // ,"__light_type":{...}
	qualified []byte // "tenant.db" as a JSON string
	tableName []byte // JSON string
}

func (s *Serializer) buildTable(t *change.Table) *table {
	tb := &table{cols: fmtkit.Cols(t), keys: t.KeyColumns()}
	var names []string
	for _, i := range tb.keys {
		names = append(names, t.Columns[i].Name)
	}
	tb.keyNames = jsonw.AppendString(nil, strings.Join(names, "\x01"))
	if s.lightType {
		b := []byte(`,"__light_type":{`)
		for i, c := range tb.cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, c.Name...)
			b = append(b, `:{"schemaType":`...)
			b = jsonw.AppendString(b, strings.ToUpper(c.Type))
			b = append(b, '}')
		}
		tb.lightType = append(b, '}')
	}
	tb.qualified = jsonw.AppendString(nil, fmtkit.DBName(t, t.Database))
	tb.tableName = jsonw.AppendString(nil, t.Name)
	return tb
}

var recordTypes = [...]string{change.OpSnapshot: "ROW", change.OpInsert: "INSERT", change.OpUpdate: "UPDATE",
	change.OpDelete: "DELETE", change.OpDDL: "DDL", change.OpHeartbeat: "HEARTBEAT"}

// Serialize appends one record per change.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := s.sizer.Start(len(changes), 768)
	startCap, first := cap(buf), len(out)
	for i, c := range changes {
		if int(c.Op) >= len(recordTypes) || recordTypes[c.Op] == "" {
			continue
		}
		start := len(buf)
		buf = s.appendChange(buf, c)
		out = append(out, sdk.Record{Change: i, Value: buf[start:len(buf):len(buf)]})
	}
	s.sizer.Finish(buf, startCap, len(changes), out[first:])
	return out, nil
}

// appendChange appends change c as one OMS record: the images before and after it, its
// metadata (allMetaData), and its record type.
func (s *Serializer) appendChange(b []byte, c *change.Change) []byte {
	var tb *table
	if c.Table != nil {
		tb = s.tables.Get(c.Table)
	}
	row := c.Op.IsRow() && tb != nil
	b = append(b, `{"prevStruct":`...)
	if row && (c.Op == change.OpUpdate || c.Op == change.OpDelete) {
		b = s.appendImage(b, tb, c.Before)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"postStruct":`...)
	switch {
	case row && c.Op != change.OpDelete:
		b = s.appendImage(b, tb, c.After)
	case c.Op == change.OpDDL:
		b = append(b, `{"ddl":`...)
		b = jsonw.AppendString(b, c.DDL)
		b = append(b, '}')
	default:
		b = append(b, "null"...)
	}
	b = s.appendMetaData(b, c, tb, row)
	b = append(b, `,"recordType":"`...)
	b = append(b, recordTypes[c.Op]...)
	return append(b, `"}`...)
}

// appendMetaData appends the allMetaData object of change c (tb its table's cached parts, nil
// if it has no table; row whether c is a row change with a table).
func (s *Serializer) appendMetaData(b []byte, c *change.Change, tb *table, row bool) []byte {
	secs := fmtkit.Seconds(c.CommitTime)
	b = append(b, `,"allMetaData":{"checkpoint":`...)
	b = appendCheckpoint(b, c, tb, secs)
	b = append(b, `,"record_primary_key":`...)
	b = appendPrimaryKey(b, c, tb, row)
	b = append(b, `,"source_identity":`...)
	b = appendOptString(b, s.cfg.SourceIdentity)
	b = append(b, `,"dbType":"`...)
	b = append(b, s.dbType(c)...)
	b = append(b, `","storeDataSequence":`...)
	if c.Op == change.OpSnapshot {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, secs*100000+int64(s.Hooks.Next()%100000), 10)
	}
	b = appendTableNames(b, c, tb)
	b = append(b, `,"timestamp":`...)
	if c.Op == change.OpSnapshot {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = strconv.AppendInt(b, secs, 10)
		b = append(b, '"')
	}
	b = append(b, `,"uniqueId":`...)
	b = jsonw.AppendString(b, c.ID)
	b = append(b, `,"transId":`...)
	b = appendOptString(b, c.TxID)
	b = append(b, `,"clusterId":`...)
	b = appendOptString(b, s.cfg.ClusterID)
	b = append(b, `,"ddlType":`...)
	if c.Op == change.OpDDL {
		b = append(b, '"')
		b = append(b, fmtkit.DDLType(c.DDL)...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// appendCheckpoint appends the checkpoint of change c as a JSON string: a snapshot row's key
// columns as name=value pairs, otherwise the commit time in seconds (secs).
func appendCheckpoint(b []byte, c *change.Change, tb *table, secs int64) []byte {
	if c.Op != change.OpSnapshot || tb == nil {
		b = append(b, '"')
		b = strconv.AppendInt(b, secs, 10)
		return append(b, '"')
	}
	b = append(b, '"')
	start := len(b)
	for n, k := range tb.keys {
		if n > 0 {
			b = append(b, 0x01)
		}
		b = append(b, c.Table.Columns[k].Name...)
		b = append(b, '=')
		if k < len(c.After) {
			b = c.After[k].AppendText(b, c.Table.Columns[k].Fsp)
		}
	}
	return fmtkit.CloseString(b, start)
}

// appendPrimaryKey appends record_primary_key's value and the record_primary_value member
// of a row change (row true), null for both otherwise.
func appendPrimaryKey(b []byte, c *change.Change, tb *table, row bool) []byte {
	if !row {
		return append(b, `null,"record_primary_value":null`...)
	}
	b = append(b, tb.keyNames...)
	b = append(b, `,"record_primary_value":`...)
	b = append(b, '"')
	start := len(b)
	b = change.AppendValuesText(b, c.Table, tb.keys, c.Row(), change.KeySep)
	return fmtkit.CloseString(b, start)
}

// appendTableNames appends the table_name and db members of change c: its table's cached
// names when c does not name another, the tenant-qualified database of its metadata otherwise.
func appendTableNames(b []byte, c *change.Change, tb *table) []byte {
	b = append(b, `,"table_name":`...)
	if tb != nil && c.TableName == "" {
		b = append(b, tb.tableName...)
	} else {
		b = appendOptString(b, c.TableName)
	}
	b = append(b, `,"db":`...)
	if tb != nil && (c.Database == "" || c.Database == c.Table.Database) {
		return append(b, tb.qualified...)
	}
	db := c.Database
	if t := c.Meta[change.MetaTenant]; t != "" && db != "" {
		db = t + "." + db
	}
	return appendOptString(b, db)
}

func (s *Serializer) dbType(c *change.Change) string {
	if s.cfg.DBType != "auto" && s.cfg.DBType != "" {
		return s.cfg.DBType
	}
	if (c.Table != nil && c.Table.Tenant != "") || c.Meta[change.MetaTenant] != "" {
		return "OB_MYSQL"
	}
	return "MYSQL"
}

func (s *Serializer) appendImage(b []byte, tb *table, row []change.Value) []byte {
	if row == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	b = fmtkit.AppendTextFields(b, tb.cols, row, fmtkit.TextRules{})
	b = append(b, tb.lightType...)
	return append(b, '}')
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonw.AppendString(b, s)
}

// ExactValues tells the host that the records' values need no compacting copy: they share
// one buffer sized by the Sizer, compacted by Finish when it grew (sdk.ExactValues).
func (s *Serializer) ExactValues() bool { return true }
