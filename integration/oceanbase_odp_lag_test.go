//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/obstandin"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestOceanBaseODPLaggingMasterStatus: the Binlog Service's SHOW MASTER STATUS lags real
// writes (goInception PR #619; the stand-in shows the state of 2 s ago). ferry uses it only as
// the start point and hands the snapshot over with watermark rows, so a start under writes,
// through ODP, loses and reorders nothing.
func TestOceanBaseODPLaggingMasterStatus(t *testing.T) {
	o := startObStandin(t, func(c *obstandin.Config) { c.MasterStatusLag = 2 * time.Second })
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	bin := ferryBinary(t)
	h := harness.OpenMariaDB(t, o.db)
	ctx := context.Background()
	w := &verify.Workload{DB: h, Table: "t", Keys: 200, Rate: 150, Workers: 3}
	if err := w.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Prefill(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, 0) }()
	time.Sleep(time.Second) // writes in the window SHOW MASTER STATUS does not show yet

	topic := harness.UniqueName("ferry_ob_lag")
	harness.CreateTopic(t, env.RMQ5(), topic, 4)
	cfg := obPipelineAt(t, env, o.srv.ODPAddr(), t.TempDir(), "oblag", o.srv.ODPAddr(), []string{o.db + ".t"}, topic, `chunk_size = 100`)
	f := startFerry(t, bin, cfg, []string{"OB_PASSWORD=" + env.OBPassword}, "--no-precheck")
	f.waitWritten(1000, 90*time.Second)
	time.Sleep(3 * time.Second)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := verify.NewConsumer(env.RMQ5().NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// no Initial: the keys changed before ferry started; every key's events must still be
	// gapless and in order from its first one (a snapshot row or a change), and end in the
	// table's state
	s, err := verify.Until(vctx, c, h, "canal", []verify.Table{{DB: o.db, Name: "t", Key: []string{"id"}, Version: "ver"}}, 3*time.Second)
	t.Logf("lagging SHOW MASTER STATUS: %s", s)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	_ = f.stop(30 * time.Second)
}

// TestOceanBaseODPPurgedPosition: when the Binlog Service has purged the files a stopped
// pipeline's saved GTID set needs (it purges by age and by size), the dump fails with "The
// requested gtid transaction no longer exists". ferry must stop with an error that says so and
// names the position, not retry forever or start over silently.
func TestOceanBaseODPPurgedPosition(t *testing.T) {
	o := startObStandin(t, nil)
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	bin := ferryBinary(t)
	h := harness.OpenMariaDB(t, o.db)
	execAll(t, h, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 1)")
	o.waitExecuted(t, 2)
	topic := harness.UniqueName("ferry_ob_purged")
	harness.CreateTopic(t, env.RMQ5(), topic, 2)
	cfg := obPipelineAt(t, env, o.srv.ODPAddr(), t.TempDir(), "obpurged", o.srv.ODPAddr(), []string{o.db + ".t"}, topic, `mode = "incremental"`)
	pw := []string{"OB_PASSWORD=" + env.OBPassword}
	f := startFerry(t, bin, cfg, pw, "--no-precheck")
	// mode incremental starts at the end of the log when Open runs: write until a change arrives
	for deadline := time.Now().Add(60 * time.Second); ; {
		execAll(t, h, "UPDATE t SET v = v + 1")
		if st, err := f.status(); err == nil && st.RecordsWritten > 0 {
			break
		}
		if f.exited() || time.Now().After(deadline) {
			t.Fatalf("no change delivered: %v\n%s", f.err, tail(f.logs.String(), 2000))
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(time.Second) // checkpointed
	if err := f.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// while ferry is stopped: more changes, a new file, and the older files purged
	// (each converted before the next step: a rotation before them would leave the
	// saved position in the kept file, and nothing would be lost)
	seq := obMaxSeq(o.srv.Executed())
	execAll(t, h, "UPDATE t SET v = 100", "UPDATE t SET v = 101")
	o.waitExecuted(t, seq+2)
	if err := o.srv.Rotate(); err != nil {
		t.Fatal(err)
	}
	execAll(t, h, "UPDATE t SET v = 102")
	o.waitExecuted(t, seq+3)
	var newest string
	if err := o.odp(t).QueryRow("SHOW MASTER STATUS").Scan(&newest, new(string), new(string), new(string), new(string)); err != nil {
		t.Fatal(err)
	}
	if gone := o.srv.Purge(0, 0, newest); len(gone) == 0 {
		t.Fatalf("nothing purged before %s", newest)
	}
	f = startFerry(t, bin, cfg, pw, "--no-precheck")
	select {
	case <-f.done:
	case <-time.After(90 * time.Second):
		f.kill()
		t.Fatalf("ferry did not stop on a purged position:\n%s", tail(f.logs.String(), 3000))
	}
	logs := f.logs.String()
	t.Logf("ferry: %v\n%s", f.err, tail(logs, 1500))
	if f.err == nil {
		t.Fatal("ferry exited 0 on a purged position")
	}
	for _, want := range []string{"no longer exists", "purged"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the error does not say %q", want)
		}
	}
}

// TestOceanBaseDirectBinlogOldVariables: a Binlog Service reached directly whose variable
// table lacks binlog_checksum (oblogproxy of 2024) refuses the question go-mysql's replication
// client asks when it registers. ferry rewrites that one question and streams: snapshot, then
// changes, through the direct role (binlog_address = the Binlog Service, address = ODP).
func TestOceanBaseDirectBinlogOldVariables(t *testing.T) {
	o := startObStandin(t, func(c *obstandin.Config) { c.OldVariables = true })
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ5)
	bin := ferryBinary(t)
	h := harness.OpenMariaDB(t, o.db)
	execAll(t, h, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	o.waitExecuted(t, 2)
	topic := harness.UniqueName("ferry_ob_oldvars")
	harness.CreateTopic(t, env.RMQ5(), topic, 2)
	cfg := obPipelineAt(t, env, o.srv.ODPAddr(), t.TempDir(), "oboldvars", o.srv.BinlogAddr(), []string{o.db + ".t"}, topic, `binlog_tls = "disabled"`)
	f := startFerry(t, bin, cfg, []string{"OB_PASSWORD=" + env.OBPassword}, "--no-precheck")
	f.waitWritten(2, 60*time.Second)
	execAll(t, h, "INSERT INTO t VALUES (3, 'c')", "UPDATE t SET v = 'z' WHERE id = 1", "DELETE FROM t WHERE id = 2")
	f.waitWritten(5, 60*time.Second)
	c, err := verify.NewConsumer(env.RMQ5().NameServer, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := verify.Until(vctx, c, h, "canal", []verify.Table{{DB: o.db, Name: "t", Key: []string{"id"}}}, 2*time.Second)
	if err != nil || !s.OK() {
		t.Fatalf("verifier: %v\n  %s\n%s", err, strings.Join(s.Problems, "\n  "), tail(f.logs.String(), 3000))
	}
	_ = f.stop(30 * time.Second)
}
