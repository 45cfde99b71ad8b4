package status

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
)

// ProgressFunc returns each selected table's snapshot progress; it is the source's
// sdk.ProgressReporter.SnapshotProgress. It returns nil when there is no snapshot.
type ProgressFunc func(ctx context.Context) ([]sdk.SnapshotProgress, error)

// Table states in SnapshotProgress.
const (
	TablePending = "pending" // no row read yet
	TableReading = "reading" // rows read, not done
	TableDone    = "done"
)

// SnapshotProgress is the snapshot section of /status: the source's per-table progress as
// last polled (about once a second), with totals, a rate and an estimate of the time left.
type SnapshotProgress struct {
	Tables []TableProgress `json:"tables"`

	TablesDone  int `json:"tables_done"`
	TablesTotal int `json:"tables_total"`
	// RowsRead sums the tables' rows read, RowsEstimated their estimates (tables whose
	// estimate is unknown count 0).
	RowsRead      int64 `json:"rows_read"`
	RowsEstimated int64 `json:"rows_estimated"`
	// Percent is the share of the snapshot read, below 100 until every table is done; nil
	// (unknown) while a table that is not done has no estimate.
	Percent *float64 `json:"percent"`
	// RowsPerSecond is the rate of snapshot rows read over the last 10 seconds.
	RowsPerSecond float64 `json:"rows_per_second"`
	// ETASeconds estimates the time left from that rate; absent when unknown.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// Done is set once every table is done.
	Done bool `json:"done"`
	// UpdatedAt is when the source was last polled successfully.
	UpdatedAt time.Time `json:"updated_at"`
}

// TableProgress is one table's snapshot progress.
type TableProgress struct {
	Table         string `json:"table"`
	RowsRead      int64  `json:"rows_read"`
	RowsEstimated int64  `json:"rows_estimated"`
	// Percent is RowsRead of RowsEstimated, capped below 100 until the table is done; nil
	// (unknown) when the estimate is 0.
	Percent *float64 `json:"percent"`
	Done    bool     `json:"done"`
	// State is TablePending, TableReading or TableDone.
	State string `json:"state"`
}

// maxUndonePercent caps the percent of what is not done: estimates are estimates.
const maxUndonePercent = 99.9

// progressTimeout bounds one poll of the progress source.
const progressTimeout = 5 * time.Second

type progSample struct {
	at   time.Time
	rows int64
}

func (p *SnapshotProgress) clone() *SnapshotProgress {
	c := *p
	c.Tables = slices.Clone(p.Tables)
	return &c
}

// SetProgressSource sets where per-table snapshot progress comes from; Start polls it about
// once a second (a nil f stops polling). /status, /metrics and Snapshot show the last result.
func (t *Tracker) SetProgressSource(f ProgressFunc) {
	if f == nil {
		t.progress.Store(nil)
		return
	}
	t.progress.Store(&f)
}

func (t *Tracker) pollLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if !t.pollProgress(ctx, time.Now()) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// pollProgress polls the progress source once and caches the result. It returns false when
// polling should stop (the source does not support it, or ctx ended).
func (t *Tracker) pollProgress(ctx context.Context, now time.Time) bool {
	fp := t.progress.Load()
	if fp == nil {
		return ctx.Err() == nil
	}
	pctx, cancel := context.WithTimeout(ctx, progressTimeout)
	ps, err := (*fp)(pctx)
	cancel()
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, sdk.ErrNotSupported) {
		t.logger().Debug("the source does not report snapshot progress", zap.Error(err))
		t.SetProgressSource(nil)
		return true
	}
	// Log outside the lock: the log's writer may read the status (the console does).
	t.mu.Lock()
	wasFailing := t.progFailed
	t.progFailed = err != nil
	if err == nil {
		t.setProgressLocked(ps, now)
	}
	t.mu.Unlock()
	switch {
	case err != nil && !wasFailing:
		t.logger().Warn("snapshot progress unavailable; status shows the last known progress", zap.Error(err))
	case err == nil && wasFailing:
		t.logger().Info("snapshot progress available again")
	}
	return true
}

// setProgressLocked computes the snapshot section from a poll's result.
func (t *Tracker) setProgressLocked(ps []sdk.SnapshotProgress, now time.Time) {
	if len(ps) == 0 {
		t.prog, t.progRates = nil, nil
		return
	}
	p := &SnapshotProgress{Tables: make([]TableProgress, len(ps)), TablesTotal: len(ps), UpdatedAt: now}
	var known, remaining int64 // denominator of the overall percent, estimated rows left
	unknown := false           // a table that is not done has no estimate
	for i, s := range ps {
		tp := TableProgress{Table: s.Table, RowsRead: s.RowsRead, RowsEstimated: s.RowsEstimated, Done: s.Done}
		switch {
		case s.Done:
			tp.State = TableDone
			tp.Percent = ptr(100.0)
			p.TablesDone++
			known += s.RowsRead
		default:
			tp.State = TablePending
			if s.RowsRead > 0 {
				tp.State = TableReading
			}
			if s.RowsEstimated > 0 {
				tp.Percent = ptr(min(100*float64(s.RowsRead)/float64(s.RowsEstimated), maxUndonePercent))
				known += max(s.RowsEstimated, s.RowsRead)
				remaining += max(s.RowsEstimated-s.RowsRead, 0)
			} else {
				unknown = true
			}
		}
		p.RowsRead += s.RowsRead
		p.RowsEstimated += s.RowsEstimated
		p.Tables[i] = tp
	}
	p.Done = p.TablesDone == p.TablesTotal
	switch {
	case p.Done:
		p.Percent = ptr(100.0)
	case !unknown && known > 0:
		p.Percent = ptr(min(100*float64(p.RowsRead)/float64(known), maxUndonePercent))
	case !unknown:
		p.Percent = ptr(0.0)
	}

	// The rate of rows read; a total that went down (a table left the selection) restarts it.
	if n := len(t.progRates); n > 0 && p.RowsRead < t.progRates[n-1].rows {
		t.progRates = nil
	}
	t.progRates = append(t.progRates, progSample{at: now, rows: p.RowsRead})
	for len(t.progRates) > 2 && now.Sub(t.progRates[1].at) >= rateWindow {
		t.progRates = t.progRates[1:]
	}
	if a, b := t.progRates[0], t.progRates[len(t.progRates)-1]; b.at.Sub(a.at) > 0 {
		p.RowsPerSecond = float64(b.rows-a.rows) / b.at.Sub(a.at).Seconds()
	}
	switch {
	case p.Done:
		p.ETASeconds = ptr(0.0)
	case !unknown && p.RowsPerSecond > 0:
		p.ETASeconds = ptr(float64(remaining) / p.RowsPerSecond)
	}
	t.prog = p
}

func ptr[T any](v T) *T { return &v }

// stageLocked says whether the pipeline reads its snapshot or streams changes: as the
// progress source tells, else as the pipeline's phase (pipePhase, "" when unknown) tells once
// it read something (before, the pipeline says incremental by default), else as the records
// delivered tell.
func (t *Tracker) stageLocked(pipePhase string, changesRead uint64) string {
	switch {
	case t.prog != nil && !t.prog.Done:
		return StageSnapshot
	case t.prog != nil:
		return StageIncremental
	case pipePhase == pipeline.PhaseFull:
		return StageSnapshot
	case pipePhase == pipeline.PhaseIncremental && changesRead > 0:
		return StageIncremental
	case pipePhase != "":
		return ""
	case t.lastWasSnapshot:
		return StageSnapshot
	case t.sawIncremental:
		return StageIncremental
	}
	return ""
}

// progressCollector exports the last polled snapshot progress.
type progressCollector struct {
	t                                 *Tracker
	read, est, done, total, tableDone *prometheus.Desc
}

func newProgressCollector(t *Tracker) *progressCollector {
	labels := prometheus.Labels{"pipeline": t.name}
	table := []string{"table"}
	return &progressCollector{
		t: t,
		read: prometheus.NewDesc("ferry_snapshot_rows_read",
			"Snapshot rows the source read, per table (across restarts).", table, labels),
		est: prometheus.NewDesc("ferry_snapshot_rows_estimated",
			"The catalog's row estimate of a table when its snapshot started (0: unknown).", table, labels),
		done: prometheus.NewDesc("ferry_snapshot_tables_done",
			"Tables whose snapshot is done.", nil, labels),
		total: prometheus.NewDesc("ferry_snapshot_tables",
			"Tables the snapshot reads (done or not).", nil, labels),
		tableDone: prometheus.NewDesc("ferry_snapshot_table_done",
			"1 when the table's snapshot is done, else 0.", table, labels),
	}
}

func (c *progressCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.read
	ch <- c.est
	ch <- c.done
	ch <- c.total
	ch <- c.tableDone
}

func (c *progressCollector) Collect(ch chan<- prometheus.Metric) {
	c.t.mu.Lock()
	p := c.t.prog
	if p != nil {
		p = p.clone()
	}
	c.t.mu.Unlock()
	if p == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.done, prometheus.GaugeValue, float64(p.TablesDone))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(p.TablesTotal))
	seen := make(map[string]bool, len(p.Tables))
	for _, tp := range p.Tables {
		if seen[tp.Table] { // a duplicate would make the registry fail the whole scrape
			continue
		}
		seen[tp.Table] = true
		done := 0.0
		if tp.Done {
			done = 1
		}
		ch <- prometheus.MustNewConstMetric(c.read, prometheus.GaugeValue, float64(tp.RowsRead), tp.Table)
		ch <- prometheus.MustNewConstMetric(c.est, prometheus.GaugeValue, float64(tp.RowsEstimated), tp.Table)
		ch <- prometheus.MustNewConstMetric(c.tableDone, prometheus.GaugeValue, done, tp.Table)
	}
}
