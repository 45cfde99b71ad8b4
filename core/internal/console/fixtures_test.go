package console

import (
	"os"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

func f64(v float64) *float64 { return &v }

var now = time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)

func sampleProgress() *status.SnapshotProgress {
	return &status.SnapshotProgress{
		Tables: []status.TableProgress{
			{Table: "shop.customers", RowsRead: 52_000, RowsEstimated: 50_000, Percent: f64(100), Done: true, State: status.TableDone},
			{Table: "shop.orders", RowsRead: 1_180_000, RowsEstimated: 2_600_000, Percent: f64(45.38), State: status.TableReading},
			{Table: "shop.order_items", RowsRead: 12_000, RowsEstimated: 80_000, Percent: f64(15), State: status.TableReading},
			{Table: "shop.refunds", RowsEstimated: 9000, Percent: f64(0), State: status.TablePending},
		},
		TablesDone: 1, TablesTotal: 4, RowsRead: 1_244_000, RowsEstimated: 2_739_000, Percent: f64(45.42),
		RowsPerSecond: 12_345, ETASeconds: f64(121.4), UpdatedAt: now,
	}
}

func sampleSnapshotting() status.Snapshot {
	return status.Snapshot{
		Pipeline: "orders", Phase: status.PhaseRunning, Stage: status.StageSnapshot, StartedAt: now.Add(-time.Minute), Now: now,
		RowsPerSecond: 12_000, BytesPerSecond: 3 << 20, Snapshot: sampleProgress(),
	}
}

func sampleLive() status.Snapshot {
	p := sampleProgress()
	for i := range p.Tables {
		p.Tables[i].Done, p.Tables[i].State, p.Tables[i].Percent = true, status.TableDone, f64(100)
	}
	p.Done, p.TablesDone, p.Percent, p.ETASeconds = true, 4, f64(100), f64(0)
	return status.Snapshot{
		Pipeline: "orders", Phase: status.PhaseRunning, Stage: status.StageIncremental, StartedAt: now.Add(-time.Hour), Now: now,
		Position: "0a0b", SavedAt: now.Add(-2 * time.Second), LastCommitTime: now.Add(-40 * time.Millisecond),
		RowsPerSecond: 1234, BytesPerSecond: 467_000,
		Latency:   status.Latency{Samples: 4096, LastMs: 15, P50Ms: 12, P99Ms: 48},
		LastError: "send to broker 10.0.0.7:10911: broker busy,\n retrying", LastErrorAt: now.Add(-5 * time.Second),
		Snapshot: p,
	}
}

func openTemp(t interface{ TempDir() string }) (*os.File, error) {
	return os.CreateTemp(t.TempDir(), "out")
}
