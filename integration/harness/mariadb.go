package harness

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The test bed's user has all privileges on ferry_test and on every database whose
// name starts with "ferry_" (and the replication privileges on everything).
var dbNameRE = regexp.MustCompile(`^ferry_[A-Za-z0-9_]{1,57}$`)

// MariaDBDSN returns a go-sql-driver/mysql DSN for the test bed's user on db ("" for
// no default database), with parseTime on.
func (e Environment) MariaDBDSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User = e.MariaDBUser
	cfg.Passwd = e.MariaDBPassword
	cfg.Net = "tcp"
	cfg.Addr = e.MariaDBAddr
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// OpenMariaDB connects to the test bed's MariaDB as its test user, creates database
// db if needed (its name must start with "ferry_": the user may create only those)
// and returns a handle using it, closed when the test ends.
func OpenMariaDB(t testing.TB, db string) *sql.DB {
	t.Helper()
	env := RequireTestbed(t, MariaDB)
	if !dbNameRE.MatchString(db) {
		t.Fatalf("OpenMariaDB: database name %q must match %s (the test user may create only ferry_* databases)", db, dbNameRE)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := sql.Open("mysql", env.MariaDBDSN(""))
	if err != nil {
		t.Fatalf("OpenMariaDB: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+db+"`"); err != nil {
		t.Fatalf("OpenMariaDB: create database %s on %s: %v", db, env.MariaDBAddr, err)
	}

	h, err := sql.Open("mysql", env.MariaDBDSN(db))
	if err != nil {
		t.Fatalf("OpenMariaDB: %v", err)
	}
	if err := h.PingContext(ctx); err != nil {
		h.Close()
		t.Fatalf("OpenMariaDB: ping %s/%s: %v", env.MariaDBAddr, db, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// DropDatabase removes a database made by OpenMariaDB (for t.Cleanup); errors are
// reported with t.Errorf.
func DropDatabase(t testing.TB, db string) {
	t.Helper()
	if !dbNameRE.MatchString(db) {
		t.Errorf("DropDatabase: refusing database name %q (not ferry_*)", db)
		return
	}
	env := Env()
	h, err := sql.Open("mysql", env.MariaDBDSN(""))
	if err != nil {
		t.Errorf("DropDatabase: %v", err)
		return
	}
	defer h.Close()
	if _, err := h.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS `%s`", db)); err != nil {
		t.Errorf("DropDatabase %s: %v", db, err)
	}
}
