// Command rmqtail prints the messages of a RocketMQ topic, oldest first per queue: a small
// consumer for `make demo` and for looking at what a pipeline sent.
//
//	go run ./integration/cmd/rmqtail -ns 127.0.0.1:29876 -topic orders -n 10
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/ferry-cdc/ferry/integration/harness"
)

func main() {
	ns := flag.String("ns", "127.0.0.1:29876", "name server address")
	topic := flag.String("topic", "", "topic to read")
	n := flag.Int("n", 1, "wait until at least this many messages arrived")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait")
	width := flag.Int("width", 160, "truncate bodies to this many characters (0: no limit)")
	props := flag.Bool("props", false, "print the user properties too")
	last := flag.Int("last", 0, "print only the last N messages stored (0: all, in queue order)")
	flag.Parse()
	if *topic == "" {
		fmt.Fprintln(os.Stderr, "rmqtail: -topic is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rlog.SetLogLevel("fatal") // the client logs connection closes at error level
	msgs, err := harness.CollectMessages(ctx, harness.Broker{NameServer: *ns}, *topic, *n)
	if *last > 0 {
		sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].StoredAt.Before(msgs[j].StoredAt) })
		if len(msgs) > *last {
			msgs = msgs[len(msgs)-*last:]
		}
	}
	for _, m := range msgs {
		body := string(m.Body)
		if *width > 0 && len(body) > *width {
			body = body[:*width] + "…"
		}
		fmt.Printf("%s queue %d offset %-4d tag %s keys %s\n  %s\n", m.StoredAt.Format("15:04:05.000"), m.QueueID, m.QueueOffset, m.Tags, strings.Join(m.Keys, ","), body)
		if *props {
			keys := make([]string, 0, len(m.Properties))
			for k := range m.Properties {
				if strings.ToUpper(k) != k { // user properties; system ones are upper case
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Printf("    %s=%s\n", k, m.Properties[k])
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rmqtail: %v (%d of %d messages)\n", err, len(msgs), *n)
		os.Exit(1)
	}
}
