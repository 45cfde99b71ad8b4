//go:build integration

// Integration tests of the RocketMQ sink's gRPC transport against the test bed's real 5.x
// proxy (broker and proxy in one JVM). Messages are read back over remoting through the
// 5.x name server.
//
//	FERRY_REQUIRE_TESTBED=1 go test -tags integration ./integration/ -run RocketMQGRPC -v -count=1
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/sink/rocketmq"
	"github.com/ferry-cdc/ferry/sdk"
)

// grpcBroker returns the 5.x cluster, skipping when its proxy is not known.
func grpcBroker(t *testing.T) harness.Broker {
	t.Helper()
	harness.RequireTestbed(t, harness.RocketMQ5)
	b := harness.Env().RMQ5()
	if b.Proxy == "" {
		t.Skip("no gRPC proxy address (FERRY_RMQ5_PROXY) in the test bed environment")
	}
	return b
}

// newGRPCSink configures a gRPC sink for proxy b; Open is left to the caller.
func newGRPCSink(t testing.TB, b harness.Broker, attrs map[string]any) *rocketmq.Sink {
	t.Helper()
	cfg := map[string]any{"transport": "grpc", "endpoint": b.Proxy, "send_timeout": "10s"}
	for k, v := range attrs {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	s := rocketmq.New()
	if err := s.Configure(context.Background(), sdk.NewConfig(raw)); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func openGRPCSink(t testing.TB, b harness.Broker, attrs map[string]any) *rocketmq.Sink {
	t.Helper()
	s := newGRPCSink(t, b, attrs)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("Open on %s proxy %s: %v", b, b.Proxy, err)
	}
	return s
}

// Several lanes write through the gRPC transport to an 8-queue FIFO topic: every message
// arrives with tag, keys and the sink's properties; each key uses one message group (named
// after the queue index its hash maps to), stays on one queue and arrives in order.
func TestRocketMQGRPCSinkFIFO(t *testing.T) {
	b := grpcBroker(t)
	topic := harness.UniqueName("ferry_grpc_fifo")
	harness.CreateTopic(t, b, topic, 8, "-a", "+message.type=FIFO")
	s := openGRPCSink(t, b, map[string]any{"topic": topic, "tag": "ferry_grpc_tag", "max_batch_bytes": 8192})

	const lanes, keys, perKey = 4, 48, 15
	start := time.Now()
	writeLanes(t, s, "gkey", lanes, keys, perKey, 60)
	total := keys * perKey
	t.Logf("%d records written over gRPC by %d lanes in %v", total, lanes, time.Since(start).Round(time.Millisecond))

	got := harness.Collect(t, b, topic, total, 120*time.Second)
	if len(got) != total {
		t.Fatalf("%d messages, want %d", len(got), total)
	}
	next := map[string]int{}
	keyQueue := map[string]int{}
	keyGroup := map[string]string{}
	groups := map[string]bool{}
	for _, m := range got {
		body := decodeBody(t, m)
		if m.Tags != "ferry_grpc_tag" {
			t.Errorf("key %s: tag %q", body.Key, m.Tags)
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
		// The broker keeps the message group as the sharding-key property.
		group := m.Properties["__SHARDINGKEY"]
		if wantSuffix := fmt.Sprintf("-%d", keyHash(body.Key)%8); !strings.HasSuffix(group, wantSuffix) {
			t.Errorf("key %s: message group %q, want <broker>%s (hash %% 8)", body.Key, group, wantSuffix)
		}
		if g, ok := keyGroup[body.Key]; ok && g != group {
			t.Errorf("key %s in groups %q and %q", body.Key, g, group)
		}
		keyGroup[body.Key] = group
		groups[group] = true
		if q, ok := keyQueue[body.Key]; ok && q != m.QueueID {
			t.Errorf("key %s on queues %d and %d", body.Key, q, m.QueueID)
		}
		keyQueue[body.Key] = m.QueueID
		if body.Seq != next[body.Key] {
			t.Fatalf("key %s: seq %d where %d was due (queue %d offset %d)", body.Key, body.Seq, next[body.Key], m.QueueID, m.QueueOffset)
		}
		next[body.Key]++
	}
	if len(groups) < 4 {
		t.Errorf("only %d message groups used: %v", len(groups), groups)
	}
	t.Logf("%d messages: %d keys in %d message groups, all complete and in order per key", len(got), len(next), len(groups))
}

// A missing topic and a topic that is not FIFO give clear permanent errors.
func TestRocketMQGRPCSinkTopicErrors(t *testing.T) {
	b := grpcBroker(t)
	missing := harness.UniqueName("ferry_grpc_missing")
	s := newGRPCSink(t, b, map[string]any{"topic": missing})
	err := s.Open(context.Background())
	if err == nil || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open with a missing topic: %v; want a permanent error naming %s", err, missing)
	}
	t.Logf("missing topic: %v", err)

	normal := harness.UniqueName("ferry_grpc_normal")
	harness.CreateTopic(t, b, normal, 4)
	s2 := newGRPCSink(t, b, map[string]any{"topic": normal})
	err = s2.Open(context.Background())
	if err == nil || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), normal) {
		t.Fatalf("Open with a normal topic: %v; want a permanent error about FIFO naming %s", err, normal)
	}
	t.Logf("normal topic: %v", err)
}

// An unreachable proxy is a transient error.
func TestRocketMQGRPCSinkUnavailable(t *testing.T) {
	b := grpcBroker(t)
	b.Proxy = "127.0.0.1:1"
	s := newGRPCSink(t, b, map[string]any{"topic": "any_topic", "send_timeout": "1s"})
	err := s.Open(context.Background())
	if err == nil || sdk.IsPermanent(err) {
		t.Fatalf("Open against a closed port: %v; want a transient error", err)
	}
	t.Logf("unavailable: %v", err)
}

// tls = true makes the client speak TLS and verify the proxy's certificate: the test bed's
// proxy serves TLS with a self-signed test certificate, so the handshake is refused by the
// client (which shows TLS is in use); tls = false speaks plaintext and works.
func TestRocketMQGRPCSinkTLSVerifies(t *testing.T) {
	b := grpcBroker(t)
	topic := harness.UniqueName("ferry_grpc_tls")
	harness.CreateTopic(t, b, topic, 2, "-a", "+message.type=FIFO")
	s := newGRPCSink(t, b, map[string]any{"topic": topic, "tls": true, "send_timeout": "2s"})
	err := s.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Open with tls = true against a self-signed proxy: %v; want a certificate error", err)
	}
	t.Logf("tls = true: %v", err)
}

// namespace = "N" sends to topic N%T: the proxy applies the namespace sent with requests.
func TestRocketMQGRPCSinkNamespace(t *testing.T) {
	b := grpcBroker(t)
	ns := "ferryns"
	topic := harness.UniqueName("ferry_grpc_ns")
	harness.CreateTopic(t, b, ns+"%"+topic, 4, "-a", "+message.type=FIFO")
	s := openGRPCSink(t, b, map[string]any{"topic": topic, "namespace": ns})
	writeAll(t, s, []sdk.Record{sinkRecord("nskey", 0, 0), sinkRecord("nskey", 1, 0)})
	got := harness.Collect(t, b, ns+"%"+topic, 2, 90*time.Second)
	for i, m := range got {
		if body := decodeBody(t, m); body.Seq != i {
			t.Errorf("message %d: seq %d", i, body.Seq)
		}
	}
}

// The remoting transport with namespace = "N" sends to topic N%T as well.
func TestRocketMQSinkNamespaceRemoting(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b harness.Broker) {
		ns := "ferryns"
		topic := harness.UniqueName("ferry_rmt_ns")
		harness.CreateTopic(t, b, ns+"%"+topic, 4)
		s := openRMQSink(t, b, map[string]any{"topic": topic, "namespace": ns})
		writeAll(t, s, []sdk.Record{sinkRecord("nskey", 0, 0), sinkRecord("nskey", 1, 0)})
		got := harness.Collect(t, b, ns+"%"+topic, 2, 90*time.Second)
		for i, m := range got {
			if body := decodeBody(t, m); body.Seq != i {
				t.Errorf("message %d: seq %d", i, body.Seq)
			}
		}
	})
}
