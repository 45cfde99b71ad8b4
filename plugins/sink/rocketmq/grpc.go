package rocketmq

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	rmq5 "github.com/apache/rocketmq-clients/golang/v5"
	rmq5creds "github.com/apache/rocketmq-clients/golang/v5/credentials"
	rmq5md "github.com/apache/rocketmq-clients/golang/v5/metadata"
	rmq5utils "github.com/apache/rocketmq-clients/golang/v5/pkg/utils"
	v2 "github.com/apache/rocketmq-clients/golang/v5/protocol/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ferry-cdc/ferry/sdk"
)

// The gRPC transport talks to a RocketMQ 5.x proxy with github.com/apache/rocketmq-clients/golang/v5.
//
// The proxy hides the queues: a producer cannot address a queue, it names a message group
// and the client maps the group to a queue (a hash of the group over the route's queues).
// The sink still computes a queue index per record from the route the proxy returns
// (QueryRoute, so the count is the topic's real writable queue count, refreshed like the
// remoting route) and sends every record of that index under one message group,
// "<broker>-<queue id>". One key therefore always shares one group; the transport sends the
// messages of a group one at a time, each only after the previous one was stored, and
// different groups are in flight at once. FIFO topics (+message.type=FIFO) keep each group
// in order for consumers.

// grpcMaxSend is the gRPC send limit set on the client's connections (its default, 2MiB,
// is below the broker's 4MiB message limit).
const grpcMaxSend = 128 << 20

// grpcGroup is the message group of the records that map to queue q.
func grpcGroup(q queueRef) string {
	return fmt.Sprintf("%s-%d", q.Broker, q.ID)
}

// rpcRegistry makes the client library's connections honour each sink's tls setting. The
// library dials the proxy through the package variable NewRpcClient without any per-client
// options (its TLS switch is the process-wide EnableSsl, and its TLS default skips
// certificate verification); ferry wraps that variable once and chooses the transport
// credentials per target address from here. Registrations are counted and dropped when the
// transport closes.
var rpcRegistry struct {
	sync.Mutex
	installed bool
	targets   map[string]*rpcTarget
	last      bool // setting of the latest registration (for targets not registered)
}

type rpcTarget struct {
	tls  bool
	refs int
}

// registerTargets records the TLS setting for targets not yet in have and adds them to
// have. A target registered by an open transport with the other setting is refused:
// connections are shared per address inside the library.
func registerTargets(tlsOn bool, have map[string]bool, targets ...string) error {
	rpcRegistry.Lock()
	defer rpcRegistry.Unlock()
	if rpcRegistry.targets == nil {
		rpcRegistry.targets = map[string]*rpcTarget{}
	}
	for _, t := range targets {
		if rt := rpcRegistry.targets[t]; rt != nil && rt.tls != tlsOn {
			return fmt.Errorf("endpoint %s is already used with tls = %t by another sink in this process and the gRPC client shares connections per address; use the same tls setting or run this sink out of process (out_of_process = true)", t, rt.tls)
		}
	}
	for _, t := range targets {
		if have[t] {
			continue
		}
		have[t] = true
		rt := rpcRegistry.targets[t]
		if rt == nil {
			rt = &rpcTarget{tls: tlsOn}
			rpcRegistry.targets[t] = rt
		}
		rt.refs++
	}
	rpcRegistry.last = tlsOn
	if !rpcRegistry.installed {
		rpcRegistry.installed = true
		orig := rmq5.NewRpcClient
		rmq5.NewRpcClient = func(target string, opts ...rmq5.RpcClientOption) (rmq5.RpcClient, error) {
			opts = append(opts, rmq5.WithRpcClientConnOption(
				rmq5.WithDialOptions(grpc.WithTransportCredentials(transportCreds(target))),
				rmq5.WithMaxCallSendMsgSize(grpcMaxSend)))
			return orig(target, opts...)
		}
	}
	return nil
}

// unregisterTargets drops the registrations of have.
func unregisterTargets(have map[string]bool) {
	rpcRegistry.Lock()
	defer rpcRegistry.Unlock()
	for t := range have {
		if rt := rpcRegistry.targets[t]; rt != nil {
			if rt.refs--; rt.refs <= 0 {
				delete(rpcRegistry.targets, t)
			}
		}
	}
}

// tlsFor reports the TLS setting registered for target.
func tlsFor(target string) bool {
	rpcRegistry.Lock()
	defer rpcRegistry.Unlock()
	if rt := rpcRegistry.targets[target]; rt != nil {
		return rt.tls
	}
	return rpcRegistry.last
}

// transportCreds returns the gRPC credentials for target: plaintext, or TLS that verifies
// the server certificate against the system roots (SSL_CERT_FILE / SSL_CERT_DIR add CAs).
func transportCreds(target string) grpccreds.TransportCredentials {
	if !tlsFor(target) {
		return insecure.NewCredentials()
	}
	return grpccreds.NewTLS(tlsConfig(target))
}

func tlsConfig(target string) *tls.Config {
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

var grpcLogOnce sync.Once

// quietGRPCClientLogs points the gRPC client's process-wide file logger away from
// "/logs/rocketmqlogs" (it uses the environment variable "user.home", normally unset) to
// $TMPDIR/ferry-rocketmq-grpc, at level error unless FERRY_RMQ_LOG_LEVEL says otherwise.
// The client's own variables (rocketmq.client.logRoot, rocketmq.client.logLevel) win when set.
func quietGRPCClientLogs() {
	grpcLogOnce.Do(func() {
		if os.Getenv(rmq5.CLIENT_LOG_ROOT) == "" {
			_ = os.Setenv(rmq5.CLIENT_LOG_ROOT, filepath.Join(os.TempDir(), "ferry-rocketmq-grpc"))
		}
		if os.Getenv(rmq5.CLIENT_LOG_LEVEL) == "" {
			level := os.Getenv("FERRY_RMQ_LOG_LEVEL")
			if level == "" {
				level = "error"
			}
			_ = os.Setenv(rmq5.CLIENT_LOG_LEVEL, level)
		}
		rmq5.ResetLogger()
	})
}

// grpcProducer is the part of the client's producer the transport uses.
type grpcProducer interface {
	Send(context.Context, *rmq5.Message) ([]*rmq5.SendReceipt, error)
	GracefulStop() error
}

// grpcTransport is the transport over the 5.x proxy's gRPC protocol.
type grpcTransport struct {
	cfg       config
	instance  string
	endpoints *v2.Endpoints
	conn      *grpc.ClientConn
	svc       v2.MessagingServiceClient

	mu      sync.Mutex // guards prod, closed, targets
	prod    grpcProducer
	targets map[string]bool // registered in rpcRegistry
	newProd func(ctx context.Context, topic string) (grpcProducer, error)
	closed  bool
}

func newGRPC(cfg config, instance string) (*grpcTransport, error) {
	quietGRPCClientLogs()
	eps, err := rmq5utils.ParseTarget(cfg.Endpoint)
	if err != nil {
		return nil, sdk.Permanent(fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err))
	}
	targets := map[string]bool{}
	if err := registerTargets(cfg.TLS, targets, cfg.Endpoint); err != nil {
		return nil, sdk.Permanent(err)
	}
	var creds grpccreds.TransportCredentials = insecure.NewCredentials()
	if cfg.TLS {
		creds = grpccreds.NewTLS(tlsConfig(cfg.Endpoint))
	}
	conn, err := grpc.NewClient(cfg.Endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		unregisterTargets(targets)
		return nil, fmt.Errorf("grpc client for %s: %w", cfg.Endpoint, err)
	}
	g := &grpcTransport{cfg: cfg, instance: instance, endpoints: eps, conn: conn, svc: v2.NewMessagingServiceClient(conn), targets: targets}
	g.newProd = g.startProducer
	return g, nil
}

// sign adds the metadata the proxy expects on every request: client id and,
// with credentials, the HMAC-SHA1 signature of the request time (the client library's
// scheme; the secret itself never leaves the process).
func sign(ctx context.Context, cfg config, clientID string, now time.Time) context.Context {
	ts := now.UTC().Format("20060102T150405Z")
	kv := []string{
		rmq5md.LanguageKey, rmq5md.LanguageValue,
		rmq5md.ProtocolKey, rmq5md.ProtocolValue,
		rmq5md.VersionKey, rmq5md.VersionValue,
		rmq5md.ClintID, clientID,
		rmq5md.DateTime, ts,
	}
	if cfg.AccessKey != "" {
		mac := hmac.New(sha1.New, []byte(cfg.SecretKey.Reveal()))
		mac.Write([]byte(ts))
		kv = append(kv, rmq5md.Authorization, fmt.Sprintf("%s %s=%s//%s, %s=%s, %s=%s",
			rmq5md.EncryptHeader, rmq5md.Credential, cfg.AccessKey.Reveal(), rmq5md.Rocketmq,
			rmq5md.SignedHeaders, rmq5md.DateTime, rmq5md.Signature, hex.EncodeToString(mac.Sum(nil))))
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func (g *grpcTransport) requestTimeout() time.Duration { return g.cfg.SendTimeout.D() + 2*time.Second }

// Queues asks the proxy for the topic's route and returns its writable queues. A topic that
// does not accept FIFO messages is a permanent error: without FIFO the proxy keeps no order.
func (g *grpcTransport) Queues(ctx context.Context, topic string) ([]queueRef, error) {
	ctx, cancel := context.WithTimeout(ctx, g.requestTimeout())
	defer cancel()
	resp, err := g.svc.QueryRoute(sign(ctx, g.cfg, g.instance, time.Now()), &v2.QueryRouteRequest{
		Topic:     &v2.Resource{Name: wrapNamespace(g.cfg.Namespace, topic)},
		Endpoints: g.endpoints,
	})
	if err != nil {
		return nil, g.classify(fmt.Errorf("route of topic %s from proxy %s: %w", topic, g.cfg.Endpoint, err), topic)
	}
	if c := resp.GetStatus().GetCode(); c != v2.Code_OK {
		return nil, g.classify(&rmq5.ErrRpcStatus{Code: int32(c), Message: resp.GetStatus().GetMessage()}, topic)
	}
	var (
		qs      []queueRef
		targets []string
		fifo    bool
	)
	for _, mq := range resp.GetMessageQueues() {
		switch mq.GetPermission() {
		case v2.Permission_WRITE, v2.Permission_READ_WRITE:
		default:
			continue
		}
		for _, t := range mq.GetAcceptMessageTypes() {
			if t == v2.MessageType_FIFO {
				fifo = true
			}
		}
		qs = append(qs, queueRef{Broker: mq.GetBroker().GetName(), ID: int(mq.GetId())})
		if t := rmq5utils.EndpointsToString(mq.GetBroker().GetEndpoints()); t != "" {
			targets = append(targets, t)
		}
	}
	if len(qs) > 0 && !fifo {
		return nil, sdk.Permanent(fmt.Errorf("topic %s is not a FIFO topic: over gRPC the sink sends ordered (FIFO) messages and the proxy rejects them on other topics; create it with `mqadmin updateTopic -t %s -c <cluster> -r 8 -w 8 -a +message.type=FIFO`", topic, topic))
	}
	g.mu.Lock()
	err = registerTargets(g.cfg.TLS, g.targets, targets...)
	g.mu.Unlock()
	if err != nil {
		return nil, sdk.Permanent(err)
	}
	sortQueues(qs)
	return qs, nil
}

// AutoQueues: the proxy never creates topics.
func (g *grpcTransport) AutoQueues(_ context.Context, topic string) ([]queueRef, error) {
	return nil, fmt.Errorf("topic %s: %w, and the gRPC proxy never creates topics", topic, errTopicNotFound)
}

// producer returns the client producer, starting it on first use with topic (the client
// waits for the proxy's settings, which it only asks for once it knows a topic).
func (g *grpcTransport) producer(ctx context.Context, topic string) (grpcProducer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("transport closed")
	}
	if g.prod != nil {
		return g.prod, nil
	}
	p, err := g.newProd(ctx, topic)
	if err != nil {
		return nil, err
	}
	g.prod = p
	return p, nil
}

func (g *grpcTransport) startProducer(ctx context.Context, topic string) (grpcProducer, error) {
	p, err := rmq5.NewProducer(&rmq5.Config{
		Endpoint: g.cfg.Endpoint,
		// No NameSpace: the transport puts the namespace into the topic name itself (see
		// wrapNamespace); the open-source proxy ignores the resource namespace field.
		Credentials: &rmq5creds.SessionCredentials{
			AccessKey: g.cfg.AccessKey.Reveal(), AccessSecret: g.cfg.SecretKey.Reveal(),
		},
	},
		rmq5.WithTopics(wrapNamespace(g.cfg.Namespace, topic)),
		// The sink retries itself; a client retry would only add hidden attempts.
		rmq5.WithMaxAttempts(1),
	)
	if err != nil {
		return nil, fmt.Errorf("create gRPC producer: %w", err)
	}
	p.SetRequestTimeout(g.cfg.SendTimeout.D())
	// Start waits (without a time limit) until the proxy sent the client settings.
	done := make(chan error, 1)
	go func() { done <- p.Start() }()
	ctx, cancel := context.WithTimeout(ctx, g.requestTimeout()+10*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			return nil, g.classify(fmt.Errorf("start gRPC producer for proxy %s: %w", g.cfg.Endpoint, err), topic)
		}
		return p, nil
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				_ = p.GracefulStop()
			}
		}()
		return nil, fmt.Errorf("start gRPC producer for proxy %s: no settings from the proxy: %w", g.cfg.Endpoint, ctx.Err())
	}
}

// Send sends msgs one at a time under q's message group, each after the previous one was
// stored, and returns how many were stored.
func (g *grpcTransport) Send(ctx context.Context, topic string, q queueRef, tag string, msgs []message) (int, error) {
	p, err := g.producer(ctx, topic)
	if err != nil {
		return 0, err
	}
	group := grpcGroup(q)
	for i := range msgs {
		if err := ctx.Err(); err != nil {
			return i, err // a fenced write: nothing more after its deadline
		}
		m := buildGRPCMessage(wrapNamespace(g.cfg.Namespace, topic), tag, group, &msgs[i])
		sctx, cancel := context.WithTimeout(ctx, g.requestTimeout())
		_, err := p.Send(sctx, m)
		cancel()
		if err != nil {
			return i, g.classify(err, topic)
		}
	}
	return len(msgs), nil
}

// buildGRPCMessage is msg as a FIFO message of group with the same tag, keys and user
// properties as the remoting transport sets.
func buildGRPCMessage(topic, tag, group string, msg *message) *rmq5.Message {
	m := &rmq5.Message{Topic: topic, Body: msg.body()}
	m.SetTag(tag)
	if msg.Keys != "" {
		m.SetKeys(msg.Keys)
	}
	m.SetMessageGroup(group)
	for _, p := range msg.properties() {
		m.AddProperty(p[0], p[1])
	}
	return m
}

// classify turns a client or proxy error into the sink's: a missing topic, a topic of the
// wrong type, rejected credentials and invalid messages are permanent; anything else
// (proxy unreachable, timeouts, throttling, internal errors) is transient.
func (g *grpcTransport) classify(err error, topic string) error {
	if rs, ok := rmq5.AsErrRpcStatus(err); ok {
		switch v2.Code(rs.GetCode()) {
		case v2.Code_TOPIC_NOT_FOUND:
			return sdk.Permanent(fmt.Errorf("topic %s: %w at proxy %s (%v)", topic, errTopicNotFound, g.cfg.Endpoint, err))
		case v2.Code_UNAUTHORIZED, v2.Code_FORBIDDEN:
			return sdk.Permanent(fmt.Errorf("%w: check access_key and secret_key (%v)", errAuth, err))
		case v2.Code_MESSAGE_BODY_TOO_LARGE, v2.Code_MESSAGE_PROPERTIES_TOO_LARGE:
			return sdk.Permanent(fmt.Errorf("%w: %v", errTooLarge, err))
		case v2.Code_TOO_MANY_REQUESTS, v2.Code_INTERNAL_ERROR, v2.Code_INTERNAL_SERVER_ERROR,
			v2.Code_PROXY_TIMEOUT, v2.Code_MASTER_PERSISTENCE_TIMEOUT, v2.Code_SLAVE_PERSISTENCE_TIMEOUT,
			v2.Code_HA_NOT_AVAILABLE, v2.Code_REQUEST_TIMEOUT:
			return err
		}
		if c := rs.GetCode(); c >= 40000 && c < 50000 {
			// Other 4xx: an illegal message, tag, key, group or property, or an unsupported
			// request; resending the same message cannot succeed.
			return sdk.Permanent(fmt.Errorf("proxy rejected the message: %w", err))
		}
		return err
	}
	if st, ok := status.FromError(err); ok && (st.Code() == codes.Unauthenticated || st.Code() == codes.PermissionDenied) {
		return sdk.Permanent(fmt.Errorf("%w: check access_key and secret_key (%v)", errAuth, err))
	}
	if strings.Contains(err.Error(), "message type not match") {
		return sdk.Permanent(fmt.Errorf("topic %s is not a FIFO topic (create it with -a +message.type=FIFO): %w", topic, err))
	}
	return err
}

// Close stops the producer and the route connection.
func (g *grpcTransport) Close() error {
	g.mu.Lock()
	p := g.prod
	g.prod, g.closed = nil, true
	unregisterTargets(g.targets)
	g.targets = map[string]bool{}
	g.mu.Unlock()
	var errs []error
	if p != nil {
		errs = append(errs, p.GracefulStop())
	}
	if g.conn != nil {
		errs = append(errs, g.conn.Close())
	}
	return errors.Join(errs...)
}
