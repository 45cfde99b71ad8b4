// Package rocketmq is ferry's built-in RocketMQ sink plugin ("rocketmq", kind sink).
//
// It delivers records to Apache RocketMQ 4.x and 5.x brokers over the remoting protocol
// (name servers, github.com/apache/rocketmq-client-go/v2), or to a 5.x gRPC proxy
// (transport = "grpc", github.com/apache/rocketmq-clients/golang/v5: FIFO messages, one
// message group per queue index, sent one at a time per group). Every record is sent to an
// explicit queue chosen by the partitioning rule; records of one queue are grouped into
// broker batches and sent strictly one batch after the other, while different queues are in
// flight at once. A failed batch is retried on the same queue, never re-routed. See
// docs/sinks/rocketmq.md and docs/adr/0004-rocketmq-sink-ordering.md.
//
// The package is built on sdk only; the broker client sits behind the small transport
// interface so that the ordering, batching and acknowledgement logic is unit-tested with a
// fake.
package rocketmq
