//go:build integration

package integration

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// retentionPipeline is the pipeline file of a retention test: the oceanbase source on one
// table (its password from E2E_DB_PASSWORD), canal to a RocketMQ topic, a checkpoint every
// 200 ms in "cp", and a retention block.
type retentionPipeline struct {
	Name, Addr, User, Table string
	ServerID                int
	NameServer, Topic       string
	Source                  string // more source attributes, one per line
	Retention               string // the retention block's body, one attribute per line
	Extra                   string // more blocks, as they go in the file
}

func indent(body, by string) string {
	lines := strings.Split(strings.TrimSpace(body), "\n")
	for i, l := range lines {
		lines[i] = by + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n") + "\n"
}

// write writes the file to path.
func (p retentionPipeline) write(t testing.TB, path string) {
	t.Helper()
	source := ""
	if p.Source != "" {
		source = indent(p.Source, "    ")
	}
	cfg := fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("E2E_DB_PASSWORD")
    server_id = %d
    tables    = [%q]
%s  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
  retention {
%s  }
%s}
`, p.Name, p.Addr, p.User, p.ServerID, p.Table, source, p.NameServer, p.Topic, indent(p.Retention, "    "), p.Extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// retentionFerry runs `ferry run` on a pipeline file, again after each kill, with the logs
// of every run in one buffer, shown when the test fails. It is killed when the test ends.
type retentionFerry struct {
	t    *testing.T
	cmd  *exec.Cmd
	args []string
	env  []string
	logs syncBuffer
}

// startRetentionFerry starts ferry with args (after "run --watch 0") on path, the database
// password in the environment.
func startRetentionFerry(t *testing.T, path, password string, logLevel string, args ...string) *retentionFerry {
	f := &retentionFerry{t: t, env: append(os.Environ(), "E2E_DB_PASSWORD="+password),
		args: append(append([]string{"--log-level", logLevel, "run", "--watch", "0"}, args...), path)}
	f.start()
	t.Cleanup(func() {
		f.stop()
		if t.Failed() {
			t.Logf("ferry logs:\n%s", tail(f.logs.String(), 6000))
		}
	})
	return f
}

func (f *retentionFerry) start() {
	f.t.Helper()
	f.cmd = exec.Command(ferryBinary(f.t), f.args...)
	f.cmd.Env = f.env
	f.cmd.Stdout, f.cmd.Stderr = &f.logs, &f.logs
	if err := f.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
}

// stop stops ferry with SIGKILL and waits for it.
func (f *retentionFerry) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
}

// restart kills ferry (SIGKILL) and starts it again.
func (f *retentionFerry) restart() {
	f.stop()
	f.start()
}

// privateRewindDB starts a private MariaDB (row-based binary logs, which the test may purge)
// with database name, and returns root's handle over the socket, the test user's handle on
// the database, and the user's address and credentials.
func privateRewindDB(t *testing.T, name string) (root, db *sql.DB, addr, user, password string) {
	t.Helper()
	addr, user, password, sock := privateMariaDBRoot(t, "--binlog-format=ROW", "--binlog-row-image=FULL")
	root, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	mustExec(t, root, "CREATE DATABASE "+name)
	db, err = sql.Open("mysql", user+":"+password+"@tcp("+addr+")/"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return root, db, addr, user, password
}
