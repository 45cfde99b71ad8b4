//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/sdk"
)

// ferryCmd runs the ferry binary with extra environment variables and returns its exit code
// and combined output.
func ferryCmd(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(ferryBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
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

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// withLocalhost replaces 127.0.0.1 in addr with the host name localhost.
func withLocalhost(t *testing.T, addr string) string {
	t.Helper()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Skipf("address %s is not on 127.0.0.1", addr)
	}
	return "localhost" + strings.TrimPrefix(addr, "127.0.0.1")
}

// B3: name servers and the gRPC endpoint written with a host name (the docs say host:port)
// work: the remoting client accepts only IP addresses, so the sink resolves them.
func TestRocketMQHostNames(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	const dbName = "ferry_hostnames"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	topic := harness.UniqueName("hostnames")
	harness.CreateTopic(t, broker, topic, 4)
	dir := t.TempDir()
	p := writeFile(t, dir, "p.hcl", fmt.Sprintf(`pipeline "hostnames" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = env("PW")
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
`, withLocalhost(t, env.MariaDBAddr), env.MariaDBUser, dbName+".t", withLocalhost(t, broker.NameServer), topic))
	code, out := ferryCmd(t, []string{"PW=" + env.MariaDBPassword}, "precheck", p)
	if code != 0 || !strings.Contains(out, "precheck: passed") || strings.Contains(out, "IP addr error") {
		t.Fatalf("precheck with localhost name servers: exit %d:\n%s", code, out)
	}

	// gRPC: the proxy is reached by name (a missing topic is reported by the proxy).
	b := env.RMQ5()
	if b.Proxy == "" {
		return
	}
	harness.RequireTestbed(t, b.Component())
	b.Proxy = withLocalhost(t, b.Proxy)
	missing := harness.UniqueName("ferry_grpc_missing")
	s := newGRPCSink(t, b, map[string]any{"topic": missing})
	err := s.Open(context.Background())
	if err == nil || !sdk.IsPermanent(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("gRPC Open at %s: %v; want the proxy's answer that %s does not exist", b.Proxy, err, missing)
	}
}

// B5: values of sensitive variables are masked by precheck and run too (their check details,
// logs and errors), not only by validate.
func TestSensitiveMaskedByPrecheckAndRun(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	const dbName = "ferry_sensitive"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	dir := t.TempDir()
	p := writeFile(t, dir, "p.hcl", fmt.Sprintf(`variable "user" {
  sensitive = true
}
variable "suffix" {
  sensitive = true
}
pipeline "sensitive" {
  source "oceanbase" {
    address  = %q
    user     = var.user
    password = env("PW")
    tables   = [%q]
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = "t_${var.suffix}"
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, dbName+".t", broker.NameServer))
	const badUser, suffix = "zq9nouser", "zq9sfx"
	vars := func(user string) []string {
		return []string{"PW=" + env.MariaDBPassword, "FERRY_VAR_user=" + user, "FERRY_VAR_suffix=" + suffix}
	}
	check := func(what string, code int, out string, wantCode int, secrets ...string) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d:\n%s", what, code, wantCode, out)
		}
		for _, line := range strings.Split(out, "\n") {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s: %q printed:\n%s", what, s, out)
				}
			}
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s: nothing masked:\n%s", what, out)
		}
	}
	code, out := ferryCmd(t, vars(badUser), "precheck", p)
	check("precheck, unknown user", code, out, 4, badUser, suffix)
	code, out = ferryCmd(t, vars(env.MariaDBUser), "precheck", p)
	check("precheck, missing topic", code, out, 4, suffix)
	code, out = ferryCmd(t, vars(env.MariaDBUser), "run", "--no-precheck", "--status-addr", "", "--log-format", "json", p)
	check("run, missing topic", code, out, 1, suffix)
	code, out = ferryCmd(t, vars(badUser), "run", "--no-precheck", "--status-addr", "", p)
	check("run, unknown user", code, out, 1, badUser)
}

// B7: precheck checks the objects block against the live database and broker (run would
// otherwise fail within a second): an object topic that does not exist, unknown columns in
// where, columns and sharding_columns, a table entry or rule that selects nothing, and a
// start_timestamp older than the oldest retained binlog (one in the future warns). Each
// problem names the object and its file:line:column.
func TestPrecheckObjectsBlock(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ4()
	harness.RequireTestbed(t, broker.Component())
	const dbName = "ferry_precheck_objects"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE orders (id INT PRIMARY KEY, status VARCHAR(10), amount INT)",
		"CREATE TABLE items (id INT PRIMARY KEY, sku VARCHAR(10))", "CREATE TABLE notes (id INT PRIMARY KEY)")
	topic := harness.UniqueName("pcobj")
	harness.CreateTopic(t, broker, topic, 4)
	missingTopic := "no_such_" + topic
	dir := t.TempDir()
	write := func(name, source, objects string) string {
		return writeFile(t, dir, name, fmt.Sprintf(`pipeline "pcobj" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = env("PW")
%s
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  objects {
%s
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, source, broker.NameServer, topic, objects))
	}
	pw := []string{"PW=" + env.MariaDBPassword}
	row := precheckRow

	good := write("good.hcl", "", fmt.Sprintf(`    table "%[1]s.orders" {
      topic            = %[2]q
      where            = "amount > 0"
      columns          = ["id", "status"]
      sharding_columns = ["status"]
    }
    rule "%[1]s.i*" {}`, dbName, topic))
	code, out := ferryCmd(t, pw, "precheck", good)
	if code != 0 {
		t.Fatalf("good objects block: exit %d:\n%s", code, out)
	}
	for _, c := range []string{"objects_tables", "objects_columns"} {
		if r := row(out, c); !strings.Contains(r, "PASS") {
			t.Errorf("%s row %q, want PASS:\n%s", c, r, out)
		}
	}

	bad := write("bad.hcl", `    mode            = "incremental"
    start_timestamp = "2001-01-01T00:00:00Z"`, fmt.Sprintf(`    table "%[1]s.orders" {
      topic = %[2]q
      where = "nosuch > 1"
    }
    table "%[1]s.items" {
      columns = ["id", "nope"]
    }
    table "%[1]s.notes" {
      sharding_columns = ["zzz"]
    }
    table "%[1]s.missing" {}
    rule "ferry_no_such_db.*" {}`, dbName, missingTopic))
	code, out = ferryCmd(t, pw, "precheck", bad)
	if code != 4 {
		t.Fatalf("bad objects block: exit %d, want 4:\n%s", code, out)
	}
	for check, wants := range map[string][]string{
		"objects_tables":  {"FAIL", "bad.hcl:25:5", dbName + ".missing does not exist", "bad.hcl:26:5", "ferry_no_such_db does not exist"},
		"objects_columns": {"FAIL", "bad.hcl:17:15", "nosuch", "bad.hcl:20:17", `"nope"`, "bad.hcl:23:26", `"zzz"`},
		"objects_topics":  {"FAIL", missingTopic, "bad.hcl:16:15"},
		"start_timestamp": {"FAIL", "older than the oldest retained binlog"},
	} {
		r := row(out, check)
		for _, w := range wants {
			if !strings.Contains(r, w) {
				t.Errorf("%s row lacks %q: %q", check, w, r)
			}
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	future := write("future.hcl", `    mode            = "incremental"
    start_timestamp = "2999-01-01T00:00:00Z"`, fmt.Sprintf(`    table "%s.orders" {}`, dbName))
	code, out = ferryCmd(t, pw, "precheck", future)
	if r := row(out, "start_timestamp"); code != 0 || !strings.Contains(r, "WARN") || !strings.Contains(r, "in the future") {
		t.Errorf("future start_timestamp: exit %d, row %q:\n%s", code, r, out)
	}
}

// precheckRow is check's row of a precheck table with its detail's continuation lines (the
// table wraps details to the width at spaces; words are never broken), joined by single
// spaces; "" when the table has no such row.
func precheckRow(out, check string) string {
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, check+" ") {
			r := strings.Join(strings.Fields(line), " ")
			for _, next := range lines[i+1:] {
				if next == "" || next[0] != ' ' {
					break
				}
				r += " " + strings.Join(strings.Fields(next), " ")
			}
			return r
		}
	}
	return ""
}
