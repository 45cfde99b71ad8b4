// Package shareplex is the "shareplex" serializer: SharePlex JSON as Alibaba DTS documents
// it, {"meta": {...}, "data": {...}, "key": {...}}. Snapshot rows and inserts are ins, then
// upd and del; data is the after image (before image for del) and key the before image of
// updates only. DDL and heartbeats give no record (the format has none). Values are text as
// in the Default format (binary and BIT as Base64).
package shareplex

import (
	"context"
	"strconv"
	"time"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Name is the plugin's name.
const Name = "shareplex"

// Serializer is the "shareplex" serializer. It is safe for concurrent use.
type Serializer struct {
	tables *fmtkit.Cache[*table]
	hooks  fmtkit.Hooks // posttime
	// sizer sizes each batch's buffer by what the previous ones needed.
	sizer fmtkit.Sizer
}

// New returns the "shareplex" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *Serializer { return &Serializer{tables: fmtkit.NewCache(buildTable)} }

// Info identifies the plugin.
func (s *Serializer) Info() sdk.Info {
	return sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: "0.1.0",
		Summary: "SharePlex JSON (meta, data, key) as Alibaba DTS documents it."}
}

// Spec declares the configuration: the format has no options.
func (s *Serializer) Spec() sdk.Spec { return sdk.Spec{} }

// Configure checks that no option is set.
func (s *Serializer) Configure(_ context.Context, c sdk.Config) error {
	var none struct{}
	return c.Decode(&none)
}

type table struct {
	cols      []fmtkit.Col
	keys      []int
	qualified []byte
}

func buildTable(t *change.Table) *table {
	return &table{cols: fmtkit.Cols(t), keys: t.KeyColumns(), qualified: jsonw.AppendString(nil, t.QualifiedName())}
}

var ops = [...]string{change.OpSnapshot: "ins", change.OpInsert: "ins", change.OpUpdate: "upd", change.OpDelete: "del"}

const timeLayout = "2006-01-02T15:04:05"

// Serialize appends one record per row change.
func (s *Serializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	buf := s.sizer.Start(len(changes), 1024)
	startCap, first := cap(buf), len(out)
	for i, c := range changes {
		if !c.Op.IsRow() || c.Table == nil {
			continue
		}
		start := len(buf)
		buf = s.appendRow(buf, s.tables.Get(c.Table), c)
		out = append(out, sdk.Record{Change: i, Value: buf[start:len(buf):len(buf)]})
	}
	s.sizer.Finish(buf, startCap, len(changes), out[first:])
	return out, nil
}

func (s *Serializer) appendRow(b []byte, tb *table, c *change.Change) []byte {
	b = append(b, `{"meta":{"time":"`...)
	if !c.CommitTime.IsZero() {
		b = c.CommitTime.UTC().AppendFormat(b, timeLayout)
	}
	b = append(b, `","userid":0,"op":"`...)
	b = append(b, ops[c.Op]...)
	b = append(b, `","scn":"`...)
	b = strconv.AppendInt(b, fmtkit.Millis(c.CommitTime), 10)
	b = append(b, `","rowid":"`...)
	start := len(b)
	b = change.AppendValuesText(b, c.Table, tb.keys, c.Row(), change.KeySep)
	b = fmtkit.CloseString(b, start)
	b = append(b, `,"trans":`...)
	b = jsonw.AppendString(b, c.TxID)
	seq, size := c.TxSeq, c.TxSize
	if seq == 0 {
		seq = 1
	}
	if size < seq {
		size = seq
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendUint(b, uint64(size), 10)
	b = append(b, `,"table":`...)
	b = append(b, tb.qualified...)
	b = append(b, `,"idx":"`...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(size), 10)
	b = append(b, `","posttime":"`...)
	b = s.hooks.Time().In(time.UTC).AppendFormat(b, timeLayout)
	b = append(b, `"},"data":`...)
	b = appendImage(b, tb, c.Row())
	if c.Op == change.OpUpdate {
		b = append(b, `,"key":`...)
		b = appendImage(b, tb, c.Before)
	}
	return append(b, '}')
}

func appendImage(b []byte, tb *table, row []change.Value) []byte {
	b = append(b, '{')
	b = fmtkit.AppendTextFields(b, tb.cols, row, fmtkit.TextRules{})
	return append(b, '}')
}

// ExactValues tells the host that the records' values need no compacting copy: they share
// one buffer sized by the Sizer, compacted by Finish when it grew (sdk.ExactValues).
func (s *Serializer) ExactValues() bool { return true }
