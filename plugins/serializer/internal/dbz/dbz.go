// Package dbz implements the Debezium family of formats: the change-event envelope with its
// Kafka Connect schema ("debezium"), the payload alone ("debezium_flatten") and the row state
// after Debezium's ExtractNewRecordState transform ("debezium_smt"). All three share the type
// mapping of Debezium's MySQL connector (see docs/formats.md and mapping.go).
package dbz

import (
	"context"
	"strconv"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Version is the serializers' version; source.version carries "ferry-" + Version.
const Version = "0.1.0"

// Mode selects the format of the family.
type Mode uint8

const (
	// Envelope is {"schema":..., "payload":{before, after, source, op, ts_ms, transaction}}.
	Envelope Mode = iota
	// Flatten is the payload alone (Kafka Connect JSON with schemas disabled).
	Flatten
	// SMT is the row state after ExtractNewRecordState with add.fields=op,db,table,source.ts_ms
	// and delete.handling.mode=rewrite.
	SMT
)

// Options are the family's settings.
type Options struct {
	ServerName             string `json:"server_name"`
	DecimalHandling        string `json:"decimal_handling"`
	BigintUnsignedHandling string `json:"bigint_unsigned_handling"`
}

func defaults() Options {
	return Options{ServerName: "ferry", DecimalHandling: "string", BigintUnsignedHandling: "long"}
}

// Serializer is a Debezium-family serializer. After Configure it is safe for concurrent use.
type Serializer struct {
	sdk.UnimplementedSerializer
	info   sdk.Info
	mode   Mode
	opts   Options
	tables *fmtkit.Cache[*table]
	// Hooks supply payload.ts_ms (the time the event was built); tests fix them.
	Hooks fmtkit.Hooks
}

// New returns a serializer of the given mode.
func New(info sdk.Info, mode Mode) *Serializer {
	s := &Serializer{info: info, mode: mode}
	s.setOptions(defaults())
	return s
}

func (s *Serializer) setOptions(o Options) {
	s.opts = o
	s.tables = fmtkit.NewCache(func(t *change.Table) *table { return buildTable(t, o, s.mode) })
}

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info { return s.info }

// Spec declares the configuration.
func (s *Serializer) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "server_name", Type: sdk.TypeString, Default: "ferry",
			Doc: "Logical server name (Debezium's topic.prefix): source.name and the schema names <server>.<db>.<table>.Envelope/Value."},
		{Name: "decimal_handling", Type: sdk.TypeString, Default: "string", Enum: []string{"precise", "string", "double"},
			Doc: "DECIMAL values: precise (Base64 two's-complement bytes, org.apache.kafka.connect.data.Decimal), string (exact text) or double."},
		{Name: "bigint_unsigned_handling", Type: sdk.TypeString, Default: "long", Enum: []string{"long", "precise"},
			Doc: "BIGINT UNSIGNED values: long (int64; values above 2^63-1 wrap to negative, as Debezium's default) or precise (Decimal with scale 0)."},
	}}
}

// Configure decodes and checks the configuration.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	o := defaults()
	if err := c.Decode(&o); err != nil {
		return err
	}
	if o.ServerName == "" {
		return &sdk.AttributeError{Attribute: "server_name", Summary: "must not be empty"}
	}
	switch o.DecimalHandling {
	case "precise", "string", "double":
	default:
		return &sdk.AttributeError{Attribute: "decimal_handling", Summary: "unknown mode " + strconv.Quote(o.DecimalHandling),
			Detail: `use "precise", "string" or "double"`}
	}
	switch o.BigintUnsignedHandling {
	case "long", "precise":
	default:
		return &sdk.AttributeError{Attribute: "bigint_unsigned_handling", Summary: "unknown mode " + strconv.Quote(o.BigintUnsignedHandling),
			Detail: `use "long" or "precise"`}
	}
	s.setOptions(o)
	return nil
}

var ops = [...]string{change.OpSnapshot: "r", change.OpInsert: "c", change.OpUpdate: "u", change.OpDelete: "d"}

// Serialize appends one record per row change. DDL and heartbeats give none: Debezium sends
// schema changes and heartbeats to other topics with other layouts, and deletes are not
// followed by a tombstone (RocketMQ has no keyed compaction, and rejects an empty body). The
// two halves of a key change (change.MetaKeyChange) carry Debezium's __debezium.newkey /
// __debezium.oldkey headers as message properties.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	size := 1024
	if s.mode == Envelope {
		size = 6144
	}
	buf := fmtkit.StartBuf(len(changes), size)
	for i, c := range changes {
		if !c.Op.IsRow() || c.Table == nil {
			continue
		}
		tb := s.tables.Get(c.Table)
		start := len(buf)
		if s.mode == SMT {
			buf = s.appendSMT(buf, tb, c)
		} else {
			if s.mode == Envelope {
				buf = append(buf, tb.schema...)
			}
			buf = s.appendPayload(buf, tb, c)
			if s.mode == Envelope {
				buf = append(buf, '}')
			}
		}
		out = append(out, sdk.Record{Change: i, Value: buf[start:len(buf):len(buf)], Properties: s.keyChangeProps(tb, c)})
	}
	return out, nil
}

// Headers Debezium's MySQL connector puts on the two events of a primary-key change: the
// delete of the old key names the new key, the create of the new key names the old key.
const (
	HeaderOldKey = "__debezium.oldkey"
	HeaderNewKey = "__debezium.newkey"
)

// keyChangeProps returns the __debezium.newkey (on the DELETE half) or __debezium.oldkey (on
// the INSERT half) property of a key change, the other key in Debezium's key JSON form
// (with its schema in the Envelope mode, as the JsonConverter of the value writes it; the
// bare key object otherwise). Nil for other changes, and when the table's key columns are
// not all in the message (a column selection without them).
func (s *Serializer) keyChangeProps(tb *table, c *change.Change) []sdk.Property {
	role := c.Meta[change.MetaKeyChange]
	var name string
	switch role {
	case change.KeyChangeDelete:
		name = HeaderNewKey
	case change.KeyChangeInsert:
		name = HeaderOldKey
	default:
		return nil
	}
	vals, err := change.DecodeKey(c.Meta[change.MetaKeyChangeOtherKey])
	cols := c.Table.KeyColumns()
	if err != nil || len(vals) != len(cols) || len(cols) == 0 {
		return nil
	}
	var b []byte
	if s.mode == Envelope {
		b = append(b, `{"schema":{"type":"struct","fields":[`...)
		for n, i := range cols {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendFieldSchema(b, &tb.cols[i])
		}
		b = append(b, `],"optional":false,"name":`...)
		b = jsonw.AppendString(b, s.opts.ServerName+"."+c.Table.Database+"."+c.Table.Name+".Key")
		b = append(b, `},"payload":`...)
	}
	b = append(b, '{')
	for n, i := range cols {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, tb.cols[i].Name...)
		b = append(b, ':')
		b = appendValue(b, &tb.cols[i], vals[n])
	}
	b = append(b, '}')
	if s.mode == Envelope {
		b = append(b, '}')
	}
	return []sdk.Property{{Key: name, Value: string(b)}}
}

func (s *Serializer) appendPayload(b []byte, tb *table, c *change.Change) []byte {
	b = append(b, `{"before":`...)
	if c.Op == change.OpUpdate || c.Op == change.OpDelete {
		b = appendRow(b, tb, c.Before)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"after":`...)
	if c.Op != change.OpDelete {
		b = appendRow(b, tb, c.After)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"source":`...)
	b = s.appendSource(b, c)
	b = append(b, `,"op":"`...)
	b = append(b, ops[c.Op]...)
	b = append(b, `","ts_ms":`...)
	b = strconv.AppendInt(b, s.Hooks.Time().UnixMilli(), 10)
	return append(b, `,"transaction":null}`...)
}

// appendSource writes the source block of Debezium's MySQL connector. Binlog coordinates
// come from the change's Meta ("binlog_file", "binlog_pos", "server_id") when the source
// provides them, else "" and 0; gtid is the transaction id when it is a GTID (has a ':').
func (s *Serializer) appendSource(b []byte, c *change.Change) []byte {
	b = append(b, `{"version":"ferry-`+Version+`","connector":"mysql","name":`...)
	b = jsonw.AppendString(b, s.opts.ServerName)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	if c.Op == change.OpSnapshot {
		b = append(b, `,"snapshot":"true","db":`...)
	} else {
		b = append(b, `,"snapshot":"false","db":`...)
	}
	b = jsonw.AppendString(b, fmtkit.Database(c))
	b = append(b, `,"sequence":null,"table":`...)
	b = jsonw.AppendString(b, fmtkit.TableName(c))
	b = append(b, `,"server_id":`...)
	b = appendMetaInt(b, c.Meta[change.MetaServerID])
	b = append(b, `,"gtid":`...)
	if isGTID(c.TxID) {
		b = jsonw.AppendString(b, c.TxID)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"file":`...)
	b = jsonw.AppendString(b, c.Meta[change.MetaBinlogFile])
	b = append(b, `,"pos":`...)
	b = appendMetaInt(b, c.Meta[change.MetaBinlogPos])
	return append(b, `,"row":0,"thread":null,"query":null}`...)
}

func isGTID(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

func appendMetaInt(b []byte, s string) []byte {
	if s == "" {
		return append(b, '0')
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		n = 0
	}
	return strconv.AppendInt(b, n, 10)
}

func (s *Serializer) appendSMT(b []byte, tb *table, c *change.Change) []byte {
	row := c.After
	if c.Op == change.OpDelete {
		row = c.Before
	}
	b = appendRow(b, tb, row)
	b = b[:len(b)-1] // reopen the object
	if len(tb.cols) > 0 {
		b = append(b, ',')
	}
	b = append(b, `"__op":"`...)
	b = append(b, ops[c.Op]...)
	b = append(b, `","__db":`...)
	b = jsonw.AppendString(b, fmtkit.Database(c))
	b = append(b, `,"__table":`...)
	b = jsonw.AppendString(b, fmtkit.TableName(c))
	b = append(b, `,"__source_ts_ms":`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	if c.Op == change.OpDelete {
		return append(b, `,"__deleted":"true"}`...)
	}
	return append(b, `,"__deleted":"false"}`...)
}

func appendRow(b []byte, tb *table, row []change.Value) []byte {
	if row == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
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
		b = appendValue(b, c, v)
	}
	return append(b, '}')
}
