//go:build integration

package integration

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// TestOceanBaseSourceStartTimestamp: mode incremental with start_timestamp starts at the
// first change committed at or after it, also across binlog files; a time older than the
// oldest retained binlog is a clear error.
func TestOceanBaseSourceStartTimestamp(t *testing.T) {
	db, h := obDB(t, "startts")
	mustExec(t, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	mustExec(t, h, "INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'a')", "UPDATE t SET v = 'a2' WHERE id = 1",
		"FLUSH BINARY LOGS", "INSERT INTO t VALUES (3, 'a')")
	// wait over a second boundary: binlog times have whole seconds
	last := time.Now()
	start := last.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start) + 50*time.Millisecond)
	mustExec(t, h, "INSERT INTO t VALUES (10, 'b')", "UPDATE t SET v = 'b' WHERE id = 1", "DELETE FROM t WHERE id = 2",
		"FLUSH BINARY LOGS", "INSERT INTO t VALUES (11, 'c')")

	for _, ts := range []string{start.UTC().Format(time.RFC3339), start.UTC().Format("2006-01-02 15:04:05")} {
		src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "start_timestamp": ts}), nil)
		got := rowChanges(readUntil(t, src, 5*time.Second, func(bs []*change.Batch) bool {
			return len(rowChanges(bs)) >= 4 || len(bs) > 8
		}))
		var desc []string
		for _, c := range got {
			img := c.After
			if img == nil {
				img = c.Before
			}
			desc = append(desc, c.Op.String()+":"+strconv.FormatInt(img[0].Int(), 10))
			if c.CommitTime.Before(start) {
				t.Errorf("%s: change committed at %v, before %v", ts, c.CommitTime, start)
			}
		}
		if strings.Join(desc, " ") != "insert:10 update:1 delete:2 insert:11" {
			t.Errorf("start_timestamp %s: got %v, want the 4 changes from id 10 on", ts, desc)
		}
		src.Close(context.Background())
	}

	// older than the oldest retained binlog
	src := oceanbase.New()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := src.Configure(ctx, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "start_timestamp": "2001-01-01T00:00:00Z"})); err != nil {
		t.Fatal(err)
	}
	err := src.Open(ctx, sdk.OpenRequest{Pipeline: "too-old"})
	src.Close(ctx)
	if !errors.Is(err, oceanbase.ErrTooOld) || !strings.Contains(err.Error(), "2001-01-01T00:00:00Z") {
		t.Fatalf("want ErrTooOld naming the time, got %v", err)
	}
	t.Logf("too old: %v", err)
}
