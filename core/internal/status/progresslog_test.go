package status

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
)

// Without a terminal the snapshot's progress is logged: totals, percent, rate, ETA and the
// tables being read, then one "snapshot done" line; a snapshot already done at start logs
// nothing.
func TestLogProgress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	tr := NewTracker("orders", func() pipeline.Stats { return pipeline.Stats{} })
	tr.SetLogger(zap.New(core))
	pl := progressLog{every: 5 * time.Second}
	t0 := time.Now()
	set := func(at time.Time, ps ...sdk.SnapshotProgress) {
		tr.mu.Lock()
		tr.setProgressLocked(ps, at)
		tr.mu.Unlock()
		pl.log(tr, at)
	}
	set(t0, sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true},
		sdk.SnapshotProgress{Table: "shop.b", RowsRead: 0, RowsEstimated: 1000})
	set(t0.Add(2*time.Second), sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true},
		sdk.SnapshotProgress{Table: "shop.b", RowsRead: 200, RowsEstimated: 1000}) // not logged: within 5 s
	set(t0.Add(5*time.Second), sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true},
		sdk.SnapshotProgress{Table: "shop.b", RowsRead: 500, RowsEstimated: 1000})
	set(t0.Add(10*time.Second), sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true},
		sdk.SnapshotProgress{Table: "shop.b", RowsRead: 1000, RowsEstimated: 1000, Done: true})
	set(t0.Add(15*time.Second), sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true},
		sdk.SnapshotProgress{Table: "shop.b", RowsRead: 1000, RowsEstimated: 1000, Done: true})
	all := logs.All()
	if len(all) != 3 {
		t.Fatalf("%d lines: %v", len(all), all)
	}
	m := all[1].ContextMap()
	if all[1].Message != "snapshot progress" || m["tables_done"] != "1/2" || m["rows_read"] != int64(600) ||
		m["rows_estimated"] != int64(1100) || m["percent"] != "54.5%" || m["rows_per_second"] != float64(100) ||
		m["eta"] != 5*time.Second || m["reading"] != "shop.b 500/1000 50.0%" {
		t.Errorf("progress line %v", m)
	}
	m = all[2].ContextMap()
	if all[2].Message != "snapshot done" || m["tables"] != int64(2) || m["rows"] != int64(1100) || m["took"] != 10*time.Second ||
		m["rows_per_second"] != float64(100) {
		t.Errorf("done line %v", m)
	}

	// A restart after the snapshot finished: nothing to say.
	core2, logs2 := observer.New(zap.InfoLevel)
	tr.SetLogger(zap.New(core2))
	pl = progressLog{every: 5 * time.Second}
	set(t0, sdk.SnapshotProgress{Table: "shop.a", RowsRead: 100, RowsEstimated: 100, Done: true})
	if logs2.Len() != 0 {
		t.Errorf("logged %v", logs2.All())
	}
}
