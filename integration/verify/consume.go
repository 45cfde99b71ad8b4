package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// Consumer reads every message of some topics from the first offset with a fresh consumer
// group (rocketmq-client-go push consumer, like harness.CollectMessages) and keeps them all.
// Unlike CollectMessages it never drops a message for its client id: a message is identified
// by its place in the broker (broker, queue, offset), so a copy the producer sent twice is
// kept twice, and only the consumer's own redeliveries are dropped.
type Consumer struct {
	c       rocketmq.PushConsumer
	topics  []string
	mu      sync.Mutex
	got     []harness.Received
	seen    map[string]bool
	lastNew time.Time
}

// NewConsumer starts reading topics from nameServer.
func NewConsumer(nameServer string, topics ...string) (*Consumer, error) {
	group := harness.UniqueName("ferry_verify")
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer([]string{nameServer}),
		consumer.WithGroupName(group),
		consumer.WithInstance(group),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithPullBatchSize(256),
		consumer.WithConsumeMessageBatchMaxSize(256),
	)
	if err != nil {
		return nil, fmt.Errorf("new push consumer: %w", err)
	}
	v := &Consumer{c: c, topics: topics, seen: map[string]bool{}, lastNew: time.Now()}
	for _, topic := range topics {
		err := c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			for _, m := range msgs {
				r := toReceived(m)
				id := fmt.Sprintf("%s/%s/%d/%d", m.Topic, r.BrokerName, r.QueueID, r.QueueOffset)
				if v.seen[id] {
					continue
				}
				v.seen[id] = true
				v.got = append(v.got, r)
				v.lastNew = time.Now()
			}
			return consumer.ConsumeSuccess, nil
		})
		if err != nil {
			return nil, fmt.Errorf("subscribe %s: %w", topic, err)
		}
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start push consumer: %w", err)
	}
	return v, nil
}

// Messages returns what arrived so far, sorted by topic, broker, queue id and offset.
func (v *Consumer) Messages() []harness.Received {
	v.mu.Lock()
	out := append([]harness.Received(nil), v.got...)
	v.mu.Unlock()
	SortMessages(out)
	return out
}

// Count is the number of messages received so far.
func (v *Consumer) Count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.got)
}

// Quiet is how long no new message arrived.
func (v *Consumer) Quiet() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return time.Since(v.lastNew)
}

// Close stops the consumer.
func (v *Consumer) Close() { harness.ShutdownPushConsumer(v.c, v.topics...) }

// SortMessages sorts by topic, broker, queue id and queue offset (each queue in store order).
func SortMessages(ms []harness.Received) {
	sort.SliceStable(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.Properties["__topic"] != b.Properties["__topic"] {
			return a.Properties["__topic"] < b.Properties["__topic"]
		}
		if a.BrokerName != b.BrokerName {
			return a.BrokerName < b.BrokerName
		}
		if a.QueueID != b.QueueID {
			return a.QueueID < b.QueueID
		}
		return a.QueueOffset < b.QueueOffset
	})
}

func toReceived(m *primitive.MessageExt) harness.Received {
	props := m.GetProperties()
	props["__topic"] = m.Topic
	r := harness.Received{
		Body:        append([]byte(nil), m.Body...),
		Tags:        m.GetTags(),
		Properties:  props,
		QueueOffset: m.QueueOffset,
		MsgID:       m.MsgId,
		StoredAt:    time.UnixMilli(m.StoreTimestamp),
	}
	if k := m.GetKeys(); k != "" {
		r.Keys = strings.Fields(k)
	}
	if m.Queue != nil {
		r.QueueID = m.Queue.QueueId
		r.BrokerName = m.Queue.BrokerName
	}
	return r
}
