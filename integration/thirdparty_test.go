//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestThirdPartySerializerThroughHCL builds a serializer outside ferry's core (the SDK's jsonl
// example, as a third party would build theirs: its own main, only the sdk), names it in the
// pipeline file with plugin_path, and checks its messages arrive in RocketMQ.
func TestThirdPartySerializerThroughHCL(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, env4(t).Component())
	broker := env.RMQ4()
	bin := ferryBinary(t)
	dir := t.TempDir()
	ser := filepath.Join(dir, "my-serializer")
	if out, err := exec.Command("go", "build", "-o", ser, "github.com/ferry-cdc/ferry/sdk/examples/serializer/cmd").CombinedOutput(); err != nil {
		t.Fatalf("build: %s", out)
	}
	const dbName = "ferry_e2e_thirdparty"
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	execAll(t, db, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20))",
		"INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')")
	topic := harness.UniqueName("e2e_thirdparty")
	harness.CreateTopic(t, broker, topic, 2)
	cfg := fmt.Sprintf(`pipeline "thirdparty" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = %q
    tables    = [%q]
    server_id = 190
  }
  serializer "jsonl" {
    plugin_path = %q
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  checkpoint {
    dir = "cp"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword, dbName+".items", ser, broker.NameServer, topic)
	path := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "validate", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ser) {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--log-level", "warn", "run", path)
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
	harness.Collect(t, broker, topic, 3, 60*time.Second)
	execAll(t, db, "UPDATE items SET label = 'uno' WHERE id = 1")
	msgs := harness.Collect(t, broker, topic, 4, 60*time.Second)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs.String())
	}
	labels := map[string]string{}
	ops := map[string]int{}
	for _, m := range msgs {
		var e struct {
			Op    string            `json:"op"`
			Table string            `json:"table"`
			After map[string]string `json:"after"`
		}
		if err := json.Unmarshal(m.Body, &e); err != nil {
			t.Fatalf("%v: %s", err, m.Body)
		}
		if e.Table != "items" {
			t.Errorf("table %q", e.Table)
		}
		ops[e.Op]++
		labels[e.After["id"]] = e.After["label"]
	}
	if ops["snapshot"] != 3 || ops["update"] != 1 || labels["1"] != "uno" || labels["3"] != "three" {
		t.Errorf("ops %v labels %v", ops, labels)
	}
}

func env4(t *testing.T) harness.Broker {
	t.Helper()
	return harness.Env().RMQ4()
}
