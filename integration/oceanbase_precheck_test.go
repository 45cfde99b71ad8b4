//go:build integration

package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk"
)

func precheck(t *testing.T, cfg sdk.Config) map[string]oceanbase.Check {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[string]oceanbase.Check{}
	for _, c := range oceanbase.Precheck(ctx, cfg) {
		t.Logf("%s", c)
		if c.Status != oceanbase.StatusPass && c.Consequence == "" {
			t.Errorf("%s: %s without a consequence", c.Name, c.Status)
		}
		out[c.Name] = c
	}
	return out
}

func wantStatus(t *testing.T, cs map[string]oceanbase.Check, name string, st oceanbase.Status, mentions ...string) {
	t.Helper()
	c, ok := cs[name]
	if !ok {
		t.Errorf("no check %s", name)
		return
	}
	if c.Status != st {
		t.Errorf("%s: status %s, want %s (%s)", name, c.Status, st, c.Detail)
	}
	for _, m := range mentions {
		if !strings.Contains(c.Detail, m) {
			t.Errorf("%s: detail does not mention %q: %s", name, m, c.Detail)
		}
	}
}

func rootDB(t *testing.T, socket string) *sql.DB {
	t.Helper()
	root, err := sql.Open("mysql", "root@unix("+socket+")/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func TestOceanBasePrecheckPassesOnTestbed(t *testing.T) {
	db, h := obDB(t, "pcok")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
	for _, mode := range []string{"incremental", "full", "both"} {
		t.Run(mode, func(t *testing.T) {
			cs := precheck(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": mode}))
			if len(cs) != 10 {
				t.Errorf("%d checks, want 10", len(cs))
			}
			for _, c := range cs {
				if c.Status == oceanbase.StatusFail {
					t.Errorf("failed on the test bed: %s", c)
				}
				// full + incremental wants 7 days; the test bed keeps 3 (a warning)
				if c.Status == oceanbase.StatusWarn && !(mode == "both" && c.Name == oceanbase.CheckLogRetention) {
					t.Errorf("warned on the test bed: %s", c)
				}
			}
		})
	}
}

func TestOceanBasePrecheckTables(t *testing.T) {
	db, h := obDB(t, "pctab")
	mustExec(t, h, "USE `"+db+"`",
		"CREATE TABLE `bad name` (id INT PRIMARY KEY, `prix€` INT, `a=b` INT, ok_col INT)",
		"CREATE TABLE v (id INT PRIMARY KEY, a INT, g INT AS (a * 2) VIRTUAL, s INT AS (a + 1) STORED, tx TEXT, j JSON, bb MEDIUMBLOB)",
		"CREATE TABLE nokey (a INT, b INT)",
		"CREATE TABLE uk (a INT NOT NULL, b INT, UNIQUE KEY ua (a))")
	cs := precheck(t, obConfig(t, map[string]any{"mode": "incremental",
		"tables": []string{db + ".bad name", db + ".v", db + ".nokey", db + ".uk"}}))
	wantStatus(t, cs, oceanbase.CheckNames, oceanbase.StatusFail, `"bad name"`, "a space", `"prix€"`, "non-ASCII", `"a=b"`, `'='`)
	if strings.Contains(cs[oceanbase.CheckNames].Detail, "ok_col") {
		t.Errorf("names: ok_col reported")
	}
	wantStatus(t, cs, oceanbase.CheckVirtualColumns, oceanbase.StatusWarn, db+".v.g")
	if strings.Contains(cs[oceanbase.CheckVirtualColumns].Detail, ".v.s") {
		t.Errorf("STORED column reported as VIRTUAL")
	}
	wantStatus(t, cs, oceanbase.CheckLOBBeforeImage, oceanbase.StatusWarn, db+".v.tx TEXT", db+".v.j JSON", db+".v.bb MEDIUMBLOB")
	wantStatus(t, cs, oceanbase.CheckPrimaryKeys, oceanbase.StatusWarn, db+".nokey (no NOT NULL unique key", db+".uk (unique key (a) used)")
	wantStatus(t, cs, oceanbase.CheckTables, oceanbase.StatusPass)
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusPass)

	// a clean table passes those checks
	cs = precheck(t, obConfig(t, map[string]any{"mode": "incremental", "tables": []string{db + ".uk"}}))
	wantStatus(t, cs, oceanbase.CheckNames, oceanbase.StatusPass)
	wantStatus(t, cs, oceanbase.CheckVirtualColumns, oceanbase.StatusPass)
	wantStatus(t, cs, oceanbase.CheckLOBBeforeImage, oceanbase.StatusPass)

	// a missing table and a view fail the tables check
	mustExec(t, h, "CREATE VIEW vw AS SELECT id FROM v")
	cs = precheck(t, obConfig(t, map[string]any{"mode": "incremental", "tables": []string{db + ".nope", db + ".vw"}}))
	wantStatus(t, cs, oceanbase.CheckTables, oceanbase.StatusFail, "does not exist", "is a view")
}

func TestOceanBasePrecheckPrivileges(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	db, h := obDB(t, "pcpriv")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY)")
	root := rootDB(t, env.MariaDBSocket)
	pw := fmt.Sprintf("Pw-%d-secret", rand.Int63())
	users := []string{fmt.Sprintf("ferry_np_%d", rand.Intn(1e6)), fmt.Sprintf("ferry_ns_%d", rand.Intn(1e6))}
	t.Cleanup(func() {
		for _, u := range users {
			root.Exec("DROP USER IF EXISTS '" + u + "'@'%'")
		}
	})
	// user 0: SELECT only; user 1: replication only
	mustExec(t, root, "CREATE USER '"+users[0]+"'@'%' IDENTIFIED BY '"+pw+"'",
		"GRANT SELECT ON `"+db+"`.* TO '"+users[0]+"'@'%'",
		"CREATE USER '"+users[1]+"'@'%' IDENTIFIED BY '"+pw+"'",
		"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+users[1]+"'@'%'")
	cfg := func(user, mode string) sdk.Config {
		return obConfig(t, map[string]any{"user": user, "password": pw, "mode": mode, "tables": []string{db + ".t"}})
	}
	check := func(cs map[string]oceanbase.Check) {
		for _, c := range cs {
			if strings.Contains(fmt.Sprintf("%+v", c), pw) {
				t.Fatalf("the password appears in check %s", c.Name)
			}
		}
	}
	cs := precheck(t, cfg(users[0], "incremental"))
	check(cs)
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusFail, "REPLICATION SLAVE ON *.*", "BINLOG MONITOR ON *.*")
	if strings.Contains(cs[oceanbase.CheckPrivileges].Detail, "SELECT") {
		t.Errorf("SELECT reported missing: %s", cs[oceanbase.CheckPrivileges].Detail)
	}
	cs = precheck(t, cfg(users[0], "full"))
	check(cs)
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusPass)
	cs = precheck(t, cfg(users[0], "both"))
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusFail, "CREATE ON "+db+".*", "INSERT ON "+db+".*")

	cs = precheck(t, cfg(users[1], "incremental"))
	check(cs)
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusFail, "SELECT ON "+db+".t")
	if d := cs[oceanbase.CheckPrivileges].Detail; strings.Contains(d, "REPLICATION SLAVE") || strings.Contains(d, "BINLOG MONITOR") {
		t.Errorf("replication privileges reported missing: %s", d)
	}

	// a wrong password: one connectivity failure without the password
	cs = precheck(t, obConfig(t, map[string]any{"user": users[0], "password": "wrong-" + pw, "tables": []string{db + ".t"}}))
	wantStatus(t, cs, oceanbase.CheckConnectivity, oceanbase.StatusFail, "Access denied")
	if strings.Contains(cs[oceanbase.CheckConnectivity].Detail, pw) {
		t.Fatal("the password appears in the connectivity error")
	}
}

// privateMariaDB starts a MariaDB of its own (in a temp dir, on a free loopback port) with
// extra server flags, and a user "pc" with the sync privileges. It is stopped at the end.
func privateMariaDB(t *testing.T, flags ...string) (addr, user, password string) {
	t.Helper()
	addr, user, password, _ = privateMariaDBRoot(t, flags...)
	return addr, user, password
}

// privateMariaDBRoot is privateMariaDB that also returns the server's socket, where root
// connects without a password.
func privateMariaDBRoot(t *testing.T, flags ...string) (addr, user, password, socket string) {
	t.Helper()
	if _, err := exec.LookPath("mariadb-install-db"); err != nil {
		t.Skip("mariadb-install-db not installed")
	}
	dir, err := os.MkdirTemp("", "ferry-ob-private-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"binlog", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sock := filepath.Join(dir, "sock")
	args := append([]string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--user=root",
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--socket=" + sock,
		"--pid-file=" + filepath.Join(dir, "pid"), "--log-error=" + filepath.Join(dir, "err.log"),
		"--tmpdir=" + filepath.Join(dir, "tmp"), "--server-id=7", "--log-bin=" + filepath.Join(dir, "binlog", "mysql-bin"),
		"--skip-name-resolve", "--innodb-buffer-pool-size=16M"}, flags...)
	cmd := exec.Command("mariadbd", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	root, err := sql.Open("mysql", "root@unix("+sock+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	deadline := time.Now().Add(30 * time.Second)
	for root.Ping() != nil {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			t.Fatalf("mariadbd exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("private mariadbd not ready in 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	password = "pc-secret"
	mustExec(t, root, "CREATE USER 'pc'@'%' IDENTIFIED BY '"+password+"'",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'pc'@'%'",
		"GRANT ALL PRIVILEGES ON `ferry\\_%`.* TO 'pc'@'%'",
		"CREATE DATABASE ferry_pc", "CREATE TABLE ferry_pc.t (id INT PRIMARY KEY)", "FLUSH BINARY LOGS")
	return fmt.Sprintf("127.0.0.1:%d", port), "pc", password, sock
}

// TestOceanBasePrecheckBadServer runs the server-setting checks against a private MariaDB
// started with STATEMENT binlog, MINIMAL row image, read_only and one day of retention.
func TestOceanBasePrecheckBadServer(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	addr, user, pw := privateMariaDB(t, "--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL", "--read-only=1", "--expire-logs-days=1")
	m := map[string]any{"address": addr, "user": user, "password": pw, "tables": []string{"ferry_pc.t"}, "mode": "incremental"}
	b, _ := json.Marshal(m)
	cs := precheck(t, sdk.NewConfig(b))
	wantStatus(t, cs, oceanbase.CheckBinlogFormat, oceanbase.StatusFail, "STATEMENT")
	wantStatus(t, cs, oceanbase.CheckBinlogRowImage, oceanbase.StatusFail, "MINIMAL")
	wantStatus(t, cs, oceanbase.CheckLogRetention, oceanbase.StatusFail, "expire after 1 day,", "oldest retained binlog mysql-bin.000001")
	wantStatus(t, cs, oceanbase.CheckStandby, oceanbase.StatusFail, "read_only")
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusPass)
	wantStatus(t, cs, oceanbase.CheckNames, oceanbase.StatusPass)
}
