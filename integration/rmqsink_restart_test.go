//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/sink/rocketmq"
	"github.com/ferry-cdc/ferry/sdk"
)

// The broker-restart test runs on a private test bed (other tests share the default one),
// started by up.sh on these ports under privateTestbedDir and stopped when the test ends.
const privateTestbedDir = "/tmp/ferry-tb-sink"

var privatePorts = map[string]string{
	"FERRY_MARIADB_PORT":             "25306",
	"FERRY_RMQ4_NAMESRV_PORT":        "25876",
	"FERRY_RMQ4_BROKER_PORT":         "25911",
	"FERRY_RMQ5_NAMESRV_PORT":        "26876",
	"FERRY_RMQ5_BROKER_PORT":         "26911",
	"FERRY_RMQ5_PROXY_GRPC_PORT":     "26081",
	"FERRY_RMQ5_PROXY_REMOTING_PORT": "26080",
}

func privateEnv() []string {
	env := append(os.Environ(), "FERRY_TESTBED_DIR="+privateTestbedDir)
	for k, v := range privatePorts {
		env = append(env, k+"="+v)
	}
	return env
}

func testbedScript(t testing.TB, script string, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("testbed", script)}, args...)...)
	cmd.Env = privateEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
}

// privateBroker starts (if needed) the private test bed's cluster of the given major
// version and returns it; the cluster is stopped and purged when the test ends.
func privateBroker(t *testing.T, major int) harness.Broker {
	t.Helper()
	if _, err := os.Stat(filepath.Join(harness.Dir(), "lib")); err != nil {
		t.Skipf("no RocketMQ jars in %s (run make up)", harness.Dir())
	}
	// Reuse the shared test bed's jars instead of downloading them again.
	if err := os.MkdirAll(privateTestbedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(privateTestbedDir, "lib")
	if _, err := os.Lstat(lib); err != nil {
		if err := os.Symlink(filepath.Join(harness.Dir(), "lib"), lib); err != nil {
			t.Fatal(err)
		}
	}
	comp := "rmq" + strconv.Itoa(major)
	testbedScript(t, "up.sh", comp)
	t.Cleanup(func() { testbedScript(t, "down.sh", "--purge", comp) })
	b := harness.Broker{Major: major, Version: "4.9.7", MQAdmin: filepath.Join(privateTestbedDir, "bin", "mqadmin-4"),
		NameServer: "127.0.0.1:" + privatePorts["FERRY_RMQ4_NAMESRV_PORT"], Addr: "127.0.0.1:" + privatePorts["FERRY_RMQ4_BROKER_PORT"]}
	if major == 5 {
		b = harness.Broker{Major: 5, Version: "5.3.3", MQAdmin: filepath.Join(privateTestbedDir, "bin", "mqadmin-5"),
			NameServer: "127.0.0.1:" + privatePorts["FERRY_RMQ5_NAMESRV_PORT"], Addr: "127.0.0.1:" + privatePorts["FERRY_RMQ5_BROKER_PORT"]}
	}
	return b
}

// stopPrivateBroker stops the private cluster's broker (not its name server) with SIGTERM.
func stopPrivateBroker(t *testing.T, major int) {
	pidFile := filepath.Join(privateTestbedDir, "rmq"+strconv.Itoa(major), "broker.pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Errorf("read %s: %v", pidFile, err)
		return
	}
	pid, _ := strconv.Atoi(string(trimNL(raw)))
	if pid <= 0 {
		t.Errorf("bad pid in %s", pidFile)
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// A broker restarted mid-stream: writers retry like the runtime does (from the first
// undelivered record, with backoff); afterwards every key's sequence is complete and in
// order. Duplicates (a batch stored although its acknowledgement was lost) are allowed and
// counted; each carries its original ferry_id.
func TestRocketMQSinkBrokerRestart(t *testing.T) {
	for _, major := range []int{4, 5} {
		t.Run(fmt.Sprintf("rmq%d", major), func(t *testing.T) {
			harness.RequireTestbed(t, harness.RocketMQ4, harness.RocketMQ5) // for CreateTopic/Collect checks
			b := privateBroker(t, major)
			topic := harness.UniqueName("ferry_sink_restart")
			harness.CreateTopic(t, b, topic, 8)
			s := openRMQSink(t, b, map[string]any{"topic": topic, "retries": 1, "send_timeout": "3s", "route_refresh": "2s"})

			const lanes, keysPerLane, batch = 4, 25, 50
			var (
				stopWriting atomic.Bool
				wg          sync.WaitGroup
				written     atomic.Int64
				failures    atomic.Int64
				mu          sync.Mutex
				lastErr     error
			)
			for lane := 0; lane < lanes; lane++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					seq := 0
					for !stopWriting.Load() {
						var recs []sdk.Record
						for len(recs) < batch {
							for k := 0; k < keysPerLane && len(recs) < batch; k++ {
								recs = append(recs, sinkRecord(fmt.Sprintf("L%dK%d", lane, k), seq/keysPerLane, 100))
								seq++
							}
						}
						for len(recs) > 0 { // the runtime's retry loop
							ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
							n, err := s.Write(ctx, recs)
							cancel()
							recs = recs[n:]
							written.Add(int64(n))
							if err != nil {
								if sdk.IsPermanent(err) {
									t.Errorf("permanent error: %v", err)
									return
								}
								failures.Add(1)
								mu.Lock()
								lastErr = err
								mu.Unlock()
								time.Sleep(200 * time.Millisecond)
							}
						}
						time.Sleep(5 * time.Millisecond)
					}
				}()
			}
			time.Sleep(2 * time.Second)
			before := written.Load()
			stopPrivateBroker(t, major)
			t.Logf("broker stopped after %d records", before)
			time.Sleep(3 * time.Second)
			testbedScript(t, "up.sh", "rmq"+strconv.Itoa(major))
			t.Logf("broker restarted; %d records written so far, %d failed writes", written.Load(), failures.Load())
			// Keep writing until the stream is flowing again for a while.
			deadline := time.Now().Add(90 * time.Second)
			mark := written.Load()
			for written.Load() < mark+2000 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			stopWriting.Store(true)
			wg.Wait()
			total := int(written.Load())
			if failures.Load() == 0 {
				t.Errorf("no write failed: the restart was not observed")
			}
			t.Logf("%d records written, %d failed writes retried; last error: %v", total, failures.Load(), lastErr)
			if total <= int(before) {
				t.Fatalf("no progress after the restart")
			}

			// Duplicates count towards Collect's n: read again, from the start, until every
			// distinct record is in.
			var got []harness.Received
			want := total
			for round := 0; round < 4; round++ {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				var err error
				got, err = harness.CollectMessages(ctx, b, topic, want)
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("collect: %v", err)
				}
				ids := map[string]bool{}
				for _, m := range got {
					ids[m.Properties[rocketmq.PropChangeID]] = true
				}
				if len(ids) >= total || err != nil {
					break
				}
				want = total + len(got) - len(ids)
			}
			// Per key: drop repeats of an id already seen; the rest must be 0,1,2,... in order.
			seen := map[string]bool{}
			next := map[string]int{}
			dups := 0
			for _, m := range got {
				id := m.Properties[rocketmq.PropChangeID]
				if seen[id] {
					dups++
					continue
				}
				seen[id] = true
				body := decodeBody(t, m)
				if body.Seq != next[body.Key] {
					t.Fatalf("key %s: seq %d where %d was due (queue %d offset %d): lost or reordered", body.Key, body.Seq, next[body.Key], m.QueueID, m.QueueOffset)
				}
				next[body.Key]++
			}
			if len(seen) != total {
				t.Fatalf("%d distinct records arrived, %d were reported delivered", len(seen), total)
			}
			t.Logf("%d messages arrived: %d distinct, all in order per key; %d duplicates", len(got), len(seen), dups)
		})
	}
}
