package verify

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// msg builds a canal message of table d.t on queue q at offset off.
func msg(id string, q int, off int64, op string, key, ver int) harness.Received {
	typ := map[string]string{"snapshot": "INSERT", "insert": "INSERT", "update": "UPDATE", "delete": "DELETE"}[op]
	body := fmt.Sprintf(`{"isDdl":false,"type":%q,"data":[{"id":"%d","ver":"%d"}]}`, typ, key, ver)
	return harness.Received{Body: []byte(body), QueueID: q, QueueOffset: off, StoredAt: time.UnixMilli(off),
		Properties: map[string]string{PropID: id, PropDB: "d", PropTable: "t", PropOp: op, "__topic": "x"}}
}

func TestCompare(t *testing.T) {
	tables := []Table{{DB: "d", Name: "t", Key: []string{"id"}, Version: "ver", Initial: map[string]int64{"1": 1, "2": 1}}}
	table := func(rows ...[2]int) map[string]map[string]map[string]string {
		m := map[string]map[string]string{}
		for _, r := range rows {
			m[fmt.Sprint(r[0])] = map[string]string{"id": fmt.Sprint(r[0]), "ver": fmt.Sprint(r[1])}
		}
		return map[string]map[string]map[string]string{"d.t": m}
	}
	good := []harness.Received{
		msg("s1", 0, 0, "snapshot", 1, 1), msg("u1", 0, 1, "update", 1, 2), msg("u1", 0, 2, "update", 1, 2), // a duplicate
		msg("s2", 1, 0, "snapshot", 2, 1), msg("d2", 1, 1, "delete", 2, 1), msg("i3", 1, 2, "insert", 3, 1),
	}
	s := Compare("canal", tables, good, table([2]int{1, 2}, [2]int{3, 1}))
	if !s.OK() || s.Duplicates != 1 || s.MaxDupWindow != 0 || s.Delivered != 5 {
		t.Fatalf("good run: %s %v", s, s.Problems)
	}
	cases := []struct {
		name  string
		msgs  []harness.Received
		rows  map[string]map[string]map[string]string
		check func(Summary) bool
	}{
		{"lost middle change", []harness.Received{msg("s1", 0, 0, "snapshot", 1, 1), msg("u3", 0, 1, "update", 1, 3)},
			table([2]int{1, 3}), func(s Summary) bool { return s.Lost == 1 }},
		{"lost last change", []harness.Received{msg("s1", 0, 0, "snapshot", 1, 1)},
			table([2]int{1, 2}), func(s Summary) bool { return s.Lost == 1 }},
		{"reordered", []harness.Received{msg("u2", 0, 0, "update", 1, 2), msg("s1", 0, 1, "snapshot", 1, 1)},
			table([2]int{1, 2}), func(s Summary) bool { return s.OrderViolations == 1 }},
		{"two queues", []harness.Received{msg("s1", 0, 0, "snapshot", 1, 1), msg("u2", 1, 0, "update", 1, 2)},
			table([2]int{1, 2}), func(s Summary) bool { return s.OrderViolations == 1 }},
		{"ghost", []harness.Received{msg("s1", 0, 0, "snapshot", 1, 1)},
			table(), func(s Summary) bool { return s.Ghosts == 1 }},
		{"duplicate differs", []harness.Received{msg("s1", 0, 0, "snapshot", 1, 1), msg("u2", 0, 1, "update", 1, 2), msg("s9", 0, 2, "snapshot", 2, 1), msg("u2", 0, 3, "update", 1, 3)},
			table([2]int{1, 2}, [2]int{2, 1}), func(s Summary) bool { return s.DupMismatch == 1 && s.MaxDupWindow == 1 }},
	}
	for _, c := range cases {
		s := Compare("canal", tables, c.msgs, c.rows)
		if s.OK() || !c.check(s) {
			t.Errorf("%s: not caught: %s %v", c.name, s, s.Problems)
		}
	}
}

func TestDecodeEachFormat(t *testing.T) {
	bodies := map[string]string{
		"default":          `{"prevStruct":null,"postStruct":{"id":"1","ver":"2"},"recordType":"INSERT"}`,
		"canal":            `{"isDdl":false,"type":"UPDATE","data":[{"id":"1","ver":"2"}]}`,
		"dataworks":        `{"payload":{"op":"UPDATE_AFTER","after":{"dataColumn":{"id":1,"ver":2}}}}`,
		"shareplex":        `{"meta":{"op":"upd"},"data":{"id":"1","ver":"2"}}`,
		"debezium":         `{"payload":{"op":"u","after":{"id":1,"ver":2}}}`,
		"debezium_flatten": `{"op":"u","after":{"id":1,"ver":2}}`,
		"debezium_smt":     `{"id":1,"ver":2,"__op":"u","__deleted":"false"}`,
	}
	for f, b := range bodies {
		e, err := Decode(f, []byte(b))
		if err != nil || e.Row["id"] != "1" || e.Row["ver"] != "2" || e.Op == "" {
			t.Errorf("%s: %+v %v", f, e, err)
		}
	}
}
