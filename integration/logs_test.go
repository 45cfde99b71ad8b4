//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// runJSONLogs runs `ferry --log-format json run --no-precheck cfg` (stopped with SIGINT after
// stopAfter when it has not ended by then) and returns stderr's lines, each decoded; a line
// that is not a JSON object fails the test (B15: the client libraries' lines bypassed zap).
// With statusAddr, it also returns the last /status read before the stop.
func runJSONLogs(t *testing.T, cfg string, stopAfter time.Duration, statusAddr string, extra ...string) ([]map[string]any, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--log-format", "json"}, extra...)
	args = append(args, "run", "--no-precheck", "--status-addr", statusAddr, path)
	ctx, cancel := context.WithTimeout(context.Background(), stopAfter+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBinary(t), args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var st map[string]any
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	stop := time.After(stopAfter)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-poll.C:
			if statusAddr == "" {
				continue
			}
			if resp, err := http.Get("http://" + statusAddr + "/status"); err == nil {
				var m map[string]any
				if json.NewDecoder(resp.Body).Decode(&m) == nil {
					st = m
				}
				resp.Body.Close()
			}
		case <-stop:
			_ = cmd.Process.Signal(os.Interrupt)
			<-done
			break wait
		}
	}
	var out []map[string]any
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("stderr line is not JSON: %s", line)
			continue
		}
		out = append(out, m)
	}
	return out, st
}

// componentLines returns the lines of library component c, checking that each carries
// ferry's fields (pipeline, plugin) and a level.
func componentLines(t *testing.T, lines []map[string]any, c, plugin string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, m := range lines {
		if m["component"] != c {
			continue
		}
		got = append(got, m)
		if m["pipeline"] != "logs" || m["plugin"] != plugin || m["level"] == nil {
			t.Errorf("%s line without ferry's fields: %v", c, m)
		}
	}
	return got
}

// TestJSONLogsFromLibraries: under --log-format json every stderr line of a run is JSON,
// also the lines of rocketmq-client-go (a name server that refuses connections), of
// go-sql-driver (a server that drops the connection in the handshake) and of go-mysql, with
// the sink or source plugin named, in process and out of process. B15 (fails before: logrus
// text "time=... level=error msg=\"connect to namesrv failed.\"" and "[mysql] ... EOF").
func TestJSONLogsFromLibraries(t *testing.T) {
	for _, oop := range []bool{false, true} {
		t.Run(fmt.Sprintf("rocketmq-client-go/out_of_process=%v", oop), func(t *testing.T) {
			lines, _ := runJSONLogs(t, fmt.Sprintf(`pipeline "logs" {
  source "generator" {
    rows  = 5
    count = 10
  }
  serializer "jsonl" {}
  sink "rocketmq" {
    out_of_process = %v
    name_servers   = ["127.0.0.1:13991"]
    topic          = "logs"
    send_timeout   = "2s"
  }
  checkpoint {
    dir = "cp"
  }
}
`, oop), 20*time.Second, "")
			if got := componentLines(t, lines, "rocketmq-client-go", "rocketmq"); len(got) == 0 {
				t.Errorf("no rocketmq-client-go line among %v", lines)
			}
			last := lines[len(lines)-1]
			if last["level"] != "error" || last["exit_code"] != float64(1) {
				t.Errorf("the final error is not a JSON line with the exit code: %v", last)
			}
		})
	}

	t.Run("go-sql-driver", func(t *testing.T) {
		// accepts, then closes at once: the driver logs the unexpected EOF itself
		ln, err := net.Listen("tcp", "127.0.0.1:13992")
		if err != nil {
			t.Skipf("port 13992: %v", err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		lines, _ := runJSONLogs(t, `pipeline "logs" {
  source "oceanbase" {
    address  = "127.0.0.1:13992"
    user     = "u"
    password = "p"
    tables   = ["d.t"]
  }
  serializer "jsonl" {}
  sink "file" {
    path = "out.jsonl"
  }
  checkpoint {
    dir = "cp"
  }
}
`, 40*time.Second, "")
		if got := componentLines(t, lines, "go-sql-driver", "oceanbase"); len(got) == 0 {
			t.Errorf("no go-sql-driver line among %v", lines)
		}
		retried := false
		for _, m := range lines {
			retried = retried || m["msg"] == "transient error, retrying" && m["plugin"] == "oceanbase"
		}
		if !retried {
			t.Errorf("the source's retries are not logged: %v", lines)
		}
	})

	t.Run("go-mysql", func(t *testing.T) {
		env := harness.RequireTestbed(t, harness.MariaDB)
		const dbName = "ferry_logs"
		harness.DropDatabase(t, dbName)
		db := harness.OpenMariaDB(t, dbName)
		execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
		lines, st := runJSONLogs(t, fmt.Sprintf(`pipeline "logs" {
  source "oceanbase" {
    out_of_process = true
    address        = %q
    user           = %q
    password       = %q
    tables         = ["%s.t"]
  }
  serializer "jsonl" {}
  sink "file" {
    path = "out.jsonl"
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName), 6*time.Second, "127.0.0.1:13995", "--log-level", "debug")
		if got := componentLines(t, lines, "go-mysql", "oceanbase"); len(got) == 0 {
			t.Errorf("no go-mysql line among %v", lines)
		}
		// The checkpoint position as text (sdk.PositionDescriber, through the protocol): in
		// the start and stop lines and in /status.
		binlogPos := regexp.MustCompile(`^\S+\.\d+:\d+( gtid \S+)?`)
		var stopped map[string]any
		for _, m := range lines {
			if m["msg"] == "pipeline stopped" {
				stopped = m
			}
		}
		if p, _ := stopped["position"].(string); !binlogPos.MatchString(p) {
			t.Errorf("stop line's position is not file:offset: %v", stopped)
		}
		t.Logf("stop line position %v; /status position_text %v", stopped["position"], st["position_text"])
		if p, _ := st["position_text"].(string); !binlogPos.MatchString(p) {
			t.Errorf("/status position_text is not file:offset: %v", st)
		}
	})
}

// TestSnapshotProgressLogged: without a terminal, a snapshot logs its progress every few
// seconds (rows, percent, rate, ETA, the tables being read) and a "snapshot done" line.
func TestSnapshotProgressLogged(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	const dbName = "ferry_progress_log"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO t SELECT seq, 'x' FROM seq_1_to_20000")
	lines, _ := runJSONLogs(t, fmt.Sprintf(`pipeline "logs" {
  source "oceanbase" {
    address    = %q
    user       = %q
    password   = %q
    tables     = ["%s.t"]
    chunk_size = 500
  }
  serializer "jsonl" {}
  sink "file" {
    path = "out.jsonl"
  }
  limits {
    full {
      rows_per_second = 1000
    }
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName), 25*time.Second, "")
	var progress, done map[string]any
	for _, m := range lines {
		switch m["msg"] {
		case "snapshot progress":
			if progress == nil || progress["reading"] == nil {
				progress = m
			}
		case "snapshot done":
			done = m
		}
	}
	t.Logf("progress %v; done %v", progress, done)
	if progress == nil {
		for _, m := range lines {
			t.Log(m)
		}
	}
	if progress == nil || progress["pipeline"] != "logs" || progress["tables_done"] != "0/1" ||
		!strings.HasSuffix(fmt.Sprint(progress["percent"]), "%") || progress["rows_per_second"] == nil ||
		!strings.HasPrefix(fmt.Sprint(progress["reading"]), dbName+".t ") {
		t.Errorf("no progress line: %v", progress)
	}
	if done == nil || done["rows"] != float64(20000) {
		t.Errorf("no snapshot done line for 20000 rows: %v", done)
	}
}
