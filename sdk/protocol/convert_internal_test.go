package protocol

import (
	"fmt"
	"testing"

	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/protobuf/proto"
)

// TestTableDefinitionsAreBoundedAndResent sends changes of more tables than a stream
// remembers, then the first tables again, through an encoder, the wire format and a decoder.
func TestTableDefinitionsAreBoundedAndResent(t *testing.T) {
	var enc tableEncoder
	var dec tableDecoder
	n := maxStreamTables*2 + 10
	tables := make([]*change.Table, n)
	for i := range tables {
		tables[i] = &change.Table{Database: "db", Name: fmt.Sprint("t", i), Columns: []change.Column{{Name: "c"}}}
	}
	defsSent := 0
	send := func(ts []*change.Table) {
		cs := make([]*change.Change, len(ts))
		for i, tb := range ts {
			cs[i] = &change.Change{ID: tb.Name, Op: change.OpInsert, Table: tb, After: []change.Value{change.NewInt(int64(i))}}
		}
		req := &pb.SerializeRequest{ResetTables: enc.begin(), Values: &pb.Values{}}
		req.Changes = enc.changes(cs, &req.Tables, req.Values)
		defsSent += len(req.Tables)
		wire, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got := &pb.SerializeRequest{}
		if err := proto.Unmarshal(wire, got); err != nil {
			t.Fatal(err)
		}
		dec.define(got.Tables, got.ResetTables)
		out, err := dec.changes(got.Changes, got.Values)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range out {
			if c.Table.Name != ts[i].Name || c.ID != ts[i].Name {
				t.Fatalf("change %d: table %s, want %s", i, c.Table.Name, ts[i].Name)
			}
		}
	}
	for i := 0; i < n; i += 100 {
		send(tables[i:min(i+100, n)])
	}
	if len(dec.tables) > maxStreamTables+100 || len(enc.ids) > maxStreamTables+100 {
		t.Errorf("remembered %d and %d tables", len(enc.ids), len(dec.tables))
	}
	before := defsSent
	send(tables[:3]) // forgotten: sent again
	if defsSent != before+3 {
		t.Errorf("%d definitions sent for 3 forgotten tables", defsSent-before)
	}
	before = defsSent
	send(tables[:3]) // known now
	if defsSent != before {
		t.Errorf("known tables were defined again")
	}
	v2 := *tables[0]
	v2.Version = 7
	before = defsSent
	send([]*change.Table{&v2, tables[0]})
	if defsSent != before+1 {
		t.Errorf("a new version should be defined once, got %d definitions", defsSent-before)
	}
	enc.forget()
	req := &pb.SerializeRequest{ResetTables: enc.begin()}
	if !req.ResetTables {
		t.Error("after a lost message the next one must reset the tables")
	}
}

func TestUndefinedTableIsAnError(t *testing.T) {
	var dec tableDecoder
	if _, err := dec.changes([]*pb.Change{{TableId: 5}}, nil); err == nil {
		t.Fatal("no error for an undefined table")
	}
	if _, err := dec.changes([]*pb.Change{{After: 2}}, &pb.Values{Kinds: []byte{1}, N: []uint64{1}, Sizes: []uint32{0}}); err == nil {
		t.Fatal("no error for missing values")
	}
	if _, err := dec.changes([]*pb.Change{{After: 1}}, &pb.Values{Kinds: []byte{6}, N: []uint64{0}, Sizes: []uint32{5}, Text: []byte("abc")}); err == nil {
		t.Fatal("no error for short text")
	}
}
