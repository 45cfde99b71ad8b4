//go:build integration

// Tests of the OceanBase ODP + Binlog Service stand-in (integration/obstandin) against the
// test bed's MariaDB. Each test starts its own stand-in in process (own store, ports :0,
// ob_query_timeout 2 s) converting only its ferry_obs_* database; TestObStandinTestbed
// checks the one `make up` started.
//
//	FERRY_REQUIRE_TESTBED=1 go test -tags integration -count=1 -run 'TestObStandin' -v ./integration/
package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/obstandin"
)

const obUser = "ferry@obtenant#obcluster"

type obEnv struct {
	srv *obstandin.Server
	db  string // the test's database
	cfg obstandin.Config
	env harness.Environment
}

func startObStandin(t *testing.T, mod func(*obstandin.Config)) *obEnv {
	t.Helper()
	env := harness.RequireTestbed(t, harness.MariaDB)
	db := fmt.Sprintf("ferry_obs_%d_%d", time.Now().UnixNano()%1e9, rand.Intn(1000))
	cfg := obstandin.Config{
		MariaDBAddr: env.MariaDBAddr, MariaDBUser: env.MariaDBUser, MariaDBPassword: env.MariaDBPassword,
		Users:   map[string]string{env.MariaDBUser: env.MariaDBPassword},
		ODPAddr: "127.0.0.1:0", BinlogAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		StoreDir: filepath.Join(t.TempDir(), "binlog"), QueryTimeout: 2 * time.Second,
		RotateSize: 1 << 20, HeartbeatInTx: true, DBPrefixes: []string{db},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := obstandin.Start(cfg)
	if err != nil {
		t.Fatalf("start stand-in: %v", err)
	}
	t.Cleanup(s.Close)
	t.Cleanup(func() { harness.DropDatabase(t, db) })
	return &obEnv{srv: s, db: db, cfg: cfg, env: env}
}

func (o *obEnv) sqlDB(t *testing.T, user, password string, prepared bool) *sql.DB {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = user, password, "tcp", o.srv.ODPAddr()
	mc.InterpolateParams = !prepared
	mc.Timeout = 5 * time.Second
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (o *obEnv) odp(t *testing.T) *sql.DB { return o.sqlDB(t, obUser, o.env.MariaDBPassword, false) }

func obExec(t *testing.T, db *sql.DB, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func obErrCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// obMaxSeq is the highest sequence number in a stand-in's executed set.
func obMaxSeq(set *gmysql.MysqlGTIDSet) int64 {
	var max int64
	for _, tags := range *set {
		for _, ivs := range tags {
			for _, iv := range ivs {
				if iv.Stop-1 > max {
					max = iv.Stop - 1
				}
			}
		}
	}
	return max
}

// waitExecuted waits until the stand-in has converted at least n transactions.
func (o *obEnv) waitExecuted(t *testing.T, n int64) *gmysql.MysqlGTIDSet {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		set := o.srv.Executed()
		if obMaxSeq(set) >= n {
			return set
		}
		if time.Now().After(deadline) {
			t.Fatalf("stand-in converted %s, want %d transactions", set, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestObStandinODP(t *testing.T) {
	o := startObStandin(t, nil)
	db := o.odp(t)
	ctx := context.Background()

	var v string
	if err := db.QueryRow("SELECT VERSION()").Scan(&v); err != nil || v != obstandin.ODPVersion {
		t.Fatalf("VERSION() = %q, %v; want %s", v, err, obstandin.ODPVersion)
	}
	// forwarded to MariaDB
	if err := db.QueryRow("SELECT CONCAT('a', ?)", "b").Scan(&v); err != nil || v != "ab" {
		t.Fatalf("forwarded select = %q, %v", v, err)
	}
	// other user name forms; wrong password; no tenant
	// (go-sql-driver's DSN cannot carry a ':' in a user name: go-mysql's client can)
	for _, u := range []string{"obcluster:obtenant:" + o.env.MariaDBUser, o.env.MariaDBUser + "@obtenant"} {
		c, err := client.Connect(o.srv.ODPAddr(), u, o.env.MariaDBPassword, "")
		if err != nil {
			t.Errorf("login as %s: %v", u, err)
			continue
		}
		c.Close()
	}
	// KILL of an id that is not the stand-in's is never forwarded to MariaDB
	if _, err := db.Exec("KILL QUERY 4000000000"); obErrCode(err) != 1094 {
		t.Errorf("KILL of a foreign id: %v, want 1094", err)
	}
	if err := o.sqlDB(t, obUser, "wrong", false).Ping(); obErrCode(err) != 1045 {
		t.Errorf("wrong password: %v, want error 1045", err)
	}
	if err := o.sqlDB(t, o.env.MariaDBUser, o.env.MariaDBPassword, false).Ping(); obErrCode(err) != 1045 {
		t.Errorf("user without tenant: %v, want error 1045", err)
	}
	// prepared statements (binary protocol)
	if err := o.sqlDB(t, obUser, o.env.MariaDBPassword, true).QueryRow("SELECT ? + 1", 41).Scan(&v); err != nil || v != "42" {
		t.Errorf("prepared: %q, %v", v, err)
	}

	// routed to the binlog role: SHOW MASTER STATUS has Executed_Gtid_Set in MySQL form
	obExec(t, db, "CREATE DATABASE IF NOT EXISTS "+o.db, "CREATE TABLE "+o.db+".t (id INT PRIMARY KEY)")
	o.waitExecuted(t, 1)
	rows, err := db.Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var file, pos, doDB, ignDB, gtids sql.NullString
	rows.Next()
	if err := rows.Scan(&file, &pos, &doDB, &ignDB, &gtids); err != nil {
		t.Fatalf("SHOW MASTER STATUS columns %v: %v", cols, err)
	}
	rows.Close()
	var uuid string
	if err := db.QueryRow("SELECT @@server_uuid").Scan(&uuid); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(file.String, "mysql-bin.") || !strings.HasPrefix(gtids.String, uuid+":") {
		t.Errorf("SHOW MASTER STATUS = %s %s %s (server_uuid %s): not the binlog role's", file.String, pos.String, gtids.String, uuid)
	}
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_mode").Scan(&v); err != nil || v != "ON" {
		t.Errorf("@@GLOBAL.gtid_mode = %q, %v", v, err)
	}
	var name string
	if err := db.QueryRow("SHOW GLOBAL VARIABLES LIKE 'gtid_mode'").Scan(&name, &v); err != nil || v != "ON" {
		t.Errorf("SHOW VARIABLES LIKE 'gtid_mode' = %q, %v", v, err)
	}
	// MariaDB's GTID variables do not exist on an OceanBase tenant
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&v); obErrCode(err) != 1193 {
		t.Errorf("@@gtid_binlog_pos through ODP: %v, want 1193", err)
	}
	// not routed: binlog_format goes to the OBServer (MariaDB here)
	if err := db.QueryRow("SELECT @@GLOBAL.binlog_format").Scan(&v); err != nil || v != "ROW" {
		t.Errorf("@@GLOBAL.binlog_format = %q, %v", v, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", o.db).Scan(&n); err != nil || n != 1 {
		t.Errorf("information_schema through ODP: %d, %v", n, err)
	}

	// refusals
	for _, q := range []string{"FLUSH TABLES WITH READ LOCK", "LOCK TABLES " + o.db + ".t READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		_, err := db.Exec(q)
		if obErrCode(err) != 1235 || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v, want error 1235 not supported", q, err)
		}
	}

	// OB variables and ob_query_timeout
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, "SELECT @@ob_query_timeout").Scan(&v); err != nil || v != "2000000" {
		t.Errorf("@@ob_query_timeout = %q, %v; want the configured 2000000", v, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@ob_read_consistency").Scan(&v); err != nil || v != "STRONG" {
		t.Errorf("@@ob_read_consistency = %q, %v", v, err)
	}
	start := time.Now()
	_, err = conn.ExecContext(ctx, "SELECT SLEEP(10)")
	if obErrCode(err) != 4012 || time.Since(start) > 6*time.Second {
		t.Errorf("SLEEP(10) under a 2 s ob_query_timeout: %v after %v, want error 4012 after about 2 s", err, time.Since(start))
	}
	// the session still works, and a longer timeout lets the query finish
	obExecConn(t, conn, "SET ob_query_timeout = 5000000, ob_read_consistency = 'weak', @x = 1")
	if err := conn.QueryRowContext(ctx, "SELECT SLEEP(3)").Scan(&v); err != nil {
		t.Errorf("SLEEP(3) under 5 s: %v", err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@ob_read_consistency").Scan(&v); err != nil || v != "WEAK" {
		t.Errorf("@@ob_read_consistency after SET = %q, %v", v, err)
	}
	// a query_timeout hint overrides the session value
	if _, err := conn.ExecContext(ctx, "SELECT /*+ query_timeout(1000000) */ SLEEP(3)"); obErrCode(err) != 4012 {
		t.Errorf("query_timeout hint: %v, want 4012", err)
	}

	// fault knobs: leader-switch errors for the next 2 statements, then recovery
	o.srv.FailNext(2, 4038)
	for i := 0; i < 2; i++ {
		if _, err := conn.ExecContext(ctx, "SELECT 1"); obErrCode(err) != 4038 {
			t.Errorf("statement %d after FailNext: %v, want 4038", i, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Errorf("third statement: %v", err)
	}
	o.srv.SetDelay(300 * time.Millisecond)
	start = time.Now()
	_, _ = conn.ExecContext(ctx, "SELECT 1")
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("delay knob: answered after %v", time.Since(start))
	}
	o.srv.SetDelay(0)
	// the same knobs over HTTP
	get := func(path string) string {
		resp, err := http.Get("http://" + o.srv.ControlAddr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get("/fail?n=1&code=6002")
	if _, err := conn.ExecContext(ctx, "SELECT 1"); obErrCode(err) != 6002 {
		t.Errorf("after /fail?code=6002: %v", err)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil || st["file"] == nil {
		t.Errorf("/status: %v %v", st, err)
	}
	if n := o.srv.DropAll(); n == 0 {
		t.Errorf("DropAll closed no connection")
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Errorf("statement on a dropped connection succeeded")
	}
}

func obExecConn(t *testing.T, c *sql.Conn, q string) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (o *obEnv) syncer(t *testing.T, addr string) *replication.BinlogSyncer {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: uint32(1<<20 + rand.Intn(1<<20)), Flavor: gmysql.MySQLFlavor, Host: host, Port: uint16(p),
		User: obUser, Password: o.env.MariaDBPassword, HeartbeatPeriod: 500 * time.Millisecond,
		ReadTimeout: 10 * time.Second, UseDecimal: true, DisableRetrySync: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(s.Close)
	return s
}

// collect reads events until stop says so (heartbeats counted apart).
func obCollect(t *testing.T, st *replication.BinlogStreamer, stop func([]*replication.BinlogEvent) bool) (evs []*replication.BinlogEvent, heartbeats int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !stop(evs) {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		if ev.Header.EventType == replication.HEARTBEAT_EVENT {
			heartbeats++
			continue
		}
		evs = append(evs, ev)
	}
	return evs, heartbeats
}

func obCountType(evs []*replication.BinlogEvent, typ replication.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Header.EventType == typ {
			n++
		}
	}
	return n
}

func obShape(evs []*replication.BinlogEvent) string {
	var s []string
	for _, e := range evs {
		n := strings.ReplaceAll(e.Header.EventType.String(), "Event", "")
		if q, ok := e.Event.(*replication.QueryEvent); ok {
			n += "(" + strings.Fields(string(q.Query))[0] + ")"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestObStandinBinlogDump(t *testing.T) {
	o := startObStandin(t, nil)
	db := o.odp(t)
	obExec(t, db, "CREATE DATABASE IF NOT EXISTS "+o.db,
		"CREATE TABLE "+o.db+".t (id INT PRIMARY KEY, f FLOAT(30,10), j JSON, s VARCHAR(20) CHARACTER SET latin1, d DECIMAL(10,2))")
	start := o.waitExecuted(t, 2)

	obExec(t, db, "BEGIN",
		"INSERT INTO "+o.db+`.t VALUES (1, 1.5, '{"b": [1, -2.5, "x", true, null], "a": {"n": 70000}}', 'café', 12.34), (2, 0.25, NULL, NULL, NULL)`,
		"COMMIT",
		"UPDATE "+o.db+".t SET s = 'zz' WHERE id = 1",
		"DELETE FROM "+o.db+".t WHERE id = 2",
		"ALTER TABLE "+o.db+".t ADD COLUMN extra INT")
	o.waitExecuted(t, 6)

	for _, role := range []struct{ name, addr string }{{"binlog", o.srv.BinlogAddr()}, {"odp", o.srv.ODPAddr()}} {
		t.Run(role.name, func(t *testing.T) {
			st, err := o.syncer(t, role.addr).StartSyncGTID(start.Clone()) // the syncer updates its set
			if err != nil {
				t.Fatalf("StartSyncGTID(%s): %v", start, err)
			}
			evs, hb := obCollect(t, st, func(evs []*replication.BinlogEvent) bool {
				return obCountType(evs, replication.GTID_EVENT) == 4 && evs[len(evs)-1].Header.EventType == replication.QUERY_EVENT
			})
			got := obShape(evs)
			want := "Rotate FormatDescription PreviousGTIDs " +
				"GTID Query(BEGIN) TableMap WriteRowsV2 TableMap WriteRowsV2 XID " +
				"GTID Query(BEGIN) TableMap UpdateRowsV2 XID " +
				"GTID Query(BEGIN) TableMap DeleteRowsV2 XID " +
				"GTID Query(ALTER)"
			if got != want {
				t.Fatalf("event shapes:\n got %s\nwant %s", got, want)
			}
			if hb < 3 {
				t.Errorf("%d heartbeats, want one inside each of the 3 transactions", hb)
			}
			fde := evs[1].Event.(*replication.FormatDescriptionEvent)
			// @master_binlog_checksum='NONE' (go-mysql) only strips the fake ROTATE's checksum:
			// the events go out as stored, with CRC32
			if fde.ChecksumAlgorithm != replication.BINLOG_CHECKSUM_ALG_CRC32 {
				t.Errorf("checksum %d, want CRC32 as stored", fde.ChecksumAlgorithm)
			}
			var rows []*replication.RowsEvent
			for _, e := range evs {
				switch x := e.Event.(type) {
				case *replication.TableMapEvent:
					if x.ColumnName != nil || x.SignednessBitmap != nil || x.PrimaryKey != nil {
						t.Errorf("TABLE_MAP has optional metadata")
					}
					if x.ColumnType[1] != gmysql.MYSQL_TYPE_DOUBLE || x.ColumnType[2] != gmysql.MYSQL_TYPE_JSON {
						t.Errorf("TABLE_MAP types %v: want DOUBLE for FLOAT(30,10), JSON for JSON", x.ColumnType)
					}
				case *replication.RowsEvent:
					rows = append(rows, x)
				case *replication.GTIDEvent:
					if u := x.SID; fmt.Sprintf("%x", u) == "" {
						t.Errorf("no sid")
					}
				}
			}
			if len(rows) != 4 || len(rows[0].Rows) != 1 || len(rows[1].Rows) != 1 || len(rows[2].Rows) != 2 || len(rows[3].Rows) != 1 {
				t.Fatalf("rows per event: want one row (update: before+after) per event")
			}
			r1 := rows[0].Rows[0]
			if r1[1] != float64(1.5) {
				t.Errorf("FLOAT(30,10) value %#v, want float64 1.5", r1[1])
			}
			var gotJ, wantJ any
			_ = json.Unmarshal([]byte(fmt.Sprint(obString(r1[2]))), &gotJ)
			_ = json.Unmarshal([]byte(`{"a": {"n": 70000}, "b": [1, -2.5, "x", true, null]}`), &wantJ)
			if !reflect.DeepEqual(gotJ, wantJ) {
				t.Errorf("JSON value %q", obString(r1[2]))
			}
			if obString(r1[3]) != "caf\xe9" {
				t.Errorf("latin1 column bytes %q, want the latin1 bytes caf\\xe9", obString(r1[3]))
			}
			if fmt.Sprint(r1[4]) != "12.34" {
				t.Errorf("DECIMAL %v", r1[4])
			}
			if r := rows[1].Rows[0]; r[2] != nil || r[3] != nil {
				t.Errorf("NULLs: %v", r)
			}
			if obString(rows[2].Rows[1][3]) != "zz" {
				t.Errorf("update after image %v", rows[2].Rows[1])
			}
			if q := evs[len(evs)-1].Event.(*replication.QueryEvent); string(q.Schema) != o.db || !strings.Contains(string(q.Query), "ADD COLUMN extra") {
				t.Errorf("DDL query %q in %q", q.Query, q.Schema)
			}
		})
	}

	// the stored files carry CRC32 checksums that go-mysql's parser verifies
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(true)
	n := 0
	err := p.ParseFile(filepath.Join(o.cfg.StoreDir, "mysql-bin.000001"), 0, func(e *replication.BinlogEvent) error {
		n++
		if n == 1 && e.Event.(*replication.FormatDescriptionEvent).ChecksumAlgorithm != replication.BINLOG_CHECKSUM_ALG_CRC32 {
			return errors.New("stored file without CRC32")
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Errorf("parse stored file: %d events, %v", n, err)
	}
}

func obString(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// firstGTID dumps from req and returns the GNO of the first transaction sent, or the error.
func (o *obEnv) firstGTID(t *testing.T, req string) (int64, error) {
	t.Helper()
	set, err := gmysql.ParseMysqlGTIDSet(req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := o.syncer(t, o.srv.BinlogAddr()).StartSyncGTID(set)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return 0, err
		}
		if g, ok := ev.Event.(*replication.GTIDEvent); ok {
			return g.GNO, nil
		}
	}
}

func TestObStandinGTIDRule(t *testing.T) {
	o := startObStandin(t, nil)
	db := o.odp(t)
	obExec(t, db, "CREATE DATABASE IF NOT EXISTS "+o.db, "CREATE TABLE "+o.db+".t (id INT PRIMARY KEY)")
	// files: 000001 (prev {}) gno 1-4, 000002 (prev 1-4) gno 5-7, 000003 (prev 1-7)
	obExec(t, db, "INSERT INTO "+o.db+".t VALUES (1)", "INSERT INTO "+o.db+".t VALUES (2)")
	o.waitExecuted(t, 4)
	if err := o.srv.Rotate(); err != nil {
		t.Fatal(err)
	}
	obExec(t, db, "INSERT INTO "+o.db+".t VALUES (3)", "INSERT INTO "+o.db+".t VALUES (4)", "INSERT INTO "+o.db+".t VALUES (5)")
	exec := o.waitExecuted(t, 7)
	if err := o.srv.Rotate(); err != nil {
		t.Fatal(err)
	}
	var uuid string
	if err := db.QueryRow("SELECT @@server_uuid").Scan(&uuid); err != nil {
		t.Fatal(err)
	}
	t.Logf("executed %s", exec)

	cases := []struct {
		req  string
		want int64
	}{
		{uuid + ":1-5", 6},   // 000002's prev (1-4) is contained: from there, skipping 5
		{uuid + ":1-2", 3},   // only 000001 qualifies
		{uuid + ":3-6", 1},   // a gap at the start: only 000001 (prev {}) qualifies: 1 and 2 are resent
		{uuid + ":1-3:5", 4}, // a gap in the middle is resent
		{"", 1},              // an empty set: the oldest file
	}
	for _, c := range cases {
		got, err := o.firstGTID(t, c.req)
		if err != nil || got != c.want {
			t.Errorf("dump from %s: first GTID %d, %v; want %d", c.req, got, err, c.want)
		}
	}
	// purge 000001: a set with a gap at its start no longer finds a file
	if gone := o.srv.Purge(0, 0, "mysql-bin.000002"); len(gone) != 1 {
		t.Fatalf("purged %v", gone)
	}
	var purged string
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_purged").Scan(&purged); err != nil || purged != uuid+":1-4" {
		t.Errorf("gtid_purged = %q, %v", purged, err)
	}
	if _, err := o.firstGTID(t, uuid+":3-6"); err == nil || !strings.Contains(err.Error(), "The requested gtid transaction no longer exists") {
		t.Errorf("gap after purge: %v, want 'The requested gtid transaction no longer exists'", err)
	}
	if got, err := o.firstGTID(t, uuid+":1-6"); err != nil || got != 7 {
		t.Errorf("dump from 1-6 after purge: %d, %v", got, err)
	}
	if got, err := o.firstGTID(t, ""); err != nil || got != 5 {
		t.Errorf("dump from the empty set after purge: %d, %v; want the oldest kept file (5)", got, err)
	}

	// a dropped connection ends a running dump (ODP does not retry binlog requests)
	set, _ := gmysql.ParseMysqlGTIDSet(exec.String())
	st, err := o.syncer(t, o.srv.ODPAddr()).StartSyncGTID(set)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := st.GetEvent(ctx); err != nil { // the fake ROTATE
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	o.srv.DropAll()
	for {
		if _, err := st.GetEvent(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("dump still running after DropAll")
			}
			break
		}
	}
}

func TestObStandinRotatePurgeRestart(t *testing.T) {
	o := startObStandin(t, func(c *obstandin.Config) { c.RotateSize = 1500; c.MasterStatusLag = 1500 * time.Millisecond })
	db := o.odp(t)
	obExec(t, db, "CREATE DATABASE IF NOT EXISTS "+o.db, "CREATE TABLE "+o.db+".t (id INT PRIMARY KEY, v VARCHAR(200))")
	o.waitExecuted(t, 2)
	time.Sleep(1600 * time.Millisecond)
	var file, pos, x, y, gt string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y, &gt); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		obExec(t, db, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, REPEAT('x', 150))", o.db, i))
	}
	o.waitExecuted(t, 22)
	var file2, pos2 string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file2, &pos2, &x, &y, &gt); err != nil {
		t.Fatal(err)
	}
	if file2 != file || pos2 != pos {
		t.Errorf("SHOW MASTER STATUS right after writes moved from %s:%s to %s:%s; want it lagging", file, pos, file2, pos2)
	}
	time.Sleep(1600 * time.Millisecond)
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file2, &pos2, &x, &y, &gt); err != nil {
		t.Fatal(err)
	}
	if file2 == file && pos2 == pos {
		t.Errorf("SHOW MASTER STATUS still at %s:%s after the lag", file, pos)
	}
	rows, err := db.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for rows.Next() {
		var n, size string
		if err := rows.Scan(&n, &size); err != nil {
			t.Fatal(err)
		}
		files = append(files, n)
	}
	rows.Close()
	if len(files) < 3 {
		t.Fatalf("SHOW BINARY LOGS: %v; want rotation by size", files)
	}
	// each file starts with FORMAT_DESCRIPTION + PREVIOUS_GTIDS
	for _, f := range files {
		var types []replication.EventType
		_ = replication.NewBinlogParser().ParseFile(filepath.Join(o.cfg.StoreDir, f), 0, func(e *replication.BinlogEvent) error {
			types = append(types, e.Header.EventType)
			return nil
		})
		if len(types) < 2 || types[0] != replication.FORMAT_DESCRIPTION_EVENT || types[1] != replication.PREVIOUS_GTIDS_EVENT {
			t.Errorf("%s starts with %v", f, types)
		}
	}
	// purge by size keeps the newest files
	if gone := o.srv.Purge(0, 4000, ""); len(gone) == 0 {
		t.Errorf("purge by size removed nothing")
	}
	if gone := o.srv.Purge(time.Nanosecond, 0, ""); len(gone) == 0 {
		t.Errorf("purge by age removed nothing")
	}

	// restart: changes made while the stand-in is down are converted once, in order
	before := o.srv.Executed().String()
	o.srv.Close()
	mustDirect := harness.OpenMariaDB(t, o.db)
	for i := 100; i < 105; i++ {
		if _, err := mustDirect.Exec(fmt.Sprintf("INSERT INTO t VALUES (%d, 'down')", i)); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := obstandin.Start(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	o.srv = s2
	// 22 + OpenMariaDB's CREATE DATABASE IF NOT EXISTS + 5 inserts
	exec := o.waitExecuted(t, 28)
	if !strings.HasSuffix(exec.String(), ":1-28") {
		t.Errorf("after restart executed %s (before %s), want exactly 1-28", exec, before)
	}
	time.Sleep(500 * time.Millisecond)
	if e := o.srv.Executed().String(); e != exec.String() {
		t.Errorf("executed grew to %s: a transaction converted twice?", e)
	}
}

func TestObStandinOldVariables(t *testing.T) {
	o := startObStandin(t, func(c *obstandin.Config) { c.OldVariables = true })
	c, err := client.Connect(o.srv.BinlogAddr(), obUser, "any password", "")
	if err != nil {
		t.Fatalf("binlog role takes any password: %v", err)
	}
	defer c.Close()
	if v := c.GetServerVersion(); v != obstandin.BinlogVersion {
		t.Errorf("handshake version %q", v)
	}
	if _, err := c.Execute("SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'"); err == nil || !strings.Contains(err.Error(), "1236") ||
		!strings.Contains(err.Error(), "Unknown system variable binlog_checksum") {
		t.Errorf("binlog_checksum in the old variable table: %v", err)
	}
	// a global variable asked at session level (SHOW SESSION VARIABLES) is an error there;
	// without a modifier it is a global read (ShowStatement's var_type defaults to Global)
	if _, err := c.Execute("SHOW SESSION VARIABLES LIKE 'gtid_mode'"); err == nil || !strings.Contains(err.Error(), "is a GLOBAL variable") {
		t.Errorf("SHOW SESSION VARIABLES LIKE 'gtid_mode': %v", err)
	}
	if r, err := c.Execute("SHOW VARIABLES LIKE 'server_id'"); err != nil {
		t.Errorf("SHOW VARIABLES LIKE 'server_id' (Canal's queryServerId): %v", err)
	} else if v, _ := r.GetString(0, 1); v == "" {
		t.Errorf("SHOW VARIABLES LIKE 'server_id' = %q", v)
	}
	if r, err := c.Execute("SELECT @@global.gtid_mode AS m"); err != nil || r.Fields[0].Name == nil || string(r.Fields[0].Name) != "@@gtid_mode" {
		t.Errorf("SELECT @@global.gtid_mode AS m: %v (column named @@gtid_mode, alias ignored)", err)
	}
	r, err := c.Execute("SELECT @@version")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.GetString(0, 0); v != "8.0.23" {
		t.Errorf("@@version %q", v)
	}
	// go-mysql's registration reads BINLOG_CHECKSUM and gives up (spec: direct binlog_address risk)
	set, _ := gmysql.ParseMysqlGTIDSet("")
	if _, err := o.syncer(t, o.srv.BinlogAddr()).StartSyncGTID(set); err == nil {
		t.Errorf("BinlogSyncer registered against the old variable table")
	}
	// TLS is not offered
	tc, err := client.Connect(o.srv.BinlogAddr(), obUser, "x", "", func(c *client.Conn) error { c.UseSSL(true); return nil })
	if err == nil {
		tc.Close()
		t.Errorf("TLS connection to the binlog role succeeded")
	}
	// no tenant in the user name
	if c2, err := client.Connect(o.srv.BinlogAddr(), "ferry", "", ""); err == nil {
		c2.Close()
		t.Errorf("binlog role accepted a user name without tenant")
	}
}

// TestObStandinTestbed checks the stand-in `make up` started (env.sh FERRY_OB_*).
func TestObStandinTestbed(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB, harness.OBStandin)
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = env.OBUser, env.OBPassword, "tcp", env.OBAddr
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT VERSION()").Scan(&v); err != nil || v != obstandin.ODPVersion {
		t.Fatalf("VERSION() through %s: %q, %v", env.OBAddr, v, err)
	}
	if err := db.QueryRow("SELECT @@gtid_mode").Scan(&v); err != nil || v != "ON" {
		t.Errorf("@@gtid_mode: %q, %v", v, err)
	}
	c, err := client.Connect(env.OBBinlogAddr, env.OBUser, env.OBPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Execute("SHOW MASTER STATUS"); err != nil {
		t.Errorf("SHOW MASTER STATUS on the binlog role: %v", err)
	}
}
