package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gosql "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func TestSessionParamsByServer(t *testing.T) {
	ob, req := sessionParamsFor("5.7.25-OceanBase_CE-v4.2.1.2", 2*time.Hour)
	if ob["ob_query_timeout"] != "7200000000" || ob["ob_trx_timeout"] != "7200000000" || ob["ob_read_consistency"] != "'STRONG'" || !req["ob_read_consistency"] {
		t.Errorf("OceanBase: %v %v", ob, req)
	}
	if _, ok := ob["max_execution_time"]; ok {
		t.Errorf("OceanBase gets MySQL's variable: %v", ob)
	}
	mdb, _ := sessionParamsFor("10.11.19-MariaDB-0+deb12u1-log", 90*time.Minute)
	if len(mdb) != 1 || mdb["max_statement_time"] != "5400" {
		t.Errorf("MariaDB: %v", mdb)
	}
	my, _ := sessionParamsFor("8.0.36", 1500*time.Millisecond)
	if len(my) != 1 || my["max_execution_time"] != "1500" {
		t.Errorf("MySQL: %v", my)
	}
}

// A table whose primary key holds a FLOAT (or ENUM, SET, JSON) is chunked on another unique
// NOT NULL key when it has one; without one it stays one chunk.
func TestChunkOnAnotherUniqueKey(t *testing.T) {
	cols := []change.Column{
		{Name: "f", Type: "FLOAT", ColumnType: "float"},
		{Name: "e", Type: "ENUM", ColumnType: "enum('a','b')", Elems: []string{"a", "b"}},
		{Name: "n", Type: "INT", ColumnType: "int(11)"},
		{Name: "m", Type: "INT", ColumnType: "int(11)", Nullable: true},
	}
	tb := newTable(&change.Table{Database: "d", Name: "t", Columns: cols, PrimaryKey: []int{0, 1},
		UniqueKeys: [][]int{{3}, {2}}}, 0)
	if fmt.Sprint(tb.key) != "[0 1]" || fmt.Sprint(tb.chunkKey) != "[2]" || !chunkable(tb) {
		t.Errorf("key %v chunk key %v", tb.key, tb.chunkKey)
	}
	tb = newTable(&change.Table{Database: "d", Name: "t", Columns: cols, PrimaryKey: []int{0, 1}, UniqueKeys: [][]int{{3}}}, 0)
	if chunkable(tb) && tb.chunkKey != nil {
		t.Errorf("no other usable key, yet chunk key %v", tb.chunkKey)
	}
}

func TestTransientOceanBaseErrors(t *testing.T) {
	for _, err := range []error{
		&gosql.MySQLError{Number: 4012, Message: "Timeout, query has reached the maximum query timeout"},
		&gosql.MySQLError{Number: 4038, Message: "Not master"},
		&gosql.MySQLError{Number: 6002, Message: "Transaction rollbacked"},
		&gosql.MySQLError{Number: uint16(0x10000 - 4038), Message: "x"}, // -4038 as a client prints it
		errors.New("Error -4038: OB_NOT_MASTER"),
		errors.New("ERROR 2013 (HY000): MySQL server has gone away"),
		fmt.Errorf("snapshot: %w", &gosql.MySQLError{Number: 4012, Message: "Timeout"}),
	} {
		if !transient(err) {
			t.Errorf("%v not retried", err)
		}
	}
	for _, err := range []error{
		&gosql.MySQLError{Number: 1146, Message: "Table doesn't exist"},
		&gosql.MySQLError{Number: 1064, Message: "syntax"},
		errors.New("Error 1054: Unknown column 'x'"),
		sdk.Permanent(errors.New("read table: EOF")), // permanent wins over the text
		nil,
	} {
		if transient(err) {
			t.Errorf("%v retried", err)
		}
	}
}

func TestFlashbackIsDDL(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{"FLASHBACK TABLE t1 TO BEFORE DROP", "shop.t1"},
		{"flashback table `other`.`t 2` to before drop", "other.t 2"},
		{"FLASHBACK TABLE t1 TO BEFORE DROP RENAME TO t9", "shop.t9"},
		{"FLASHBACK TABLE shop.t1 TO BEFORE DROP RENAME TO x.t9", "x.t9"},
	} {
		info := classifyQuery("shop", c.q)
		if !info.isDDL || len(info.tables) != 1 || info.tables[0].String() != c.want ||
			len(info.renamedTo) != 1 || info.renamedTo[0].String() != c.want || len(info.renamed) != 0 {
			t.Errorf("%q: %+v", c.q, info)
		}
	}
	if info := classifyQuery("shop", "FLASHBACK DATABASE d TO BEFORE DROP"); info.isDDL && len(info.tables) > 0 {
		t.Errorf("FLASHBACK DATABASE: %+v", info)
	}
}

// One TABLE_MAP per row (the Binlog Service's shape) costs one schema check, not one per row;
// a TABLE_MAP with other column types under the same table id is checked again.
func TestTableMapPerRowCheckedOnce(t *testing.T) {
	s := New()
	s.flavor, s.gtidMode = mysql.MySQLFlavor, true
	tb := obTable()
	s.tables = map[string]*table{"shop.m": tb}
	s.bl = &binlog{file: "mysql-bin.000001", pos: 4, gsetFull: true}
	s.bl.gset, _ = mysql.ParseMysqlGTIDSet("")
	p := testParser()
	eb := evb{pos: 4}
	ts := uint32(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Unix())
	feed := func(data []byte) error {
		ev, err := p.Parse(data)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return s.handle(context.Background(), ev)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(feed(eb.event(replication.FORMAT_DESCRIPTION_EVENT, ts, formatDescription())))
	must(feed(eb.event(replication.GTID_EVENT, ts, gtidEvent(1))))
	must(feed(eb.event(replication.QUERY_EVENT, ts, queryEvent("shop", "BEGIN"))))
	const n = 500
	for i := 0; i < n; i++ {
		must(feed(eb.event(replication.TABLE_MAP_EVENT, ts, obTableMap())))
		must(feed(eb.event(replication.WRITE_ROWS_EVENTv2, ts, obRowsEvent(obRow{id: int64(i), f: 1, g: []byte("a"), l: []byte("b"), u: []byte{0, 'c'}}))))
	}
	must(feed(eb.event(replication.XID_EVENT, ts, xid(1))))
	if len(s.out) != n || s.mapChecks != 1 {
		t.Fatalf("%d rows, %d TABLE_MAP checks (want %d, 1)", len(s.out), s.mapChecks, n)
	}
	// the same table id with a BLOB (same metadata size) where the schema has the FLOAT
	// column: checked again, refused
	bad := obTableMap()
	bad[bytesIndex(bad, mysql.MYSQL_TYPE_DOUBLE)] = mysql.MYSQL_TYPE_BLOB
	ev, err := p.Parse(eb.event(replication.TABLE_MAP_EVENT, ts, bad))
	if err != nil {
		t.Fatal(err)
	}
	err = s.checkTableMap(tb, ev.Event.(*replication.TableMapEvent))
	if !errors.Is(err, ErrSchemaOutOfStep) || s.mapChecks != 2 {
		t.Fatalf("changed TABLE_MAP: err %v, checks %d", err, s.mapChecks)
	}
}

func bytesIndex(b []byte, x byte) int {
	// the column types follow the column count (5) after the names
	i := strings.Index(string(b), string([]byte{5, mysql.MYSQL_TYPE_LONGLONG}))
	for j := i + 2; j < len(b); j++ {
		if b[j] == x {
			return j
		}
	}
	return -1
}

func TestStandbyRoleUnreadableOnOceanBase(t *testing.T) {
	c := StandbyVerdict(StandbyInfo{RoleErr: "Error 1142: SELECT command denied to user 'u' for table 'DBA_OB_TENANTS'"})
	if c.Status != StatusWarn || !strings.Contains(c.Detail, "DBA_OB_TENANTS") {
		t.Errorf("access error on DBA_OB_TENANTS: %+v", c)
	}
	if c := StandbyVerdict(StandbyInfo{TenantRole: "STANDBY"}); c.Status != StatusFail {
		t.Errorf("standby: %+v", c)
	}
}

func TestBinlogServiceRetentionWarns(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	pass := RetentionVerdict(ModeIncremental, 0, false, now.Add(-30*24*time.Hour), now)
	if pass.Status != StatusPass {
		t.Fatalf("base verdict %+v", pass)
	}
	c := BinlogServiceRetention(pass, []binlogFile{{"mysql-bin.000001", 512 << 20}, {"mysql-bin.000002", 512 << 20}})
	if c.Status != StatusWarn || !strings.Contains(c.Detail, "binlog_expire_logs_size") || !strings.Contains(c.Detail, "2 files, 1.0 GiB") {
		t.Errorf("Binlog Service retention: %+v", c)
	}
	fail := RetentionVerdict(ModeIncremental, time.Hour, true, time.Time{}, now)
	if c := BinlogServiceRetention(fail, nil); c.Status != StatusFail {
		t.Errorf("a failure stays one: %+v", c)
	}
}

func TestBinlogTLSUsesBinlogHost(t *testing.T) {
	c := defaultConfig()
	c.Address, c.BinlogAddress, c.User, c.Tables, c.TLS = "odp.example:2883", "binlog.example:2983", "u@t#c", []string{"d.t"}, tlsVerify
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	if c.BinlogTLS != tlsVerify || c.tlsConfig().ServerName != "odp.example" || c.binlogTLSConfig().ServerName != "binlog.example" {
		t.Errorf("binlog_tls %q, SQL server name %q, binlog server name %q", c.BinlogTLS, c.tlsConfig().ServerName, c.binlogTLSConfig().ServerName)
	}
	c.BinlogTLS = tlsDisabled
	if err := c.check(); err != nil || c.binlogTLSConfig() != nil || c.tlsConfig() == nil {
		t.Errorf("binlog_tls disabled with tls verify: %v", err)
	}
	c.BinlogTLS = "maybe"
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "binlog_tls") {
		t.Errorf("bad binlog_tls accepted: %v", err)
	}
	if q := sqlString(`a'b\c`); q != `'a\'b\\c'` {
		t.Errorf("sqlString: %s", q)
	}
}

func TestBinlogUserForm(t *testing.T) {
	for in, want := range map[string]string{
		"ferry@t1#c1": "ferry@t1#c1", "c1:t1:ferry": "ferry@t1#c1", "ferry": "ferry", "a:b": "a:b", "ferry@t1": "ferry@t1",
	} {
		c := config{User: in}
		if got := c.binlogUser(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// A dump the server refuses (1236) is tried once more, then stops with ErrPurged when the log
// is gone; other errors without progress stop after maxReconnects.
func TestStreamFatal(t *testing.T) {
	s := New()
	s.cfg.BinlogAddress = "binlog:2883"
	s.bl = &binlog{file: "mysql-bin.000003", pos: 120, resume: position{File: "mysql-bin.000003", Pos: 120}}
	gone := &mysql.MyError{Code: 1236, Message: "The requested gtid transaction no longer exists and may have been cleaned up"}
	if err := s.streamFatal(gone); err != nil {
		t.Fatalf("first 1236: %v, want a reconnect", err)
	}
	err := s.streamFatal(gone)
	if !errors.Is(err, ErrPurged) || !strings.Contains(err.Error(), "mysql-bin.000003:120") || !strings.Contains(err.Error(), "binlog:2883") {
		t.Fatalf("second 1236: %v", err)
	}
	var perm interface{ Permanent() bool }
	if !errors.As(err, &perm) || !perm.Permanent() {
		t.Fatalf("%v is not permanent", err)
	}
	s.fatalStreak = 0
	other := &mysql.MyError{Code: 1236, Message: "A slave with the same server_uuid/server_id as this slave has connected to the master"}
	_ = s.streamFatal(other)
	if err := s.streamFatal(other); err == nil || errors.Is(err, ErrPurged) {
		t.Fatalf("other 1236: %v", err)
	}
	s.fatalStreak, s.errStreak = 0, 0
	lost := errors.New("connection reset by peer")
	for i := 1; i <= s.maxReconnects; i++ {
		s.errStreak++
		if err := s.streamFatal(lost); err != nil {
			t.Fatalf("error %d: %v", i, err)
		}
	}
	s.errStreak++
	if err := s.streamFatal(lost); err == nil {
		t.Fatal("no stop after maxReconnects errors without progress")
	}
}

// Snapshot marks: the first row overall is "first", each table's first "first_in_data_collection",
// the last row of the chunk completing a table "last_in_data_collection", the last row of the
// chunk completing the snapshot "last"; then a new snapshot (a table joining) begins again.
func TestSnapshotMarks(t *testing.T) {
	s := New()
	s.snap = &snapState{Tables: map[string]*tableProgress{}}
	ta := &table{t: &change.Table{Database: "db", Name: "a"}}
	tb := &table{t: &change.Table{Database: "db", Name: "b"}}
	rows := func(n int) []*change.Change {
		out := make([]*change.Change, n)
		for i := range out {
			out[i] = &change.Change{Op: change.OpSnapshot}
		}
		return out
	}
	marks := func(rs []*change.Change) []string {
		var out []string
		for _, c := range rs {
			out = append(out, c.Meta[change.MetaSnapshot])
		}
		return out
	}
	emit := func(tab *table, r keyRange, n int, finished bool) []string {
		s.snap = s.snap.withChunk(tab.name(), r, int64(n))
		rs := rows(n)
		s.queueSnapshotRows(&chunkWork{t: tab, r: r}, rs, position{File: "mysql-bin.000002", Pos: 400}, nil, finished)
		if rs[0].Meta[change.MetaBinlogFile] != "mysql-bin.000002" {
			t.Fatalf("snapshot rows without the binlog coordinates: %v", rs[0].Meta)
		}
		return marks(rs)
	}
	split := [][]byte{[]byte("100")}
	for _, c := range []struct {
		got, want []string
	}{
		{emit(ta, keyRange{Hi: split}, 3, false), []string{"first", "", ""}},
		{emit(tb, keyRange{}, 2, false), []string{"first_in_data_collection", "last_in_data_collection"}},
		{emit(ta, keyRange{Lo: split}, 2, true), []string{"", "last"}},
		// a table joining later starts a new snapshot: its only row is first overall
		{emit(&table{t: &change.Table{Database: "db", Name: "c"}}, keyRange{}, 1, false), []string{"first"}},
	} {
		if strings.Join(c.got, ",") != strings.Join(c.want, ",") {
			t.Errorf("marks %q, want %q", c.got, c.want)
		}
	}
}
