package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// fakeProgress is a progress source whose answer the test sets; it counts its calls.
type fakeProgress struct {
	mu    sync.Mutex
	ps    []sdk.SnapshotProgress
	err   error
	calls int
}

func (f *fakeProgress) set(ps []sdk.SnapshotProgress, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ps, f.err = ps, err
}

func (f *fakeProgress) get(context.Context) ([]sdk.SnapshotProgress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]sdk.SnapshotProgress(nil), f.ps...), f.err
}

func (f *fakeProgress) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func get(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSnapshotProgressInStatusAndMetrics(t *testing.T) {
	var st pipeline.Stats
	tr := NewTracker("orders", func() pipeline.Stats { return st })
	fp := &fakeProgress{}
	tr.SetProgressSource(fp.get)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	fp.set([]sdk.SnapshotProgress{
		{Table: "shop.customers", RowsRead: 500, RowsEstimated: 400, Done: true},
		{Table: "shop.orders", RowsRead: 1000, RowsEstimated: 10_000},
		{Table: "shop.items", RowsRead: 0, RowsEstimated: 5000},
	}, nil)
	tr.pollProgress(ctx, t0)
	fp.set([]sdk.SnapshotProgress{
		{Table: "shop.customers", RowsRead: 500, RowsEstimated: 400, Done: true},
		{Table: "shop.orders", RowsRead: 12_000, RowsEstimated: 10_000}, // beyond the estimate
		{Table: "shop.items", RowsRead: 1000, RowsEstimated: 5000},
	}, nil)
	tr.pollProgress(ctx, t0.Add(4*time.Second)) // 12,000 rows in 4 s: 3,000 rows/s

	s := tr.Snapshot()
	if s.Stage != StageSnapshot {
		t.Errorf("stage %q", s.Stage)
	}
	p := s.Snapshot
	if p == nil {
		t.Fatal("no snapshot section")
	}
	if p.TablesDone != 1 || p.TablesTotal != 3 || p.RowsRead != 13_500 || p.RowsEstimated != 15_400 || p.Done {
		t.Errorf("totals %+v", p)
	}
	if p.RowsPerSecond != 3000 {
		t.Errorf("rate %v", p.RowsPerSecond)
	}
	// Left: shop.orders 0 (beyond its estimate), shop.items 4000: 4000/3000 s.
	if p.ETASeconds == nil || fmt.Sprintf("%.3f", *p.ETASeconds) != "1.333" {
		t.Errorf("eta %v", p.ETASeconds)
	}
	// 13,500 of 500 + 12,000 + 5,000.
	if p.Percent == nil || fmt.Sprintf("%.2f", *p.Percent) != "77.14" {
		t.Errorf("percent %v", p.Percent)
	}
	want := []struct {
		pct   string
		state string
	}{{"100.0", TableDone}, {"99.9", TableReading}, {"20.0", TableReading}}
	for i, w := range want {
		tp := p.Tables[i]
		if tp.Percent == nil || fmt.Sprintf("%.1f", *tp.Percent) != w.pct || tp.State != w.state {
			t.Errorf("table %d: %+v (percent %v)", i, tp, tp.Percent)
		}
	}

	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	js := get(t, srv, "/status")
	var back Snapshot
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatal(err)
	}
	if back.Snapshot == nil || len(back.Snapshot.Tables) != 3 || back.Snapshot.Tables[1].Table != "shop.orders" {
		t.Errorf("/status snapshot: %s", js)
	}
	for _, w := range []string{`"stage": "snapshot"`, `"snapshot": {`, `"tables_done": 1`, `"rows_read": 12000`, `"state": "reading"`, `"eta_seconds": 1.33`} {
		if !strings.Contains(js, w) {
			t.Errorf("/status lacks %s:\n%s", w, js)
		}
	}
	m := get(t, srv, "/metrics")
	for _, w := range []string{
		`ferry_snapshot_rows_read{pipeline="orders",table="shop.orders"} 12000`,
		`ferry_snapshot_rows_estimated{pipeline="orders",table="shop.items"} 5000`,
		`ferry_snapshot_table_done{pipeline="orders",table="shop.customers"} 1`,
		`ferry_snapshot_tables_done{pipeline="orders"} 1`,
		`ferry_snapshot_tables{pipeline="orders"} 3`,
		"# TYPE ferry_snapshot_rows_read gauge",
	} {
		if !strings.Contains(m, w) {
			t.Errorf("/metrics lacks %s:\n%s", w, m)
		}
	}

	// Every table done: 100 %, and the stage is incremental.
	fp.set([]sdk.SnapshotProgress{
		{Table: "shop.customers", RowsRead: 500, RowsEstimated: 400, Done: true},
		{Table: "shop.orders", RowsRead: 12_345, RowsEstimated: 10_000, Done: true},
		{Table: "shop.items", RowsRead: 4990, RowsEstimated: 5000, Done: true},
	}, nil)
	tr.pollProgress(ctx, t0.Add(5*time.Second))
	s = tr.Snapshot()
	if p := s.Snapshot; !p.Done || *p.Percent != 100 || p.TablesDone != 3 || *p.ETASeconds != 0 || s.Stage != StageIncremental {
		t.Errorf("done: %+v stage %q", p, s.Stage)
	}

	// No snapshot (nil): no section, no per-table metrics.
	fp.set(nil, nil)
	tr.pollProgress(ctx, t0.Add(6*time.Second))
	if s := tr.Snapshot(); s.Snapshot != nil {
		t.Errorf("section without a snapshot: %+v", s.Snapshot)
	}
	if m := get(t, srv, "/metrics"); strings.Contains(m, "ferry_snapshot_rows_read{") {
		t.Errorf("per-table metrics without a snapshot:\n%s", m)
	}
	if js := get(t, srv, "/status"); strings.Contains(js, `"snapshot"`) {
		t.Errorf("/status has a snapshot section:\n%s", js)
	}
}

func TestSnapshotProgressUnknownEstimate(t *testing.T) {
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	fp := &fakeProgress{}
	tr.SetProgressSource(fp.get)
	fp.set([]sdk.SnapshotProgress{
		{Table: "a.known", RowsRead: 10, RowsEstimated: 100},
		{Table: "a.unknown", RowsRead: 7},
		{Table: "a.empty", Done: true},
	}, nil)
	t0 := time.Now()
	tr.pollProgress(context.Background(), t0)
	tr.pollProgress(context.Background(), t0.Add(time.Second))
	p := tr.Snapshot().Snapshot
	if p.Percent != nil || p.ETASeconds != nil {
		t.Errorf("overall percent %v eta %v, want unknown", p.Percent, p.ETASeconds)
	}
	if p.Tables[1].Percent != nil || p.Tables[1].State != TableReading || p.Tables[2].State != TableDone || *p.Tables[2].Percent != 100 {
		t.Errorf("tables %+v", p.Tables)
	}
	js, _ := json.Marshal(p)
	if !strings.Contains(string(js), `"table":"a.unknown","rows_read":7,"rows_estimated":0,"percent":null`) {
		t.Errorf("json %s", js)
	}
	if strings.Contains(string(js), "eta_seconds") {
		t.Errorf("eta without a rate: %s", js)
	}
}

// A failing progress source is logged once per failure streak; the last progress stays.
// ErrNotSupported stops the polling.
func TestSnapshotProgressErrors(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	tr.SetLogger(zap.New(core))
	fp := &fakeProgress{}
	tr.SetProgressSource(fp.get)
	ctx := context.Background()
	now := time.Now()
	fp.set([]sdk.SnapshotProgress{{Table: "a.t", RowsRead: 5, RowsEstimated: 10}}, nil)
	tr.pollProgress(ctx, now)
	fp.set(nil, errors.New("connection reset"))
	for range 3 {
		tr.pollProgress(ctx, now)
	}
	if n := logs.FilterMessageSnippet("snapshot progress unavailable").Len(); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	if p := tr.Snapshot().Snapshot; p == nil || p.RowsRead != 5 {
		t.Errorf("last progress lost: %+v", p)
	}
	fp.set([]sdk.SnapshotProgress{{Table: "a.t", RowsRead: 6, RowsEstimated: 10}}, nil)
	tr.pollProgress(ctx, now)
	fp.set(nil, errors.New("again"))
	tr.pollProgress(ctx, now)
	if n := logs.FilterMessageSnippet("snapshot progress unavailable").Len(); n != 2 {
		t.Errorf("%d warnings, want 2 (one per streak)", n)
	}

	fp.set(nil, fmt.Errorf("wrapped: %w", sdk.ErrNotSupported))
	tr.pollProgress(ctx, now)
	calls := fp.count()
	tr.pollProgress(ctx, now)
	if fp.count() != calls {
		t.Error("polled after ErrNotSupported")
	}
}

// Start polls the progress source about once a second, not on every /status request (in a
// synctest bubble: no second of fake time passes during the requests).
func TestStartPollsProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
		fp := &fakeProgress{}
		fp.set([]sdk.SnapshotProgress{{Table: "a.t", RowsRead: 1, RowsEstimated: 2}}, nil)
		tr.SetProgressSource(fp.get)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tr.Start(ctx)
		tr.Start(ctx)   // a second call does nothing
		synctest.Wait() // Start's goroutines wait for their tickers
		if tr.Snapshot().Snapshot == nil {
			t.Fatal("never polled")
		}
		srv := httptest.NewServer(tr.Handler())
		defer srv.Close()
		for range 20 {
			get(t, srv, "/status")
		}
		if n := fp.count(); n > 2 {
			t.Errorf("%d polls for 20 requests", n)
		}
	})
}

// Without a progress source, the stage follows the records delivered.
func TestStageFromRecords(t *testing.T) {
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	at := time.Now()
	if s := tr.Snapshot().Stage; s != "" {
		t.Errorf("stage %q before any record", s)
	}
	tr.OnDelivered([]sdk.Record{{Op: change.OpSnapshot, CommitTime: at}}, at)
	if s := tr.Snapshot().Stage; s != StageSnapshot {
		t.Errorf("stage %q after a snapshot row", s)
	}
	tr.OnDelivered([]sdk.Record{{Op: change.OpHeartbeat, CommitTime: at}}, at)
	if s := tr.Snapshot().Stage; s != StageIncremental {
		t.Errorf("stage %q after a heartbeat", s)
	}
}

// The pipeline's own phase decides the stage when there is no progress; before the pipeline
// read anything, its default (incremental) does not count.
func TestStageFromPipelinePhase(t *testing.T) {
	var st pipeline.Stats
	phase := pipeline.PhaseIncremental
	tr := NewTracker("p", func() pipeline.Stats { return st })
	tr.SetPipelinePhase(func() string { return phase })
	if s := tr.Snapshot().Stage; s != "" {
		t.Errorf("stage %q before anything was read", s)
	}
	st.ChangesRead = 10
	if s := tr.Snapshot().Stage; s != StageIncremental {
		t.Errorf("stage %q", s)
	}
	phase = pipeline.PhaseFull
	if s := tr.Snapshot().Stage; s != StageSnapshot {
		t.Errorf("stage %q while snapshot rows arrive", s)
	}
	// Progress, when there is some, wins.
	fp := &fakeProgress{}
	fp.set([]sdk.SnapshotProgress{{Table: "a.t", RowsRead: 5, RowsEstimated: 5, Done: true}}, nil)
	tr.SetProgressSource(fp.get)
	tr.pollProgress(context.Background(), time.Now())
	if s := tr.Snapshot().Stage; s != StageIncremental {
		t.Errorf("stage %q with every table done", s)
	}
}
