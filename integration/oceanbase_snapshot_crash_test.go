//go:build integration

package integration

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// TestOceanBaseSnapshotCrash simulates kill -9 of ferry during the snapshot phase (mode both)
// with concurrent versioned writes: a run reads some batches (all of them count as delivered,
// as they would have reached the broker), then "crashes" — the position it resumes from is
// that of an earlier batch (the checkpoint), everything read after it is delivered again by
// the next run. Each scenario crashes twice at random batch boundaries (before, inside or
// after chunks read concurrently), then runs to the end of the snapshot and the stream.
// Checked per key, as the chaos verifier does: no version is skipped, none goes backwards,
// the last state equals the table, and a change delivered twice carries the same id and the
// same content (a re-read snapshot row with new content must carry a new id).
func TestOceanBaseSnapshotCrash(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB)
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("FERRY_SNAPCRASH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("FERRY_SNAPCRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < runs; i++ {
		sc := snapCrashScenario{
			rows:       20000,
			chunk:      []int64{512, 1024, 2048}[rng.Intn(3)],
			batch:      []int64{100, 256, 1024}[rng.Intn(3)],
			crashRows:  []int{500 + rng.Intn(6000), 500 + rng.Intn(8000)},
			checkpoint: []float64{rng.Float64(), rng.Float64()},
		}
		t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) { sc.run(t) })
	}
}

type snapCrashScenario struct {
	rows       int
	chunk      int64
	batch      int64
	crashRows  []int     // per crashing run: snapshot rows read before the crash
	checkpoint []float64 // per crashing run: which earlier batch is the checkpoint (0 = the first, 1 = the last read)
}

func (sc snapCrashScenario) run(t *testing.T) {
	name := fmt.Sprintf("ferry_snapcrash_%d", rand.Intn(1_000_000))
	h := harness.OpenMariaDB(t, name)
	t.Cleanup(func() { harness.DropDatabase(t, name) })
	ctx := context.Background()
	wl := &verify.Workload{DB: h, Table: "t", Keys: sc.rows + sc.rows/4, Rate: 1500, Workers: 4}
	if err := wl.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, h, "CREATE TABLE marker (id INT PRIMARY KEY)")
	if err := wl.Prefill(ctx, sc.rows); err != nil {
		t.Fatal(err)
	}
	initial := wl.Versions()
	t.Logf("chunk_size %d, batch_size %d, crashes after %v snapshot rows, checkpoints at %.2f", sc.chunk, sc.batch, sc.crashRows, sc.checkpoint)
	cfg := obConfig(t, map[string]any{"tables": []string{name + ".t", name + ".marker"}, "mode": "both",
		"snapshot_concurrency": 4, "chunk_size": sc.chunk, "batch_size": sc.batch, "watermark_database": name})

	var delivered []*change.Change
	var pos change.Position
	src := openOB(t, cfg, nil)
	wctx, stopWL := context.WithCancel(ctx)
	wlDone := make(chan error, 1)
	go func() { wlDone <- wl.Run(wctx, 0) }()
	defer stopWL()

	for i, n := range sc.crashRows {
		bs := readUntil(t, src, 2*time.Minute, func(bs []*change.Batch) bool {
			snap := 0
			for _, c := range rowChanges(bs) {
				if c.Op == change.OpSnapshot {
					snap++
				}
			}
			return snap >= n
		})
		for _, b := range bs {
			delivered = append(delivered, b.Changes...)
		}
		// The checkpoint: the position of one of the batches read (or the run's start).
		// At least one batch: with no checkpoint at all a restart is a fresh start at the
		// binlog's end, and what the crashed run delivered is not a prefix of its stream.
		k := 1 + int(sc.checkpoint[i]*float64(len(bs)))
		if k > len(bs) {
			k = len(bs)
		}
		pos = bs[k-1].Position
		t.Logf("run %d: %d batches read, crash; checkpoint after batch %d", i+1, len(bs), k)
		_ = src.Close(ctx) // nothing is drained
		src = openOB(t, cfg, pos)
	}

	// Let the snapshot end under load, then stop the writes and read to a marker row.
	lastSnap, seen := time.Now(), 0
	bs := readUntil(t, src, 3*time.Minute, func(bs []*change.Batch) bool {
		if snapshotDone(src) {
			return true
		}
		for _, b := range bs[seen:] {
			for _, c := range b.Changes {
				if c.Op == change.OpSnapshot {
					lastSnap = time.Now()
				}
			}
		}
		seen = len(bs)
		if time.Since(lastSnap) > 15*time.Second {
			t.Errorf("the snapshot does not report done: %+v", src.Progress())
			return true
		}
		return false
	})
	for _, b := range bs {
		delivered = append(delivered, b.Changes...)
	}
	stopWL()
	if err := <-wlDone; err != nil {
		t.Fatalf("workload: %v", err)
	}
	mustExec(t, h, "INSERT INTO marker VALUES (1)")
	bs = readUntil(t, src, 2*time.Minute, func(bs []*change.Batch) bool {
		for _, c := range rowChanges(bs) {
			if c.TableName == "marker" && c.Op == change.OpInsert {
				return true
			}
		}
		return false
	})
	for _, b := range bs {
		delivered = append(delivered, b.Changes...)
	}
	t.Logf("workload committed %d changes; %d changes delivered", wl.Committed(), len(delivered))

	table := map[string][2]string{}
	rows, err := h.Query("SELECT id, ver, pad FROM t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, ver, pad string
		if err := rows.Scan(&id, &ver, &pad); err != nil {
			t.Fatal(err)
		}
		table[id] = [2]string{ver, pad}
	}
	rows.Close()
	if probs := checkVersioned(delivered, initial, table); len(probs) > 0 {
		for i, p := range probs {
			if i == 40 {
				t.Errorf("... %d more", len(probs)-i)
				break
			}
			t.Error(p)
		}
	}
}

func snapshotDone(src *oceanbase.Source) bool {
	ps := src.Progress()
	if len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		if !p.Done {
			return false
		}
	}
	return true
}

// checkVersioned replays the delivered changes of table t per key, like the chaos verifier.
func checkVersioned(cs []*change.Change, initial map[string]int64, table map[string][2]string) []string {
	type keyState struct {
		ver     int64
		seen    bool
		deleted bool
		row     [2]string
	}
	type orig struct {
		op  change.Op
		row [3]string
	}
	var probs []string
	text := func(vals []change.Value) [3]string {
		return [3]string{string(vals[0].AppendText(nil, -1)), string(vals[1].AppendText(nil, -1)), string(vals[2].AppendText(nil, -1))}
	}
	origs := map[string]orig{}
	st := map[string]*keyState{}
	for i, c := range cs {
		if !c.Op.IsRow() || c.TableName != "t" {
			continue
		}
		vals := c.After
		if c.Op == change.OpDelete {
			vals = c.Before
		}
		r := text(vals)
		if o, dup := origs[c.ID]; dup {
			if o.op == c.Op && o.row == r {
				continue
			}
			probs = append(probs, fmt.Sprintf("#%d: duplicate id %s with other content: %s %v, first %s %v", i, c.ID, c.Op, r, o.op, o.row))
		} else {
			origs[c.ID] = orig{op: c.Op, row: r}
		}
		key := r[0]
		k := st[key]
		if k == nil {
			k = &keyState{}
			st[key] = k
		}
		v, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			probs = append(probs, fmt.Sprintf("#%d: key %s: version %q", i, key, r[1]))
			continue
		}
		if c.Op == change.OpDelete {
			v++
		}
		prev, have := k.ver, k.seen
		if !have {
			prev, have = initial[key], true
			if c.Op == change.OpSnapshot && v == prev {
				have = false
			}
		}
		if have {
			switch {
			case v == prev+1:
			case v == prev && c.Op == change.OpSnapshot && !k.deleted && k.row == [2]string{r[1], r[2]}:
			case v <= prev:
				probs = append(probs, fmt.Sprintf("#%d: key %s: %s (id %s) version %d after version %d", i, key, c.Op, c.ID, v, prev))
				continue
			default:
				probs = append(probs, fmt.Sprintf("#%d: key %s: %s (id %s) version %d follows version %d: lost", i, key, c.Op, c.ID, v, prev))
			}
		}
		k.ver, k.seen, k.deleted, k.row = v, true, c.Op == change.OpDelete, [2]string{r[1], r[2]}
	}
	for key, row := range table {
		k := st[key]
		switch {
		case k == nil || !k.seen:
			probs = append(probs, fmt.Sprintf("key %s: in the table %v, never delivered", key, row))
		case k.deleted:
			probs = append(probs, fmt.Sprintf("key %s: in the table %v, last change a delete", key, row))
		case k.row != row:
			probs = append(probs, fmt.Sprintf("key %s: table %v, last change %v", key, row, k.row))
		}
	}
	for key, k := range st {
		if _, ok := table[key]; k.seen && !k.deleted && !ok {
			probs = append(probs, fmt.Sprintf("key %s: ghost: last change %v, not in the table", key, k.row))
		}
	}
	if len(probs) > 0 {
		// losses, ghosts and reordering first, then duplicates with other content
		var first, dups []string
		for _, p := range probs {
			if strings.Contains(p, "duplicate id") {
				dups = append(dups, p)
			} else {
				first = append(first, p)
			}
		}
		probs = append([]string{fmt.Sprintf("%d problems (%d duplicates with other content)", len(probs), len(dups))}, append(first, dups...)...)
	}
	return probs
}
