package verify

import (
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
)

func om(id, table string, q int, off int64) harness.Received {
	return harness.Received{QueueID: q, QueueOffset: off,
		Properties: map[string]string{PropID: id, PropDB: "d", PropTable: table, "__topic": "x"}}
}

func TestParseChangeID(t *testing.T) {
	for _, c := range []struct {
		id       string
		ok       bool
		seq, row uint64
	}{
		{"0-1-1234#3", true, 1234, 3},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:23#0", true, 23, 0},
		{"mysql-bin.000003:4567#2", true, 4567, 2},
		{"snapshot:d.t:1@0-1-5", false, 0, 0},
		{"0-1-9#ddl-1", false, 0, 0},
		{"heartbeat:x:1", false, 0, 0},
	} {
		o, ok := parseChangeID(c.id)
		if ok != c.ok || (ok && (o.seq != c.seq || o.row != c.row)) {
			t.Errorf("%s: %+v %v", c.id, o, ok)
		}
	}
}

func TestCheckCommitOrder(t *testing.T) {
	good := []harness.Received{
		om("0-1-10#0", "a", 0, 0), om("0-1-10#1", "b", 0, 1), om("0-1-11#0", "a", 0, 2), om("0-1-12#0", "b", 0, 3),
		om("0-1-11#0", "a", 0, 4), // a copy: counted, not checked
	}
	if c := CheckCommitOrder(good, false); !c.OK() || c.Checked != 4 || c.Duplicates != 1 || c.Transactions != 3 {
		t.Errorf("good: %s", c)
	}
	// Two transactions interleaved on one queue.
	bad := []harness.Received{om("0-1-10#0", "a", 0, 0), om("0-1-11#0", "b", 0, 1), om("0-1-10#1", "a", 0, 2)}
	c := CheckCommitOrder(bad, false)
	if c.OK() || c.Violations != 1 || c.Interleaved != 1 || !strings.Contains(c.String(), "0-1-10#1 after 0-1-11#0") {
		t.Errorf("bad: %s", c)
	}
	// Per table, the same messages are in order (a and b are separate units).
	if c := CheckCommitOrder(bad, true); !c.OK() || c.Units != 2 {
		t.Errorf("bad per table: %s", c)
	}
	// Per table, a table out of order.
	worse := []harness.Received{om("0-1-12#0", "a", 1, 0), om("0-1-11#0", "a", 1, 1)}
	if c := CheckCommitOrder(worse, true); c.Violations != 1 {
		t.Errorf("worse: %s", c)
	}
}
