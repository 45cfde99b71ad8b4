//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestPrecheckCLI runs `ferry precheck` and `ferry run` against the real MariaDB and RocketMQ:
// a correct setup passes; a missing topic fails the named check with exit code 4, and run
// refuses to start; --skip accepts the failure.
func TestPrecheckCLI(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	const dbName = "ferry_precheck_cli"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	topic := harness.UniqueName("precheck")
	harness.CreateTopic(t, broker, topic, 4)
	dir := t.TempDir()
	write := func(name, topic string) string {
		cfg := fmt.Sprintf(`pipeline "pc" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = %q
    tables   = [%q]
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName+".t", broker.NameServer, topic)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (int, string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	good := write("good.hcl", topic)
	code, out := run("precheck", good)
	if code != 0 || !strings.Contains(out, "precheck: passed") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, name := range []string{"binlog_format", "binlog_row_image", "privileges", "rocketmq_topic"} {
		if !strings.Contains(out, name) {
			t.Errorf("no %s check:\n%s", name, out)
		}
	}
	if strings.Contains(out, env.MariaDBPassword+"\n") || strings.Contains(out, "password") && strings.Contains(out, env.MariaDBPassword) {
		t.Errorf("password printed:\n%s", out)
	}

	bad := write("bad.hcl", "no_such_topic_"+topic)
	code, out = run("precheck", bad)
	if code != 4 || !strings.Contains(out, "rocketmq_topic") || !strings.Contains(out, "FAIL") || !strings.Contains(out, "no_such_topic_") {
		t.Fatalf("missing topic: exit %d:\n%s", code, out)
	}
	code, out = run("run", "--status-addr", "", bad)
	if code != 4 {
		t.Fatalf("run with a failing precheck: exit %d, want 4:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "cp", "pc.json")); err == nil {
		t.Error("run wrote a checkpoint although its precheck failed")
	}
	code, out = run("precheck", "--skip", "rocketmq_topic", bad)
	if code != 0 || !strings.Contains(out, "skipped (fail)") {
		t.Fatalf("--skip: exit %d:\n%s", code, out)
	}
	code, out = run("precheck", "--skip", "no_such_check", bad)
	if code != 2 || !strings.Contains(out, "no_such_check") {
		t.Fatalf("--skip of an unknown check: exit %d:\n%s", code, out)
	}
}
