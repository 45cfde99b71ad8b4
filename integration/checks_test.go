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
