package rocketmq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// sent is one batch the fake stored.
type sent struct {
	topic string
	q     queueRef
	msgs  []message
	start time.Time
	end   time.Time
}

// fakeTransport stores batches in memory and checks that a queue never has two sends in
// flight.
type fakeTransport struct {
	mu       sync.Mutex
	queues   map[string][]queueRef // nil entry: default 4 queues on broker-a
	missing  map[string]bool
	fail     func(topic string, q queueRef, attempt int) error
	delay    time.Duration
	jitter   bool
	batches  []sent
	attempts map[queueKey]int
	inFlight map[queueKey]int
	keysIn   map[string]int // keys of the messages in flight
	total    int
	maxTotal int
	overlap  []string // queues that had two sends at once
	closed   bool
}

func newFake() *fakeTransport {
	return &fakeTransport{queues: map[string][]queueRef{}, missing: map[string]bool{},
		attempts: map[queueKey]int{}, inFlight: map[queueKey]int{}, keysIn: map[string]int{}}
}

func nQueues(broker string, n int) []queueRef {
	qs := make([]queueRef, n)
	for i := range qs {
		qs[i] = queueRef{Broker: broker, ID: i}
	}
	return qs
}

func (f *fakeTransport) setQueues(topic string, qs []queueRef) {
	f.mu.Lock()
	f.queues[topic] = qs
	f.mu.Unlock()
}

func (f *fakeTransport) Queues(_ context.Context, topic string) ([]queueRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing[topic] {
		return nil, fmt.Errorf("topic %s: %w", topic, errTopicNotFound)
	}
	if qs, ok := f.queues[topic]; ok {
		return append([]queueRef(nil), qs...), nil
	}
	return nQueues("broker-a", 4), nil
}

func (f *fakeTransport) AutoQueues(context.Context, string) ([]queueRef, error) {
	return nQueues("broker-a", autoCreateQueues), nil
}

func (f *fakeTransport) Send(ctx context.Context, topic string, q queueRef, _ string, msgs []message) (int, error) {
	if err := f.send(ctx, topic, q, msgs); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

func (f *fakeTransport) send(ctx context.Context, topic string, q queueRef, msgs []message) error {
	k := queueKey{topic, q}
	f.mu.Lock()
	f.inFlight[k]++
	for _, m := range msgs {
		if f.keysIn[m.Keys] > 0 {
			f.overlap = append(f.overlap, fmt.Sprintf("%s/%v key %s", topic, q, m.Keys))
		}
	}
	for _, m := range msgs {
		f.keysIn[m.Keys]++
	}
	f.total++
	f.maxTotal = max(f.maxTotal, f.total)
	attempt := f.attempts[k]
	f.attempts[k]++
	fail := f.fail
	d := f.delay
	if f.jitter && d > 0 {
		d = time.Duration(rand.Int64N(int64(d)))
	}
	f.mu.Unlock()
	start := time.Now()
	defer func() {
		f.mu.Lock()
		f.inFlight[k]--
		for _, m := range msgs {
			f.keysIn[m.Keys]--
		}
		f.total--
		f.mu.Unlock()
	}()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(topic, q, attempt); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.batches = append(f.batches, sent{topic: topic, q: q, msgs: append([]message(nil), msgs...), start: start, end: time.Now()})
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// messages returns the stored messages per queue, in store order.
func (f *fakeTransport) messages() map[queueKey][]message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[queueKey][]message{}
	for _, b := range f.batches {
		k := queueKey{b.topic, b.q}
		out[k] = append(out[k], b.msgs...)
	}
	return out
}

func prop(m message, name string) string {
	for _, p := range m.properties() {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

// openWith returns an open sink on fake configured with the JSON object attrs.
func openWith(t testing.TB, f *fakeTransport, attrs string) *Sink {
	t.Helper()
	s := New()
	s.newTransport = func(config, string) (transport, error) { return f, nil }
	s.backoff = time.Millisecond
	if err := s.Configure(context.Background(), cfgJSON(attrs)); err != nil {
		t.Fatalf("Configure(%s): %v", attrs, err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}
