package sdktest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// DiffChanges describes how got differs from want, or returns "" when they are equal: same
// length and, change by change, equal fields, with tables compared by content, values by
// Equal (kind and content), commit times by instant and nil and empty slices alike.
func DiffChanges(want, got []*change.Change) string {
	var b strings.Builder
	if len(want) != len(got) {
		fmt.Fprintf(&b, "%d changes, want %d\n", len(got), len(want))
	}
	for i := 0; i < min(len(want), len(got)); i++ {
		if d := diffChange(want[i], got[i]); d != "" {
			fmt.Fprintf(&b, "change %d (%s): %s\n", i, want[i].ID, d)
		}
	}
	return b.String()
}

func diffChange(w, g *change.Change) string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w)) }
	if w.ID != g.ID {
		add("ID", w.ID, g.ID)
	}
	if w.Op != g.Op {
		add("Op", w.Op, g.Op)
	}
	if (w.Table == nil) != (g.Table == nil) || (w.Table != nil && !reflect.DeepEqual(*w.Table, *g.Table)) {
		add("Table", w.Table, g.Table)
	}
	if w.Database != g.Database {
		add("Database", w.Database, g.Database)
	}
	if w.TableName != g.TableName {
		add("TableName", w.TableName, g.TableName)
	}
	for _, img := range []struct {
		name string
		w, g []change.Value
	}{{"Before", w.Before, g.Before}, {"After", w.After, g.After}} {
		if len(img.w) != len(img.g) {
			add(img.name, img.w, img.g)
			continue
		}
		for j := range img.w {
			if !img.w[j].Equal(img.g[j]) {
				d = append(d, fmt.Sprintf("%s[%d] = %v, want %v", img.name, j, img.g[j], img.w[j]))
			}
		}
	}
	if w.DDL != g.DDL {
		add("DDL", w.DDL, g.DDL)
	}
	if !w.CommitTime.Equal(g.CommitTime) {
		add("CommitTime", w.CommitTime, g.CommitTime)
	}
	if w.TxID != g.TxID || w.TxSeq != g.TxSeq || w.TxSize != g.TxSize {
		add("Tx", fmt.Sprint(w.TxID, w.TxSeq, w.TxSize), fmt.Sprint(g.TxID, g.TxSeq, g.TxSize))
	}
	if !bytes.Equal(w.Position, g.Position) {
		add("Position", w.Position, g.Position)
	}
	if w.Topic != g.Topic {
		add("Topic", w.Topic, g.Topic)
	}
	if len(w.Meta) != len(g.Meta) || (len(w.Meta) > 0 && !reflect.DeepEqual(w.Meta, g.Meta)) {
		add("Meta", w.Meta, g.Meta)
	}
	return strings.Join(d, "; ")
}

// DiffRecords describes how got differs from want, or returns "" when they are equal
// (commit times compared by instant, nil and empty slices alike).
func DiffRecords(want, got []sdk.Record) string {
	var b strings.Builder
	if len(want) != len(got) {
		fmt.Fprintf(&b, "%d records, want %d\n", len(got), len(want))
	}
	for i := 0; i < min(len(want), len(got)); i++ {
		w, g := want[i], got[i]
		if !w.CommitTime.Equal(g.CommitTime) {
			fmt.Fprintf(&b, "record %d: CommitTime = %v, want %v\n", i, g.CommitTime, w.CommitTime)
		}
		w.CommitTime = g.CommitTime
		for _, r := range []*sdk.Record{&w, &g} {
			r.Value, r.Head = r.Body(), nil // a body compares whole, however it is split
			if len(r.Value) == 0 {
				r.Value = nil
			}
			if len(r.Position) == 0 {
				r.Position = nil
			}
			if len(r.Properties) == 0 {
				r.Properties = nil
			}
		}
		if !reflect.DeepEqual(w, g) {
			fmt.Fprintf(&b, "record %d:\n  got  %+v\n  want %+v\n", i, g, w)
		}
	}
	return b.String()
}
