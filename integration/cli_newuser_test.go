//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// runExit runs ferry and returns its exit code and combined output.
func runExit(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
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

// TestObjectsNewUser: `ferry objects` on a pipeline without an objects block lists what the
// source's tables select (B2); tables with names the precheck refuses (a space, '€', '|')
// are dropped with the reason, not listed as selected, and when every object is dropped
// the exit code is 3 (B10).
func TestObjectsNewUser(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	bin := ferryBinary(t)
	const dbName = "ferry_objects_newuser"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db,
		"CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE `odd name` (id INT PRIMARY KEY)",
		"CREATE TABLE `pri€s` (id INT PRIMARY KEY)",
		"CREATE TABLE `a|b` (id INT PRIMARY KEY)",
	)
	dir := t.TempDir()
	write := func(name, tables string) string {
		cfg := fmt.Sprintf(`pipeline "onu" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = %q
    tables   = [%s]
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = ["127.0.0.1:29876"]
    topic        = "t"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, tables)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	code, out := runExit(t, bin, "objects", write("all.hcl", `"`+dbName+`.*"`))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	sel, dropped, ok := strings.Cut(out, "DROPPED")
	if !ok {
		t.Fatalf("nothing dropped:\n%s", out)
	}
	if !strings.Contains(sel, dbName+".orders") || !strings.Contains(sel, "source tables") || !strings.Contains(sel, "1 object(s) selected, 3 dropped") {
		t.Errorf("orders not listed as selected by the source's tables:\n%s", out)
	}
	for _, name := range []string{"odd name", "pri€s", "a|b"} {
		if strings.Contains(sel, name) {
			t.Errorf("%q listed as selected:\n%s", name, out)
		}
		if !strings.Contains(dropped, dbName+"."+name) {
			t.Errorf("%q not listed as dropped:\n%s", name, out)
		}
	}
	if !strings.Contains(dropped, "unsupported name") {
		t.Errorf("no reason:\n%s", out)
	}
	code, out = runExit(t, bin, "objects", write("bad.hcl", `"`+dbName+`.odd*", "`+dbName+`.a|b"`))
	if code != 3 || !strings.Contains(out, "0 object(s) selected, 2 dropped") {
		t.Errorf("every object dropped: exit %d, want 3:\n%s", code, out)
	}
}

// TestPrecheckOutputNewUser: precheck -o json is one JSON document with every check;
// precheck's table fits 100 columns; run prints only the problems of the precheck and a
// one-line summary, not the whole table; objects -o json lists the selection.
func TestPrecheckOutputNewUser(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	const dbName = "ferry_precheck_newuser"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	topic := harness.UniqueName("pcnu")
	harness.CreateTopic(t, broker, topic, 2)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	cfg := fmt.Sprintf(`pipeline "pcnu" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = %q
    tables   = [%q]
    mode     = "full"
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
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "precheck", "-o", "json", path).Output()
	var res struct {
		Valid, Passed bool
		Checks        []struct{ Name, Status string }
	}
	if err != nil || json.Unmarshal(out, &res) != nil || !res.Valid || !res.Passed || len(res.Checks) < 5 {
		t.Fatalf("precheck -o json: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "precheck", path)
	cmd.Env = append(os.Environ(), "COLUMNS=100")
	table, err := cmd.Output()
	if err != nil {
		t.Fatalf("precheck: %v\n%s", err, table)
	}
	for _, l := range strings.Split(strings.TrimRight(string(table), "\n"), "\n") {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("a precheck line of %d columns: %q", n, l)
		}
	}
	code, runOut := runExit(t, bin, "--log-level", "warn", "run", "--status-addr", "", path)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, runOut)
	}
	if !strings.Contains(runOut, "precheck: passed: ") || strings.Contains(runOut, "PASS") {
		t.Errorf("run printed more than the precheck's problems and summary:\n%s", runOut)
	}
	out, err = exec.Command(bin, "objects", "-o", "json", path).Output()
	var objs struct {
		From     string
		Selected []struct{ Database, Table, By string }
	}
	if err != nil || json.Unmarshal(out, &objs) != nil || objs.From != "source tables" || len(objs.Selected) != 1 || objs.Selected[0].Table != "t" {
		t.Errorf("objects -o json: %v\n%s", err, out)
	}
}
