package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func cfgJSON(attrs string) sdk.Config {
	if attrs == "" {
		attrs = "{}"
	}
	return sdk.NewConfig([]byte(attrs))
}

const base = `"name_servers":["127.0.0.1:9876"],"topic":"t"`

func rec(key string, hash uint64, seq int, body int) sdk.Record {
	return sdk.Record{
		Key: key, Hash: hash, Value: []byte(strings.Repeat("x", body)),
		ChangeID: fmt.Sprintf("%s-%d", key, seq), Op: change.OpUpdate, Database: "shop", Table: "orders",
		CommitTime: time.UnixMilli(1700000000000 + int64(seq)), Position: []byte{0xab, byte(seq)},
		Properties: []sdk.Property{{Key: "seq", Value: strconv.Itoa(seq)}},
	}
}

func TestConformance(t *testing.T) {
	sdktest.Sink(t, func(t testing.TB) (sdk.Sink, sdk.Config) {
		s := New()
		f := newFake()
		s.newTransport = func(config, string) (transport, error) { return f, nil }
		return s, cfgJSON(`{` + base + `}`)
	})
}

// Several lanes write concurrently; each key's records must appear on one queue in order,
// no key may have two sends in flight, and different queues must overlap.
func TestOrderPerKeyUnderConcurrentLanes(t *testing.T) {
	f := newFake()
	f.delay, f.jitter = 2*time.Millisecond, true
	f.setQueues("t", nQueues("broker-a", 8))
	s := openWith(t, f, `{`+base+`,"max_batch_bytes":2048}`)
	const lanes, keys, perKey = 6, 60, 40
	var wg sync.WaitGroup
	for lane := 0; lane < lanes; lane++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending []sdk.Record
			for seq := 0; seq < perKey; seq++ {
				for k := lane; k < keys; k += lanes {
					pending = append(pending, rec("k"+strconv.Itoa(k), uint64(k*7919), seq, 300))
				}
				if len(pending) >= 50 || seq == perKey-1 {
					n, err := s.Write(context.Background(), pending)
					if err != nil || n != len(pending) {
						t.Errorf("lane %d: Write = %d, %v", lane, n, err)
						return
					}
					pending = pending[:0]
				}
			}
		}()
	}
	wg.Wait()
	if len(f.overlap) > 0 {
		t.Fatalf("keys with two sends in flight: %v", f.overlap)
	}
	if f.maxTotal < 2 {
		t.Errorf("at most %d sends in flight: queues were not sent in parallel", f.maxTotal)
	}
	last := map[string]int{}
	where := map[string]queueRef{}
	total := 0
	for k, msgs := range f.messages() {
		for _, m := range msgs {
			total++
			key := m.Keys
			seq, _ := strconv.Atoi(prop(m, "seq"))
			if q, ok := where[key]; ok && q != k.q {
				t.Fatalf("key %s on queues %v and %v", key, q, k.q)
			}
			where[key] = k.q
			if p, ok := last[key]; ok && seq != p+1 {
				t.Fatalf("key %s: seq %d after %d on %v", key, seq, p, k.q)
			}
			last[key] = seq
		}
	}
	if total != keys*perKey {
		t.Fatalf("%d messages stored, want %d", total, keys*perKey)
	}
}

func TestMessageContent(t *testing.T) {
	f := newFake()
	f.setQueues("t", nQueues("b", 8))
	s := openWith(t, f, `{`+base+`}`)
	r := rec("7\x01x", 13, 1, 10)
	r.Properties = append(r.Properties, sdk.Property{Key: "bad\x02", Value: "a\x01b"})
	if n, err := s.Write(context.Background(), []sdk.Record{r}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	msgs := f.messages()[queueKey{"t", queueRef{"b", 13 % 8}}]
	if len(msgs) != 1 {
		t.Fatalf("queue 5 has %d messages: %v", len(msgs), f.messages())
	}
	m := msgs[0]
	want := map[string]string{PropChangeID: "7\x01x-1", PropPosition: "ab01", PropCommitTime: "1700000000001",
		PropDatabase: "shop", PropTable: "orders", PropOp: "update", "seq": "1", "bad\uFFFD": "a\uFFFDb"}
	for k, v := range want {
		if got := prop(m, k); got != strings.ReplaceAll(v, "\x01", "\uFFFD") {
			t.Errorf("property %q = %q, want %q", k, got, v)
		}
	}
	if m.Keys != "7\x01x" {
		t.Errorf("keys %q", m.Keys)
	}
}

func TestPartitioning(t *testing.T) {
	for _, tc := range []struct {
		attrs string
		want  func(r sdk.Record) int
	}{
		{`"partitioning":"hash"`, func(r sdk.Record) int { return int(r.Hash % 8) }},
		{`"partitioning":"one","queue":5`, func(sdk.Record) int { return 5 }},
	} {
		f := newFake()
		f.setQueues("t", nQueues("b", 8))
		s := openWith(t, f, `{`+base+`,`+tc.attrs+`}`)
		var recs []sdk.Record
		for i := 0; i < 50; i++ {
			recs = append(recs, rec("k"+strconv.Itoa(i), uint64(i*31+i*i), 0, 5))
		}
		if n, err := s.Write(context.Background(), recs); n != len(recs) || err != nil {
			t.Fatalf("%s: Write = %d, %v", tc.attrs, n, err)
		}
		for k, msgs := range f.messages() {
			for _, m := range msgs {
				var r sdk.Record
				for _, x := range recs {
					if x.Key == m.Keys {
						r = x
					}
				}
				if k.q.ID != tc.want(r) {
					t.Fatalf("%s: key %s on queue %d, want %d", tc.attrs, m.Keys, k.q.ID, tc.want(r))
				}
			}
		}
	}
	// table: every record of one table on one queue, tables spread.
	f := newFake()
	f.setQueues("t", nQueues("b", 8))
	s := openWith(t, f, `{`+base+`,"partitioning":"table"}`)
	var recs []sdk.Record
	for i := 0; i < 40; i++ {
		r := rec("k"+strconv.Itoa(i), uint64(i), 0, 5)
		r.Table = "t" + strconv.Itoa(i%10)
		recs = append(recs, r)
	}
	if n, err := s.Write(context.Background(), recs); n != len(recs) || err != nil {
		t.Fatalf("table: Write = %d, %v", n, err)
	}
	tableQueue := map[string]int{}
	for k, msgs := range f.messages() {
		for _, m := range msgs {
			tb := prop(m, PropTable)
			if q, ok := tableQueue[tb]; ok && q != k.q.ID {
				t.Fatalf("table %s on queues %d and %d", tb, q, k.q.ID)
			}
			tableQueue[tb] = k.q.ID
		}
	}
	if len(f.messages()) < 2 {
		t.Errorf("10 tables all on one queue")
	}
	// one: a queue index beyond the topic's queues is a permanent error.
	f = newFake()
	s = openWith(t, f, `{`+base+`,"partitioning":"one","queue":9}`)
	if _, err := s.Write(context.Background(), recs[:1]); !sdk.IsPermanent(err) || !strings.Contains(err.Error(), "queue 9 does not exist") {
		t.Errorf("queue 9 of 4: %v", err)
	}
}

func TestBatchingWithinLimit(t *testing.T) {
	f := newFake()
	f.setQueues("t", nQueues("b", 2))
	s := openWith(t, f, `{`+base+`,"max_batch_bytes":4096}`)
	var recs []sdk.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, rec("k", 0, i, 1000)) // all on queue 0
	}
	recs = append(recs, rec("big", 1, 0, 6000)) // over the batch limit, under the message limit
	if n, err := s.Write(context.Background(), recs); n != len(recs) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	count, q0 := 0, 0
	for _, b := range f.batches {
		size := 0
		for i := range b.msgs {
			size += encodedSize(&b.msgs[i], defaultTag)
		}
		if size > 4096 && len(b.msgs) > 1 {
			t.Errorf("batch of %d messages is %d bytes, over 4KiB", len(b.msgs), size)
		}
		if b.q.ID == 0 {
			q0++
		}
		count += len(b.msgs)
	}
	var prev time.Time
	for _, b := range f.batches { // stored in completion order
		if b.q.ID == 0 {
			if b.start.Before(prev) {
				t.Errorf("a batch of queue 0 started before the previous one was stored")
			}
			prev = b.end
		}
	}
	if q0 > 34 { // 100 records of ~1.1KB, 3 per 4KiB batch
		t.Errorf("%d batches on queue 0: records were not grouped", q0)
	}
	if count != len(recs) {
		t.Errorf("%d messages sent, want %d", count, len(recs))
	}
}

// A failing queue stops the delivered prefix at its first record; records of other queues
// after it that reached the broker are not sent again by the retry.
func TestDeliveredPrefixAndRetryWithoutDuplicates(t *testing.T) {
	f := newFake()
	f.setQueues("t", nQueues("b", 2))
	broken := true
	var mu sync.Mutex
	f.fail = func(_ string, q queueRef, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		if q.ID == 1 && broken {
			return errors.New("connection refused")
		}
		return nil
	}
	s := openWith(t, f, `{`+base+`,"retries":1}`)
	// q0 q0 q1 q0 q1 q0
	var recs []sdk.Record
	for i, h := range []uint64{0, 2, 1, 4, 3, 6} {
		recs = append(recs, rec("k"+strconv.FormatUint(h, 10), h, i, 10))
	}
	n, err := s.Write(context.Background(), recs)
	if n != 2 || err == nil || sdk.IsPermanent(err) {
		t.Fatalf("Write = %d, %v; want 2 and a transient error", n, err)
	}
	if !strings.Contains(err.Error(), "queue b/1") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not name the queue and cause", err)
	}
	if a := f.attempts[queueKey{"t", queueRef{"b", 1}}]; a != 2 {
		t.Errorf("queue 1 was tried %d times, want 2 (retries = 1, same queue)", a)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	n, err = s.Write(context.Background(), recs[n:])
	if n != 4 || err != nil {
		t.Fatalf("retry Write = %d, %v", n, err)
	}
	got := f.messages()
	if q0 := got[queueKey{"t", queueRef{"b", 0}}]; len(q0) != 4 {
		t.Errorf("queue 0 has %d messages, want 4 (no duplicates)", len(q0))
	}
	if q1 := got[queueKey{"t", queueRef{"b", 1}}]; len(q1) != 2 {
		t.Errorf("queue 1 has %d messages, want 2", len(q1))
	}
	if len(s.memo) != 0 {
		t.Errorf("memo keeps %d entries after the retry", len(s.memo))
	}
}

func TestTooLargeNamesTableAndKey(t *testing.T) {
	f := newFake()
	s := openWith(t, f, `{`+base+`,"max_message_bytes":2048}`)
	recs := []sdk.Record{rec("a", 0, 0, 10), rec("b", 1, 0, 10), rec("42", 2, 0, 5000), rec("c", 3, 0, 10)}
	n, err := s.Write(context.Background(), recs)
	if n != 2 || !sdk.IsPermanent(err) || !errors.Is(err, errTooLarge) {
		t.Fatalf("Write = %d, %v; want 2 and a permanent size error", n, err)
	}
	for _, want := range []string{"shop.orders", `key "42"`, "max_message_bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	tl, ok := sdk.AsTooLarge(err)
	if !ok || tl.Index != 2 || tl.Limit != 2048 || tl.Size <= 5000 {
		t.Errorf("too-large detail %+v (ok %v); want index 2, limit 2048, size > 5000", tl, ok)
	}
	// The host skips it and writes the rest.
	n, err = s.Write(context.Background(), recs[3:])
	if n != 1 || err != nil {
		t.Errorf("Write after the skipped record = %d, %v", n, err)
	}
}

func TestOrderScopePerPartitioning(t *testing.T) {
	for _, c := range []struct {
		cfg  string
		want sdk.OrderScope
	}{
		{`{` + base + `}`, sdk.OrderKey},
		{`{` + base + `,"partitioning":"hash"}`, sdk.OrderKey},
		{`{` + base + `,"partitioning":"table"}`, sdk.OrderTable},
		{`{` + base + `,"partitioning":"one","queue":0}`, sdk.OrderAll},
	} {
		s := New()
		if err := s.Configure(context.Background(), sdk.NewConfig([]byte(c.cfg))); err != nil {
			t.Fatal(err)
		}
		if got := s.OrderScope(); got != c.want {
			t.Errorf("%s: scope %q, want %q", c.cfg, got, c.want)
		}
	}
}

func TestTopicMissing(t *testing.T) {
	f := newFake()
	f.missing["nope"] = true
	s := openWith(t, f, `{"name_servers":["127.0.0.1:9876"]}`)
	r := rec("a", 0, 0, 1)
	r.Topic = "nope"
	n, err := s.Write(context.Background(), []sdk.Record{r})
	if n != 0 || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), `topic "nope" does not exist`) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// Open checks the default topic.
	s2 := New()
	s2.newTransport = func(config, string) (transport, error) { return f, nil }
	_ = s2.Configure(context.Background(), cfgJSON(`{"name_servers":["127.0.0.1:9876"],"topic":"nope"}`))
	if err := s2.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Open with a missing default topic: %v", err)
	}
	_ = s2.Close(context.Background())
	// auto_create_topic: the template's queues.
	s3 := openWith(t, f, `{"name_servers":["127.0.0.1:9876"],"auto_create_topic":true}`)
	if n, err := s3.Write(context.Background(), []sdk.Record{r}); n != 1 || err != nil {
		t.Fatalf("auto-create Write = %d, %v", n, err)
	}
}

// An UPDATE that moves a row to another key gives two records of one change on two queues:
// the second must not be sent before the first is stored.
func TestBarrierForMovedRow(t *testing.T) {
	f := newFake()
	f.delay = 5 * time.Millisecond
	f.setQueues("t", nQueues("b", 4))
	s := openWith(t, f, `{`+base+`}`)
	leave := rec("old", 1, 0, 5)
	arrive := rec("new", 2, 0, 5)
	arrive.ChangeID = leave.ChangeID
	if n, err := s.Write(context.Background(), []sdk.Record{rec("x", 3, 0, 5), leave, arrive}); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	var l, a sent
	for _, b := range f.batches {
		for _, m := range b.msgs {
			switch m.Keys {
			case "old":
				l = b
			case "new":
				a = b
			}
		}
	}
	if a.start.Before(l.end) {
		t.Errorf("the arriving row was sent at %v, before the leaving row was stored at %v", a.start, l.end)
	}
}

// A queue-count change waits for in-flight writes of the old mapping, then switches.
func TestRouteSwitchDrainsOldMapping(t *testing.T) {
	f := newFake()
	f.setQueues("t", nQueues("b", 4))
	s := openWith(t, f, `{`+base+`,"route_refresh":"1h"}`)
	release, sending := make(chan struct{}), make(chan struct{}, 1)
	f.fail = func(string, queueRef, int) error { sending <- struct{}{}; <-release; return nil }
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		_, _ = s.Write(context.Background(), []sdk.Record{rec("a", 6, 0, 5)})
	}()
	<-sending // the write of the old mapping is in flight
	f.setQueues("t", nQueues("b", 8))
	refreshDone := make(chan struct{})
	go func() {
		defer close(refreshDone)
		s.refresh(f, make(chan struct{}))
	}()
	select {
	case <-refreshDone:
		t.Fatal("the route switched while a write of the old mapping was in flight")
	case <-time.After(50 * time.Millisecond): // real time: refresh waits on a mutex, which synctest.Wait does not count as blocked
	}
	close(release)
	<-writeDone
	<-refreshDone
	f.fail = nil
	if s.switches.Load() != 1 {
		t.Fatalf("switches = %d", s.switches.Load())
	}
	if _, err := s.Write(context.Background(), []sdk.Record{rec("a", 6, 1, 5)}); err != nil {
		t.Fatal(err)
	}
	got := f.messages()
	if len(got[queueKey{"t", queueRef{"b", 2}}]) != 1 || len(got[queueKey{"t", queueRef{"b", 6}}]) != 1 {
		t.Errorf("hash 6: want one message on queue 2 (4 queues) then one on queue 6 (8 queues): %v", got)
	}
	// A route that lost a broker keeps the old mapping.
	f.setQueues("t", nQueues("c", 8))
	s.refresh(f, make(chan struct{}))
	if s.switches.Load() != 1 {
		t.Errorf("switched to a route without broker b")
	}
}

func TestRetriesStayOnQueue(t *testing.T) {
	f := newFake()
	f.setQueues("t", nQueues("b", 4))
	f.fail = func(_ string, _ queueRef, attempt int) error {
		if attempt < 2 {
			return errors.New("timeout")
		}
		return nil
	}
	s := openWith(t, f, `{`+base+`,"retries":2}`)
	if n, err := s.Write(context.Background(), []sdk.Record{rec("a", 3, 0, 5)}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(f.attempts) != 1 || f.attempts[queueKey{"t", queueRef{"b", 3}}] != 3 {
		t.Errorf("attempts %v: want 3 on queue 3 only", f.attempts)
	}
	// Permanent errors are not retried.
	f2 := newFake()
	f2.fail = func(string, queueRef, int) error { return sdk.Permanent(errAuth) }
	s2 := openWith(t, f2, `{`+base+`,"retries":5}`)
	if _, err := s2.Write(context.Background(), []sdk.Record{rec("a", 3, 0, 5)}); !sdk.IsPermanent(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
	if a := f2.attempts[queueKey{"t", queueRef{"broker-a", 3}}]; a != 1 {
		t.Errorf("permanent error tried %d times", a)
	}
}

func TestWriteBeforeOpen(t *testing.T) {
	s := New()
	if _, err := s.Write(context.Background(), []sdk.Record{rec("a", 0, 0, 1)}); !errors.Is(err, errNotOpen) {
		t.Errorf("Write before Open: %v", err)
	}
}

// prefixTransport stores only the first message of every send and then fails (as the gRPC
// transport does when a message in the middle of a batch fails).
type prefixTransport struct {
	*fakeTransport
	stored []string
}

func (p *prefixTransport) Send(_ context.Context, _ string, _ queueRef, _ string, msgs []message) (int, error) {
	p.stored = append(p.stored, prop(msgs[0], PropChangeID))
	if len(msgs) == 1 {
		return 1, nil
	}
	return 1, errors.New("unavailable")
}

// A transport that stores a prefix of a batch: those records count as delivered, the retry
// sends only the rest (no duplicates), in order.
func TestPartialBatchPrefix(t *testing.T) {
	pt := &prefixTransport{fakeTransport: newFake()}
	pt.setQueues("t", nQueues("broker-a", 1))
	s := New()
	s.newTransport = func(config, string) (transport, error) { return pt, nil }
	s.backoff = time.Millisecond
	if err := s.Configure(context.Background(), cfgJSON(`{`+base+`,"retries":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	recs := []sdk.Record{rec("a", 1, 0, 10), rec("a", 1, 1, 10), rec("a", 1, 2, 10), rec("a", 1, 3, 10)}
	n, err := s.Write(context.Background(), recs)
	if n != 2 || err == nil {
		t.Fatalf("Write = %d, %v; want 2 delivered (one per attempt) and an error", n, err)
	}
	n, err = s.Write(context.Background(), recs[n:])
	if n != 2 || err != nil {
		t.Fatalf("retry Write = %d, %v", n, err)
	}
	if got := strings.Join(pt.stored, ","); got != "a-0,a-1,a-2,a-3" {
		t.Errorf("stored %s", got)
	}
}

// downTransport answers no route while down (the name server is not up yet).
type downTransport struct {
	*fakeTransport
	down bool
}

func (d *downTransport) Queues(ctx context.Context, topic string) ([]queueRef, error) {
	if d.down {
		return nil, errors.New("dial tcp 127.0.0.1:14150: connect: connection refused")
	}
	return d.fakeTransport.Queues(ctx, topic)
}

// A failed Open releases its producer, and Open may be called again (the host's start-up
// wait): the second Open works and nothing of the first stays open.
func TestOpenAgainAfterFailedOpen(t *testing.T) {
	var made []*downTransport
	s := New()
	s.newTransport = func(config, string) (transport, error) {
		d := &downTransport{fakeTransport: newFake(), down: len(made) == 0}
		made = append(made, d)
		return d, nil
	}
	s.backoff = time.Millisecond
	if err := s.Configure(context.Background(), cfgJSON(`{`+base+`}`)); err != nil {
		t.Fatal(err)
	}
	err := s.Open(context.Background())
	if err == nil || sdk.IsPermanent(err) {
		t.Fatalf("Open while the name server is down = %v, want a transient error", err)
	}
	if !made[0].closed {
		t.Error("the failed Open left its producer open")
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if _, err := s.Write(context.Background(), []sdk.Record{rec("a", 1, 0, 10)}); err != nil {
		t.Fatalf("Write after the second Open: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || !made[1].closed {
		t.Errorf("%d producers made; the second closed: %v", len(made), len(made) == 2 && made[1].closed)
	}
}
