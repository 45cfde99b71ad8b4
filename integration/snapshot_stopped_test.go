//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestSnapshotStoppedSourceTables: `ferry snapshot` of a stopped pipeline without an objects
// block checks the tables against what the source's tables setting selects, as with an
// objects block: a table it does not select is refused by name (exit 1) and nothing is
// recorded. Before, the request was recorded and the next `ferry run` failed on it (the
// docs' example named tables the pipeline did not have).
func TestSnapshotStoppedSourceTables(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	bin := ferryBinary(t)
	const dbName = "ferry_snap_stopped"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE other (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`pipeline "snap_stopped" {
  source "oceanbase" {
    address  = %q
    user     = %q
    password = %q
    tables   = ["%s.t"]
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = ["127.0.0.1:29876"]
    topic        = "t"
  }
  checkpoint { dir = "cp" }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName)), 0o644); err != nil {
		t.Fatal(err)
	}
	request := filepath.Join(dir, "cp", "snap_stopped.snapshot-request.json")
	for _, bad := range []string{"shop.orders", dbName + ".other", dbName + ".nope"} {
		code, out := runExit(t, bin, "snapshot", cfg, "--table", dbName+".t", "--table", bad)
		if code != 1 || !strings.Contains(out, bad+" is not selected by the tables of source \"oceanbase\"") {
			t.Errorf("--table %s: exit %d, want 1 naming it:\n%s", bad, code, out)
		}
		if _, err := os.Stat(request); err == nil {
			t.Fatalf("--table %s: a request was recorded", bad)
		}
	}
	code, out := runExit(t, bin, "snapshot", cfg, "--table", dbName+".t")
	if code != 0 || !strings.Contains(out, "re-snapshot of "+dbName+".t recorded") {
		t.Errorf("--table %s.t: exit %d:\n%s", dbName, code, out)
	}
	if _, err := os.Stat(request); err != nil {
		t.Error(err)
	}
}
