// Package dbz implements the Debezium family of formats: the change-event envelope with its
// Kafka Connect schema ("debezium"), the payload alone ("debezium_flatten") and the row state
// after Debezium's ExtractNewRecordState transform ("debezium_smt"). All three share the type
// mapping of Debezium's MySQL connector (see docs/formats.md and mapping.go).
package dbz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// Envelope is {"schema":..., "payload":{before, after, source, transaction, op, ts_ms,
	// ts_us, ts_ns}}.
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
	// Connector is the Debezium connector imitated in source.connector and the source
	// schema's name: "mysql" or "mariadb".
	Connector string `json:"connector"`
	// TimestampFraction is how TIMESTAMP values write their fraction: "debezium" (change rows
	// exactly the column's fsp digits, snapshot rows trimmed, as Debezium) or "fsp" (always
	// the column's fsp digits).
	TimestampFraction string `json:"timestamp_fraction"`
	// ContextHeaders adds the __debezium.context.* headers Debezium 3 puts on every record.
	ContextHeaders bool `json:"context_headers"`
}

// Values of Options.TimestampFraction.
const (
	TimestampFractionDebezium = "debezium"
	TimestampFractionFsp      = "fsp"
)

// defaults is the configuration with every attribute at its Spec default (the defaults are
// written once, in Spec).
func defaults() Options {
	var o Options
	if err := (*Serializer)(nil).Spec().DecodeDefaults(&o); err != nil {
		panic(err) // the Spec's own defaults: TestDefaultsFromSpec proves they decode
	}
	return o
}

// Serializer is a Debezium-family serializer. After Configure it is safe for concurrent use.
type Serializer struct {
	info   sdk.Info
	mode   Mode
	opts   Options
	tables *fmtkit.Cache[*table]
	ctx    []sdk.Property // the __debezium.context.* headers of every record (nil: none)
	// Hooks supply payload.ts_ms (the time the event was built); tests fix them.
	Hooks fmtkit.Hooks
	// sizer sizes each batch's buffer by what the previous ones needed.
	sizer fmtkit.Sizer
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
	s.ctx = nil
	if o.ContextHeaders {
		s.ctx = contextHeaders(o, s.mode == Envelope)
	}
}

// Headers Debezium 3 puts on every record: the connector's logical name (topic.prefix), the
// connector, the task and the run (a new id per start).
const (
	HeaderContextLogicalName = "__debezium.context.connectorLogicalName"
	HeaderContextConnector   = "__debezium.context.connectorName"
	HeaderContextTaskID      = "__debezium.context.taskId"
	HeaderContextRunID       = "__debezium.context.runId"
)

// runID is the process's random UUID, the run id of its records (Debezium's is one per task
// start); every serializer of the process shares it, so their output is the same.
var runID = sync.OnceValue(func() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80
	h := hex.EncodeToString(id[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
})

// contextHeaders returns the __debezium.context.* properties as the JsonConverter writes
// header values: JSON strings, in the Envelope mode with their schema. ferry has one task, "0".
func contextHeaders(o Options, withSchema bool) []sdk.Property {
	run := runID()
	val := func(v string) string {
		if !withSchema {
			return string(jsonw.AppendString(nil, v))
		}
		return string(jsonw.AppendString([]byte(`{"schema":{"type":"string","optional":false},"payload":`), v)) + "}"
	}
	return []sdk.Property{
		{Key: HeaderContextLogicalName, Value: val(o.ServerName)},
		{Key: HeaderContextConnector, Value: val(o.Connector)},
		{Key: HeaderContextTaskID, Value: val("0")},
		{Key: HeaderContextRunID, Value: val(run)},
	}
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
		{Name: "connector", Type: sdk.TypeString, Default: "mysql", Enum: []string{"mysql", "mariadb"},
			Doc: "The Debezium connector imitated in source.connector and the source schema's name (io.debezium.connector.<connector>.Source): mysql (Debezium's MySQL connector) or mariadb (its MariaDB connector, for MariaDB sources). The rest of the event is the same for both."},
		{Name: "context_headers", Type: sdk.TypeBool, Default: true,
			Doc: "Add the headers Debezium 3 puts on every record (message properties here): __debezium.context.connectorLogicalName (server_name), connectorName (connector), taskId (\"0\") and runId (a new id per process start), each a JSON string as the JsonConverter writes header values (in the debezium format with its schema)."},
		{Name: "timestamp_fraction", Type: sdk.TypeString, Default: TimestampFractionDebezium, Enum: []string{TimestampFractionDebezium, TimestampFractionFsp},
			Doc: "Fraction digits of TIMESTAMP values (io.debezium.time.ZonedTimestamp): debezium (as Debezium writes them: exactly the column's fsp digits in change rows, 2038-01-19T03:14:07.000000Z; in snapshot rows trailing zeros trimmed and no fraction when it is zero, 2038-01-19T03:14:07Z) or fsp (always exactly the column's fsp digits, so a value has one text whatever its origin)."},
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
	switch o.Connector {
	case "mysql", "mariadb":
	default:
		return &sdk.AttributeError{Attribute: "connector", Summary: "unknown connector " + strconv.Quote(o.Connector),
			Detail: `use "mysql" or "mariadb"`}
	}
	switch o.TimestampFraction {
	case TimestampFractionDebezium, TimestampFractionFsp:
	default:
		return &sdk.AttributeError{Attribute: "timestamp_fraction", Summary: "unknown mode " + strconv.Quote(o.TimestampFraction),
			Detail: `use "debezium" or "fsp"`}
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
//
// In the Envelope mode each record's Head is its table's schema (`{"schema":{...},"payload":`,
// three quarters of a message of ten columns), built once per table and shared by its
// records (sdk.Record.Head): the value holds the payload and the closing brace.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := s.sizer.Start(len(changes), 1024)
	startCap, first := cap(buf), len(out)
	for i, c := range changes {
		if !c.Op.IsRow() || c.Table == nil {
			continue
		}
		tb := s.tables.Get(c.Table)
		start := len(buf)
		var head []byte
		switch s.mode {
		case SMT:
			buf = s.appendSMT(buf, tb, c)
		case Envelope:
			head = tb.schema
			buf = append(s.appendPayload(buf, tb, c), '}')
		default:
			buf = s.appendPayload(buf, tb, c)
		}
		props := s.ctx
		if kc := s.keyChangeProps(tb, c); kc != nil {
			props = append(append(make([]sdk.Property, 0, len(s.ctx)+len(kc)), s.ctx...), kc...)
		}
		out = append(out, sdk.Record{Change: i, Head: head, Value: buf[start:len(buf):len(buf)], Properties: props})
	}
	s.sizer.Finish(buf, startCap, len(changes), out[first:])
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
		b = appendValue(b, &tb.cols[i], vals[n], s.origin(c))
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
		b = appendRow(b, tb, c.Before, s.origin(c))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"after":`...)
	if c.Op != change.OpDelete {
		b = appendRow(b, tb, c.After, s.origin(c))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"source":`...)
	b = s.appendSource(b, c)
	b = append(b, `,"transaction":null,"op":"`...)
	b = append(b, ops[c.Op]...)
	b = append(b, '"')
	b = appendTimes(b, s.Hooks.Time())
	return append(b, '}')
}

// appendTimes appends `,"ts_ms":..,"ts_us":..,"ts_ns":..` of t, as Debezium derives the
// three from one instant (0 for the zero time).
func appendTimes(b []byte, t time.Time) []byte {
	var ms, us, ns int64
	if !t.IsZero() {
		ms, us, ns = t.UnixMilli(), t.UnixMicro(), t.UnixNano()
	}
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"ts_us":`...)
	b = strconv.AppendInt(b, us, 10)
	b = append(b, `,"ts_ns":`...)
	return strconv.AppendInt(b, ns, 10)
}

// appendSource writes the source block of Debezium's MySQL (or MariaDB) connector, in the
// order of its schema. Binlog coordinates, the row's index in its event and the session's
// thread come from the change's Meta (binlog_file, binlog_pos, server_id, binlog_row,
// thread_id) when the source provides them, else "", 0 and null; gtid is Meta's gtid (else
// the transaction id when it is a MySQL GTID, uuid:n); snapshot rows carry Meta's snapshot
// mark (first, first_in_data_collection, last_in_data_collection, last), else "true".
func (s *Serializer) appendSource(b []byte, c *change.Change) []byte {
	b = append(b, `{"version":"ferry-`+Version+`","connector":"`...)
	b = append(b, s.opts.Connector...)
	b = append(b, `","name":`...)
	b = jsonw.AppendString(b, s.opts.ServerName)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	b = append(b, `,"snapshot":"`...)
	b = append(b, snapshotMark(c)...)
	b = append(b, `","db":`...)
	b = jsonw.AppendString(b, fmtkit.Database(c))
	var us, ns int64
	if !c.CommitTime.IsZero() {
		us, ns = c.CommitTime.UnixMicro(), c.CommitTime.UnixNano()
	}
	b = append(b, `,"sequence":null,"ts_us":`...)
	b = strconv.AppendInt(b, us, 10)
	b = append(b, `,"ts_ns":`...)
	b = strconv.AppendInt(b, ns, 10)
	b = append(b, `,"table":`...)
	b = jsonw.AppendString(b, fmtkit.TableName(c))
	b = append(b, `,"server_id":`...)
	b = appendMetaInt(b, c.Meta[change.MetaServerID])
	b = append(b, `,"gtid":`...)
	switch g := c.Meta[change.MetaGTID]; {
	case g != "":
		b = jsonw.AppendString(b, g)
	case isMySQLGTID(c.TxID):
		b = jsonw.AppendString(b, c.TxID)
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"file":`...)
	b = jsonw.AppendString(b, c.Meta[change.MetaBinlogFile])
	b = append(b, `,"pos":`...)
	b = appendMetaInt(b, c.Meta[change.MetaBinlogPos])
	b = append(b, `,"row":`...)
	b = appendMetaInt(b, c.Meta[change.MetaBinlogRow])
	b = append(b, `,"thread":`...)
	if t := c.Meta[change.MetaThreadID]; t != "" {
		b = appendMetaInt(b, t)
	} else {
		b = append(b, "null"...)
	}
	return append(b, `,"query":null}`...)
}

// snapshotMark is source.snapshot: "false" for changes from the log, Meta's mark for
// snapshot rows when it is one of Debezium's, else "true".
func snapshotMark(c *change.Change) string {
	if c.Op != change.OpSnapshot {
		return "false"
	}
	switch m := c.Meta[change.MetaSnapshot]; m {
	case change.SnapshotFirst, change.SnapshotFirstInTable, change.SnapshotLastInTable, change.SnapshotLast:
		return m
	}
	return "true"
}

// isMySQLGTID reports a MySQL GTID, <server uuid>:<transaction number> (not a binlog
// file:offset).
func isMySQLGTID(s string) bool {
	i := strings.IndexByte(s, ':')
	if i != 36 || i+1 == len(s) {
		return false
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return strings.Count(s[:i], "-") == 4
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
	b = appendRow(b, tb, row, s.origin(c))
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

// origin says how c's values are written where Debezium's snapshot and log paths differ.
func (s *Serializer) origin(c *change.Change) origin {
	snap := c.Op == change.OpSnapshot
	return origin{snapshot: snap, trimFraction: snap && s.opts.TimestampFraction == TimestampFractionDebezium}
}

func appendRow(b []byte, tb *table, row []change.Value, o origin) []byte {
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
		b = appendValue(b, c, v, o)
	}
	return append(b, '}')
}

// ExactValues tells the host that the records' values need no compacting copy: they share
// one buffer sized by the Sizer, compacted by Finish when it grew (sdk.ExactValues).
func (s *Serializer) ExactValues() bool { return true }
