//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rmqclient "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/sdk"
)

// The ACL test runs a PRIVATE RocketMQ 4.9.7 cluster with aclEnable=true, started by its
// own small starter below (the test bed scripts write no ACL settings), on these ports.
// The jars are the shared test bed's (harness.Dir()/lib).
const (
	aclNamesrvPort = 27876
	aclBrokerPort  = 27911 // also 27909 and 27912
	aclVersion     = "4.9.7"

	aclAdminKey    = "ferryAdmin"
	aclAdminSecret = "ferryAdminSecret01"
	aclPubKey      = "ferryPub"
	aclPubSecret   = "ferryPubSecret-7f3c9a"
)

// aclCluster starts a name server and an ACL-enabled broker in dir and stops them when the
// test ends. plain_acl.yml (read by 4.9 from <rocketmq.home>/conf/plain_acl.yml) has an
// admin account and aclPubKey with PUB permission on topic only.
func aclCluster(t *testing.T, topic string) (harness.Broker, string) {
	t.Helper()
	lib := filepath.Join(harness.Dir(), "lib", aclVersion)
	if _, err := os.Stat(filepath.Join(lib, ".complete")); err != nil {
		t.Skipf("no RocketMQ %s jars in %s (run make up)", aclVersion, lib)
	}
	for _, p := range []int{aclNamesrvPort, aclBrokerPort, aclBrokerPort - 2, aclBrokerPort + 1} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("port %d is taken: the private ACL cluster cannot start", p)
		}
	}
	dir, err := os.MkdirTemp("", "ferry-tb-acl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("ACL cluster files kept in %s", dir)
		}
	})
	home := filepath.Join(dir, "home")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(home, "conf"), 0o755))
	for _, name := range []string{"namesrv", "broker", "tools"} {
		must(os.WriteFile(filepath.Join(home, "conf", "logback_"+name+".xml"), []byte(`<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${user.home}/logs/rocketmqlogs/`+name+`.log</file>
    <encoder><pattern>%d{HH:mm:ss,SSS} %-5p [%t] %c{0} - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`), 0o644))
	}
	must(os.WriteFile(filepath.Join(home, "conf", "plain_acl.yml"), []byte(fmt.Sprintf(`globalWhiteRemoteAddresses: []
accounts:
  - accessKey: %s
    secretKey: %s
    whiteRemoteAddress:
    admin: true
  - accessKey: %s
    secretKey: %s
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - %s=PUB
    groupPerms:
      - OMS=PUB
`, aclAdminKey, aclAdminSecret, aclPubKey, aclPubSecret, topic)), 0o644))
	must(os.WriteFile(filepath.Join(home, "conf", "tools.yml"), []byte(fmt.Sprintf("accessKey: %s\nsecretKey: %s\n", aclAdminKey, aclAdminSecret)), 0o600))
	must(os.WriteFile(filepath.Join(dir, "namesrv.conf"), []byte(fmt.Sprintf("listenPort=%d\n", aclNamesrvPort)), 0o644))
	store := filepath.Join(dir, "store")
	must(os.WriteFile(filepath.Join(dir, "broker.conf"), []byte(fmt.Sprintf(`brokerClusterName=AclCluster
brokerName=ferry-acl
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
namesrvAddr=127.0.0.1:%d
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
listenPort=%d
storePathRootDir=%s
storePathCommitLog=%s/commitlog
mappedFileSizeCommitLog=67108864
autoCreateTopicEnable=false
autoCreateSubscriptionGroup=true
diskMaxUsedSpaceRatio=95
aclEnable=true
`, aclNamesrvPort, aclBrokerPort, store, store)), 0o644))

	start := func(name, main string, heap []string, args ...string) (*exec.Cmd, string) {
		out := filepath.Join(dir, name+".out")
		f, err := os.Create(out)
		must(err)
		jvm := append(append([]string{}, heap...), "-XX:+UseSerialGC",
			"--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens", "java.base/java.nio=ALL-UNNAMED",
			"--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
			"--add-opens", "java.base/java.util=ALL-UNNAMED",
			"-Drocketmq.home.dir="+home, "-Duser.home="+filepath.Join(dir, name+"-home"),
			"-cp", lib+"/*", main)
		cmd := exec.Command("java", append(jvm, args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		must(cmd.Start())
		f.Close()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		return cmd, out
	}
	waitLog := func(file, text string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			b, _ := os.ReadFile(file)
			if strings.Contains(string(b), text) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q after 90s:\n%s", file, text, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	_, nsOut := start("namesrv", "org.apache.rocketmq.namesrv.NamesrvStartup", []string{"-Xms128m", "-Xmx256m"},
		"-c", filepath.Join(dir, "namesrv.conf"))
	waitLog(nsOut, "boot success")
	_, brOut := start("broker", "org.apache.rocketmq.broker.BrokerStartup",
		[]string{"-Xms256m", "-Xmx512m", "-XX:MaxDirectMemorySize=256m"},
		"-c", filepath.Join(dir, "broker.conf"), "-n", fmt.Sprintf("127.0.0.1:%d", aclNamesrvPort))
	waitLog(brOut, "boot success")
	return harness.Broker{Major: 4, Version: aclVersion + " (ACL)", NameServer: fmt.Sprintf("127.0.0.1:%d", aclNamesrvPort),
		Addr: fmt.Sprintf("127.0.0.1:%d", aclBrokerPort)}, home
}

// aclCreateTopic creates topic with mqadmin under the admin account (4.9's mqadmin signs
// its requests with the keys in <rocketmq.home>/conf/tools.yml; the Go admin client sends
// no credentials with CreateTopic).
func aclCreateTopic(t *testing.T, b harness.Broker, home, topic string, queues int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lib := filepath.Join(harness.Dir(), "lib", aclVersion)
	cmd := exec.CommandContext(ctx, "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens", "java.base/java.nio=ALL-UNNAMED",
		"--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
		"-Drocketmq.home.dir="+home, "-Duser.home="+filepath.Join(filepath.Dir(home), "tools-home"),
		"-Drocketmq.namesrv.addr="+b.NameServer,
		"-cp", lib+"/*", "org.apache.rocketmq.tools.command.MQAdminStartup",
		"updateTopic", "-n", b.NameServer, "-c", "AclCluster", "-t", topic, "-r", fmt.Sprint(queues), "-w", fmt.Sprint(queues))
	cmd.Env = append(os.Environ(), "NAMESRV_ADDR="+b.NameServer)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "success") {
		t.Fatalf("mqadmin updateTopic %s: %v\n%s", topic, err, out)
	}
	if _, err := harness.WaitForRoute(ctx, b, topic, queues); err != nil {
		t.Fatal(err)
	}
}

// collectWithCredentials reads n messages of topic with the admin account.
func collectWithCredentials(t *testing.T, b harness.Broker, topic string, n int) []*primitive.MessageExt {
	t.Helper()
	group := harness.UniqueName("ferry_acl_collect")
	c, err := rmqclient.NewPushConsumer(
		consumer.WithNameServer([]string{b.NameServer}),
		consumer.WithGroupName(group), consumer.WithInstance(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithCredentials(primitive.Credentials{AccessKey: aclAdminKey, SecretKey: aclAdminSecret}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		got  []*primitive.MessageExt
		seen = map[string]bool{}
		done = make(chan struct{})
		once sync.Once
	)
	if err := c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if !seen[m.MsgId] {
				seen[m.MsgId] = true
				got = append(got, m)
			}
		}
		if len(got) >= n {
			once.Do(func() { close(done) })
		}
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(90 * time.Second):
	}
	harness.ShutdownPushConsumer(c, topic)
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(got, func(i, j int) bool {
		if got[i].Queue.QueueId != got[j].Queue.QueueId {
			return got[i].Queue.QueueId < got[j].Queue.QueueId
		}
		return got[i].QueueOffset < got[j].QueueOffset
	})
	if len(got) < n {
		t.Fatalf("%d of %d messages read from %s with credentials", len(got), n, topic)
	}
	return got
}

// With ACL enabled on a real 4.9.7 broker: the sink with the right credentials delivers
// (read back with credentials); with a wrong secret it gets a clear permanent error that
// shows neither secret; without credentials the broker refuses too.
func TestRocketMQSinkACL(t *testing.T) {
	topic := harness.UniqueName("ferry_acl")
	b, home := aclCluster(t, topic)
	aclCreateTopic(t, b, home, topic, 4)

	s := openRMQSink(t, b, map[string]any{"topic": topic, "access_key": aclPubKey, "secret_key": aclPubSecret, "retries": 0})
	var recs []sdk.Record
	for i := 0; i < 40; i++ {
		recs = append(recs, sinkRecord(fmt.Sprintf("ak%d", i%8), i/8, 0))
	}
	writeAll(t, s, recs)
	got := collectWithCredentials(t, b, topic, len(recs))
	next := map[string]int{}
	for _, m := range got {
		body := decodeBody(t, harness.Received{Body: m.Body})
		if want := int(keyHash(body.Key) % 4); m.Queue.QueueId != want {
			t.Errorf("key %s on queue %d, want %d", body.Key, m.Queue.QueueId, want)
		}
		if body.Seq != next[body.Key] {
			t.Fatalf("key %s: seq %d where %d was due", body.Key, body.Seq, next[body.Key])
		}
		next[body.Key]++
	}
	t.Logf("right credentials: %d messages delivered and read back with credentials", len(got))

	for _, tc := range []struct {
		name  string
		attrs map[string]any
	}{
		{"wrong secret", map[string]any{"access_key": aclPubKey, "secret_key": "wrongSecret-123456"}},
		{"no credentials", nil},
	} {
		attrs := map[string]any{"topic": topic, "retries": 0}
		for k, v := range tc.attrs {
			attrs[k] = v
		}
		bad := openRMQSink(t, b, attrs)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		n, err := bad.Write(ctx, []sdk.Record{sinkRecord("denied", 0, 0)})
		cancel()
		if n != 0 || err == nil || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), "access denied") {
			t.Fatalf("%s: Write = %d, %v; want a permanent access-denied error", tc.name, n, err)
		}
		for _, secret := range []string{aclPubSecret, "wrongSecret-123456", aclAdminSecret} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error shows a secret: %v", tc.name, err)
			}
		}
		t.Logf("%s: %v", tc.name, err)
	}
}
