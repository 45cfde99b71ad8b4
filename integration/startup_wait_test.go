//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// tcpProxy forwards connections from a local address to target, once started: until then
// the address refuses connections, as a database or name server that is not up yet does.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, u)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
}

// TestStartupWait starts ferry (runtime startup_wait) while the database, then the RocketMQ
// name server, is not reachable: an address that refuses connections until the test starts a
// TCP proxy there to the real server. ferry waits, says what for in its log and in /status
// (phase "waiting", the plugin and the address), and once the proxy is up it runs and
// delivers the table's rows; SIGINT then stops it cleanly.
func TestStartupWait(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)

	for _, tc := range []struct {
		name, proxyAddr, statusAddr, plugin string
		proxyDB                             bool
		noPrecheck                          bool // then the plugins' Open is what waits
	}{
		{name: "database", proxyAddr: "127.0.0.1:14151", statusAddr: "127.0.0.1:14161", plugin: `source "oceanbase"`, proxyDB: true},
		{name: "broker", proxyAddr: "127.0.0.1:14150", statusAddr: "127.0.0.1:14160", plugin: `sink "rocketmq"`},
		{name: "broker_open", proxyAddr: "127.0.0.1:14152", statusAddr: "127.0.0.1:14162", plugin: `sink "rocketmq"`, noPrecheck: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbName := "ferry_wait_" + tc.name
			harness.DropDatabase(t, dbName)
			db := harness.OpenMariaDB(t, dbName)
			execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)")
			const rows = 5
			insertRows(t, db, "INSERT INTO t VALUES ", rows, func(i int) string { return fmt.Sprintf("(%d, 'row %d')", i, i) })
			topic := harness.UniqueName("wait")
			harness.CreateTopic(t, broker, topic, 4)

			dbAddr, ns := env.MariaDBAddr, broker.NameServer
			proxy := &tcpProxy{addr: tc.proxyAddr, target: ns}
			if tc.proxyDB {
				proxy.target, dbAddr = dbAddr, tc.proxyAddr
			} else {
				ns = tc.proxyAddr
			}
			defer proxy.close()

			dir := t.TempDir()
			cfg := fmt.Sprintf(`pipeline "wait_%s" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    tables    = ["%s.t"]
    server_id = 4721
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  runtime { startup_wait = "3m" }
  checkpoint { dir = "cp" }
}
`, tc.name, dbAddr, env.MariaDBUser, dbName, ns, topic)
			path := filepath.Join(dir, "p.hcl")
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"--log-format", "json", "run", "--status-addr", tc.statusAddr, path}
			what := "precheck"
			if tc.noPrecheck {
				args, what = append(args, "--no-precheck"), "open"
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "E2E_DB_PASSWORD="+env.MariaDBPassword)
			var logs syncBuffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()

			type waiting struct {
				For, Address, What, Error string
				Attempt                   int
				GiveUpAt                  time.Time `json:"give_up_at"`
			}
			type status struct {
				Phase          string
				RecordsWritten uint64 `json:"records_written"`
				Waiting        *waiting
			}
			read := func() (status, bool) {
				var s status
				resp, err := http.Get("http://" + tc.statusAddr + "/status")
				if err != nil {
					return s, false
				}
				defer resp.Body.Close()
				return s, json.NewDecoder(resp.Body).Decode(&s) == nil
			}
			waitFor := func(what string, d time.Duration, cond func(status) bool) status {
				t.Helper()
				deadline := time.Now().Add(d)
				for time.Now().Before(deadline) {
					if s, ok := read(); ok && cond(s) {
						return s
					}
					time.Sleep(100 * time.Millisecond)
				}
				s, _ := read()
				t.Fatalf("%s: not seen within %s; last status %+v\n%s", what, d, s, logs.String())
				return s
			}

			// Not reachable: ferry waits, and says for what. Two attempts, so that the backoff
			// is seen to go on.
			s := waitFor("the second attempt of the wait", 60*time.Second, func(s status) bool {
				return s.Phase == "waiting" && s.Waiting != nil && s.Waiting.Attempt >= 2
			})
			if w := s.Waiting; w.For != tc.plugin || w.Address != tc.proxyAddr || w.What != what || w.Error == "" ||
				time.Until(w.GiveUpAt) < time.Minute {
				t.Errorf("waiting %+v, want %s at %s (%s)", *w, tc.plugin, tc.proxyAddr, what)
			}
			out, err := exec.Command(bin, "status", "--addr", tc.statusAddr).CombinedOutput()
			t.Logf("ferry status while waiting:\n%s", out)
			if err != nil || !strings.Contains(string(out), "waiting for      "+tc.plugin+" at "+tc.proxyAddr) {
				t.Errorf("ferry status while waiting: %v\n%s", err, out)
			}
			warn := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `"waiting for `) {
					warn = l
					break
				}
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(warn), &line); err != nil || line["level"] != "warn" ||
				line["address"] != tc.proxyAddr || line["attempt"] != float64(1) || line["next_retry_in"] == nil {
				t.Errorf("the first wait's log line: %v\n%s", err, warn)
			}

			t.Logf("the first wait's log line: %s", warn)

			// It comes up: ferry runs and delivers the snapshot.
			proxy.start(t)
			got := harness.Collect(t, broker, topic, rows, 90*time.Second)
			if len(got) < rows {
				t.Fatalf("%d messages, want %d", len(got), rows)
			}
			s = waitFor("the running phase", 30*time.Second, func(s status) bool { return s.Phase == "running" && s.RecordsWritten >= rows })
			if s.Waiting != nil {
				t.Errorf("still waiting in /status: %+v", *s.Waiting)
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("ferry: %v\n%s", err, logs.String())
			}
		})
	}
}
