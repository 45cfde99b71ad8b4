//go:build integration

// Integration tests of the RocketMQ sink plugin (plugins/sink/rocketmq) against the test
// bed's real brokers, 4.9.x and 5.x, over the remoting protocol. Run `make up` first, then
//
//	FERRY_REQUIRE_TESTBED=1 go test -tags integration ./integration/ -run RocketMQSink -v -count=1
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/sink/rocketmq"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// openRMQSink configures and opens a sink on broker b; attrs are extra attributes.
func openRMQSink(t testing.TB, b harness.Broker, attrs map[string]any) *rocketmq.Sink {
	t.Helper()
	cfg := map[string]any{"name_servers": []string{b.NameServer}, "send_timeout": "10s"}
	for k, v := range attrs {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	s := rocketmq.New()
	if err := s.Configure(context.Background(), sdk.NewConfig(raw)); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("Open on %s: %v", b, err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// sinkBody is the value the tests send.
type sinkBody struct {
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

func keyHash(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
}

func sinkRecord(key string, seq, pad int) sdk.Record {
	body, _ := json.Marshal(sinkBody{Key: key, Seq: seq})
	if pad > len(body) {
		body = append(body, bytes.Repeat([]byte(" "), pad-len(body))...)
	}
	return sdk.Record{
		Key: key, Value: body, Hash: keyHash(key),
		ChangeID: fmt.Sprintf("%s#%d", key, seq), Op: change.OpInsert, Database: "shop", Table: "orders",
		CommitTime: time.UnixMilli(1700000000000 + int64(seq)), Position: []byte{0x01, 0x02, byte(seq)},
		Properties: []sdk.Property{{Key: "seq", Value: strconv.Itoa(seq)}},
	}
}

func decodeBody(t testing.TB, m harness.Received) sinkBody {
	t.Helper()
	var b sinkBody
	if err := json.Unmarshal(bytes.TrimSpace(m.Body), &b); err != nil {
		t.Fatalf("message body %q: %v", m.Body, err)
	}
	return b
}

// writeLanes writes perKey records for each of keys keys from lanes goroutines, as the
// runtime's write lanes do: a key always goes through the lane its hash picks, in sequence
// order, in Writes of up to batch records.
func writeLanes(t testing.TB, s *rocketmq.Sink, prefix string, lanes, keys, perKey, batch int) {
	t.Helper()
	var wg sync.WaitGroup
	for lane := 0; lane < lanes; lane++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending []sdk.Record
			for seq := 0; seq < perKey; seq++ {
				for k := 0; k < keys; k++ {
					key := prefix + strconv.Itoa(k)
					if keyHash(key)%uint64(lanes) != uint64(lane) {
						continue
					}
					pending = append(pending, sinkRecord(key, seq, 200))
					if len(pending) == batch {
						writeAll(t, s, pending)
						pending = pending[:0]
					}
				}
			}
			if len(pending) > 0 {
				writeAll(t, s, pending)
			}
		}()
	}
	wg.Wait()
}

func writeAll(t testing.TB, s *rocketmq.Sink, recs []sdk.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if n, err := s.Write(ctx, recs); n != len(recs) || err != nil {
		t.Fatalf("Write(%d records) = %d, %v", len(recs), n, err)
	}
}

func forEachBroker(t *testing.T, f func(t *testing.T, b harness.Broker)) {
	env := harness.Env()
	for _, b := range env.Brokers() {
		t.Run(fmt.Sprintf("rmq%d", b.Major), func(t *testing.T) {
			harness.RequireTestbed(t, b.Component())
			f(t, b)
		})
	}
}

// Messages land on the queue their hash maps to, with the tag, keys and properties.
func TestRocketMQSinkQueuesTagKeysProperties(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		topic := harness.UniqueName("ferry_sink_q")
		harness.CreateTopic(t, b, topic, 8)
		s := openRMQSink(t, b, map[string]any{"topic": topic, "tag": "ferry_tag"})
		var recs []sdk.Record
		for i := 0; i < 200; i++ {
			recs = append(recs, sinkRecord("k"+strconv.Itoa(i), i, 0))
		}
		writeAll(t, s, recs)
		got := harness.Collect(t, b, topic, len(recs), 90*time.Second)
		if len(got) != len(recs) {
			t.Fatalf("%d messages, want %d", len(got), len(recs))
		}
		for _, m := range got {
			body := decodeBody(t, m)
			if want := int(keyHash(body.Key) % 8); m.QueueID != want {
				t.Errorf("key %s on queue %d, want %d (hash %% 8)", body.Key, m.QueueID, want)
			}
			if m.Tags != "ferry_tag" {
				t.Errorf("tag %q", m.Tags)
			}
			if len(m.Keys) != 1 || m.Keys[0] != body.Key {
				t.Errorf("keys %q, want [%s]", m.Keys, body.Key)
			}
			want := map[string]string{
				rocketmq.PropChangeID: fmt.Sprintf("%s#%d", body.Key, body.Seq), rocketmq.PropDatabase: "shop",
				rocketmq.PropTable: "orders", rocketmq.PropOp: "insert", "seq": strconv.Itoa(body.Seq),
				rocketmq.PropCommitTime: strconv.Itoa(1700000000000 + body.Seq),
				rocketmq.PropPosition:   fmt.Sprintf("0102%02x", body.Seq),
			}
			for k, v := range want {
				if m.Properties[k] != v {
					t.Errorf("key %s: property %s = %q, want %q", body.Key, k, m.Properties[k], v)
				}
			}
		}
	})
}

// Several lanes write concurrently to an 8-queue topic: every key stays on one queue and
// its sequence arrives in order, nothing lost, nothing duplicated.
func TestRocketMQSinkOrderPerKeyManyLanes(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		topic := harness.UniqueName("ferry_sink_order")
		harness.CreateTopic(t, b, topic, 8)
		s := openRMQSink(t, b, map[string]any{"topic": topic, "max_batch_bytes": 16384})
		const keys, perKey = 120, 40
		writeLanes(t, s, "key", 6, keys, perKey, 100)
		total := keys * perKey
		got := harness.Collect(t, b, topic, total, 120*time.Second)
		checkPerKeyOrder(t, got, total, 8)
	})
}

// checkPerKeyOrder checks that got (sorted per queue by offset) holds every key's sequence
// 0..n-1 once, in order, on the key's hash queue.
func checkPerKeyOrder(t *testing.T, got []harness.Received, total, queues int) {
	t.Helper()
	next := map[string]int{}
	for _, m := range got {
		body := decodeBody(t, m)
		if want := int(keyHash(body.Key) % uint64(queues)); m.QueueID != want {
			t.Fatalf("key %s on queue %d, want %d", body.Key, m.QueueID, want)
		}
		if body.Seq != next[body.Key] {
			t.Fatalf("key %s: seq %d where %d was due (queue %d offset %d)", body.Key, body.Seq, next[body.Key], m.QueueID, m.QueueOffset)
		}
		next[body.Key]++
	}
	if len(got) != total {
		t.Fatalf("%d messages, want %d", len(got), total)
	}
}

func TestRocketMQSinkTopicMissing(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		topic := harness.UniqueName("ferry_sink_missing")
		s := openRMQSink(t, b, nil)
		r := sinkRecord("a", 0, 0)
		r.Topic = topic
		n, err := s.Write(context.Background(), []sdk.Record{r})
		if n != 0 || err == nil || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), topic) {
			t.Fatalf("Write to a missing topic = %d, %v; want a permanent error naming %s", n, err, topic)
		}
		t.Logf("error: %v", err)
	})
}

func TestRocketMQSinkPartitioningOneAndTable(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		topic := harness.UniqueName("ferry_sink_one")
		harness.CreateTopic(t, b, topic, 8)
		one := openRMQSink(t, b, map[string]any{"topic": topic, "partitioning": "one", "queue": 5})
		var recs []sdk.Record
		for i := 0; i < 50; i++ {
			recs = append(recs, sinkRecord("k"+strconv.Itoa(i), i, 0))
		}
		writeAll(t, one, recs)
		for _, m := range harness.Collect(t, b, topic, len(recs), 90*time.Second) {
			if m.QueueID != 5 {
				t.Fatalf("partitioning one: message on queue %d, want 5", m.QueueID)
			}
		}

		topic2 := harness.UniqueName("ferry_sink_table")
		harness.CreateTopic(t, b, topic2, 8)
		tbl := openRMQSink(t, b, map[string]any{"topic": topic2, "partitioning": "table"})
		recs = recs[:0]
		for i := 0; i < 60; i++ {
			r := sinkRecord("k"+strconv.Itoa(i), i, 0)
			r.Table = "t" + strconv.Itoa(i%6)
			recs = append(recs, r)
		}
		writeAll(t, tbl, recs)
		tableQueue := map[string]int{}
		queues := map[int]bool{}
		for _, m := range harness.Collect(t, b, topic2, len(recs), 90*time.Second) {
			tb := m.Properties[rocketmq.PropTable]
			h := fnv.New64a()
			_, _ = h.Write([]byte("shop." + tb))
			if want := int(h.Sum64() % 8); m.QueueID != want {
				t.Errorf("table %s on queue %d, want %d (hash of shop.%s %% 8)", tb, m.QueueID, want, tb)
			}
			if q, ok := tableQueue[tb]; ok && q != m.QueueID {
				t.Errorf("table %s on queues %d and %d", tb, q, m.QueueID)
			}
			tableQueue[tb] = m.QueueID
			queues[m.QueueID] = true
		}
		if len(tableQueue) != 6 || len(queues) < 2 {
			t.Errorf("tables %v on queues %v", tableQueue, queues)
		}
	})
}

// With trace on, trace records for the sent messages appear in RMQ_SYS_TRACE_TOPIC. The
// RocketMQ client keeps one trace client per process, bound to the first cluster, so each
// broker is checked in a child process running TestRocketMQSinkTraceChild.
func TestRocketMQSinkTrace(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestRocketMQSinkTraceChild$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "FERRY_SINK_TRACE_BROKER="+strconv.Itoa(b.Major))
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestRocketMQSinkTraceChild")) {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "trace record") {
				t.Log(strings.TrimSpace(line))
			}
		}
	})
}

func TestRocketMQSinkTraceChild(t *testing.T) {
	major := os.Getenv("FERRY_SINK_TRACE_BROKER")
	if major == "" {
		t.Skip("run by TestRocketMQSinkTrace")
	}
	b := harness.Env().RMQ4()
	if major == "5" {
		b = harness.Env().RMQ5()
	}
	harness.RequireTestbed(t, b.Component())
	topic := harness.UniqueName("ferry_sink_trace")
	harness.CreateTopic(t, b, topic, 4)
	s := openRMQSink(t, b, map[string]any{"topic": topic, "trace": true})
	marker := harness.UniqueName("tracekey")
	writeAll(t, s, []sdk.Record{sinkRecord(marker, 0, 0)})
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, _ := harness.CollectMessages(ctx, b, "RMQ_SYS_TRACE_TOPIC", 1<<30)
		cancel()
		for _, m := range got {
			if bytes.Contains(m.Body, []byte(topic)) {
				t.Logf("trace record on %s: %q", b, m.Body)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trace record for topic %s among %d messages of RMQ_SYS_TRACE_TOPIC", topic, len(got))
		}
	}
}
