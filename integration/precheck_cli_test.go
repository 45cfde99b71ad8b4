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

// TestPrecheckCLIFailures runs `ferry precheck` (the binary, as an operator would) against
// sources that are not ready, and checks that each fails with exit code 4 and the right check
// named FAIL: binlog_format=STATEMENT (a private MariaDB started that way), a table with a
// name that cannot be synchronized, and a user without REPLICATION privileges.
func TestPrecheckCLIFailures(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	topic := harness.UniqueName("precheck")
	harness.CreateTopic(t, broker, topic, 4)
	dir := t.TempDir()
	precheckOf := func(name, addr, user, password, table string) (int, string) {
		cfg := fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = env("PC_PASSWORD")
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
`, name, addr, user, table, broker.NameServer, topic)
		p := filepath.Join(dir, name+".hcl")
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "precheck", p)
		cmd.Env = append(os.Environ(), "PC_PASSWORD="+password)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	// wantFail: exit 4 and the check's row says FAIL with the detail.
	wantFail := func(what string, code int, out, check, detail string) {
		t.Helper()
		if code != 4 {
			t.Errorf("%s: exit %d, want 4:\n%s", what, code, out)
		}
		row := precheckRow(out, check)
		if row == "" {
			t.Errorf("%s: no %s row:\n%s", what, check, out)
			return
		}
		if !strings.Contains(row, "FAIL") || !strings.Contains(row, detail) {
			t.Errorf("%s: %s row %q lacks FAIL or %q", what, check, row, detail)
		}
	}

	const dbName = "ferry_precheck_fail"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE `bad name` (id INT PRIMARY KEY)", "CREATE TABLE ok (id INT PRIMARY KEY)")
	code, out := precheckOf("badname", env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName+".bad name")
	wantFail("bad table name", code, out, "unsupported_names", "bad name")

	user := "ferry_norepl"
	root := rootDB(t, env.MariaDBSocket)
	mustExec(t, root, "DROP USER IF EXISTS '"+user+"'@'%'", "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'norepl-pw'",
		"GRANT SELECT, CREATE, INSERT, UPDATE ON `"+dbName+"`.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	code, out = precheckOf("norepl", env.MariaDBAddr, user, "norepl-pw", dbName+".ok")
	wantFail("user without REPLICATION", code, out, "privileges", "REPLICATION SLAVE")
	if strings.Contains(out, "norepl-pw") {
		t.Errorf("the password appears in the output:\n%s", out)
	}

	addr, puser, pw := privateMariaDB(t, "--binlog-format=STATEMENT")
	code, out = precheckOf("statement", addr, puser, pw, "ferry_pc.t")
	wantFail("binlog_format=STATEMENT", code, out, "binlog_format", "STATEMENT")
}
