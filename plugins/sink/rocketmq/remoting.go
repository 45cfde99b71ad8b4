package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/admin"
	rmqerrors "github.com/apache/rocketmq-client-go/v2/errors"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/ferry-cdc/ferry/sdk"
)

// defaultTopicKey is the broker's template topic for auto-created topics.
const defaultTopicKey = "TBW102"

var rlogOnce sync.Once

// clientLog is the logger of the sink that opened last: rocketmq-client-go's logger is
// process-wide (rlog.SetLogger), so its lines go to the sink that opened last.
var clientLog atomic.Pointer[slog.Logger]

// routeClientLogs sends rocketmq-client-go's lines to the sink's logger (as its own with
// component "rocketmq-client-go") instead of logrus text on stderr. Lines below
// FERRY_RMQ_LOG_LEVEL ("warn" by default: at info the client logs every heartbeat and
// rebalance) are dropped; the client's info and debug lines are debug lines in ferry's log.
func routeClientLogs(l *slog.Logger) {
	clientLog.Store(l.With("component", "rocketmq-client-go"))
	rlogOnce.Do(func() {
		level := os.Getenv("FERRY_RMQ_LOG_LEVEL")
		if level == "" {
			level = "warn"
		}
		r := &rlogAdapter{}
		r.Level(level)
		rlog.SetLogger(r)
	})
}

// rlogAdapter is rlog.Logger over clientLog.
type rlogAdapter struct{ min atomic.Int32 } // the lowest rlog level passed on: 0 debug .. 4 fatal

func (r *rlogAdapter) log(rank int32, level slog.Level, msg string, fields map[string]interface{}) {
	l := clientLog.Load()
	if l == nil || rank < r.min.Load() {
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		v := fields[k]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		args = append(args, k, v)
	}
	l.Log(context.Background(), level, msg, args...)
}

func (r *rlogAdapter) Debug(msg string, f map[string]interface{}) { r.log(0, slog.LevelDebug, msg, f) }
func (r *rlogAdapter) Info(msg string, f map[string]interface{})  { r.log(1, slog.LevelDebug, msg, f) }
func (r *rlogAdapter) Warning(msg string, f map[string]interface{}) {
	r.log(2, slog.LevelWarn, msg, f)
}
func (r *rlogAdapter) Error(msg string, f map[string]interface{}) { r.log(3, slog.LevelError, msg, f) }
func (r *rlogAdapter) Fatal(msg string, f map[string]interface{}) { r.log(4, slog.LevelError, msg, f) }

// Level sets the lowest client level passed on (rlog.SetLogLevel calls it).
func (r *rlogAdapter) Level(level string) {
	rank := map[string]int32{"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3, "fatal": 4}
	if v, ok := rank[strings.ToLower(level)]; ok {
		r.min.Store(v)
	}
}

// OutputPath is ignored: the lines go to ferry's log.
func (r *rlogAdapter) OutputPath(string) error { return nil }

// traceClient guards a limit of rocketmq-client-go: every trace dispatcher of a process
// shares one client instance ("INNER_TRACE_CLIENT_DEFAULT") that is never shut down and
// refuses any other set of name servers (the dispatcher is then nil and the client panics
// on send). So a process traces to the first cluster a traced sink opened, for its lifetime.
var traceClient struct {
	sync.Mutex
	key string
}

func acquireTrace(nameServers []string) error {
	key := strings.Join(sortedCopy(nameServers), ",")
	traceClient.Lock()
	defer traceClient.Unlock()
	if traceClient.key != "" && traceClient.key != key {
		return fmt.Errorf("trace: this process already traces to name servers %s and the RocketMQ client keeps one trace client per process; run this pipeline's sink out of process (out_of_process = true) to trace to %s", traceClient.key, key)
	}
	traceClient.key = key
	return nil
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// remoting is the transport over rocketmq-client-go (remoting protocol).
type remoting struct {
	cfg      config
	producer rmq.Producer
	// addrs are the name servers with host names resolved (cfg.NameServers as written are
	// used in messages).
	addrs []string
}

func newRemoting(cfg config, instance string) (*remoting, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	addrs, err := resolveHosts(ctx, net.DefaultResolver.LookupHost, cfg.NameServers)
	cancel()
	if err != nil {
		return nil, err
	}
	opts := []producer.Option{
		producer.WithNameServer(addrs),
		producer.WithGroupName(cfg.ProducerGroup),
		producer.WithInstanceName(instance),
		// The sink chooses every queue itself (Message.Queue) ...
		producer.WithQueueSelector(producer.NewManualQueueSelector()),
		// ... and retries on that same queue itself: the client's own retry would pick
		// another queue (and another broker) and break per-key order.
		producer.WithRetry(0),
		producer.WithSendMsgTimeout(cfg.SendTimeout.D()),
		producer.WithDefaultTopicQueueNums(autoCreateQueues),
		producer.WithCreateTopicKey(defaultTopicKey),
	}
	if cfg.AccessKey != "" {
		opts = append(opts, producer.WithCredentials(credentials(cfg)))
	}
	if cfg.Namespace != "" {
		opts = append(opts, producer.WithNamespace(cfg.Namespace))
	}
	if cfg.TLS {
		opts = append(opts, producer.WithTls(true))
	}
	r := &remoting{cfg: cfg, addrs: addrs}
	if cfg.Trace {
		if err := acquireTrace(cfg.NameServers); err != nil {
			return nil, sdk.Permanent(err)
		}
		tc := &primitive.TraceConfig{
			TraceTopic:   cfg.TraceTopic,
			GroupName:    cfg.ProducerGroup,
			Access:       primitive.Local,
			NamesrvAddrs: addrs,
		}
		if cfg.AccessKey != "" {
			tc.Credentials = credentials(cfg)
		}
		opts = append(opts, producer.WithTrace(tc))
	}
	p, err := rmq.NewProducer(opts...)
	if err != nil {
		return nil, fmt.Errorf("create producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start producer (group %s, instance %s): %w", cfg.ProducerGroup, instance, err)
	}
	r.producer = p
	return r, nil
}

func credentials(cfg config) primitive.Credentials {
	return primitive.Credentials{AccessKey: cfg.AccessKey.Reveal(), SecretKey: cfg.SecretKey.Reveal()}
}

// newAdmin opens a short-lived admin client. A fresh one per lookup: the client caches a
// topic route once found and never refreshes it.
func (r *remoting) newAdmin() (interface {
	FetchPublishMessageQueues(ctx context.Context, topic string) ([]*primitive.MessageQueue, error)
	Close() error
}, error) {
	opts := []admin.AdminOption{admin.WithResolver(primitive.NewPassthroughResolver(r.addrs))}
	if r.cfg.AccessKey != "" {
		opts = append(opts, admin.WithCredentials(credentials(r.cfg)))
	}
	if r.cfg.TLS {
		opts = append(opts, admin.WithTls(true))
	}
	return admin.NewAdmin(opts...)
}

func (r *remoting) fetch(ctx context.Context, topic string) ([]queueRef, error) {
	adm, err := r.newAdmin()
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer adm.Close()
	type result struct {
		mqs []*primitive.MessageQueue
		err error
	}
	done := make(chan result, 1)
	go func() {
		mqs, err := adm.FetchPublishMessageQueues(ctx, r.wrap(topic))
		done <- result{mqs, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("route of topic %s: %w", topic, ctx.Err())
	}
	if res.err != nil {
		if errors.Is(res.err, rmqerrors.ErrTopicNotExist) {
			return nil, fmt.Errorf("topic %s: %w (name servers %s)", topic, errTopicNotFound, strings.Join(r.cfg.NameServers, ","))
		}
		if isAuthError(res.err) {
			return nil, sdk.Permanent(fmt.Errorf("route of topic %s: %w: check access_key and secret_key (%v)", topic, errAuth, res.err))
		}
		return nil, fmt.Errorf("route of topic %s from name servers %s: %w", topic, strings.Join(r.cfg.NameServers, ","), res.err)
	}
	qs := make([]queueRef, 0, len(res.mqs))
	for _, mq := range res.mqs {
		qs = append(qs, queueRef{Broker: mq.BrokerName, ID: mq.QueueId})
	}
	sortQueues(qs)
	return qs, nil
}

// Queues reads the topic's route from the name servers.
func (r *remoting) Queues(ctx context.Context, topic string) ([]queueRef, error) {
	return r.fetch(ctx, topic)
}

// AutoQueues derives the queues of a topic the broker will create on first send: the
// template topic's brokers, autoCreateQueues queues each (bounded by the template's).
func (r *remoting) AutoQueues(ctx context.Context, topic string) ([]queueRef, error) {
	tpl, err := r.fetch(ctx, defaultTopicKey)
	if err != nil {
		if errors.Is(err, errTopicNotFound) {
			return nil, fmt.Errorf("topic %s does not exist and cannot be auto-created: the brokers have no template topic %s (enable autoCreateTopicEnable): %w", topic, defaultTopicKey, errTopicNotFound)
		}
		return nil, err
	}
	var qs []queueRef
	for _, q := range tpl {
		if q.ID < autoCreateQueues {
			qs = append(qs, q)
		}
	}
	return qs, nil
}

func (r *remoting) wrap(topic string) string { return wrapNamespace(r.cfg.Namespace, topic) }

// Send sends one batch to exactly queue q, in one request: all or nothing stored.
func (r *remoting) Send(ctx context.Context, topic string, q queueRef, tag string, msgs []message) (int, error) {
	if err := r.send(ctx, topic, q, tag, msgs); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

func (r *remoting) send(ctx context.Context, topic string, q queueRef, tag string, msgs []message) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SendTimeout.D()+2*time.Second)
	defer cancel()
	mq := &primitive.MessageQueue{Topic: r.wrap(topic), BrokerName: q.Broker, QueueId: q.ID}
	// Several messages go as one message of the client's with the batch already encoded
	// (encodeBatch): the client sends it as SEND_BATCH_MESSAGE to exactly mq, as it would a
	// batch of its own.
	var out *primitive.Message
	if len(msgs) == 1 {
		// One message goes as itself (SEND_MESSAGE_V2), as the client sends one: its id, tag
		// and keys then also appear in the message trace, which a batch's do not.
		out = single(topic, &msgs[0], tag)
	} else {
		body := encodeBatch(getBatchBuffer(), msgs, tag)
		defer putBatchBuffer(body) // SendSync has written it when it returns (batchBuffers)
		out = &primitive.Message{Topic: topic, Body: body, Batch: true}
	}
	out.Queue = mq
	if err := ctx.Err(); err != nil {
		return err // a fenced write: nothing after its deadline
	}
	res, err := r.producer.SendSync(ctx, out)
	if err != nil {
		if isAuthError(err) {
			return sdk.Permanent(fmt.Errorf("%w: check access_key and secret_key (%v)", errAuth, err))
		}
		if code, ok := responseCode(err); ok {
			switch code {
			case 17: // TOPIC_NOT_EXIST
				return fmt.Errorf("topic %s: %w on broker %s", topic, errTopicNotFound, q.Broker)
			case 13: // MESSAGE_ILLEGAL
				return sdk.Permanent(fmt.Errorf("broker rejected the messages as illegal: %w", err))
			}
		}
		return err
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("broker %s answered status %d (not stored safely)", q.Broker, res.Status)
	}
	return nil
}

// single is m as a message of the client's, with the properties a batch would give it.
func single(topic string, m *message, tag string) *primitive.Message {
	pm := primitive.NewMessage(topic, m.body())
	props := make(map[string]string, len(m.Props)+5)
	for _, p := range m.properties() {
		props[p[0]] = p[1]
	}
	props[primitive.PropertyTags] = tag
	if m.Keys != "" {
		props[primitive.PropertyKeys] = m.Keys
	}
	props[primitive.PropertyUniqueClientMessageIdKeyIndex] = primitive.CreateUniqID()
	props[primitive.PropertyWaitStoreMsgOk] = "true"
	pm.WithProperties(props)
	return pm
}

var codeRE = regexp.MustCompile(`CODE: (\d+)`)

func responseCode(err error) (int, bool) {
	m := codeRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	n, convErr := strconv.Atoi(m[1])
	return n, convErr == nil
}

// isAuthError recognizes an ACL rejection: response code 16 (NO_PERMISSION) or the broker's
// AclException text.
func isAuthError(err error) bool {
	if code, ok := responseCode(err); ok && code == 16 {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "AclException") || strings.Contains(s, "No accessKey") ||
		strings.Contains(s, "signature") || strings.Contains(s, "No permission")
}

// Close shuts the producer down.
func (r *remoting) Close() error {
	var err error
	if r.producer != nil {
		err = r.producer.Shutdown()
		r.producer = nil
	}
	return err
}
