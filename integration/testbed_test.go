//go:build integration

// Smoke tests of the integration test bed itself (integration/testbed/): they check
// that MariaDB and both RocketMQ clusters are up and configured the way ferry's
// integration tests expect. Run `make up` first, then
//
//	FERRY_REQUIRE_TESTBED=1 go test -tags integration ./integration/ -run Testbed -v -count=1
package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/ferry-cdc/ferry/integration/harness"
)

func TestTestbedMariaDB(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	db := harness.OpenMariaDB(t, "ferry_test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var binlogFormat, rowImage string
	var logBin, serverID int
	if err := db.QueryRowContext(ctx,
		"SELECT @@binlog_format, @@binlog_row_image, @@log_bin, @@server_id").
		Scan(&binlogFormat, &rowImage, &logBin, &serverID); err != nil {
		t.Fatalf("read server variables: %v", err)
	}
	if binlogFormat != "ROW" {
		t.Errorf("@@binlog_format = %q, want ROW", binlogFormat)
	}
	if rowImage != "FULL" {
		t.Errorf("@@binlog_row_image = %q, want FULL", rowImage)
	}
	if logBin != 1 {
		t.Errorf("@@log_bin = %d, want 1", logBin)
	}
	if serverID == 0 {
		t.Errorf("@@server_id = 0, want a non-zero server id")
	}

	// The test user holds the privileges a binlog reader needs.
	grants := queryStrings(ctx, t, db, "SHOW GRANTS")
	for _, want := range []string{"RELOAD", "REPLICATION SLAVE", "BINLOG MONITOR"} {
		if !strings.Contains(strings.Join(grants, "\n"), want) {
			t.Errorf("SHOW GRANTS lacks %s:\n%s", want, strings.Join(grants, "\n"))
		}
	}

	table := harness.UniqueName("testbed")
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS `" + table + "`") })
	if _, err := db.ExecContext(ctx, "CREATE TABLE `"+table+"` ("+
		"id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(10,2), at DATETIME(6))"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	if _, err := db.ExecContext(ctx, "INSERT INTO `"+table+"` VALUES (?, ?, ?, ?)",
		42, "héllo wörld", "12.34", at); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var (
		id    int64
		name  string
		price string
		gotAt time.Time
	)
	if err := db.QueryRowContext(ctx, "SELECT id, name, price, at FROM `"+table+"` WHERE id = 42").
		Scan(&id, &name, &price, &gotAt); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if id != 42 || name != "héllo wörld" || price != "12.34" || !gotAt.Equal(at) {
		t.Errorf("read back (%d, %q, %q, %v), want (42, %q, 12.34, %v)", id, name, price, gotAt, "héllo wörld", at)
	}

	// The write went to the binlog with a GTID.
	logs := queryStrings(ctx, t, db, "SHOW BINARY LOGS")
	if len(logs) == 0 {
		t.Fatalf("SHOW BINARY LOGS returned no rows")
	}
	t.Logf("binary logs: %v", logs)
	var gtidPos string
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&gtidPos); err != nil {
		t.Fatalf("read @@gtid_binlog_pos: %v", err)
	}
	if gtidPos == "" {
		t.Errorf("@@gtid_binlog_pos is empty after a write")
	}
	t.Logf("gtid_binlog_pos %s", gtidPos)
}

// queryStrings returns the first column of every row of query.
func queryStrings(ctx context.Context, t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, string(vals[0]))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// TestTestbedRocketMQ sends messages to chosen queues of a fresh topic over the
// remoting protocol (through each cluster's name server) and reads them back.
func TestTestbedRocketMQ(t *testing.T) {
	env := harness.Env()
	for _, b := range env.Brokers() {
		t.Run(fmt.Sprintf("v%d", b.Major), func(t *testing.T) {
			t.Parallel()
			harness.RequireTestbed(t, b.Component())
			t.Logf("%s: name server %s", b, b.NameServer)

			topic := harness.UniqueName(fmt.Sprintf("ferry_it_testbed%d", b.Major))
			mqs := harness.CreateTopic(t, b, topic, 4)
			if len(mqs) != 4 {
				t.Fatalf("topic %s has %d queues, want 4", topic, len(mqs))
			}
			p := harness.NewProducer(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			type sent struct {
				body, tag, key, prop string
				queue                int
			}
			want := []sent{
				{body: "hello from ferry 1", tag: "tagA", key: "order-1", prop: "v1", queue: 3},
				{body: "hello from ferry 2", tag: "tagB", key: "order-2", prop: "v2", queue: 1},
			}
			for _, w := range want {
				msg := primitive.NewMessage(topic, []byte(w.body))
				msg.WithTag(w.tag)
				msg.WithKeys([]string{w.key, "shared-key"})
				msg.WithProperty("ferry_prop", w.prop)
				msg.Queue = mqs[w.queue]
				res, err := p.SendSync(ctx, msg)
				if err != nil {
					t.Fatalf("send to queue %d: %v", w.queue, err)
				}
				if res.Status != primitive.SendOK {
					t.Fatalf("send to queue %d: status %v", w.queue, res.Status)
				}
				if res.MessageQueue.QueueId != w.queue {
					t.Fatalf("sent to queue %d, want %d", res.MessageQueue.QueueId, w.queue)
				}
			}

			got := harness.Collect(t, b, topic, len(want), 60*time.Second)
			if len(got) != len(want) {
				t.Fatalf("received %d messages, want %d", len(got), len(want))
			}
			for _, w := range want {
				var m *harness.Received
				for i := range got {
					if bytes.Equal(got[i].Body, []byte(w.body)) {
						m = &got[i]
					}
				}
				if m == nil {
					t.Errorf("message %q not received; got %+v", w.body, got)
					continue
				}
				if m.Tags != w.tag {
					t.Errorf("%q: tag %q, want %q", w.body, m.Tags, w.tag)
				}
				if strings.Join(m.Keys, ",") != w.key+",shared-key" {
					t.Errorf("%q: keys %q, want [%s shared-key]", w.body, m.Keys, w.key)
				}
				if m.Properties["ferry_prop"] != w.prop {
					t.Errorf("%q: property ferry_prop=%q, want %q (all: %v)", w.body, m.Properties["ferry_prop"], w.prop, m.Properties)
				}
				if m.QueueID != w.queue {
					t.Errorf("%q: queue %d, want %d", w.body, m.QueueID, w.queue)
				}
			}
		})
	}
}

// TestTestbedRMQ5ProxyPort checks that the 5.x gRPC proxy accepts connections and
// speaks HTTP/2 (the transport of gRPC): a full gRPC client test comes later.
func TestTestbedRMQ5ProxyPort(t *testing.T) {
	env := harness.RequireTestbed(t, harness.RMQ5Proxy)
	c, err := net.DialTimeout("tcp", env.RMQ5Proxy, 5*time.Second)
	if err != nil {
		t.Fatalf("dial gRPC proxy %s: %v", env.RMQ5Proxy, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// HTTP/2 client preface and an empty SETTINGS frame; the server must answer
	// with a SETTINGS frame (type 4) on stream 0.
	preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
	if _, err := c.Write(preface); err != nil {
		t.Fatalf("write HTTP/2 preface: %v", err)
	}
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read HTTP/2 frame from %s: %v", env.RMQ5Proxy, err)
	}
	if typ, stream := hdr[3], binary.BigEndian.Uint32(hdr[5:9])&0x7fffffff; typ != 4 || stream != 0 {
		t.Fatalf("first frame from %s: type %d stream %d, want SETTINGS (4) on stream 0", env.RMQ5Proxy, typ, stream)
	}
}
