// Package serializer is an example serializer plugin, "jsonl": one JSON object per change,
//
//	{"id":"gen-7","op":"update","db":"demo","table":"orders","before":{"id":"7",...},"after":{...},"commit_ms":1718000000000}
//
// with every column value as its text (MySQL's rendering; binary values in base64 or hex;
// NULL as null), "before" and "after" null when the change has no such image, and a "ddl"
// member for DDL changes. Heartbeats give no record. The record key is the primary-key values
// joined with "\x01". The JSON is built with strconv and append, without reflection.
package serializer

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strconv"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/examples/internal/jsontext"
)

// JSONL is the "jsonl" serializer. After Configure it is safe for concurrent use.
type JSONL struct {
	cfg config
}

type config struct {
	IncludeBefore bool   `json:"include_before"`
	Bytes         string `json:"bytes"`
	Topic         string `json:"topic"`
}

// New returns a jsonl serializer with the default configuration.
func New() *JSONL { return &JSONL{cfg: config{IncludeBefore: true, Bytes: "base64"}} }

// Info identifies the plugin.
func (j *JSONL) Info() sdk.Info {
	return sdk.Info{Name: "jsonl", Kind: sdk.KindSerializer, Version: "0.1.0",
		Summary: "One JSON object per change, column values as text."}
}

// Spec declares the configuration.
func (j *JSONL) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "include_before", Type: sdk.TypeBool, Default: true,
			Doc: "Include the before image of updates and deletes (else \"before\" is null)."},
		{Name: "bytes", Type: sdk.TypeString, Default: "base64", Enum: []string{"base64", "hex"},
			Doc: "How binary column values are written as text."},
		{Name: "topic", Type: sdk.TypeString,
			Doc: "Topic for every record, overriding the sink's default; a topic set on the change by a filter wins."},
	}}
}

// Configure decodes and checks the configuration.
func (j *JSONL) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	// The defaults are written once, in Spec; the settings given override them.
	if err := j.Spec().DecodeDefaults(&cfg); err != nil {
		return err
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Bytes != "base64" && cfg.Bytes != "hex" {
		return &sdk.AttributeError{Attribute: "bytes", Summary: "unknown encoding " + strconv.Quote(cfg.Bytes), Detail: `use "base64" or "hex"`}
	}
	j.cfg = cfg
	return nil
}

// Serialize appends one record per change (none for heartbeats).
func (j *JSONL) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := make([]byte, 0, 256*len(changes))
	var key []byte
	for i, c := range changes {
		if c.Op == change.OpHeartbeat {
			continue
		}
		start := len(buf)
		buf = j.appendChange(buf, c)
		key = appendKey(key[:0], c)
		topic := j.cfg.Topic
		if c.Topic != "" {
			topic = c.Topic
		}
		out = append(out, sdk.Record{Change: i, Topic: topic, Key: string(key), Value: buf[start:len(buf):len(buf)]})
	}
	return out, nil
}

func (j *JSONL) appendChange(b []byte, c *change.Change) []byte {
	b = append(b, `{"id":`...)
	b = jsontext.AppendString(b, c.ID)
	b = append(b, `,"op":"`...)
	b = append(b, c.Op.String()...)
	b = append(b, `","db":`...)
	b = jsontext.AppendString(b, c.Database)
	b = append(b, `,"table":`...)
	b = jsontext.AppendString(b, c.TableName)
	b = append(b, `,"before":`...)
	if j.cfg.IncludeBefore {
		b = j.appendImage(b, c.Table, c.Before)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"after":`...)
	b = j.appendImage(b, c.Table, c.After)
	if c.Op == change.OpDDL {
		b = append(b, `,"ddl":`...)
		b = jsontext.AppendString(b, c.DDL)
	}
	b = append(b, `,"commit_ms":`...)
	var ms int64
	if !c.CommitTime.IsZero() {
		ms = c.CommitTime.UnixMilli()
	}
	b = strconv.AppendInt(b, ms, 10)
	return append(b, '}')
}

func (j *JSONL) appendImage(b []byte, t *change.Table, row []change.Value) []byte {
	if row == nil || t == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, v := range row {
		if i >= len(t.Columns) {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		col := &t.Columns[i]
		b = jsontext.AppendString(b, col.Name)
		b = append(b, ':')
		switch v.Kind() {
		case change.KindNull:
			b = append(b, "null"...)
		case change.KindBytes:
			b = append(b, '"')
			if j.cfg.Bytes == "hex" {
				b = hex.AppendEncode(b, []byte(v.Str()))
			} else {
				b = base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
			}
			b = append(b, '"')
		case change.KindString, change.KindDecimal, change.KindJSON, change.KindEnum, change.KindSet:
			b = jsontext.AppendString(b, v.Str())
		default: // numbers, temporal values, BIT, YEAR: short ASCII text
			b = append(b, '"')
			b = v.AppendText(b, col.Fsp)
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// appendKey appends the primary-key values (or the table's other identifying columns)
// joined with "\x01".
func appendKey(b []byte, c *change.Change) []byte {
	if c.Table == nil {
		return b
	}
	row := c.Row()
	for n, i := range c.Table.KeyColumns() {
		if n > 0 {
			b = append(b, 0x01)
		}
		if i < len(row) {
			b = row[i].AppendText(b, c.Table.Columns[i].Fsp)
		}
	}
	return b
}
