package rocketmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// The user properties the sink sets on every message (documented in docs/sinks/rocketmq.md).
const (
	PropChangeID   = "ferry_id"        // stable unique id of the row change
	PropPosition   = "ferry_position"  // source position, lower-case hex
	PropCommitTime = "ferry_commit_ms" // commit time, Unix milliseconds (absent when unknown)
	PropDatabase   = "ferry_db"        // source database
	PropTable      = "ferry_table"     // source table
	PropOp         = "ferry_op"        // snapshot, insert, update, delete, ddl
)

// memoLimit bounds the records remembered as delivered beyond a failed write's prefix.
const memoLimit = 1 << 16

// Sink is the "rocketmq" sink. Write is safe for concurrent use by several lanes.
type Sink struct {
	log          *slog.Logger // the plugin's logger (sdk.Config.Logger)
	cfg          config
	newTransport func(cfg config, instance string) (transport, error)
	backoff      time.Duration // first pause between the sink's own retries

	mu     sync.Mutex // guards tr, stop
	tr     transport
	stop   chan struct{}
	loopWG sync.WaitGroup

	// mapMu is held shared by every Write for its whole duration and exclusively by a
	// route switch, so a queue-count change waits until every send planned with the old
	// mapping is acknowledged (or failed), and no Write mixes two mappings.
	mapMu    sync.RWMutex
	routesMu sync.Mutex // guards routes (the map; route values are immutable)
	routes   map[string]*route
	switches atomic.Int64    // route switches applied (for tests and diagnostics)
	lost     map[string]bool // topics whose route lacks a broker of their mapping (refresh's)

	memoMu sync.Mutex
	memo   map[memoKey]struct{}
}

// route is the mapping of one topic: its queues in selection order.
type route struct {
	queues []queueRef
	auto   bool // derived from the template topic: the topic is being auto-created
}

// memoKey identifies a record that reached the broker although an earlier record of the
// same Write failed; the retried Write skips it instead of sending a duplicate.
type memoKey struct {
	id, topic, key string
	hash, body     uint64
}

// New returns an unconfigured RocketMQ sink.
func New() *Sink {
	s := &Sink{
		log:     slog.New(slog.DiscardHandler),
		cfg:     defaultConfig(),
		backoff: 100 * time.Millisecond,
		routes:  map[string]*route{},
		memo:    map[memoKey]struct{}{},
		lost:    map[string]bool{},
	}
	s.newTransport = s.openTransport
	return s
}

// openTransport starts the configured transport.
func (s *Sink) openTransport(cfg config, instance string) (transport, error) {
	if cfg.Transport == transportGRPC {
		return newGRPC(cfg, instance)
	}
	routeClientLogs(s.log)
	return newRemoting(cfg, instance)
}

// Info identifies the plugin.
func (s *Sink) Info() sdk.Info {
	return sdk.Info{Name: "rocketmq", Kind: sdk.KindSink, Version: "0.1.0",
		Summary: "Sends records to Apache RocketMQ 4.x/5.x queues, in order per key, batched per queue."}
}

// Spec declares the configuration.
func (s *Sink) Spec() sdk.Spec { return spec }

// SharedHeads tells the host that the sink writes record heads itself (sdk.SharedHeads):
// every transport writes a message's head and rest as one body (the batch encoding copies
// both into the batch, once; a single message or the gRPC transport joins them).
func (s *Sink) SharedHeads() bool { return true }

// OrderScope declares the ordering unit of the partitioning rule (sdk.OrderScoper): "hash"
// keeps order per key, "table" per table (one queue per table), "one" for everything (one
// queue). The host makes it the unit of its write lanes, so the queue shows that order.
func (s *Sink) OrderScope() sdk.OrderScope {
	switch s.cfg.Partitioning {
	case partTable:
		return sdk.OrderTable
	case partOne:
		return sdk.OrderAll
	}
	return sdk.OrderKey
}

// Configure decodes and checks the configuration.
func (s *Sink) Configure(_ context.Context, c sdk.Config) error {
	cfg, err := parseConfig(c)
	if err != nil {
		return err
	}
	s.cfg = cfg
	s.log = c.Logger()
	return nil
}

var instanceSeq atomic.Int64

func (s *Sink) instanceName() string {
	if s.cfg.InstanceName != "" {
		return s.cfg.InstanceName
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("ferry-%d-%d-%s", os.Getpid(), instanceSeq.Add(1), hex.EncodeToString(b[:]))
}

// Open starts the producer and, when a default topic is configured, checks that it exists.
func (s *Sink) Open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tr, err := s.newTransport(s.cfg, s.instanceName())
	if err != nil {
		return fmt.Errorf("rocketmq sink: %w", err)
	}
	s.mu.Lock()
	s.tr = tr
	s.stop = make(chan struct{})
	stop := s.stop
	s.mu.Unlock()
	if s.cfg.Topic != "" {
		if _, err := s.route(ctx, tr, s.cfg.Topic); err != nil {
			// A failed Open releases the producer: the host may call Open again.
			s.mu.Lock()
			s.tr, s.stop = nil, nil
			s.mu.Unlock()
			_ = tr.Close()
			return err
		}
	}
	s.loopWG.Add(1)
	go s.refreshLoop(tr, stop)
	s.log.Info("producer started", "transport", s.cfg.Transport, "name_servers", strings.Join(s.cfg.NameServers, ","), "endpoint", s.cfg.Endpoint)
	return nil
}

// Close stops the route refresher and the producer. It is safe without a successful Open.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	tr, stop := s.tr, s.stop
	s.tr, s.stop = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	s.loopWG.Wait()
	if tr == nil {
		return nil
	}
	return tr.Close()
}

func (s *Sink) transport() transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tr
}

// route returns the mapping of topic, reading it from the name servers the first time.
func (s *Sink) route(ctx context.Context, tr transport, topic string) (*route, error) {
	s.routesMu.Lock()
	r := s.routes[topic]
	s.routesMu.Unlock()
	if r != nil {
		return r, nil
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout.D()+5*time.Second)
	defer cancel()
	qs, err := tr.Queues(lctx, topic)
	auto := false
	if errors.Is(err, errTopicNotFound) && s.cfg.AutoCreateTopic {
		qs, err = tr.AutoQueues(lctx, topic)
		auto = true
	}
	if err != nil {
		if errors.Is(err, errTopicNotFound) {
			return nil, sdk.Permanent(fmt.Errorf("rocketmq sink: topic %q does not exist (%s): %w", topic, missingTopicHint(&s.cfg, topic), err))
		}
		return nil, fmt.Errorf("rocketmq sink: %w", err)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("rocketmq sink: topic %q has no writable queue", topic)
	}
	r = &route{queues: qs, auto: auto}
	s.routesMu.Lock()
	if old := s.routes[topic]; old != nil {
		r = old // another lane was first: keep one mapping
	} else {
		s.routes[topic] = r
	}
	s.routesMu.Unlock()
	return r, nil
}

func (s *Sink) refreshLoop(tr transport, stop chan struct{}) {
	defer s.loopWG.Done()
	t := time.NewTicker(s.cfg.RouteRefresh.D())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.refresh(tr, stop)
		}
	}
}

// refresh re-reads every known topic's route and switches mappings that changed. A route
// that lost a broker (down, failing over) keeps its old mapping: sends to that broker's
// queues fail and are retried until it is back, rather than re-routing keys silently.
func (s *Sink) refresh(tr transport, stop chan struct{}) {
	s.routesMu.Lock()
	topics := make([]string, 0, len(s.routes))
	for t := range s.routes {
		topics = append(topics, t)
	}
	s.routesMu.Unlock()
	for _, topic := range topics {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.SendTimeout.D()+5*time.Second)
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		qs, err := tr.Queues(ctx, topic)
		cancel()
		if err != nil || len(qs) == 0 {
			continue // keep the mapping we have; sends report real trouble
		}
		s.routesMu.Lock()
		old := s.routes[topic]
		s.routesMu.Unlock()
		if old == nil {
			continue
		}
		if lost := lostBroker(old.queues, qs); lost != s.lost[topic] {
			s.lost[topic] = lost
			if lost {
				s.log.Warn("a broker of the topic's route is gone: its queues keep their keys and sends to them are retried until it is back",
					"topic", topic, "queues_before", queueList(old.queues), "queues_now", queueList(qs))
			} else {
				s.log.Info("the topic's brokers are back", "topic", topic, "queues", queueList(qs))
			}
		}
		if (!old.auto && slices.Equal(old.queues, qs)) || s.lost[topic] {
			continue
		}
		// Wait for every in-flight Write (planned with the old mapping) to finish.
		s.mapMu.Lock()
		s.routesMu.Lock()
		s.routes[topic] = &route{queues: qs}
		s.routesMu.Unlock()
		s.mapMu.Unlock()
		if !slices.Equal(old.queues, qs) {
			s.switches.Add(1)
			s.log.Info("topic route switched: keys map to the new queues from now on",
				"topic", topic, "queues_before", queueList(old.queues), "queues_now", queueList(qs))
		}
	}
}

// queueList renders queues as "broker/id,...".
func queueList(qs []queueRef) string {
	parts := make([]string, len(qs))
	for i, q := range qs {
		parts[i] = q.Broker + "/" + strconv.Itoa(q.ID)
	}
	return strings.Join(parts, ",")
}

// lostBroker reports whether a broker of old is missing from now.
func lostBroker(old, now []queueRef) bool {
	have := map[string]bool{}
	for _, q := range now {
		have[q.Broker] = true
	}
	for _, q := range old {
		if !have[q.Broker] {
			return true
		}
	}
	return false
}

// item is one planned message.
type item struct {
	idx   int // index in the Write's records
	topic string
	q     queueRef
	msg   message
	size  int
}

type queueKey struct {
	topic string
	q     queueRef
}

// Write sends records, each to the queue its partitioning rule gives, and returns how many
// leading records the broker has stored. Records of one queue go out in batches strictly
// one after the other; different queues are in flight at once.
func (s *Sink) Write(ctx context.Context, records []sdk.Record) (int, error) {
	if len(records) == 0 {
		return 0, nil
	}
	tr := s.transport()
	if tr == nil {
		return 0, errNotOpen
	}
	s.mapMu.RLock()
	defer s.mapMu.RUnlock()

	done := make([]bool, len(records))
	s.memoMu.Lock()
	memoOn := len(s.memo) > 0
	if memoOn {
		for i := range records {
			if _, ok := s.memo[keyOf(&records[i])]; ok {
				done[i] = true
			}
		}
	}
	s.memoMu.Unlock()

	// Plan: the queue and message of every record up to the first one that cannot be sent.
	limit, planErr := len(records), error(nil)
	items := make([]item, 0, len(records))
	for i := range records {
		if done[i] {
			continue
		}
		it, err := s.plan(ctx, tr, &records[i])
		if err != nil {
			if tl, ok := sdk.AsTooLarge(err); ok {
				tl.Index = i
			}
			limit, planErr = i, err
			break
		}
		it.idx = i
		items = append(items, it)
	}

	// Send, segment by segment. A segment ends where the next record belongs to the same
	// change as the previous one but to another queue (an UPDATE that moved a row to a new
	// key): everything before it must be stored first, so the old key's queue shows the
	// row leaving before the new key's queue shows it arriving.
	var sendErr error
	for start := 0; start < len(items) && sendErr == nil; {
		end := start + 1
		for end < len(items) && !barrier(records, &items[end-1], &items[end]) {
			end++
		}
		sendErr = s.sendSegment(ctx, tr, records, items[start:end], done)
		start = end
	}

	delivered := 0
	for delivered < limit && done[delivered] {
		delivered++
	}
	s.remember(records, done, delivered, memoOn)
	switch {
	case delivered < limit && sendErr != nil:
		return delivered, sendErr
	case delivered < limit:
		return delivered, ctx.Err()
	default:
		return delivered, planErr
	}
}

// barrier reports whether b must wait until everything before it is stored.
func barrier(records []sdk.Record, a, b *item) bool {
	ra, rb := &records[a.idx], &records[b.idx]
	return ra.ChangeID != "" && ra.ChangeID == rb.ChangeID && (a.topic != b.topic || a.q != b.q)
}

// remember updates the memo: records delivered beyond the prefix are remembered (the
// retry skips them), records inside the prefix are forgotten.
func (s *Sink) remember(records []sdk.Record, done []bool, delivered int, memoOn bool) {
	beyond := false
	for j := delivered; j < len(records); j++ {
		if done[j] {
			beyond = true
			break
		}
	}
	if !memoOn && !beyond {
		return
	}
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if memoOn {
		for j := 0; j < delivered; j++ {
			delete(s.memo, keyOf(&records[j]))
		}
	}
	for j := delivered; j < len(records); j++ {
		if done[j] {
			if len(s.memo) >= memoLimit {
				clear(s.memo) // bounded memory; worst case a few duplicates
			}
			s.memo[keyOf(&records[j])] = struct{}{}
		}
	}
}

func keyOf(r *sdk.Record) memoKey {
	h := fnv.New64a()
	_, _ = h.Write(r.Head)
	_, _ = h.Write(r.Value)
	return memoKey{id: r.ChangeID, topic: r.Topic, key: r.Key, hash: r.Hash, body: h.Sum64()}
}

// plan picks the topic and queue of r and builds its message.
func (s *Sink) plan(ctx context.Context, tr transport, r *sdk.Record) (item, error) {
	topic := r.Topic
	if topic == "" {
		topic = s.cfg.Topic
	}
	if topic == "" {
		return item{}, sdk.Permanent(fmt.Errorf("rocketmq sink: record of %s.%s has no topic and the sink has no default topic (set topic)", r.Database, r.Table))
	}
	rt, err := s.route(ctx, tr, topic)
	if err != nil {
		return item{}, err
	}
	n := uint64(len(rt.queues))
	var idx uint64
	switch s.cfg.Partitioning {
	case partTable:
		h := fnv.New64a()
		_, _ = h.Write([]byte(r.Database))
		_, _ = h.Write([]byte{'.'})
		_, _ = h.Write([]byte(r.Table))
		idx = h.Sum64() % n
	case partOne:
		idx = uint64(*s.cfg.Queue)
		if idx >= n {
			return item{}, sdk.Permanent(fmt.Errorf("rocketmq sink: queue %d does not exist: topic %q has %d queues", idx, topic, n))
		}
	default:
		idx = r.Hash % n
	}
	it := item{topic: topic, q: rt.queues[idx], msg: buildMessage(r)}
	it.size = encodedSize(&it.msg, s.cfg.Tag)
	if int64(it.size) > s.cfg.MaxMessageBytes {
		// Write sets the record's index.
		return item{}, sdk.TooLarge(0, int64(it.size), s.cfg.MaxMessageBytes, fmt.Errorf("rocketmq sink: %w: the message for %s.%s key %q is %d bytes, over max_message_bytes (%d)",
			errTooLarge, r.Database, r.Table, r.Key, it.size, s.cfg.MaxMessageBytes))
	}
	return it, nil
}

// buildMessage turns r into a message: the serializer's properties, then the sink's.
func buildMessage(r *sdk.Record) message {
	props := make([][2]string, 0, len(r.Properties)+5)
	for _, p := range r.Properties {
		props = append(props, [2]string{clean(p.Key), clean(p.Value)})
	}
	props = append(props,
		[2]string{PropChangeID, clean(r.ChangeID)},
		[2]string{PropDatabase, clean(r.Database)},
		[2]string{PropTable, clean(r.Table)},
		[2]string{PropOp, r.Op.String()},
	)
	if !r.CommitTime.IsZero() {
		props = append(props, [2]string{PropCommitTime, strconv.FormatInt(r.CommitTime.UnixMilli(), 10)})
	}
	return message{Head: r.Head, Body: r.Value, Keys: strings.ReplaceAll(r.Key, "\x02", "\uFFFD"), Props: props, Position: r.Position}
}

// clean replaces the two bytes RocketMQ uses to separate properties (0x01 between name and
// value, 0x02 between properties) by U+FFFD: left in, they corrupt every property after them.
//
// Every property of every message goes through it: the test is two IndexByte scans (one
// strings.ContainsAny built its set on each call, 3% of a debezium stream's CPU).
func clean(s string) string {
	if strings.IndexByte(s, 0x01) < 0 && strings.IndexByte(s, 0x02) < 0 {
		return s
	}
	return separators.Replace(s)
}

var separators = strings.NewReplacer("\x01", "\uFFFD", "\x02", "\uFFFD")

// sendSegment sends items (in record order) grouped per queue: one goroutine per queue
// sends that queue's batches one after the other; after the first failure no new batch
// starts. It marks done the records whose batch the broker stored.
func (s *Sink) sendSegment(ctx context.Context, tr transport, records []sdk.Record, items []item, done []bool) error {
	type group struct {
		key     queueKey
		batches [][]item
		bytes   int
	}
	var order []*group
	byKey := map[queueKey]*group{}
	for i := range items {
		it := items[i]
		k := queueKey{it.topic, it.q}
		g := byKey[k]
		if g == nil {
			g = &group{key: k}
			byKey[k] = g
			order = append(order, g)
		}
		if n := len(g.batches); n == 0 || int64(g.bytes+it.size) > s.cfg.MaxBatchBytes {
			g.batches = append(g.batches, nil)
			g.bytes = 0
		}
		g.batches[len(g.batches)-1] = append(g.batches[len(g.batches)-1], it)
		g.bytes += it.size
	}

	var (
		failed   atomic.Bool
		errMu    sync.Mutex
		firstErr error
		firstIdx = -1
		wg       sync.WaitGroup
	)
	run := func(g *group) {
		for _, b := range g.batches {
			if failed.Load() || ctx.Err() != nil {
				return
			}
			// sendBatch marks done the records the broker stored, also before a failure.
			if failIdx, err := s.sendBatch(ctx, tr, records, g.key, b, done); err != nil {
				failed.Store(true)
				errMu.Lock()
				if firstIdx < 0 || failIdx < firstIdx {
					firstIdx, firstErr = failIdx, err
				}
				errMu.Unlock()
				return
			}
		}
	}
	if len(order) == 1 {
		run(order[0])
	} else {
		for _, g := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(g)
			}()
		}
		wg.Wait()
	}
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// sendBatch sends one batch, retrying on the same queue up to cfg.Retries times. It marks
// done every record the broker stored (a transport may store a prefix of the batch before
// failing; the retry then sends only the rest). On failure it returns the record index of
// the first message not stored.
func (s *Sink) sendBatch(ctx context.Context, tr transport, records []sdk.Record, k queueKey, b []item, done []bool) (int, error) {
	msgs := make([]message, len(b))
	for i := range b {
		msgs[i] = b[i].msg
	}
	var err error
	sent := 0
	pause := s.backoff
	for attempt := 0; ; attempt++ {
		var n int
		n, err = tr.Send(ctx, k.topic, k.q, s.cfg.Tag, msgs[sent:])
		n = max(0, min(n, len(msgs)-sent))
		for j := sent; j < sent+n; j++ {
			done[b[j].idx] = true // each index belongs to one goroutine
		}
		sent += n
		if err == nil && sent < len(msgs) {
			err = fmt.Errorf("transport stored %d of %d messages without an error", sent, len(msgs))
		}
		if err == nil {
			return -1, nil
		}
		if sdk.IsPermanent(err) || ctx.Err() != nil || attempt >= int(s.cfg.Retries) {
			break
		}
		s.log.Warn("send failed, retrying on the same queue", "topic", k.topic, "queue", k.q.Broker+"/"+strconv.Itoa(k.q.ID),
			"attempt", attempt+1, "of", s.cfg.Retries, "delay", pause, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
	first := &records[b[sent].idx]
	werr := fmt.Errorf("rocketmq sink: send %d message(s) to topic %s queue %s/%d (first: %s.%s key %q): %w",
		len(b)-sent, k.topic, k.q.Broker, k.q.ID, first.Database, first.Table, first.Key, err)
	return b[sent].idx, werr
}
