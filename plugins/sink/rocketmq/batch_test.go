package rocketmq

import (
	"encoding/binary"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// batchEntry is one message of a decoded batch body.
type batchEntry struct {
	body  string
	props map[string]string
}

// decodeBatch reads a batch body the way the broker does (MessageDecoder.decodeMessages):
// it fails the test on a frame whose sizes do not add up.
func decodeBatch(t *testing.T, b []byte) []batchEntry {
	t.Helper()
	var out []batchEntry
	for len(b) > 0 {
		if len(b) < 22 {
			t.Fatalf("truncated frame: %d bytes left", len(b))
		}
		total := int(binary.BigEndian.Uint32(b))
		if total > len(b) {
			t.Fatalf("frame of %d bytes, %d left", total, len(b))
		}
		f := b[:total]
		if binary.BigEndian.Uint32(f[4:]) != 0 || binary.BigEndian.Uint32(f[8:]) != 0 || binary.BigEndian.Uint32(f[12:]) != 0 {
			t.Fatalf("magic, CRC or flag not 0: % x", f[4:16])
		}
		bodyLen := int(binary.BigEndian.Uint32(f[16:]))
		body := f[20 : 20+bodyLen]
		propLen := int(binary.BigEndian.Uint16(f[20+bodyLen:]))
		if 22+bodyLen+propLen != total {
			t.Fatalf("frame sizes: total %d, body %d, properties %d", total, bodyLen, propLen)
		}
		m := &primitive.Message{}
		m.UnmarshalProperties(f[22+bodyLen:])
		out = append(out, batchEntry{string(body), m.GetProperties()})
		b = b[total:]
	}
	return out
}

// clientBatch is what the sink sent before encodeBatch: one client message per message,
// its properties in a map, encoded by the client's MarshalMessageBatch.
func clientBatch(msgs []message, tag string) []byte {
	out := make([]*primitive.Message, len(msgs))
	for i := range msgs {
		out[i] = single("t", &msgs[i], tag)
	}
	return producer.MarshalMessageBatch(out...)
}

func TestEncodeBatchDecodesAsTheClientsBatch(t *testing.T) {
	msgs := []message{
		{Body: []byte(`{"id":1}`), Keys: "1", Props: [][2]string{{PropChangeID, "c1"}, {PropPosition, "the serializer's"}, {PropOp, "INSERT"}},
			Position: []byte{0xab, 0x01}}, // ferry_position from Position, in hex, in place of the serializer's
		{Body: []byte{}, Props: nil}, // empty body, no key
		{Body: []byte(strings.Repeat("é", 5000)), Keys: "k", Props: [][2]string{{"a", "1"}, {"a", "2"}, {"TAGS", "mine"}, {"KEYS", "mine"}}},
		{Body: []byte("x"), Props: [][2]string{{"KEYS", "from the serializer"}}}, // no record key: the serializer's KEYS stays
		// a record with a shared head (sdk.Record.Head): one body, head then the rest
		{Head: []byte(`{"schema":{"type":"struct"},"payload":`), Body: []byte(`{"id":2}}`), Keys: "2"},
		{Head: []byte(`{"schema":{"type":"struct"},"payload":`), Body: []byte{}, Keys: "3"},
	}
	ours := encodeBatch(nil, msgs, "ferry")
	want := 0
	for i := range msgs {
		want += encodedSize(&msgs[i], "ferry")
	}
	if len(ours) > want {
		t.Errorf("encoded %d bytes, over encodedSize's %d (the size checked against max_message_bytes)", len(ours), want)
	}
	got, ref := decodeBatch(t, ours), decodeBatch(t, clientBatch(msgs, "ferry"))
	if len(got) != len(ref) {
		t.Fatalf("%d messages, the client's batch has %d", len(got), len(ref))
	}
	if p := got[0].props[PropPosition]; p != "ab01" {
		t.Errorf("ferry_position %q, want ab01", p)
	}
	if got[4].body != `{"schema":{"type":"struct"},"payload":{"id":2}}` {
		t.Errorf("message with a head: body %q", got[4].body)
	}
	for i := range got {
		u, v := got[i].props[primitive.PropertyUniqueClientMessageIdKeyIndex], ref[i].props[primitive.PropertyUniqueClientMessageIdKeyIndex]
		if len(u) != len(v) || u[:len(u)-16] != v[:len(v)-16] {
			t.Errorf("message %d: UNIQ_KEY %q, the client makes ids like %q", i, u, v)
		}
		delete(got[i].props, primitive.PropertyUniqueClientMessageIdKeyIndex)
		delete(ref[i].props, primitive.PropertyUniqueClientMessageIdKeyIndex)
		if got[i].body != ref[i].body || !maps.Equal(got[i].props, ref[i].props) {
			t.Errorf("message %d:\n got %q %v\nwant %q %v", i, got[i].body, got[i].props, ref[i].body, ref[i].props)
		}
	}
}

// benchRecord is a record of the debezium format's size on the wide table (about 4 KB).
func benchRecord(i int) *sdk.Record {
	return &sdk.Record{Value: []byte(strings.Repeat("v", 4000)), Key: strconv.Itoa(i), ChangeID: "mysql-bin.000001:1234:" + strconv.Itoa(i),
		Position: []byte("position of the change"), Database: "shop", Table: "orders", Op: change.OpUpdate, CommitTime: time.Unix(1700000000, 0)}
}

func BenchmarkEncodeBatch(b *testing.B) {
	msgs := make([]message, 256)
	for i := range msgs {
		msgs[i] = buildMessage(benchRecord(i))
	}
	b.Run("ferry", func(b *testing.B) {
		for b.Loop() {
			putBatchBuffer(encodeBatch(getBatchBuffer(), msgs, "ferry"))
		}
	})
	b.Run("client", func(b *testing.B) {
		for b.Loop() {
			_ = clientBatch(msgs, "ferry")
		}
	})
}
