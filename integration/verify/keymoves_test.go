package verify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// cm is a canal message for key on queue q at offset off, stored at ms.
func cm(id string, q int, off int64, op, key, ver string, ms int) harness.Received {
	return harness.Received{Body: []byte(fmt.Sprintf(`{"isDdl":false,"type":%q,"data":[{"id":%q,"ver":%q}]}`, op, key, ver)),
		Properties: map[string]string{PropID: id}, QueueID: q, QueueOffset: off, StoredAt: t0.Add(time.Duration(ms) * time.Millisecond)}
}

func TestCheckMoves(t *testing.T) {
	moves := []Move{{From: "1", To: "2", BeforeVer: "1", AfterVer: "2"}}
	table := map[string]string{"1": "3"}
	// Key 1 on queue 0, key 2 on queue 1: insert 1, move 1->2, re-insert 1, delete 2.
	good := []harness.Received{
		cm("a", 0, 0, "INSERT", "1", "1", 0),
		cm("b/delete", 0, 1, "DELETE", "1", "1", 10),
		cm("c", 0, 2, "INSERT", "1", "3", 12),
		cm("b/insert", 1, 0, "INSERT", "2", "2", 11),
		cm("d", 1, 1, "DELETE", "2", "2", 13),
	}
	if s := CheckMoves("canal", good, table, moves); !s.OK() {
		t.Fatalf("good stream: %v", s.Violations)
	}
	for name, tc := range map[string]struct {
		msgs []harness.Received
		want string
	}{
		// The old key's delete after the re-insert.
		"delete after re-insert": {[]harness.Received{good[0], cm("c", 0, 1, "INSERT", "1", "3", 12), cm("b/delete", 0, 2, "DELETE", "1", "1", 10), good[3], good[4]}, "while the key holds"},
		// Today's single UPDATE on the new key: the old key never shows the row leaving.
		"update on the new key only": {[]harness.Received{good[0], good[2], cm("b", 1, 0, "UPDATE", "2", "2", 11), good[4]}, "no delete of the old key"},
		// The new key's insert stored before the old key's delete.
		"insert stored first": {[]harness.Received{good[0], cm("b/delete", 0, 1, "DELETE", "1", "1", 20), good[2], good[3], good[4]}, "before the old key's delete"},
		"wrong final state":   {good[:4], "ends as"},
		"key on two queues":   {[]harness.Received{good[0], good[1], cm("c", 3, 0, "INSERT", "1", "3", 12), good[3], good[4]}, "on queues"},
	} {
		s := CheckMoves("canal", tc.msgs, table, moves)
		if s.OK() || !strings.Contains(strings.Join(s.Violations, "\n"), tc.want) {
			t.Errorf("%s: violations %v, want one with %q", name, s.Violations, tc.want)
		}
	}
	// Copies of a ferry_id are left out.
	if s := CheckMoves("canal", append(good, good[1]), table, moves); !s.OK() {
		t.Fatalf("with a copy: %v", s.Violations)
	}
}

func TestDebeziumKeyHeader(t *testing.T) {
	if got := debeziumKeyHeader("debezium", `{"schema":{"type":"struct"},"payload":{"id":7}}`); got != "7" {
		t.Fatal(got)
	}
	if got := debeziumKeyHeader("debezium_flatten", `{"id":7}`); got != "7" {
		t.Fatal(got)
	}
	if got := debeziumKeyHeader("debezium", `{"id":7}`); got != "" {
		t.Fatal(got)
	}
}
