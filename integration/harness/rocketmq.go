package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

func init() {
	// rocketmq-client-go logs every heartbeat and rebalance to stdout at info level.
	// FERRY_RMQ_LOG_LEVEL (debug, info, warn, error, fatal) overrides the default.
	level := os.Getenv("FERRY_RMQ_LOG_LEVEL")
	if level == "" {
		level = "error"
	}
	rlog.SetLogLevel(level)
}

// Cluster is the name of the single cluster of each test bed RocketMQ.
const Cluster = "DefaultCluster"

// Broker is one of the test bed's RocketMQ clusters (one name server, one broker).
type Broker struct {
	Major      int    // 4 or 5
	Version    string // e.g. "4.9.7", "5.3.3"
	NameServer string // host:port of the name server (remoting protocol)
	Addr       string // host:port of the broker (as registered in the name server)
	MQAdmin    string // path of the mqadmin wrapper for this version
	Proxy      string // gRPC proxy endpoint (5.x only, "" for 4.x)
}

// String names the broker in test output, e.g. "RocketMQ 4.9.7".
func (b Broker) String() string { return fmt.Sprintf("RocketMQ %s", b.Version) }

// Component is the RequireTestbed component of this broker.
func (b Broker) Component() Component {
	if b.Major == 4 {
		return RocketMQ4
	}
	return RocketMQ5
}

// RMQ4 is the RocketMQ 4.9.x cluster of the test bed.
func (e Environment) RMQ4() Broker {
	return Broker{Major: 4, Version: orDefault(e.RMQ4Version, "4.x"), NameServer: e.RMQ4NameServer,
		Addr: e.RMQ4Broker, MQAdmin: e.MQAdmin4}
}

// RMQ5 is the RocketMQ 5.3.x cluster of the test bed.
func (e Environment) RMQ5() Broker {
	return Broker{Major: 5, Version: orDefault(e.RMQ5Version, "5.x"), NameServer: e.RMQ5NameServer,
		Addr: e.RMQ5Broker, MQAdmin: e.MQAdmin5, Proxy: e.RMQ5Proxy}
}

// Brokers returns both clusters, 4.x first.
func (e Environment) Brokers() []Broker { return []Broker{e.RMQ4(), e.RMQ5()} }

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// UniqueName returns prefix followed by a time stamp and random hex, usable as a
// topic, consumer group or database name (letters, digits and '_').
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s_%s_%s", prefix, time.Now().UTC().Format("20060102150405"), hex.EncodeToString(b[:]))
}

// CreateTopic creates (or updates) topic on broker b with the given number of read
// and write queues through the mqadmin wrapper; extra mqadmin updateTopic arguments
// may follow (e.g. "-a", "+message.type=FIFO"). It waits until the name server
// routes the topic and returns its queues sorted by queue id.
func CreateTopic(t testing.TB, b Broker, topic string, queues int, extra ...string) []*primitive.MessageQueue {
	t.Helper()
	RequireTestbed(t, b.Component())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"updateTopic", "-n", b.NameServer, "-c", Cluster, "-t", topic,
		"-r", fmt.Sprint(queues), "-w", fmt.Sprint(queues)}, extra...)
	out, err := exec.CommandContext(ctx, b.MQAdmin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "success") {
		t.Fatalf("CreateTopic %s on %s: mqadmin %s: %v\n%s", topic, b, strings.Join(args, " "), err, out)
	}
	mqs, err := WaitForRoute(ctx, b, topic, queues)
	if err != nil {
		t.Fatalf("CreateTopic %s on %s: %v", topic, b, err)
	}
	return mqs
}

// WaitForRoute polls b's name server until topic has at least the given number of
// writable queues, and returns them sorted by queue id.
func WaitForRoute(ctx context.Context, b Broker, topic string, queues int) ([]*primitive.MessageQueue, error) {
	var last error
	for {
		mqs, err := fetchQueues(b, topic)
		if err == nil && len(mqs) >= queues {
			return mqs, nil
		}
		if err == nil {
			err = fmt.Errorf("route has %d queues, want %d", len(mqs), queues)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no route for topic %s at %s: %v", topic, b.NameServer, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func fetchQueues(b Broker, topic string) ([]*primitive.MessageQueue, error) {
	// A fresh admin each time: the client caches a route once found, never a miss.
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{b.NameServer})))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	mqs, err := adm.FetchPublishMessageQueues(context.Background(), topic)
	if err != nil {
		return nil, err
	}
	sort.Slice(mqs, func(i, j int) bool {
		if mqs[i].BrokerName != mqs[j].BrokerName {
			return mqs[i].BrokerName < mqs[j].BrokerName
		}
		return mqs[i].QueueId < mqs[j].QueueId
	})
	return mqs, nil
}

// NewProducer starts a remoting-protocol producer on broker b with its own group
// and instance name (the client shares connections per process by instance name)
// and the manual queue selector: set Message.Queue to choose the queue. Extra
// options are applied after those defaults. It is shut down when the test ends.
func NewProducer(t testing.TB, b Broker, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	RequireTestbed(t, b.Component())
	name := UniqueName("ferry_it_producer")
	all := append([]producer.Option{
		producer.WithNameServer([]string{b.NameServer}),
		producer.WithGroupName(name),
		producer.WithInstanceName(name),
		producer.WithQueueSelector(producer.NewManualQueueSelector()),
		producer.WithSendMsgTimeout(10 * time.Second),
		producer.WithRetry(0),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		t.Fatalf("NewProducer on %s: %v", b, err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("NewProducer on %s: start: %v", b, err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// Received is one message read back from a topic.
type Received struct {
	Body        []byte
	Tags        string
	Keys        []string          // the KEYS property split on spaces
	Properties  map[string]string // all properties, user and system (TAGS, KEYS, UNIQ_KEY, ...)
	QueueID     int
	QueueOffset int64
	BrokerName  string
	MsgID       string
	StoredAt    time.Time // when the broker stored the message
}

// Collect reads messages of topic from broker b until at least n arrived or the
// timeout ran out, and returns them sorted by broker, queue id and queue offset
// (so per queue in the order the broker stored them). It fails the test on a
// client error or when fewer than n arrived.
func Collect(t testing.TB, b Broker, topic string, n int, timeout time.Duration) []Received {
	t.Helper()
	RequireTestbed(t, b.Component())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got, err := CollectMessages(ctx, b, topic, n)
	if err != nil {
		t.Fatalf("Collect %s on %s: %v (got %d of %d messages)", topic, b, err, len(got), n)
	}
	return got
}

// CollectMessages is Collect without a testing.TB: it returns what arrived (sorted
// like Collect) and an error if fewer than n messages arrived before ctx ended.
//
// It uses rocketmq-client-go's push consumer with a fresh consumer group that
// starts from the first offset, so it reads every queue of the topic from the
// beginning. The library's pull consumer was not used: its PullFrom always asks
// the broker to hold the request (long polling, 20 s, the context is ignored), so
// pulling an empty queue blocks for 20 s and walking the queues one by one is
// slow; and Start() on it launches the same background pullers as the push
// consumer anyway. The push consumer pulls all queues concurrently, returns as
// soon as messages arrive, and is the library's most used path.
func CollectMessages(ctx context.Context, b Broker, topic string, n int) ([]Received, error) {
	group := UniqueName("ferry_it_collect")
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer([]string{b.NameServer}),
		consumer.WithGroupName(group),
		consumer.WithInstance(group),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		return nil, fmt.Errorf("new push consumer: %w", err)
	}
	var (
		mu   sync.Mutex
		got  []Received
		seen = map[string]bool{}
		done = make(chan struct{})
		once sync.Once
	)
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			id := m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
			if id == "" {
				id = m.MsgId
			}
			if seen[id] { // redelivery
				continue
			}
			seen[id] = true
			got = append(got, toReceived(m))
		}
		if len(got) >= n {
			once.Do(func() { close(done) })
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", topic, err)
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start push consumer: %w", err)
	}
	var waitErr error
	select {
	case <-done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("timed out waiting for %d messages on %s: %w", n, topic, ctx.Err())
	}
	ShutdownPushConsumer(c, topic)
	mu.Lock()
	defer mu.Unlock()
	out := append([]Received(nil), got...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].BrokerName != out[j].BrokerName {
			return out[i].BrokerName < out[j].BrokerName
		}
		if out[i].QueueID != out[j].QueueID {
			return out[i].QueueID < out[j].QueueID
		}
		return out[i].QueueOffset < out[j].QueueOffset
	})
	return out, waitErr
}

func toReceived(m *primitive.MessageExt) Received {
	r := Received{
		Body:        append([]byte(nil), m.Body...),
		Tags:        m.GetTags(),
		Properties:  m.GetProperties(),
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

// ShutdownPushConsumer stops a rocketmq-client-go push consumer without the
// library's shutdown race (apache/rocketmq-client-go#1051, open): Shutdown closes
// each process queue's message channel while a puller may be about to send on it
// (a select between the closed "dropped" channel and the send picks either), and
// the send on the closed channel panics the whole test binary. It happened once
// in CI, at the end of a Collect under load.
//
// Unsubscribing every topic and rebalancing first drops each process queue and
// removes it from the consumer's table the way a rebalance does, which never
// closes the message channel: a puller that comes back sees the queue dropped and
// stops. Shutdown then finds no queue left to close.
func ShutdownPushConsumer(c rocketmq.PushConsumer, topics ...string) {
	for _, topic := range topics {
		_ = c.Unsubscribe(topic)
	}
	if r, ok := c.(interface{ Rebalance() }); ok {
		r.Rebalance()
	}
	_ = c.Shutdown()
}
