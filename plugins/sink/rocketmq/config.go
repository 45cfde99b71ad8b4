package rocketmq

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// Partitioning rules.
const (
	partHash  = "hash"
	partTable = "table"
	partOne   = "one"
)

// Transports.
const (
	transportRemoting = "remoting"
	transportGRPC     = "grpc"
)

// Defaults.
const (
	defaultGroup           = "OMS"
	defaultTag             = "default_tag"
	defaultSendTimeout     = 3 * time.Second
	defaultRetries         = 2
	defaultMaxBatchBytes   = 1 << 20
	defaultMaxMessageBytes = 4 << 20 // the broker's default maxMessageSize
	brokerBatchLimit       = 4 << 20
	defaultRouteRefresh    = 30 * time.Second
	autoCreateQueues       = 8
)

// config is the decoded configuration; the json tags are the HCL attribute names.
type config struct {
	NameServers     []string     `json:"name_servers"`
	Transport       string       `json:"transport"`
	Endpoint        string       `json:"endpoint"`
	Topic           string       `json:"topic"`
	ProducerGroup   string       `json:"producer_group"`
	Tag             string       `json:"tag"`
	Partitioning    string       `json:"partitioning"`
	Queue           *int64       `json:"queue"`
	SendTimeout     sdk.Duration `json:"send_timeout"`
	Retries         int64        `json:"retries"`
	Trace           bool         `json:"trace"`
	TraceTopic      string       `json:"trace_topic"`
	AccessKey       sdk.Secret   `json:"access_key"`
	SecretKey       sdk.Secret   `json:"secret_key"`
	Namespace       string       `json:"namespace"`
	TLS             bool         `json:"tls"`
	MaxBatchBytes   int64        `json:"max_batch_bytes"`
	MaxMessageBytes int64        `json:"max_message_bytes"`
	AutoCreateTopic bool         `json:"auto_create_topic"`
	InstanceName    string       `json:"instance_name"`
	RouteRefresh    sdk.Duration `json:"route_refresh"`
}

// defaultConfig is the configuration with every attribute at its Spec default (the defaults
// are written once, in spec).
func defaultConfig() config {
	var c config
	if err := spec.DecodeDefaults(&c); err != nil {
		panic(err) // the Spec's own defaults: TestDefaultsFromSpec proves they decode
	}
	return c
}

var spec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "name_servers", Type: sdk.TypeStringList,
		Doc: "Name-server addresses (host:port; a host name is resolved to its addresses when the sink starts) of the RocketMQ cluster, for the remoting transport. Required unless transport = \"grpc\"."},
	{Name: "transport", Type: sdk.TypeString, Default: transportRemoting, Enum: []string{transportRemoting, transportGRPC},
		Doc: "Protocol: \"remoting\" (name servers; RocketMQ 4.x and 5.x) or \"grpc\" (a 5.x proxy endpoint; FIFO topics only, one message group per queue index)."},
	{Name: "endpoint", Type: sdk.TypeString,
		Doc: "gRPC proxy endpoint (host:port) for transport = \"grpc\"."},
	{Name: "topic", Type: sdk.TypeString,
		Doc: "Topic for records that carry none (records routed by the objects section carry their own)."},
	{Name: "producer_group", Type: sdk.TypeString, Default: defaultGroup,
		Doc: "Producer group the messages are sent under."},
	{Name: "tag", Type: sdk.TypeString, Default: defaultTag,
		Doc: "Tag set on every message."},
	{Name: "partitioning", Type: sdk.TypeString, Default: partHash, Enum: []string{partHash, partTable, partOne},
		Doc: "Queue selection: \"hash\" (hash of the sharding-column values modulo the topic's queue count; one key always lands on one queue), \"table\" (hash of db.table) or \"one\" (the fixed queue given by `queue`)."},
	{Name: "queue", Type: sdk.TypeInt, Min: sdk.Bound(0),
		Doc: "Queue index (0-based, over the topic's queues sorted by broker name and queue id) for partitioning = \"one\"."},
	{Name: "send_timeout", Type: sdk.TypeDuration, Default: "3s", Min: sdk.Bound(0.001),
		Doc: "How long one batch send may take before it counts as failed."},
	{Name: "retries", Type: sdk.TypeInt, Default: int64(defaultRetries), Min: sdk.Bound(0), Max: sdk.Bound(100),
		Doc: "How often the sink retries a failed batch itself, always on the same queue, before it reports the failure (ferry then retries with backoff from the first undelivered record)."},
	{Name: "trace", Type: sdk.TypeBool, Default: false,
		Doc: "Send message-trace records to the broker's trace topic (RMQ_SYS_TRACE_TOPIC unless trace_topic is set)."},
	{Name: "trace_topic", Type: sdk.TypeString,
		Doc: "Trace topic when trace = true; empty means the broker default RMQ_SYS_TRACE_TOPIC."},
	{Name: "access_key", Type: sdk.TypeString, Secret: true,
		Doc: "ACL access key (set together with secret_key)."},
	{Name: "secret_key", Type: sdk.TypeString, Secret: true,
		Doc: "ACL secret key (set together with access_key)."},
	{Name: "namespace", Type: sdk.TypeString,
		Doc: "Instance namespace: the broker sees topics (and, over remoting, the producer group) as namespace%name; over gRPC the namespace is sent with every request and the proxy applies it."},
	{Name: "tls", Type: sdk.TypeBool, Default: false,
		Doc: "Use TLS. Remoting: to name servers and brokers (the client does not verify certificates). gRPC: to the proxy, verifying its certificate against the system roots (SSL_CERT_FILE adds a CA)."},
	{Name: "max_batch_bytes", Type: sdk.TypeSize, Default: int64(defaultMaxBatchBytes), Min: sdk.Bound(1024), Max: sdk.Bound(brokerBatchLimit),
		Doc: "Upper bound of one broker batch (consecutive records of one queue sent in one request). The broker accepts 4MiB per batch by default."},
	{Name: "max_message_bytes", Type: sdk.TypeSize, Default: int64(defaultMaxMessageBytes), Min: sdk.Bound(1024),
		Doc: "Largest message (body plus properties) the sink sends; a larger record stops the pipeline with an error naming its table and key. Keep it at or below the broker's maxMessageSize."},
	{Name: "auto_create_topic", Type: sdk.TypeBool, Default: false,
		Doc: "When a topic does not exist, let the broker create it with 8 queues on first send (needs autoCreateTopicEnable on the broker). Off: a missing topic is an error naming it."},
	{Name: "instance_name", Type: sdk.TypeString,
		Doc: "Client instance name; empty gives every sink its own unique name (the client library shares connections per instance name)."},
	{Name: "route_refresh", Type: sdk.TypeDuration, Default: "30s", Min: sdk.Bound(0.1),
		Doc: "How often the topic routes (queue counts) are re-read from the name servers."},
}}

// parseConfig decodes and validates c.
func parseConfig(c sdk.Config) (config, error) {
	cfg := defaultConfig()
	if err := c.Decode(&cfg); err != nil {
		return cfg, err
	}
	var errs []error
	errs = append(errs, cfg.checkTransport()...)
	errs = append(errs, cfg.checkPartitioning()...)
	errs = append(errs, cfg.checkNames()...)
	errs = append(errs, cfg.checkLimits()...)
	return cfg, errors.Join(errs...)
}

// checkTransport checks the transport and the addresses it needs: name servers for
// remoting, the proxy endpoint for gRPC.
func (cfg *config) checkTransport() []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	switch cfg.Transport {
	case transportRemoting:
		if len(cfg.NameServers) == 0 {
			add(&sdk.AttributeError{Attribute: "name_servers", Summary: "at least one name server is needed",
				Detail: `for example name_servers = ["127.0.0.1:9876"]`})
		}
		if cfg.Endpoint != "" {
			add(sdk.AttrError("endpoint", `is only used with transport = "grpc"`))
		}
	case transportGRPC:
		if cfg.Endpoint == "" {
			add(&sdk.AttributeError{Attribute: "endpoint", Summary: `transport = "grpc" needs the proxy endpoint`,
				Detail: `for example endpoint = "127.0.0.1:8081"`})
		}
		if len(cfg.NameServers) > 0 {
			add(sdk.AttrError("name_servers", `are only used with transport = "remoting" (gRPC talks to the proxy at endpoint)`))
		}
		if cfg.Trace {
			add(sdk.AttrError("trace", `is not supported with transport = "grpc" (use the remoting transport for client-side message traces)`))
		}
		if cfg.AutoCreateTopic {
			add(sdk.AttrError("auto_create_topic", `is not supported with transport = "grpc": the proxy never creates topics`))
		}
	default:
		add(sdk.AttrError("transport", "must be %q or %q", transportRemoting, transportGRPC))
	}
	for i, ns := range cfg.NameServers {
		if err := checkAddr(ns); err != nil {
			add(sdk.AttrError(fmt.Sprintf("name_servers[%d]", i), "%v", err))
		}
	}
	if cfg.Endpoint != "" {
		if err := checkAddr(cfg.Endpoint); err != nil {
			add(sdk.AttrError("endpoint", "%v", err))
		}
	}
	return errs
}

// checkPartitioning checks partitioning and the queue that "one" needs.
func (cfg *config) checkPartitioning() []error {
	var errs []error
	switch cfg.Partitioning {
	case partOne:
		if cfg.Queue == nil {
			errs = append(errs, sdk.AttrError("partitioning", `"one" needs the queue attribute (a queue index)`))
		}
	case partHash, partTable:
		if cfg.Queue != nil {
			errs = append(errs, sdk.AttrError("queue", `is only used with partitioning = "one"`))
		}
	default:
		errs = append(errs, sdk.AttrError("partitioning", "must be %q, %q or %q", partHash, partTable, partOne))
	}
	if cfg.Queue != nil && *cfg.Queue < 0 {
		errs = append(errs, sdk.AttrError("queue", "must not be negative"))
	}
	return errs
}

// checkNames checks the credentials and the names the broker sees: producer group, topic,
// namespace and tag.
func (cfg *config) checkNames() []error {
	var errs []error
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		name := "secret_key"
		if cfg.AccessKey == "" {
			name = "access_key"
		}
		errs = append(errs, sdk.AttrError(name, "access_key and secret_key must be set together"))
	}
	if cfg.ProducerGroup == "" || !validName(cfg.ProducerGroup) {
		errs = append(errs, sdk.AttrError("producer_group", "must be letters, digits, '-', '_' or '%%' (at most 255)"))
	}
	if cfg.Topic != "" && !validName(cfg.Topic) {
		errs = append(errs, sdk.AttrError("topic", "%q is not a valid RocketMQ topic name (letters, digits, '-', '_', '%%'; at most 127)", cfg.Topic))
	}
	if cfg.Namespace != "" && !validName(cfg.Namespace) {
		errs = append(errs, sdk.AttrError("namespace", "must be letters, digits, '-', '_' or '%%'"))
	}
	if strings.ContainsAny(cfg.Tag, "|\x01\x02") || strings.TrimSpace(cfg.Tag) != cfg.Tag {
		errs = append(errs, sdk.AttrError("tag", "must not contain '|', control characters, or leading or trailing spaces"))
	}
	return errs
}

// checkLimits checks the timeouts, retries, sizes and intervals, and that trace_topic
// comes with trace.
func (cfg *config) checkLimits() []error {
	var errs []error
	if cfg.SendTimeout.D() <= 0 {
		errs = append(errs, sdk.AttrError("send_timeout", "must be positive"))
	}
	if cfg.Retries < 0 {
		errs = append(errs, sdk.AttrError("retries", "must not be negative"))
	}
	if cfg.MaxBatchBytes < 1024 || cfg.MaxBatchBytes > brokerBatchLimit {
		errs = append(errs, sdk.AttrError("max_batch_bytes", "must be between 1KiB and 4MiB (the broker's batch limit)"))
	}
	if cfg.MaxMessageBytes < 1024 {
		errs = append(errs, sdk.AttrError("max_message_bytes", "must be at least 1KiB"))
	}
	if cfg.RouteRefresh.D() < 100*time.Millisecond {
		errs = append(errs, sdk.AttrError("route_refresh", "must be at least 100ms"))
	}
	if cfg.TraceTopic != "" && !cfg.Trace {
		errs = append(errs, sdk.AttrError("trace_topic", "is only used with trace = true"))
	}
	return errs
}

func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(strings.TrimSpace(a))
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port", a)
	}
	return nil
}

// validName follows the broker's topic and group name rule: ^[%|a-zA-Z0-9_-]+$ (the broker
// limits topics to 127 characters, groups to 255).
func validName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '%', r == '|':
		default:
			return false
		}
	}
	return true
}
