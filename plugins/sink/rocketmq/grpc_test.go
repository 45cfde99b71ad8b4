package rocketmq

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	rmq5 "github.com/apache/rocketmq-clients/golang/v5"
	v2 "github.com/apache/rocketmq-clients/golang/v5/protocol/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ferry-cdc/ferry/sdk"
)

func grpcCfg(t *testing.T, attrs string) config {
	t.Helper()
	cfg, err := parseConfig(cfgJSON(`{"transport":"grpc","endpoint":"127.0.0.1:18081"` + attrs + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWrapNamespace(t *testing.T) {
	for _, tc := range [][3]string{{"", "t", "t"}, {"ns", "t", "ns%t"}, {"ns", "ns%t", "ns%t"}} {
		if got := wrapNamespace(tc[0], tc[1]); got != tc[2] {
			t.Errorf("wrapNamespace(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	r := &remoting{cfg: config{Namespace: "inst1"}}
	if got := r.wrap("orders"); got != "inst1%orders" {
		t.Errorf("remoting wrap = %q", got)
	}
}

// The signature is the client library's scheme (HMAC-SHA1 of the request time under the
// secret); the secret itself is never sent. Without credentials no authorization is sent.
func TestSignHeaders(t *testing.T) {
	cfg := grpcCfg(t, `,"access_key":"AKID1","secret_key":"s3cr3t-value","namespace":"ns1"`)
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	md, _ := metadata.FromOutgoingContext(sign(context.Background(), cfg, "client-1", now))
	if got := md.Get("x-mq-date-time"); len(got) != 1 || got[0] != "20261125T093000Z" {
		t.Errorf("date-time %v", got)
	}
	if got := md.Get("x-mq-client-id"); len(got) != 1 || got[0] != "client-1" {
		t.Errorf("client id %v", got)
	}
	mac := hmac.New(sha1.New, []byte("s3cr3t-value"))
	mac.Write([]byte("20261125T093000Z"))
	want := "MQv2-HMAC-SHA1 Credential=AKID1//Rocketmq, SignedHeaders=x-mq-date-time, Signature=" + hex.EncodeToString(mac.Sum(nil))
	if got := md.Get("authorization"); len(got) != 1 || got[0] != want {
		t.Errorf("authorization %v, want %q", got, want)
	}
	for k, vs := range md {
		for _, v := range vs {
			if strings.Contains(v, "s3cr3t") {
				t.Errorf("header %s carries the secret", k)
			}
		}
	}
	if ns := md.Get("x-mq-namespace"); len(ns) != 0 {
		t.Errorf("namespace header %v: the transport puts the namespace into the topic name", ns)
	}
	md, _ = metadata.FromOutgoingContext(sign(context.Background(), grpcCfg(t, ""), "c", now))
	if a := md.Get("authorization"); len(a) != 0 {
		t.Errorf("authorization without credentials: %v", a)
	}
}

func TestGRPCMessage(t *testing.T) {
	r := rec("k1", 5, 3, 10)
	m := buildMessage(&r)
	gm := buildGRPCMessage("ns%topic", "tagA", grpcGroup(queueRef{Broker: "b1", ID: 5}), &m)
	if gm.Topic != "ns%topic" || *gm.GetTag() != "tagA" || *gm.GetMessageGroup() != "b1-5" {
		t.Errorf("topic %q tag %q group %q", gm.Topic, *gm.GetTag(), *gm.GetMessageGroup())
	}
	if k := gm.GetKeys(); len(k) != 1 || k[0] != "k1" {
		t.Errorf("keys %v", k)
	}
	props := gm.GetProperties()
	for _, p := range m.properties() {
		if props[p[0]] != p[1] {
			t.Errorf("property %s = %q, want %q", p[0], props[p[0]], p[1])
		}
	}
	if props[PropChangeID] != "k1-3" || props["seq"] != "3" {
		t.Errorf("properties %v", props)
	}
}

func TestGRPCClassify(t *testing.T) {
	g := &grpcTransport{cfg: grpcCfg(t, `,"access_key":"AK","secret_key":"topsecret99"`)}
	rpc := func(c v2.Code) error { return &rmq5.ErrRpcStatus{Code: int32(c), Message: "m"} }
	for _, tc := range []struct {
		err       error
		permanent bool
		is        error
	}{
		{rpc(v2.Code_TOPIC_NOT_FOUND), true, errTopicNotFound},
		{rpc(v2.Code_UNAUTHORIZED), true, errAuth},
		{rpc(v2.Code_FORBIDDEN), true, errAuth},
		{rpc(v2.Code_MESSAGE_BODY_TOO_LARGE), true, errTooLarge},
		{rpc(v2.Code_ILLEGAL_MESSAGE_GROUP), true, nil},
		{rpc(v2.Code_TOO_MANY_REQUESTS), false, nil},
		{rpc(v2.Code_PROXY_TIMEOUT), false, nil},
		{rpc(v2.Code_INTERNAL_SERVER_ERROR), false, nil},
		{status.Error(codes.Unavailable, "connection refused"), false, nil},
		{status.Error(codes.Unauthenticated, "bad signature"), true, errAuth},
		{errors.New("current message type not match with topic accept message types"), true, nil},
		{context.DeadlineExceeded, false, nil},
	} {
		err := g.classify(tc.err, "orders")
		if sdk.IsPermanent(err) != tc.permanent {
			t.Errorf("%v: permanent = %t, want %t (%v)", tc.err, sdk.IsPermanent(err), tc.permanent, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%v: %v does not wrap %v", tc.err, err, tc.is)
		}
		if strings.Contains(err.Error(), "topsecret99") {
			t.Errorf("%v: error shows the secret", tc.err)
		}
	}
}

// tls applies per target: TLS verifying the server name, or plaintext; a target in use
// with the other setting is refused until its user closes.
func TestTLSRegistry(t *testing.T) {
	a, b := map[string]bool{}, map[string]bool{}
	if err := registerTargets(true, a, "10.1.1.1:8081"); err != nil {
		t.Fatal(err)
	}
	if err := registerTargets(false, b, "10.1.1.2:8081"); err != nil {
		t.Fatal(err)
	}
	if c := transportCreds("10.1.1.1:8081"); c.Info().SecurityProtocol != "tls" {
		t.Errorf("tls target: %q", c.Info().SecurityProtocol)
	}
	if c := transportCreds("10.1.1.2:8081"); c.Info().SecurityProtocol != insecure.NewCredentials().Info().SecurityProtocol {
		t.Errorf("plaintext target: %q", c.Info().SecurityProtocol)
	}
	if cfg := tlsConfig("proxy.example:8081"); cfg.ServerName != "proxy.example" || cfg.InsecureSkipVerify {
		t.Errorf("tls config %+v", cfg)
	}
	c := map[string]bool{}
	if err := registerTargets(false, c, "10.1.1.1:8081"); err == nil || !strings.Contains(err.Error(), "tls = true") {
		t.Errorf("conflicting registration: %v", err)
	}
	unregisterTargets(a)
	if err := registerTargets(false, c, "10.1.1.1:8081"); err != nil {
		t.Errorf("after the first user closed: %v", err)
	}
	unregisterTargets(b)
	unregisterTargets(c)
}

// fakeProducer stores sends and fails the nth one.
type fakeProducer struct {
	sent   []*rmq5.Message
	failAt int
	err    error
}

func (f *fakeProducer) Send(_ context.Context, m *rmq5.Message) ([]*rmq5.SendReceipt, error) {
	if len(f.sent) == f.failAt {
		f.failAt = -1
		return nil, f.err
	}
	f.sent = append(f.sent, m)
	return []*rmq5.SendReceipt{{MessageID: "x"}}, nil
}
func (f *fakeProducer) GracefulStop() error { return nil }

// Send sends one message at a time under the queue's group and reports the stored prefix.
func TestGRPCSendPrefix(t *testing.T) {
	fp := &fakeProducer{failAt: 2, err: status.Error(codes.Unavailable, "down")}
	g := &grpcTransport{cfg: grpcCfg(t, `,"namespace":"ns"`), targets: map[string]bool{}}
	g.newProd = func(context.Context, string) (grpcProducer, error) { return fp, nil }
	msgs := make([]message, 4)
	for i := range msgs {
		r := rec("k", 1, i, 5)
		msgs[i] = buildMessage(&r)
	}
	q := queueRef{Broker: "b", ID: 3}
	n, err := g.Send(context.Background(), "t", q, "tag", msgs)
	if n != 2 || err == nil || sdk.IsPermanent(err) {
		t.Fatalf("Send = %d, %v; want 2 and a transient error", n, err)
	}
	n, err = g.Send(context.Background(), "t", q, "tag", msgs[n:])
	if n != 2 || err != nil {
		t.Fatalf("resend = %d, %v", n, err)
	}
	for i, m := range fp.sent {
		if m.Topic != "ns%t" || *m.GetMessageGroup() != "b-3" || m.GetProperties()["seq"] != string(rune('0'+i)) {
			t.Errorf("message %d: topic %q group %q seq %q", i, m.Topic, *m.GetMessageGroup(), m.GetProperties()["seq"])
		}
	}
}
