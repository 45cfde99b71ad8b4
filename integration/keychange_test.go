//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestKeyChangeOrder runs the real pipeline (MariaDB binlog -> ferry -> RocketMQ) once per
// format, alternating the 4.x and 5.x brokers, while 4 writers move rows between primary
// keys and insert the old key again at once (verify.MoveWorkload). The independent verifier
// checks per-key order for both keys of every move: the old key's stream shows the delete
// before the re-insert, the broker stored the old key's delete no later than the new key's
// insert, and no key ends in the wrong state.
func TestKeyChangeOrder(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	bin := ferryBinary(t)
	for i, format := range verify.Formats {
		broker := env.Brokers()[i%2]
		t.Run(format+"/"+broker.Version, func(t *testing.T) {
			harness.RequireTestbed(t, broker.Component())
			s := runKeyMoves(t, env, broker, bin, format, "split", 300+i)
			if !s.OK() {
				t.Fatalf("%d violations:\n%s", len(s.Violations), strings.Join(s.Violations, "\n"))
			}
		})
	}
}

// TestKeyChangeUpdateModeUnordered is the control: with key_change = "update" a key change
// is one UPDATE on the new key's queue, and the verifier must find the old key's stream
// without the row leaving.
func TestKeyChangeUpdateModeUnordered(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	bin := ferryBinary(t)
	broker := env.Brokers()[1]
	harness.RequireTestbed(t, broker.Component())
	s := runKeyMoves(t, env, broker, bin, "canal", "update", 320)
	if s.OK() {
		t.Fatal("the verifier found nothing wrong with key_change = \"update\"")
	}
	t.Logf("key_change = update: %d violations, first: %s", len(s.Violations), s.Violations[0])
}

func runKeyMoves(t *testing.T, env harness.Environment, broker harness.Broker, bin, format, mode string, serverID int) verify.MoveSummary {
	dbName := "ferry_kc_" + strings.ReplaceAll(format, "_", "")
	if mode != "split" {
		dbName += "_" + mode
	}
	harness.DropDatabase(t, dbName)
	db := harness.OpenMariaDB(t, dbName)
	w := &verify.MoveWorkload{DB: db, Table: "moves", Workers: 4, Pairs: 4, Rounds: 20}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	topic := harness.UniqueName("ferry_kc_" + strings.ReplaceAll(format, "_", ""))
	harness.CreateTopic(t, broker, topic, 8)

	extra := ""
	if format == "dataworks" {
		extra = `business_name = "ferry-kc"`
	}
	cfg := fmt.Sprintf(`pipeline "kc" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("KC_DB_PASSWORD")
    tables    = [%q]
    server_id = %d
    heartbeat_interval = "1s"
  }
  serializer %q {
    %s
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  runtime {
    writers       = 4
    batch_timeout = "5ms"
    key_change    = %q
  }
  checkpoint {
    dir      = "cp"
    interval = "200ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, dbName+".moves", serverID, format, extra, broker.NameServer, topic, mode)
	path := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--log-level", "warn", "run", path)
	cmd.Env = append(os.Environ(), "KC_DB_PASSWORD="+env.MariaDBPassword)
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
	// Wait for the (empty) snapshot to end and the stream to start: a marker row.
	execAll(t, db, "INSERT INTO moves VALUES (0, 0)")
	harness.Collect(t, broker, topic, 1, 60*time.Second)

	start := time.Now()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	moves := w.Moves()
	// Messages: one per statement, one more per move when split; DataWorks sends an update
	// as a BEFOR/AFTER pair (the plain updates, and the moves in update mode).
	want := 1 + w.Statements()
	plainUpdates := len(moves) // one plain update per move
	if mode == "split" {
		want += len(moves)
	}
	if format == "dataworks" {
		want += plainUpdates
		if mode != "split" {
			want += len(moves)
		}
	}
	msgs := harness.Collect(t, broker, topic, want, 120*time.Second)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ferry did not stop cleanly: %v\n%s", err, logs.String())
	}
	table, err := verify.ReadVersions(ctx, db, "moves")
	if err != nil {
		t.Fatal(err)
	}
	s := verify.CheckMoves(format, msgs, table, moves)
	lat := verify.Latencies(msgs)
	p50, p99 := time.Duration(0), time.Duration(0)
	if len(lat) > 0 {
		p50, p99 = verify.Percentile(lat, 50), verify.Percentile(lat, 99)
	}
	t.Logf("%s on %s, key_change=%s: %d statements (%d key moves) in %s by 4 writers; %d messages, %d keys checked, %d violations; commit-to-store latency p50 %s p99 %s",
		format, broker.Version, mode, w.Statements(), len(moves), elapsed.Round(time.Millisecond), s.Messages, s.Keys, len(s.Violations), p50, p99)
	return s
}
