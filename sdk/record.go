package sdk

import (
	"time"
	"unsafe"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Record is one message for a sink. A serializer sets Value (and may set Key, Properties and
// Topic); the host fills the rest from the change before the sink sees it.
type Record struct {
	// Change is the index, in the serializer's input, of the change this record came from.
	Change int
	// Topic is the destination; empty means the sink's configured default.
	Topic string
	// Key is the message key: the key-column values joined with "\x01".
	Key string
	// Value is the message body.
	Value []byte
	// Properties are user properties of the message, in a fixed order.
	Properties []Property

	// Filled by the host:

	// Hash is the hash of the sharding-column values; sinks choose a partition from it.
	Hash uint64
	// ChangeID is the stable unique id of the change.
	ChangeID string
	// Op, Database, Table, CommitTime and Position describe the change.
	Op         change.Op
	Database   string
	Table      string
	CommitTime time.Time
	Position   change.Position
}

// Property is a user property of a message.
type Property struct {
	Key, Value string
}

// ApproxSize estimates the bytes the record holds in memory.
// recordSize is the size of the Record struct itself.
const recordSize = int(unsafe.Sizeof(Record{}))

func (r *Record) ApproxSize() int {
	n := recordSize + len(r.Topic) + len(r.Key) + len(r.Value) + len(r.ChangeID) + len(r.Database) + len(r.Table) + len(r.Position)
	for _, p := range r.Properties {
		n += 32 + len(p.Key) + len(p.Value)
	}
	return n
}
