//go:build integration

package integration

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/obstandin"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk"
)

// TestOceanBaseODPPrecheck runs the source's precheck through a private OceanBase stand-in
// with address = binlog_address = its ODP role, and checks the verdicts an OceanBase user
// gets: retention never passes on the age of the oldest file alone (the tenant has no expiry
// variables, the Binlog Service purges by size too), the tenant role from DBA_OB_TENANTS
// (PRIMARY passes, STANDBY fails, a refused view warns), unsupported names, and privileges
// (SELECT and the watermark database's from the tenant's grants; the Binlog Service checks no
// privilege itself, so the replication tries succeed there and win over the grants).
func TestOceanBaseODPPrecheck(t *testing.T) {
	o := startObStandin(t, nil)
	env := o.env
	h := harness.OpenMariaDB(t, o.db)
	mustExec(t, h, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", "CREATE TABLE u (id INT PRIMARY KEY)",
		"CREATE TABLE `bad name` (id INT PRIMARY KEY, `wei rd` INT)", "INSERT INTO t VALUES (1, 'a')")
	o.waitExecuted(t, 4)
	cfg := func(attrs map[string]any) sdk.Config {
		m := map[string]any{"address": o.srv.ODPAddr(), "user": obUser, "password": env.MariaDBPassword,
			"mode": "both", "tables": []string{o.db + ".t"}}
		for k, v := range attrs {
			m[k] = v
		}
		return obConfig(t, m)
	}

	cs := precheck(t, cfg(nil))
	for _, name := range []string{oceanbase.CheckConnectivity, oceanbase.CheckTables, oceanbase.CheckBinlogFormat,
		oceanbase.CheckBinlogRowImage, oceanbase.CheckNames, oceanbase.CheckPrivileges} {
		if c, ok := cs[name]; ok && c.Status != oceanbase.StatusPass {
			t.Errorf("%s: %s (%s), want pass through ODP", name, c.Status, c.Detail)
		}
	}
	// the tenant has no expiry variable: judged on the oldest file, and never a pass on
	// OceanBase, naming the Binlog Service's settings and what SHOW BINARY LOGS lists
	wantStatus(t, cs, oceanbase.CheckLogRetention, oceanbase.StatusWarn, "binlog_expire_logs_seconds", "binlog_expire_logs_size", "mysql-bin.")
	wantStatus(t, cs, oceanbase.CheckStandby, oceanbase.StatusPass, "PRIMARY")

	// the same through the direct Binlog Service role: its variable table says
	// expire_logs_days 0, which on OceanBase still is a warning
	cs = precheck(t, cfg(map[string]any{"binlog_address": o.srv.BinlogAddr(), "binlog_tls": "disabled"}))
	wantStatus(t, cs, oceanbase.CheckLogRetention, oceanbase.StatusWarn, "binlog_expire_logs_size")
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusPass)

	// a standby tenant fails; a view the user may not read warns (never a pass)
	o.srv.SetTenantRole("STANDBY")
	cs = precheck(t, cfg(nil))
	wantStatus(t, cs, oceanbase.CheckStandby, oceanbase.StatusFail, "STANDBY")
	o.srv.SetTenantRole(obstandin.RoleDenied)
	cs = precheck(t, cfg(nil))
	wantStatus(t, cs, oceanbase.CheckStandby, oceanbase.StatusWarn, "DBA_OB_TENANTS")
	o.srv.SetTenantRole("PRIMARY")

	// names with a space
	cs = precheck(t, cfg(map[string]any{"tables": []string{o.db + ".t", o.db + ".bad name"}}))
	wantStatus(t, cs, oceanbase.CheckNames, oceanbase.StatusFail, "bad name", "wei rd")

	// privileges: a tenant user with SELECT on t only
	root := rootDB(t, env.MariaDBSocket)
	user := fmt.Sprintf("ferry_obp_%d", rand.Intn(1e6))
	pw := fmt.Sprintf("Pw-%d-secret", rand.Int63())
	t.Cleanup(func() { root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	mustExec(t, root, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+pw+"'",
		"GRANT SELECT ON `"+o.db+"`.`t` TO '"+user+"'@'%'")
	o.srv.AddUser(user, pw)
	obu := user + "@obtenant#obcluster"
	cs = precheck(t, cfg(map[string]any{"user": obu, "password": pw, "tables": []string{o.db + ".t", o.db + ".u"}}))
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusFail, "SELECT ON "+o.db+".u", "CREATE ON "+o.db+".*", "INSERT ON "+o.db+".*")
	if d := cs[oceanbase.CheckPrivileges].Detail; strings.Contains(d, "REPLICATION") || strings.Contains(d, "SELECT ON "+o.db+".t") {
		t.Errorf("privileges: %s (the binlog tries succeed through ODP; SELECT on t is granted)", d)
	}
	for _, c := range cs {
		if strings.Contains(fmt.Sprintf("%+v", c), pw) {
			t.Fatalf("the password appears in check %s", c.Name)
		}
	}
	// mode incremental needs no watermark privileges
	cs = precheck(t, cfg(map[string]any{"user": obu, "password": pw, "mode": "incremental"}))
	wantStatus(t, cs, oceanbase.CheckPrivileges, oceanbase.StatusPass)
}
