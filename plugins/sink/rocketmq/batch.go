package rocketmq

import (
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// encodeBatch writes msgs as the body of one batch request (SEND_BATCH_MESSAGE), the
// layout the broker decodes (MessageDecoder.decodeMessages in the Java broker; the Go
// client's Message.Marshal): per message TOTALSIZE, MAGICCODE 0, BODYCRC 0, FLAG 0,
// BODYSIZE, BODY, PROPERTYSIZE (2 bytes), PROPERTIES as name 0x01 value 0x02.
//
// It replaces the client's MarshalMessageBatch, which builds a map of properties per
// message, marshals each message into a buffer of its own and appends them to a buffer
// that grows by doubling: on a stream of 4 KB messages that was a quarter of ferry's CPU
// (the profile in docs/performance.md). Here the batch is one allocation of its exact size.
//
// The properties of a message are its own (m.Props, where a later duplicate name wins, as
// a map would have it), then TAGS, KEYS (when set), UNIQ_KEY (a message id in the client's
// format, which the client sets on no message of a batch) and WAIT=true; the sink's own
// names override the same names in m.Props.
//
// It appends to dst[:0] (a buffer from batchBuffers, or nil), growing it once if too small.
func encodeBatch(dst []byte, msgs []message, tag string) []byte {
	size := 0
	for i := range msgs {
		size += encodedSize(&msgs[i], tag)
	}
	buf := dst[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	now := time.Now()
	for i := range msgs {
		buf = appendMessage(buf, &msgs[i], tag, now)
	}
	return buf
}

// batchBuffers holds batch bodies for reuse: a body is needed only until the send that
// carries it returns (the client writes the request before it waits for the answer, and its
// trace keeps only the body's length), and a new megabyte per batch costs its zeroing, page
// faults and garbage collection. Bodies over maxPooledBatch are not kept.
var batchBuffers sync.Pool

const maxPooledBatch = 8 << 20

func getBatchBuffer() []byte {
	if b, ok := batchBuffers.Get().(*[]byte); ok {
		return *b
	}
	return nil
}

func putBatchBuffer(b []byte) {
	if cap(b) <= maxPooledBatch {
		b = b[:0]
		batchBuffers.Put(&b)
	}
}

// uniqPrefix is the first 20 hex digits of the client's message ids (its IPv4 address, pid
// and class-loader id), taken from one id it made; uniqCounter numbers ferry's ids.
var (
	uniqPrefix  = primitive.CreateUniqID()[:20]
	uniqCounter atomic.Uint32
)

// appendUniq appends a message id in the client's format (CreateUniqID: 20 hex digits of
// prefix, 8 of the time since the start of the month, 4 of a counter; the Java client's
// MessageClientIDSetter reads the time back from it), with the time in milliseconds where
// the Go client has whole seconds: the counter then wraps per millisecond, not per second.
func appendUniq(buf []byte, now time.Time) []byte {
	y, m, _ := now.Date()
	month := time.Date(y, m, 1, 0, 0, 0, 0, now.Location())
	var raw [6]byte
	binary.BigEndian.PutUint32(raw[:], uint32(now.Sub(month).Milliseconds()))
	binary.BigEndian.PutUint16(raw[4:], uint16(uniqCounter.Add(1)))
	buf = append(buf, uniqPrefix...)
	return hex.AppendEncode(buf, raw[:]) // lower case, as the client's counter part
}

// appendMessage appends m's record of a batch body to buf.
func appendMessage(buf []byte, m *message, tag string, now time.Time) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0) // TOTALSIZE, set below
	buf = binary.BigEndian.AppendUint32(buf, 0) // MAGICCODE
	buf = binary.BigEndian.AppendUint32(buf, 0) // BODYCRC
	buf = binary.BigEndian.AppendUint32(buf, 0) // FLAG
	buf = binary.BigEndian.AppendUint32(buf, uint32(m.bodyLen()))
	buf = append(buf, m.Head...) // the body is written once, here, head and rest
	buf = append(buf, m.Body...)
	propStart := len(buf)
	buf = append(buf, 0, 0) // PROPERTYSIZE, set below
	for i, p := range m.Props {
		if reserved(p[0], m.Keys != "") || shadowed(m.Props[i+1:], p[0]) {
			continue
		}
		buf = appendProp(buf, p[0], p[1])
	}
	buf = append(buf, PropPosition...)
	buf = append(hex.AppendEncode(append(buf, 1), m.Position), 2)
	buf = appendProp(buf, primitive.PropertyTags, tag)
	if m.Keys != "" {
		buf = appendProp(buf, primitive.PropertyKeys, m.Keys)
	}
	buf = append(buf, primitive.PropertyUniqueClientMessageIdKeyIndex...)
	buf = append(buf, 1)
	buf = append(appendUniq(buf, now), 2)
	buf = appendProp(buf, primitive.PropertyWaitStoreMsgOk, "true")
	binary.BigEndian.PutUint16(buf[propStart:], uint16(len(buf)-propStart-2))
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start))
	return buf
}

func appendProp(buf []byte, name, value string) []byte {
	buf = append(buf, name...)
	buf = append(buf, 1)
	buf = append(buf, value...)
	return append(buf, 2)
}

// reserved tells whether name is one the sink sets itself on every message (ferry_position
// from message.Position).
func reserved(name string, keys bool) bool {
	switch name {
	case primitive.PropertyTags, primitive.PropertyUniqueClientMessageIdKeyIndex, primitive.PropertyWaitStoreMsgOk, PropPosition:
		return true
	case primitive.PropertyKeys:
		return keys
	}
	return false
}

// shadowed tells whether a later property of the same name replaces this one.
func shadowed(later [][2]string, name string) bool {
	for _, p := range later {
		if p[0] == name {
			return true
		}
	}
	return false
}
