// Package verify checks what a CDC pipeline delivered to RocketMQ against the source
// database, knowing nothing of ferry's internals: it reads the messages of the topics with a
// plain consumer, decodes each body the way a consumer of its format would (only the fields
// docs/formats.md documents) and uses only the documented message properties (ferry_id,
// ferry_db, ferry_table, ferry_commit_ms).
//
// The checks: every row of the final table state is the last state of its key (no loss), no
// key has a state the table lacks (no ghost rows), each key's changes arrive in commit order
// on one queue (a per-key version column, see Workload), and duplicates (one ferry_id seen
// more than once) carry their original's content; their count and the largest window between
// original and copy are reported.
package verify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Event is one row change as a consumer of a format sees it.
type Event struct {
	Op   string            // snapshot|insert|update|delete (snapshot rows may read insert in formats without a snapshot marker)
	Row  map[string]string // after image (before image for deletes), values as text
	Skip bool              // a message that carries no row state of its own (DataWorks UPDATE_BEFOR, heartbeats, DDL)
}

// Str renders a decoded JSON value as text (numbers as written, null as "").
func Str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func image(m map[string]any) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if strings.HasPrefix(k, "__") { // __light_type, debezium_smt's __op/__db/...
			continue
		}
		out[k] = Str(v)
	}
	return out
}

// Formats lists the formats Decode reads.
var Formats = []string{"default", "default_extend_column_type", "canal", "dataworks", "shareplex",
	"debezium", "debezium_flatten", "debezium_smt"}

// Decode reads a message body of the given format (the serializer name).
func Decode(format string, body []byte) (Event, error) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return Event{}, err
	}
	var read func(map[string]any) (Event, map[string]any, error)
	switch format {
	case "default", "default_extend_column_type":
		read = readDefault
	case "canal":
		read = readCanal
	case "dataworks":
		read = readDataWorks
	case "shareplex":
		read = readSharePlex
	case "debezium":
		read = func(m map[string]any) (Event, map[string]any, error) { return readDebezium(obj(m["payload"])) }
	case "debezium_flatten":
		read = readDebezium
	case "debezium_smt":
		read = readDebeziumSMT
	default:
		return Event{}, fmt.Errorf("no decoder for %s", format)
	}
	e, img, err := read(m)
	if err != nil || e.Skip {
		return e, err
	}
	e.Row = image(img)
	if e.Op == "" || len(e.Row) == 0 {
		return e, fmt.Errorf("cannot read op/row from %s message %s", format, body)
	}
	return e, nil
}

// The readers of each format return the message's operation (or Skip) and its row image.

func readDefault(m map[string]any) (e Event, img map[string]any, err error) {
	switch Str(m["recordType"]) {
	case "ROW":
		e.op("snapshot")
	case "INSERT":
		e.op("insert")
	case "UPDATE":
		e.op("update")
	case "DELETE":
		e.op("delete")
	case "HEARTBEAT", "DDL":
		e.Skip = true
		return e, nil, nil
	}
	img = obj(m["postStruct"])
	if e.Op == "delete" {
		img = obj(m["prevStruct"])
	}
	return e, img, nil
}

func readCanal(m map[string]any) (e Event, img map[string]any, err error) {
	if b, _ := m["isDdl"].(bool); b {
		e.Skip = true
		return e, nil, nil
	}
	e.op(strings.ToLower(Str(m["type"])))
	data, _ := m["data"].([]any)
	if len(data) != 1 {
		return e, nil, fmt.Errorf("canal data has %d rows", len(data))
	}
	return e, obj(data[0]), nil
}

func readDataWorks(m map[string]any) (e Event, img map[string]any, err error) {
	p := obj(m["payload"])
	switch Str(p["op"]) {
	case "INSERT":
		e.op("insert")
	case "UPDATE_BEFOR", "MHEARTBEAT", "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "QUERY":
		e.Skip = true
		return e, nil, nil
	case "UPDATE_AFTER":
		e.op("update")
	case "DELETE":
		e.op("delete")
	}
	img = obj(obj(p["after"])["dataColumn"])
	if e.Op == "delete" {
		img = obj(obj(p["before"])["dataColumn"])
	}
	return e, img, nil
}

func readSharePlex(m map[string]any) (e Event, img map[string]any, err error) {
	switch Str(obj(m["meta"])["op"]) {
	case "ins":
		e.op("insert")
	case "upd":
		e.op("update")
	case "del":
		e.op("delete")
	}
	return e, obj(m["data"]), nil
}

// readDebezium reads a Debezium envelope's payload (the message itself when flattened).
func readDebezium(p map[string]any) (e Event, img map[string]any, err error) {
	e.op(debeziumOp(Str(p["op"])))
	img = obj(p["after"])
	if e.Op == "delete" {
		img = obj(p["before"])
	}
	return e, img, nil
}

func readDebeziumSMT(m map[string]any) (e Event, img map[string]any, err error) {
	e.op(debeziumOp(Str(m["__op"])))
	if (Str(m["__deleted"]) == "true") != (e.Op == "delete") {
		return e, nil, fmt.Errorf("__deleted %q for op %s", Str(m["__deleted"]), e.Op)
	}
	return e, m, nil
}

func (e *Event) op(s string) {
	switch s {
	case "snapshot", "insert", "update", "delete":
		e.Op = s
	}
}

func debeziumOp(s string) string {
	switch s {
	case "r":
		return "snapshot"
	case "c":
		return "insert"
	case "u":
		return "update"
	case "d":
		return "delete"
	}
	return ""
}
