package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

func statusServer(t *testing.T, s status.Snapshot) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func f64(v float64) *float64 { return &v }

func TestStatusPrintsSnapshotProgress(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := status.Snapshot{
		Pipeline: "orders", Phase: status.PhaseRunning, Stage: status.StageSnapshot,
		StartedAt: now.Add(-90 * time.Second), Now: now,
		RecordsWritten: 1_244_000, BytesWritten: 300 << 20, RowsPerSecond: 12_345, BytesPerSecond: 3 << 20,
		Snapshot: &status.SnapshotProgress{
			Tables: []status.TableProgress{
				{Table: "shop.customers", RowsRead: 52_000, RowsEstimated: 50_000, Percent: f64(100), Done: true, State: status.TableDone},
				{Table: "shop.orders", RowsRead: 1_180_000, RowsEstimated: 2_600_000, Percent: f64(45.38), State: status.TableReading},
				{Table: "shop.order_items", RowsRead: 12_000, State: status.TableReading},
				{Table: "shop.refunds", RowsEstimated: 9000, Percent: f64(0), State: status.TablePending},
			},
			TablesDone: 1, TablesTotal: 4, RowsRead: 1_244_000, RowsEstimated: 2_659_000,
			RowsPerSecond: 12_345, UpdatedAt: now,
		},
	}
	code, out, errOut := runCLI(t, "status", "--addr", statusServer(t, s))
	if code != ExitOK {
		t.Fatalf("code %d: %s", code, errOut)
	}
	want := `pipeline         orders
phase            running, snapshot (up 1m30s)
checkpoint       none saved yet
changes read     0
written          1244000 records, 300.0 MiB
throughput       12345 rows/s, 3.0 MiB/s
latency          no incremental change delivered yet
retries          0
in flight        0 B
snapshot         1 of 4 tables done, 1,244,000 rows read of ~2,659,000 (percent unknown), 12345 rows/s
  TABLE                  ROWS    ESTIMATE  PERCENT  STATE
  shop.customers       52,000     ~50,000   100.0%  done
  shop.orders       1,180,000  ~2,600,000    45.4%  reading
  shop.order_items     12,000     unknown  unknown  reading
  shop.refunds              0      ~9,000     0.0%  pending
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	// Known estimates: the overall percent and the time left.
	s.Snapshot.Tables[2].RowsEstimated, s.Snapshot.Tables[2].Percent = 80_000, f64(15)
	s.Snapshot.Percent, s.Snapshot.ETASeconds = f64(45.42), f64(121.4)
	_, out, _ = runCLI(t, "status", "--addr", statusServer(t, s))
	if !strings.Contains(out, "snapshot         1 of 4 tables done, 1,244,000 rows read of ~2,659,000 (45.4%), 12345 rows/s, about 2m01s left\n") {
		t.Errorf("totals:\n%s", out)
	}

	// Done: no rate; incremental without a snapshot section prints no table.
	s.Snapshot.Done, s.Snapshot.Percent = true, f64(100)
	_, out, _ = runCLI(t, "status", "--addr", statusServer(t, s))
	if !strings.Contains(out, "rows read of ~2,659,000 (100.0%)\n") {
		t.Errorf("done:\n%s", out)
	}
	s.Snapshot, s.Stage = nil, status.StageIncremental
	_, out, _ = runCLI(t, "status", "--addr", statusServer(t, s))
	if strings.Contains(out, "TABLE") || !strings.Contains(out, "phase            running, incremental (up 1m30s)\n") {
		t.Errorf("incremental:\n%s", out)
	}
}

func TestStatusJSONHasSnapshotSection(t *testing.T) {
	s := status.Snapshot{Pipeline: "p", Phase: status.PhaseRunning, Snapshot: &status.SnapshotProgress{
		Tables: []status.TableProgress{{Table: "a.b", RowsRead: 3, State: status.TableReading}}, TablesTotal: 1,
	}}
	code, out, _ := runCLI(t, "status", "--json", "--addr", statusServer(t, s))
	if code != ExitOK || !strings.Contains(out, `"snapshot":{"tables":[{"table":"a.b","rows_read":3,"rows_estimated":0,"percent":null,"done":false,"state":"reading"}]`) {
		t.Errorf("code %d:\n%s", code, out)
	}
}

func TestStatusNoPipeline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	if code, _, errOut := runCLI(t, "status", "--addr", addr); code != ExitFailure || !strings.Contains(errOut, "no pipeline answers") {
		t.Errorf("code %d: %s", code, errOut)
	}
}

func TestStatusPrintsPositionText(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := status.Snapshot{Pipeline: "orders", Phase: status.PhaseRunning, StartedAt: now, Now: now, SavedAt: now,
		Position: "4f03001a6d7973716c2d62696e2e30303030303300000000126700", PositionText: "mysql-bin.000003:4711 gtid 0-1-42"}
	var b strings.Builder
	printStatus(&b, s)
	if !strings.Contains(b.String(), "checkpoint       mysql-bin.000003:4711 gtid 0-1-42 (saved 0s ago)") {
		t.Errorf("position not shown as text:\n%s", b.String())
	}
}

// `ferry status` prints the lease of a shared checkpoint store and the retention store, in
// words an operator reads at a glance: who is active, when writes stop, the rewind window,
// how full the store is and whether the reader waits.
func TestStatusPrintsLeaseAndRetention(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := status.Snapshot{Pipeline: "orders", Phase: status.PhaseRunning, StartedAt: now.Add(-time.Minute), Now: now}

	active := base
	active.Lease = &status.Lease{Store: "etcd 10.0.0.1:2379, keys /ferry/orders/", Role: status.RoleActive, LeaseTime: 10,
		FencedUntil: now.Add(7500 * time.Millisecond), Since: now.Add(-time.Minute)}
	active.Retention = &status.Retention{Oldest: now.Add(-2 * time.Hour), Newest: now.Add(-time.Second),
		Changes: 120000, Bytes: 256 << 20, MaxBytes: 1 << 30, DiskBytes: 200 << 20, LeadChanges: 42, LeadBytes: 10 << 10,
		SourcePositionText: "mysql-bin.000012:4096", Waiting: "max_bytes reached",
		LastRewind: &status.RewindResponse{To: now.Add(-time.Hour), At: now.Add(-5 * time.Minute)}}
	code, out, errOut := runCLI(t, "status", "--addr", statusServer(t, active))
	if code != ExitOK {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{
		"lease            active since 2026-03-01T11:59:00Z (etcd 10.0.0.1:2379, keys /ferry/orders/, lease 10s)\n",
		"                 writes fenced in 7.5s unless renewed\n",
		"retention        rewind window 2026-03-01T10:00:00Z .. 2026-03-01T11:59:59Z (1h59m59s)\n",
		"                 stored 120000 changes, 256.0 MiB of 1.0 GiB (25%); 200.0 MiB on disk\n",
		"                 ahead of the writer: 42 changes, 10.0 KiB\n",
		"                 reader at mysql-bin.000012:4096\n",
		"                 reader WAITING: max_bytes reached\n",
		"                 last rewind to 2026-03-01T11:00:00Z, 5m0s ago\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	standby := base
	standby.Phase = status.PhaseStandby
	standby.Lease = &status.Lease{Store: "mysql meta:3306, table m.ferry_checkpoints", Role: status.RoleStandby, LeaseTime: 10,
		Holder: "pid 42 on host-a", Since: now.Add(-time.Minute)}
	_, out, _ = runCLI(t, "status", "--addr", statusServer(t, standby))
	if !strings.Contains(out, "lease            standby since") || !strings.Contains(out, "                 active: pid 42 on host-a\n") {
		t.Errorf("standby status:\n%s", out)
	}

	fenced := active
	fenced.Retention = nil
	fenced.Lease = &status.Lease{Store: "etcd x", Role: status.RoleActive, LeaseTime: 10, FencedUntil: now.Add(-2 * time.Second),
		Error: "context deadline exceeded", Since: now.Add(-time.Minute)}
	_, out, _ = runCLI(t, "status", "--addr", statusServer(t, fenced))
	if !strings.Contains(out, "writes FENCED for 2s: the lease was not renewed") || !strings.Contains(out, "store error: context deadline exceeded") {
		t.Errorf("fenced status:\n%s", out)
	}
}
