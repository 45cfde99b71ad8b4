package rocketmq

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
)

// queueRef names one message queue of a topic.
type queueRef struct {
	Broker string // broker name as in the topic route
	ID     int    // queue id on that broker
}

// message is one message of a batch, ready for the wire. Its body is Head (the record's
// shared head, often empty) followed by Body.
type message struct {
	Head  []byte
	Body  []byte
	Keys  string // the KEYS property (empty: none)
	Props [][2]string
	// Position is the ferry_position property (PropPosition), written in lower-case hex
	// after Props and in place of any property of theirs of that name: the batch encoding
	// writes the hex straight into the batch, so no string of it is made per message.
	Position []byte
}

// properties is Props with ferry_position last, for the transports that take strings.
func (m *message) properties() [][2]string {
	out := make([][2]string, 0, len(m.Props)+1)
	for _, p := range m.Props {
		if p[0] != PropPosition {
			out = append(out, p)
		}
	}
	return append(out, [2]string{PropPosition, hex.EncodeToString(m.Position)})
}

// bodyLen is the length of the whole body.
func (m *message) bodyLen() int { return len(m.Head) + len(m.Body) }

// body is the whole body: Body itself without a head, else a new slice of both.
func (m *message) body() []byte {
	if len(m.Head) == 0 {
		return m.Body
	}
	return append(append(make([]byte, 0, m.bodyLen()), m.Head...), m.Body...)
}

// transport is the broker client under the sink. Implementations must send every batch to
// exactly the queue given, never to another one, and must not retry on their own.
type transport interface {
	// Queues returns the writable queues of topic as the name servers route them now,
	// sorted by broker name and queue id. A missing topic gives an error wrapping
	// errTopicNotFound.
	Queues(ctx context.Context, topic string) ([]queueRef, error)
	// AutoQueues returns the queues a topic that does not exist yet would get when the
	// broker auto-creates it on first send.
	AutoQueues(ctx context.Context, topic string) ([]queueRef, error)
	// Send sends msgs (all for topic and q), in order, and returns how many leading
	// messages the broker stored (len(msgs) when err is nil). A transport that sends the
	// batch in one request reports 0 or len(msgs); one that sends message by message (gRPC)
	// may report a prefix. Send bounds each request by the configured send timeout itself.
	// Errors that retrying cannot fix are marked with sdk.Permanent.
	Send(ctx context.Context, topic string, q queueRef, tag string, msgs []message) (int, error)
	// Close releases the client.
	Close() error
}

// encodedSize is the broker-side size of m inside a batch: the fixed fields, the body and
// the serialized properties (name, value, two separators each), plus the properties the
// client adds (TAGS, KEYS, UNIQ_KEY, WAIT).
func encodedSize(m *message, tag string) int {
	n := 20 + 2 + m.bodyLen()
	for _, p := range m.Props {
		n += len(p[0]) + len(p[1]) + 2
	}
	n += len(PropPosition) + hex.EncodedLen(len(m.Position)) + 2
	n += len("TAGS") + len(tag) + 2
	if m.Keys != "" {
		n += len("KEYS") + len(m.Keys) + 2
	}
	n += len("UNIQ_KEY") + 32 + 2 + len("WAIT") + 5 + 2
	return n
}

// sortQueues orders queues by broker name, then queue id: the order queue indexes refer to.
func sortQueues(qs []queueRef) {
	slices.SortFunc(qs, func(a, b queueRef) int {
		if c := strings.Compare(a.Broker, b.Broker); c != 0 {
			return c
		}
		return a.ID - b.ID
	})
}

// wrapNamespace is the broker-side name of topic in namespace ns: "ns%topic", as the
// remoting client forms it (a name already carrying the prefix is kept). Both transports
// use it; over gRPC the open-source 5.x proxy ignores the request's namespace field, so the
// transport applies the namespace to the topic name itself.
func wrapNamespace(ns, topic string) string {
	if ns == "" || strings.HasPrefix(topic, ns+"%") {
		return topic
	}
	return ns + "%" + topic
}
