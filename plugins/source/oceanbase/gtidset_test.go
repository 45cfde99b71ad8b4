package oceanbase

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// previousGTIDs is the body of a PREVIOUS_GTIDS event holding sid:start-(end-1).
func previousGTIDs(start, end int64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, 1) // one sid
	b = append(b, sid...)
	b = binary.LittleEndian.AppendUint64(b, 1) // one interval
	b = binary.LittleEndian.AppendUint64(b, uint64(start))
	return binary.LittleEndian.AppendUint64(b, uint64(end)) // exclusive
}

func rotateEvent(next string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, 4), next...)
}

const sidText = "3e11fa47-71ca-11e1-9e33-c80aa9429526"

// A stream started by file and offset inside a file (COM_BINLOG_DUMP at an offset > 4 sends
// no PREVIOUS_GTIDS) must not save the GTIDs it sees as a set: "uuid:41-42" would have a gap
// (1-40 ran before). Its positions carry no set (resume by file:offset) until the next file's
// PREVIOUS_GTIDS makes the set known.
func TestGTIDSetNeverWithAGap(t *testing.T) {
	s := newMySQL8Source(t)
	s.bl = &binlog{file: "binlog.000007", pos: 500, gsetFull: false}
	s.bl.gset, _ = mysql.ParseMysqlGTIDSet("")
	s.bl.resume = position{File: "binlog.000007", Pos: 500}
	p := testParser()
	eb := evb{pos: 500}
	ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
	a := rowVals{id: 1, price: decimal10_2(1, 0, false), nulls: 0b111010}
	feed := func(data []byte) {
		t.Helper()
		ev, err := p.Parse(data)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if err := s.handle(context.Background(), ev); err != nil {
			t.Fatalf("handle %v: %v", ev.Header.EventType, err)
		}
	}
	tx := func(gno int64) {
		feed(eb.event(replication.GTID_EVENT, ts, gtidEvent(gno)))
		feed(eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN")))
		feed(eb.event(replication.TABLE_MAP_EVENT, ts, tableMap()))
		feed(eb.event(replication.WRITE_ROWS_EVENTv2, ts, rowsEvent(a)))
		feed(eb.event(replication.XID_EVENT, ts, xid(uint64(gno))))
	}
	feed(eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()))
	tx(41)
	tx(42)
	if g := s.bl.resume.GTID; g != "" {
		t.Fatalf("resume GTID %q before the set is known; want none (file:offset)", g)
	}
	for i, it := range s.out {
		pos, err := decodePosition(it.c.Position)
		if err != nil {
			t.Fatal(err)
		}
		if pos.GTID != "" || pos.File != "binlog.000007" || pos.Pos == 0 {
			t.Errorf("change %d: position %s carries a set or no offset", i, pos.String())
		}
	}
	end := eb.pos
	feed(eb.event(replication.ROTATE_EVENT, ts, rotateEvent("binlog.000008")))
	eb.pos = 4
	feed(eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()))
	feed(eb.event(replication.PREVIOUS_GTIDS_EVENT, ts, previousGTIDs(1, 43)))
	if g := s.bl.resume.GTID; g != sidText+":1-42" || s.bl.resume.File != "binlog.000008" {
		t.Fatalf("after the next file's PREVIOUS_GTIDS: resume %s (was at %d)", s.bl.resume.String(), end)
	}
	tx(43)
	if g := s.bl.resume.GTID; g != sidText+":1-43" {
		t.Fatalf("resume GTID %q, want %s:1-43", g, sidText)
	}
	last, _ := decodePosition(s.out[len(s.out)-1].c.Position)
	if last.GTID != sidText+":1-43" {
		t.Errorf("last change's position GTID %q", last.GTID)
	}
}

// gtidScan seeds the set from the file's PREVIOUS_GTIDS plus the transactions before the
// start offset, and stops there: the set executed before file:offset.
func TestGTIDScanToOffset(t *testing.T) {
	p := testParser()
	eb := evb{pos: 4}
	ts := uint32(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Unix())
	var evs [][]byte
	evs = append(evs, eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription()))
	evs = append(evs, eb.event(replication.PREVIOUS_GTIDS_EVENT, ts, previousGTIDs(1, 41)))
	afterPrev := eb.pos
	var starts []uint32
	for gno := int64(41); gno <= 44; gno++ {
		starts = append(starts, eb.pos)
		evs = append(evs, eb.event(replication.GTID_EVENT, ts, gtidEvent(gno)))
		evs = append(evs, eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN")))
		evs = append(evs, eb.event(replication.XID_EVENT, ts, xid(uint64(gno))))
	}
	cases := []struct {
		until uint32
		want  string
		used  int // events read
	}{
		{4, sidText + ":1-40", 2},
		{afterPrev, sidText + ":1-40", 2},
		{starts[0], sidText + ":1-40", 2},
		{starts[2], sidText + ":1-42", 8},
		{eb.pos, sidText + ":1-44", len(evs)},
	}
	for _, c := range cases {
		g := &gtidScan{until: c.until}
		n := 0
		for _, data := range evs {
			if g.done {
				break
			}
			ev, err := p.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.feed(ev); err != nil {
				t.Fatalf("until %d: %v", c.until, err)
			}
			n++
		}
		if !g.done || g.set.String() != c.want || n != c.used {
			t.Errorf("until %d: done %v set %v after %d events, want %s after %d", c.until, g.done, g.set, n, c.want, c.used)
		}
	}
	// A file without PREVIOUS_GTIDS (GTIDs off) gives no set rather than a partial one.
	g := &gtidScan{until: eb.pos}
	ev, _ := p.Parse(evs[0])
	_ = g.feed(ev)
	ev, _ = p.Parse(evs[2])
	if err := g.feed(ev); err == nil {
		t.Errorf("a GTID event without PREVIOUS_GTIDS gave no error (set %v)", g.set)
	}
}

func newMySQL8Source(t *testing.T) *Source {
	t.Helper()
	s := New()
	s.flavor, s.gtidMode = mysql.MySQLFlavor, true
	tb, err := s.replay("shop", mysql8Table, tableName{DB: "shop", Name: "orders"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.tables = map[string]*table{"shop.orders": tb}
	return s
}
