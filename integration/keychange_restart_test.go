//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// TestKeyChangeKill9: key moves and re-inserts of the old key by 4 writers while ferry is
// killed (kill -9) and restarted several times. The halves of a key change read again after a
// restart carry their original ids, and per-key order holds for both keys across the
// restarts (verify.CheckMoves, over the first copy of each change).
func TestKeyChangeKill9(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	broker := env.RMQ5()
	harness.RequireTestbed(t, broker.Component())
	bin := ferryBinary(t)
	for _, format := range []string{"canal", "debezium"} {
		t.Run(format, func(t *testing.T) {
			dbName := "ferry_kc_kill_" + format
			harness.DropDatabase(t, dbName)
			db := harness.OpenMariaDB(t, dbName)
			w := &verify.MoveWorkload{DB: db, Table: "moves", Workers: 4, Pairs: 4, Rounds: pick(100, 300)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := w.CreateTable(ctx); err != nil {
				t.Fatal(err)
			}
			topic := harness.UniqueName("ferry_kc_kill_" + format)
			harness.CreateTopic(t, broker, topic, 8)
			dir := t.TempDir()
			cfg := fmt.Sprintf(`pipeline "kckill" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("KC_DB_PASSWORD")
    tables    = [%q]
    server_id = %d
    heartbeat_interval = "500ms"
  }
  serializer %q {}
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  runtime {
    writers       = 4
    batch_timeout = "5ms"
  }
  checkpoint {
    dir      = %q
    interval = "300ms"
  }
}
`, env.MariaDBAddr, env.MariaDBUser, dbName+".moves", 7600+len(format), format, broker.NameServer, topic, filepath.Join(dir, "cp"))
			path := filepath.Join(dir, "p.hcl")
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			pw := []string{"KC_DB_PASSWORD=" + env.MariaDBPassword}
			f := startFerry(t, bin, path, pw)
			execAll(t, db, "INSERT INTO moves VALUES (0, 0)") // the stream runs once this arrives
			harness.Collect(t, broker, topic, 1, 60*time.Second)

			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			// kill -9 each time the writers passed another share of their statements
			total := w.Workers * w.Pairs * w.Rounds * 4
			nKills := pick(4, 10)
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			kills := 0
		loop:
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					break loop
				case <-time.After(5 * time.Millisecond):
				}
				if kills < nKills && w.Statements() >= (kills+1)*total/(nKills+1) {
					time.Sleep(time.Duration(rng.Intn(100)) * time.Millisecond)
					f.kill()
					kills++
					f = startFerry(t, bin, path, pw, "--no-precheck")
				}
			}
			if kills < nKills {
				t.Fatalf("only %d of %d kills before the writers finished", kills, nKills)
			}
			moves := w.Moves()
			// a move is two messages; the marker row adds its insert unless only its snapshot row
			// carried it
			want := w.Statements() + len(moves)
			c, err := verify.NewConsumer(broker.NameServer, topic)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// distinct changes: snapshot rows read again after a restart (whose checkpoint
			// predates the snapshot's end) carry ids of their own read and are not counted
			distinct := func() int {
				ids := map[string]bool{}
				for _, m := range c.Messages() {
					if id := m.Properties[verify.PropID]; !strings.HasPrefix(id, "snapshot:") || id == "" {
						ids[id] = true
					}
				}
				return len(ids)
			}
			for deadline := time.Now().Add(2 * time.Minute); (distinct() < want+1 || c.Quiet() < 3*time.Second) && !(distinct() >= want && c.Quiet() > 6*time.Second) && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
			}
			if err := f.stop(30 * time.Second); err != nil {
				t.Fatalf("stop: %v\n%s", err, tail(f.logs.String(), 3000))
			}
			table, err := verify.ReadVersions(ctx, db, "moves")
			if err != nil {
				t.Fatal(err)
			}
			msgs := c.Messages()
			s := verify.CheckMoves(format, msgs, table, moves)
			t.Logf("%s: %d statements (%d key moves), %d kills; %d messages (%d distinct changes, want %d), %d keys, %d snapshot rows read again, %d violations",
				format, w.Statements(), len(moves), kills, len(msgs), distinct(), want, s.Keys, s.RepeatSnapshot, len(s.Violations))
			if d := distinct(); d != want && d != want+1 {
				t.Errorf("%d distinct changes delivered, want %d (and the marker's insert)", d, want)
			}
			if !s.OK() {
				t.Fatalf("%d violations:\n%s", len(s.Violations), strings.Join(s.Violations, "\n"))
			}
		})
	}
}
