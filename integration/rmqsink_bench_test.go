//go:build integration

package integration

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/sdk"
)

// BenchmarkRocketMQSink measures the sink against the real 5.x broker, beside a plain
// rocketmq-client-go producer that sends the same per-queue batches to the same queues
// (the ceiling). Lanes write batches of benchWrite records concurrently, like the runtime.
//
//	go test -tags integration ./integration/ -run '^$' -bench RocketMQSink -benchtime 40000x
func BenchmarkRocketMQSink(b *testing.B) {
	env := harness.RequireTestbed(b, harness.RocketMQ5)
	broker := env.RMQ5()
	const queues, lanes, benchWrite = 8, 4, 512
	for _, size := range []int{200, 2000} {
		topic := harness.UniqueName("ferry_sink_bench")
		mqs := harness.CreateTopic(b, broker, topic, queues)
		for _, mode := range []string{"sink", "plain"} {
			b.Run(mode+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				var send func(recs []sdk.Record) error
				switch mode {
				case "sink":
					s := openRMQSink(b, broker, map[string]any{"topic": topic})
					send = func(recs []sdk.Record) error {
						_, err := s.Write(context.Background(), recs)
						return err
					}
				case "plain":
					p := harness.NewProducer(b, broker)
					send = func(recs []sdk.Record) error { return plainSend(p, topic, mqs, recs) }
				}
				// Records per lane, prepared before the clock starts.
				per := (b.N + lanes - 1) / lanes
				work := make([][]sdk.Record, lanes)
				for l := range work {
					for i := 0; i < per; i++ {
						work[l] = append(work[l], sinkRecord("key"+strconv.Itoa((i*lanes+l)%5000), i, size))
					}
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for l := 0; l < lanes; l++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						recs := work[l]
						for len(recs) > 0 {
							n := min(benchWrite, len(recs))
							if err := send(recs[:n]); err != nil {
								b.Errorf("%s: %v", mode, err)
								return
							}
							recs = recs[n:]
						}
					}()
				}
				wg.Wait()
				el := time.Since(start).Seconds()
				b.StopTimer()
				total := float64(per * lanes)
				b.ReportMetric(total/el, "msgs/s")
				b.ReportMetric(total*float64(size)/el/1e6, "MB/s")
			})
		}
	}
}

// plainSend does what the sink does with the bare client: group the records per queue
// (hash % queue count), cut batches at 1MiB, send each queue's batches one after the other
// with all queues in flight at once.
func plainSend(p interface {
	SendSync(ctx context.Context, msgs ...*primitive.Message) (*primitive.SendResult, error)
}, topic string, mqs []*primitive.MessageQueue, recs []sdk.Record) error {
	perQueue := map[int][][]*primitive.Message{}
	sizes := map[int]int{}
	for i := range recs {
		r := &recs[i]
		q := int(r.Hash % uint64(len(mqs)))
		m := primitive.NewMessage(topic, r.Value)
		m.WithTag("default_tag")
		m.WithKeys([]string{r.Key})
		m.WithProperty("ferry_id", r.ChangeID)
		m.WithProperty(primitive.PropertyUniqueClientMessageIdKeyIndex, primitive.CreateUniqID())
		m.Queue = mqs[q]
		sz := len(r.Value) + 200
		if len(perQueue[q]) == 0 || sizes[q]+sz > 1<<20 {
			perQueue[q] = append(perQueue[q], nil)
			sizes[q] = 0
		}
		last := len(perQueue[q]) - 1
		perQueue[q][last] = append(perQueue[q][last], m)
		sizes[q] += sz
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, batches := range perQueue {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, batch := range batches {
				if _, err := p.SendSync(context.Background(), batch...); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
