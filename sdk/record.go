package sdk

import (
	"time"
	"unsafe"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Record is one message for a sink. A serializer sets Value (and may set Head, Key,
// Properties and Topic); the host fills the rest from the change before the sink sees it.
type Record struct {
	// Change is the index, in the serializer's input, of the change this record came from.
	Change int
	// Topic is the destination; empty means the sink's configured default.
	Topic string
	// Key is the message key: the key-column values joined with "\x01".
	Key string
	// Value is the message body, or its end when Head is set.
	Value []byte
	// Head, when not empty, is the start of the message body: the body is Head followed by
	// Value (Body, BodyLen, AppendBody). It is for bytes that many records share, such as a
	// format's schema written once per table, so that they are neither copied into every
	// record nor counted against the memory budget once per record; nobody may modify it.
	// The host hands records with a Head only to sinks that write it (SharedHeads); for any
	// other sink it first joins Head and Value into Value (JoinHeads).
	Head []byte
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

// BodyLen is the length of the message body: Head and Value.
func (r *Record) BodyLen() int { return len(r.Head) + len(r.Value) }

// AppendBody appends the message body (Head, then Value) to dst.
func (r *Record) AppendBody(dst []byte) []byte {
	return append(append(dst, r.Head...), r.Value...)
}

// Body returns the message body: Value itself when there is no Head, else a new slice
// holding Head and Value.
func (r *Record) Body() []byte {
	if len(r.Head) == 0 {
		return r.Value
	}
	return r.AppendBody(make([]byte, 0, r.BodyLen()))
}

// recordSize is the size of the Record struct itself.
const recordSize = int(unsafe.Sizeof(Record{}))

// ApproxSize estimates the bytes the record holds in memory. Head is not counted: it is
// shared (held once by the serializer that made it, whatever the number of records).
func (r *Record) ApproxSize() int {
	n := recordSize + len(r.Topic) + len(r.Key) + len(r.Value) + len(r.ChangeID) + len(r.Database) + len(r.Table) + len(r.Position)
	for _, p := range r.Properties {
		n += 32 + len(p.Key) + len(p.Value)
	}
	return n
}
